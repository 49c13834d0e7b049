"""Ingest throughput: write N synthetic visits as canonical CSV, ingest into a fresh SQLite.

    .venv/bin/python benchmarks/bench_ingest.py [N=1000000] [--keep DIR]

Prints rows/s end-to-end (read, validate, pseudonymise, geocode, classify, store, daily counts)
and the peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from epiradar.config import Settings
from epiradar.model import Facility, Region, Syndrome
from epiradar.service.ingest import ingest_file
from epiradar.store import Store

GRID = 6  # regions on a GRID x GRID lattice of 0.05 degree squares
COMPLAINTS = [
    "fever and cough",
    "sore throat",
    "diarrhoea",
    "rash with fever",
    "headache",
    "",
    "vomiting",
]
CODES = ["J10.1", "J06.9", "A09", "", "R50.9;J18.9", "B05.9"]


def make_city() -> tuple[list[Region], list[Facility]]:
    regions = []
    for i in range(GRID):
        for j in range(GRID):
            x, y = 116.0 + 0.05 * i, 39.0 + 0.05 * j
            ring = [[x, y], [x + 0.05, y], [x + 0.05, y + 0.05], [x, y + 0.05], [x, y]]
            regions.append(
                Region(
                    id=f"R{i}{j}",
                    name=f"R{i}{j}",
                    population=10_000,
                    geometry={"type": "Polygon", "coordinates": [ring]},
                )
            )
    facilities = [Facility(id=f"F{k:02d}", name=f"F{k}", fever_clinic=True) for k in range(30)]
    return regions, facilities


def write_visits(path: Path, n: int, seed: int = 1, block: int = 200_000) -> None:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00")
    region_ids = np.array([f"R{i}{j}" for i in range(GRID) for j in range(GRID)] + [""] * 4)
    for first in range(0, n, block):
        m = min(block, n - first)
        seconds = rng.integers(0, 365 * 86400, m)
        region = region_ids[rng.integers(0, len(region_ids), m)]
        lat = np.where(region == "", np.round(39.0 + rng.random(m) * 0.3, 5).astype(str), "")
        lon = np.where(region == "", np.round(116.0 + rng.random(m) * 0.3, 5).astype(str), "")
        exposures = np.where(rng.random(m) < 0.2, "P" + rng.integers(0, 500, m).astype(str), "")
        frame = pd.DataFrame(
            {
                "visit_id": (first + np.arange(m)).astype(str),
                "facility_id": np.char.add(
                    "F", np.char.zfill(rng.integers(0, 30, m).astype(str), 2)
                ),
                "visit_time": np.datetime_as_string(
                    start + seconds.astype("timedelta64[s]"), unit="s"
                ),
                "patient_id": np.char.add("PID", rng.integers(0, n // 2 + 1, m).astype(str)),
                "age": rng.integers(0, 95, m),
                "sex": np.array(["M", "F", "U"])[rng.integers(0, 3, m)],
                "residence_region": region,
                "residence_lat": lat,
                "residence_lon": lon,
                "chief_complaint": np.array(COMPLAINTS)[rng.integers(0, len(COMPLAINTS), m)],
                "temperature_c": np.round(36.0 + rng.random(m) * 4, 1),
                "diagnosis_codes": np.array(CODES)[rng.integers(0, len(CODES), m)],
                "exposures": exposures,
            }
        )
        frame.to_csv(path, mode="w" if first == 0 else "a", header=first == 0, index=False)


class KeywordClassifier:
    """Stand-in used only when ``epiradar.ingest.syndromes`` is not available."""

    version = "bench-keywords"

    def classify_many(self, complaints, codes, temperatures):
        out = np.zeros(len(complaints), dtype=np.int64)
        for i, (text, t) in enumerate(zip(complaints, temperatures, strict=True)):
            text = text or ""
            if t >= 37.5 or "fever" in text:
                out[i] |= Syndrome.FEVER.bit
            if "cough" in text or "throat" in text:
                out[i] |= Syndrome.RESPIRATORY.bit
            if "diarrhoea" in text or "vomiting" in text:
                out[i] |= Syndrome.GASTROINTESTINAL.bit
        return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the data and database here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        csv_path = workdir / "visits.csv"
        t0 = time.perf_counter()
        write_visits(csv_path, args.rows)
        print(
            f"wrote {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s"
        )
        db = workdir / "bench.db"
        db.unlink(missing_ok=True)
        store = Store(f"sqlite:///{db}")
        store.migrate()
        regions, facilities = make_city()
        store.load_city(regions, facilities, [], [])
        try:
            from epiradar.ingest.syndromes import load_default_classifier

            classifier = load_default_classifier()
        except ImportError:
            classifier = KeywordClassifier()
        settings = Settings(pseudonym_key="bench")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        summary = ingest_file(store, csv_path, settings, progress=False, classifier=classifier)
        elapsed = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"classifier {classifier.version}; accepted {summary.accepted:,}, duplicates "
            f"{summary.duplicates:,}, rejected {summary.rejected:,}"
        )
        print(
            f"ingest: {elapsed:.1f} s, {args.rows / elapsed:,.0f} rows/s; peak RSS {peak:.0f} MiB "
            f"(before ingest {rss_before:.0f} MiB)"
        )
        store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
