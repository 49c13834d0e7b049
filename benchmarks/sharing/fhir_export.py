"""FHIR Bulk Data export throughput and search paging.

    python benchmarks/sharing/fhir_export.py [--visits 100000] [--sample 2000]

1. A full export of Patient, Encounter, Condition and Observation to NDJSON through
   ``service.fhir_api.export_to_directory`` (what ``epiradar fhir export`` runs: keyset pages of
   1,000 visits, one file per 10,000 resources, SHA-256 of each, the audit entry): resources/s
   and MB/s; per type from the export's progress callback (each type's counting query is
   charged to the type before it). Reference, the same run: the obvious Python way, each resource through the
   ``fhir.resources`` R4B model (``model_validate`` + ``model_dump_json``), timed on a sample of
   ``--sample`` resources per type taken from the export's own files (so the reference does not
   even pay for reading rows or mapping them) and extrapolated to that type's count.
2. Search paging: every Encounter page of ``GET /fhir/Encounter?_count=500`` through FastAPI's
   TestClient (authentication off), following the ``next`` links: resources/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

console = Console(width=160)
TYPES = ("Patient", "Encounter", "Condition", "Observation")


def _reference(directory: Path, written, sample: int) -> dict[str, dict]:
    """Seconds per resource of fhir.resources R4B validate + dump, per type."""
    from importlib import import_module

    out = {}
    for rtype in TYPES:
        files = [w for w in written if w.type == rtype]
        if not files:
            continue
        model = getattr(import_module(f"fhir.resources.R4B.{rtype.lower()}"), rtype)
        resources = []
        for w in files:
            with open(directory / w.file, encoding="utf-8") as f:
                for line in f:
                    resources.append(json.loads(line))
                    if len(resources) >= sample:
                        break
            if len(resources) >= sample:
                break
        model.model_validate(resources[0]).model_dump_json()  # warm-up
        t0 = time.perf_counter()
        size = 0
        for r in resources:
            size += len(model.model_validate(r).model_dump_json())
        per = (time.perf_counter() - t0) / len(resources)
        out[rtype] = {"sample": len(resources), "per_resource": per, "bytes": size}
    return out


def run(city, *, sample: int = 2000, page_size: int = 500) -> dict:
    from fastapi.testclient import TestClient

    from epiradar.service import fhir_api
    from epiradar.web.app import create_app

    store, settings = city.store, city.settings
    with tempfile.TemporaryDirectory(prefix="epiradar-fhir-") as tmp:
        out = Path(tmp) / "export"
        started: dict[str, float] = {}

        def progress(resource_type: str, done: int, of: int) -> bool:
            started.setdefault(resource_type, time.perf_counter())
            return True

        t0 = time.perf_counter()
        written = fhir_api.export_to_directory(
            store,
            settings,
            types=list(TYPES),
            scope=fhir_api.Scope(),
            since=None,
            out=out,
            actor="bench",
            progress=progress,
        )
        end = time.perf_counter()
        seconds = end - t0
        marks = [started[t] for t in TYPES] + [end]
        per_type = {t: marks[i + 1] - marks[i] for i, t in enumerate(TYPES)}
        size = sum((out / w.file).stat().st_size for w in written)
        counts = {t: sum(w.count for w in written if w.type == t) for t in TYPES}
        ref = _reference(out, written, sample)
    ref_seconds = sum(counts[t] * ref[t]["per_resource"] for t in ref)

    app = create_app(settings, store)
    client = TestClient(app)
    url = f"/fhir/Encounter?_count={page_size}"
    n_pages = n_resources = 0
    t0 = time.perf_counter()
    total = None
    while url:
        r = client.get(url)
        if r.status_code != 200:
            raise SystemExit(f"GET {url}: HTTP {r.status_code} {r.text[:300]}")
        bundle = r.json()
        total = bundle.get("total", total)
        n_resources += len(bundle.get("entry", []))
        n_pages += 1
        url = next(
            (link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None
        )
        if url and url.startswith("http"):
            url = url[url.index("/fhir/") :]
    page_seconds = time.perf_counter() - t0
    client.close()
    return {
        "visits": city.n_visits,
        "seconds": seconds,
        "bytes": size,
        "counts": counts,
        "files": len(written),
        "per_type": per_type,
        "reference": ref,
        "ref_seconds": ref_seconds,
        "pages": n_pages,
        "page_resources": n_resources,
        "page_total": total,
        "page_seconds": page_seconds,
        "page_size": page_size,
    }


def table(res: dict) -> Table:
    n = sum(res["counts"].values())
    t = Table(title=f"FHIR export and search, {res['visits']:,} visits")
    for col in ("benchmark", "epiradar", "reference", "reference time", "ratio"):
        t.add_column(col)
    rate = n / res["seconds"]
    ref_rate = n / res["ref_seconds"]
    by_type = ", ".join(f"{k} {v:,}" for k, v in res["counts"].items())
    t.add_row(
        f"bulk export, all types to NDJSON ({by_type}; {res['files']} files)",
        f"{rate:,.0f} resources/s, {res['bytes'] / 1e6 / res['seconds']:.1f} MB/s "
        f"({res['seconds']:.1f} s, {res['bytes'] / 1e6:.0f} MB)",
        "fhir.resources R4B model_validate + model_dump_json per resource (sample of "
        f"{min(r['sample'] for r in res['reference'].values()):,}/type, extrapolated)",
        f"{ref_rate:,.0f} resources/s ({res['ref_seconds']:.1f} s)",
        f"{res['ref_seconds'] / res['seconds']:.1f}x faster",
    )
    for rtype, r in res["reference"].items():
        t.add_row(
            f"  {rtype}",
            f"{res['counts'][rtype] / res['per_type'][rtype]:,.0f} resources/s "
            f"({res['per_type'][rtype]:.1f} s)",
            f"{r['sample']:,} resources",
            f"{1 / r['per_resource']:,.0f} resources/s",
            "",
        )
    t.add_row(
        f"search paging: GET /fhir/Encounter?_count={res['page_size']}, all "
        f"{res['pages']} pages (total {res['page_total']:,})",
        f"{res['page_resources'] / res['page_seconds']:,.0f} resources/s "
        f"({res['page_seconds']:.1f} s, {1000 * res['page_seconds'] / res['pages']:.0f} ms/page)",
        "",
        "",
        "",
    )
    return t


def main(argv: list[str] | None = None, city=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2000)
    args = parser.parse_args(argv)
    if city is None:
        import city as city_module

        with tempfile.TemporaryDirectory(prefix="epiradar-sharing-") as tmp:
            built = city_module.build(Path(tmp), args.visits)
            res = run(built, sample=args.sample)
            built.store.close()
    else:
        res = run(city, sample=args.sample)
    console.print(table(res))
    return res


if __name__ == "__main__":
    main()
