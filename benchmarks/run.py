"""epiradar benchmarks, each against a reference measured in the same run.

    python benchmarks/run.py [--rows 1000000] [--regions 120] [--quick]

1. Ingest: `epiradar ingest visits.csv` into a fresh SQLite database (validation, pseudonyms,
   syndromes, geocoding, dedupe, daily counts) vs the sqlite3 shell's bare `.import` of the same
   file (no validation at all) — the floor for loading that CSV into SQLite.
2. Detect: `epiradar detect` replaying 30 days over regions x 8 syndromes (+ city) with EARS
   C1, C2, C3 on two years of history vs R `surveillance::earsC` on the same count cube.
3. A hand-made export: 200,000 of those visits with Chinese headers, local codes and formats in
   GB18030, through `epiradar ingest --mapping` (the reference: the canonical file, same run).
4. Hospital connectivity (benchmarks/bench_messages.py): MLLP on 8 connections, HTTP HL7 v2
   batches, HTTP FHIR R4 Bundles, each against python-hl7 / fhir.resources measured alike.
5. Detection speed (benchmarks/detection/): farringtonFlexible on 200 weekly series x 52 weeks
   vs R; EARS, CUSUM and GLR-NB on 10,000 daily series x 365 days vs R; one day's run of the
   default configuration on 2,000 regions x 8 syndromes.
6. Detection quality (benchmarks/detection/): the Noufaily et al. (2013) design with R's
   farringtonFlexible on the same series, and the daily city with injected outbreaks.
7. Space-time scan (benchmarks/spacetime/): the permutation scan on SaTScan's reference cities
   against SaTScan 10.3.2's recorded times and clusters, its scaling, and point-source outbreaks
   against per-region EARS (``--quick``: the detection benchmark's smoke size).

8. Tracing accuracy (benchmarks/accuracy/): point sources, origins on the city's mobility
   network and who infected whom on simulated outbreaks next to simple baselines, SARS 2003 on
   the OpenFlights network, and Rt against EpiEstim (R) in the same run.

9. Closed loop (benchmarks/workflow/): the alert volume per week before and after grouping and
   after muting known events on a simulated year, and the server time of every work page with
   100,000 cases and 10,000 alerts against the 300 ms goal.

10. Sharing (benchmarks/sharing/): FHIR Bulk Data export and search paging against
   fhir.resources, k-anonymous line lists against a pandas groupby search, public aggregates
   (cold, warm pages against 300 ms), the weekly bulletin against 10 s, and demand forecasts
   against naive references on simulated epidemics (``--quick``: a fifth of the sizes).

``--sections`` picks some of: ingest (1-3), connectivity (4), detection (5), evaluation (6),
spacetime (7), accuracy (8), workflow (9), sharing (10).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DATA = ROOT / "bench-data"
END = dt.date(2026, 10, 31)
console = Console(width=160)


_MEASURE = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print('MAXRSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


def _run(cmd: list[str], **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (MiB) of a command: the largest of its processes."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, **kw
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        console.print(proc.stdout[-2000:], proc.stderr[-4000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    *rest, last = proc.stderr.rstrip().splitlines() or [""]
    peak = int(last.split()[1]) / 1024 if last.startswith("MAXRSS") else float("nan")
    proc.stderr = "\n".join(rest)
    return wall, peak, proc


def make_data(rows: int, regions: int) -> Path:
    out = DATA / f"r{rows}-g{regions}"
    if (out / "visits.csv").exists():
        return out
    days = 730
    console.print(f"simulating {rows:,} visits over {regions} regions x {days} days")
    subprocess.run(
        [
            str(BIN / "epiradar"),
            "simulate",
            "--scenario",
            "point-source",
            "--seed",
            "7",
            "--days",
            str(days),
            "--end",
            END.isoformat(),
            "--regions",
            str(regions),
            "--daily-visits",
            str(rows / days),
            "--out",
            str(out),
        ],
        check=True,
    )
    return out


def bench_ingest(data: Path, work: Path) -> dict:
    db = work / "ingest.db"
    env = {**os.environ, "EPIRADAR_PSEUDONYM_KEY": "benchmark-key"}
    url = f"sqlite:///{db}"
    subprocess.run(
        [str(BIN / "epiradar"), "load-city", str(data), "--db", url],
        env=env,
        check=True,
        capture_output=True,
    )
    with open(data / "visits.csv", "rb") as f:
        n = sum(1 for _ in f) - 1
    wall, rss, _ = _run(
        [str(BIN / "epiradar"), "ingest", str(data / "visits.csv"), "--db", url, "--no-progress"],
        env=env,
    )
    ref = None
    if shutil.which("sqlite3"):
        ref_db = work / "import.db"
        ref, _, _ = _run(["sqlite3", str(ref_db), ".mode csv", f".import {data / 'visits.csv'} v"])
    return {"rows": n, "seconds": wall, "rss_mib": rss, "ref_seconds": ref, "db": url, "env": env}


EARS_SETTINGS = """[detect]
methods = ["C1", "C2", "C3"]
by_syndrome = {}
windows = [1]
burden = "none"

[detect.spacetime]
enabled = false
"""


def bench_detect(ingested: dict, work: Path) -> dict:
    """``epiradar detect`` over 30 days with EARS C1-C3 alone (what R's earsC is timed on),
    and with the product's default settings."""
    start = END - dt.timedelta(days=29)
    ears_toml = work / "ears.toml"
    ears_toml.write_text(EARS_SETTINGS, encoding="utf-8")
    command = [
        str(BIN / "epiradar"),
        "detect",
        "--start",
        start.isoformat(),
        "--end",
        END.isoformat(),
        "--json",
        "--db",
        ingested["db"],
    ]
    default_wall, _, default_proc = _run(command, env=ingested["env"])
    default_alerts = len(json.loads(default_proc.stdout))
    env = {**ingested["env"], "EPIRADAR_CONFIG": str(ears_toml)}
    wall, _, proc = _run(command, env=env)
    alerts = json.loads(proc.stdout)
    ref = None
    if shutil.which("Rscript"):
        cube = work / "cube.csv"
        subprocess.run(
            [
                str(BIN / "python"),
                str(ROOT / "benchmarks" / "export_cube.py"),
                ingested["db"],
                END.isoformat(),
                str(cube),
            ],
            env=env,
            check=True,
        )
        _, _, proc = _run(
            ["Rscript", str(ROOT / "benchmarks" / "ears_reference.R"), str(cube), "30"]
        )
        ref = float(proc.stdout.strip().splitlines()[-1])
    return {
        "seconds": wall,
        "alerts": len(alerts),
        "ref_seconds": ref,
        "default_seconds": default_wall,
        "default_alerts": default_alerts,
    }


MAPPING = """
[mapping]
encoding = "gb18030"

[columns]
visit_id = "就诊号"
facility_id = "医院"
visit_time = "就诊时间"
patient_id = "患者ID"
sex = "性别"
age = "年龄"
chief_complaint = "主诉"
temperature_c = "体温"
residence_region = "现住址区县"
diagnosis_codes = "诊断"
onset_date = "发病日期"

[formats]
visit_time = ["%Y/%m/%d %H:%M"]
onset_date = ["%Y/%m/%d"]

[separators]
diagnosis_codes = "、"

[values.sex]
"男" = "M"
"女" = "F"
"未知" = "U"
"""
HEADERS = {
    "visit_id": "就诊号",
    "facility_id": "医院",
    "visit_time": "就诊时间",
    "patient_id": "患者ID",
    "sex": "性别",
    "age": "年龄",
    "chief_complaint": "主诉",
    "temperature_c": "体温",
    "residence_region": "现住址区县",
    "diagnosis_codes": "诊断",
    "onset_date": "发病日期",
}


def bench_mapped(data: Path, work: Path, rows: int = 200_000) -> dict:
    """The same visits as a hospital's own export: other headers, codes, formats, GB18030."""
    import pandas as pd

    frame = pd.read_csv(
        data / "visits.csv", dtype=str, keep_default_na=False, nrows=rows, usecols=list(HEADERS)
    )
    canonical = work / "canonical.csv"
    frame.to_csv(canonical, index=False)
    when = pd.to_datetime(frame["visit_time"])
    frame["visit_time"] = when.dt.strftime("%Y/%m/%d %H:%M")
    onset = pd.to_datetime(frame["onset_date"], errors="coerce")
    frame["onset_date"] = onset.dt.strftime("%Y/%m/%d").fillna("")
    frame["sex"] = frame["sex"].map({"M": "男", "F": "女", "U": "未知"}).fillna("")
    frame["diagnosis_codes"] = frame["diagnosis_codes"].str.replace(";", "、")
    mapped = work / "export.csv"
    frame.rename(columns=HEADERS).to_csv(mapped, index=False, encoding="gb18030")
    (work / "mapping.toml").write_text(MAPPING, encoding="utf-8")
    env = {**os.environ, "EPIRADAR_PSEUDONYM_KEY": "benchmark-key"}
    out = {}
    for name, path, extra in (
        ("mapped", mapped, ["--mapping", str(work / "mapping.toml")]),
        ("canonical", canonical, []),
    ):
        url = f"sqlite:///{work / (name + '.db')}"
        subprocess.run(
            [str(BIN / "epiradar"), "load-city", str(data), "--db", url],
            env=env,
            check=True,
            capture_output=True,
        )
        wall, _, proc = _run(
            [str(BIN / "epiradar"), "ingest", str(path), "--db", url, "--no-progress", *extra],
            env=env,
        )
        out[name] = {"seconds": wall, "output": proc.stdout}
    return {"rows": len(frame), **out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--regions", type=int, default=120)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, for a smoke run")
    parser.add_argument(
        "--messages", type=int, default=20_000, help="messages per connectivity run"
    )
    parser.add_argument(
        "--sections",
        default="ingest,connectivity,detection,evaluation,spacetime,accuracy,workflow,sharing",
        help="comma-separated: ingest, connectivity, detection, evaluation, spacetime, accuracy, "
        "workflow, sharing",
    )
    parser.add_argument(
        "--noufaily-replicates",
        type=int,
        default=10,
        help="replicates per Noufaily scenario, R included (100: the paper's design, ~1 h)",
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    known = {
        "ingest",
        "connectivity",
        "detection",
        "evaluation",
        "spacetime",
        "accuracy",
        "workflow",
        "sharing",
    }
    unknown = sections - known
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}")
    if sections & {"ingest", "connectivity"}:
        bench_service(args, sections)
    if sections & {"detection", "evaluation"}:
        bench_detection(args, sections)
    if "spacetime" in sections:
        bench_spacetime(args)
    if "accuracy" in sections:
        bench_accuracy(args)
    if "workflow" in sections:
        bench_workflow(args)
    if "sharing" in sections:
        bench_sharing(args)


def bench_sharing(args) -> None:
    """FHIR export, line lists, public aggregates, bulletins and forecasts on one simulated
    city of 100,000 visits and a 1,000,000-row frame (``--quick``: 20,000 and 200,000)."""
    here = ROOT / "benchmarks" / "sharing"
    sys.path.insert(0, str(here))
    visits, rows = (20_000, 200_000) if args.quick else (100_000, 1_000_000)
    city = _load(here / "city.py", "sharing_city")
    fhir = _load(here / "fhir_export.py", "sharing_fhir_export")
    line_list = _load(here / "line_list.py", "sharing_line_list")
    public = _load(here / "public_speed.py", "sharing_public_speed")
    bulletin = _load(here / "bulletin_speed.py", "sharing_bulletin_speed")
    forecast = _load(here / "forecast_accuracy.py", "sharing_forecast_accuracy")
    with tempfile.TemporaryDirectory(prefix="epiradar-sharing-") as tmp:
        console.rule(f"sharing: simulating and ingesting {visits:,} visits")
        built = city.build(Path(tmp), visits)
        console.print(f"{built.n_visits:,} visits ingested in {built.seconds:.1f} s (SQLite)")
        console.rule("FHIR Bulk Data export and search paging vs fhir.resources R4B")
        fhir.main(["--sample", "500" if args.quick else "2000"], city=built)
        console.rule("public aggregates: cold, warm pages (goal 300 ms), suppression")
        public.main(["--no-audit"] if args.quick else [], city=built)
        console.rule("weekly bulletin (goal 10 s)")
        bulletin.main(["--repeat", "3"], city=built)
        console.rule("demand forecast: every district of the city")
        console.print(forecast.city_table(forecast.city_speed(built), built.n_visits))
        built.store.close()
    console.rule(f"line-list export: k-anonymity on {rows:,} rows vs pandas groupby search")
    line_list.main(["--rows", str(rows)])
    console.rule("forecast accuracy: renewal with Rt vs last-7-day mean and log-linear trend")
    forecast.main([])


def bench_workflow(args) -> None:
    """Alert volume before and after grouping on a simulated year; page speed at 100,000 cases
    and 10,000 alerts (``--quick``: a quarter of each)."""
    here = ROOT / "benchmarks" / "workflow"
    console.rule("alert volume per week: signals, alerts after grouping, after muting")
    volume = _load(here / "alert_volume.py", "workflow_alert_volume")
    volume.main(["--regions", "20", "--daily-visits", "250"] if args.quick else [])
    size = "25,000 cases, 2,500 alerts" if args.quick else "100,000 cases, 10,000 alerts"
    console.rule(f"page speed: {size}, goal 300 ms")
    speed = _load(here / "page_speed.py", "workflow_page_speed")
    speed.main(["--visits", "25000", "--alerts", "2500", "--requests", "10"] if args.quick else [])


def bench_accuracy(args) -> None:
    """Tracing accuracy on simulated outbreaks and SARS 2003; Rt speed against EpiEstim."""
    here = ROOT / "benchmarks" / "accuracy"
    sys.path.insert(0, str(here))
    quick = ["--quick"] if args.quick else []
    for name, title, argv in (
        ("sites", "point sources: rank_sites vs nearest site, most visited, Rossmo", quick),
        ("origins", "origins on the city mobility network: effective distance vs baselines", quick),
        ("sars2003", "SARS 2003 on the OpenFlights network", []),
        ("chains", "who infected whom: all evidence vs the serial interval alone", quick),
        ("rt_speed", "Rt: estimate_rt and wallinga_teunis vs EpiEstim", []),
    ):
        console.rule(title)
        _load(here / f"{name}.py", f"accuracy_{name}").main(argv)


def bench_detection(args, sections: set[str]) -> None:
    """The detection benchmarks print their own tables, each beside R in the same run."""
    sys.path.insert(0, str(ROOT / "benchmarks" / "detection"))
    import bench_daily
    import bench_farrington
    import city
    import noufaily

    if "detection" in sections:
        console.rule("farringtonFlexible: 200 weekly series x 52 weeks, against R")
        bench_farrington.main([])
        console.rule("EARS, CUSUM, GLR-NB: 10,000 daily series x 365 days, against R")
        bench_daily.main(["--ears-subset", "500"])
        console.rule("one day's run on 2,000 regions x 8 syndromes")
        city.main(["--speed"])
    if "evaluation" in sections:
        n = str(args.noufaily_replicates)
        console.rule(f"Noufaily et al. (2013) design, {n} replicates per scenario")
        noufaily.main(["--replicates", n, "--r-replicates", n])
        console.rule("daily city: 400 regions, 250 injected outbreaks")
        city.main(
            [
                "--methods",
                "C1,C2,C3",
                "--methods",
                "nb_glm;ili=ewma_regression",
                "--windows",
                "1",
                "--windows",
                "1,3,7",
            ]
        )


def _load(path: Path, name: str):
    """A benchmark script as a module under its own name (``detection.py`` would otherwise
    clash with the ``benchmarks/detection`` folder)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def bench_spacetime(args) -> None:
    """The space-time scan benchmarks print their own tables (SaTScan's times are recorded)."""
    here = ROOT / "benchmarks" / "spacetime"
    sys.path.insert(0, str(here))
    speed = _load(here / "speed.py", "spacetime_speed")
    scaling = _load(here / "scaling.py", "spacetime_scaling")
    detection = _load(here / "detection.py", "spacetime_detection")
    console.rule("space-time permutation scan vs SaTScan 10.3.2: wa, wb (1 and 2 threads)")
    speed.main([])
    console.rule("space-time permutation scan: scaling with zones, days, radius, replications")
    scaling.main(["--quick"] if args.quick else [])
    console.rule("point-source outbreaks: space-time scan vs per-region EARS C1-C3")
    detection.main(["--quick"] if args.quick else [])


def bench_service(args, sections: set[str]) -> None:
    rows = 100_000 if args.quick else args.rows
    data = make_data(rows, args.regions)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_messages

    if "ingest" not in sections:
        console.rule("hospital connectivity: MLLP, HTTP HL7 v2, HTTP FHIR R4")
        msg = bench_messages.run_all(args.messages, 8)
        _connectivity_table(msg)
        return
    with tempfile.TemporaryDirectory(prefix="epiradar-bench-") as tmp:
        work = Path(tmp)
        ing = bench_ingest(data, work)
        det = bench_detect(ing, work)
        mapped = bench_mapped(data, work, min(200_000, rows))
        msg = None
        if "connectivity" in sections:
            console.print("hospital connectivity: MLLP, HTTP HL7 v2, HTTP FHIR R4")
            msg = bench_messages.run_all(args.messages, 8)
    table = Table(title=f"epiradar benchmarks ({os.cpu_count()} cores)")
    for col in ("benchmark", "epiradar", "reference", "reference time", "ratio", "goal"):
        table.add_column(col)
    rate = ing["rows"] / ing["seconds"]
    ref_rate = ing["rows"] / ing["ref_seconds"] if ing["ref_seconds"] else None
    table.add_row(
        f"ingest {ing['rows']:,} rows (CSV -> SQLite)",
        f"{rate:,.0f} rows/s ({ing['seconds']:.1f} s, peak RSS {ing['rss_mib']:.0f} MiB)",
        "sqlite3 .import (no validation)",
        f"{ref_rate:,.0f} rows/s" if ref_rate else "n/a",
        f"{rate / ref_rate:.2f}x" if ref_rate else "n/a",
        ">= 50,000 rows/s",
    )
    table.add_row(
        f"detect replay 30 days, {args.regions} regions x 8 syndromes, 2 years",
        f"{det['seconds']:.2f} s ({det['alerts']} alerts)",
        "R surveillance::earsC C1+C2+C3",
        f"{det['ref_seconds']:.2f} s" if det["ref_seconds"] else "n/a",
        f"{det['ref_seconds'] / det['seconds']:.1f}x faster" if det["ref_seconds"] else "n/a",
        "< 10 s",
    )
    table.add_row(
        "the same with the default settings (nb_glm, ILI: ewma_regression, windows 1/3/7, "
        "FDR 0.1, space-time permutation scans)",
        f"{det['default_seconds']:.2f} s ({det['default_alerts']} alerts)",
        "",
        "",
        "",
        "< 10 s",
    )
    m_rate = mapped["rows"] / mapped["mapped"]["seconds"]
    c_rate = mapped["rows"] / mapped["canonical"]["seconds"]
    table.add_row(
        f"ingest {mapped['rows']:,} rows of a hospital export (GB18030, Chinese headers, "
        "code lists, date formats) with --mapping",
        f"{m_rate:,.0f} rows/s ({mapped['mapped']['seconds']:.1f} s)",
        "the same rows as canonical CSV",
        f"{c_rate:,.0f} rows/s",
        f"{m_rate / c_rate:.2f}x",
        ">= 50,000 rows/s",
    )
    console.print(table)
    if msg is not None:
        _connectivity_table(msg)


def _connectivity_table(msg: dict) -> None:
    table = Table(title=f"hospital connectivity ({os.cpu_count()} cores)")
    for col in ("benchmark", "epiradar", "reference", "reference time", "ratio", "goal"):
        table.add_column(col)
    mllp = msg["mllp"]
    table.add_row(
        f"MLLP: {mllp['messages']:,} HL7 v2 messages, 8 connections, python-hl7 MLLPClient, "
        "ACK after a durable commit each",
        f"{mllp['rate']:,.0f} msg/s, ACK p50 {mllp['p50_ms']:.1f} ms, p99 {mllp['p99_ms']:.1f} ms "
        f"({mllp['stored']:,} stored, {mllp['aa']:,} AA; mllp_send: {mllp['mllp_send_aa']}/5 AA)",
        "bare python-hl7 MLLP server (ACKs, reads and stores nothing)",
        f"{mllp['reference']['rate']:,.0f} msg/s",
        f"{mllp['rate'] / mllp['reference']['rate']:.2f}x",
        ">= 2,000 msg/s",
    )
    hl7 = msg["http_hl7"]
    table.add_row(
        f"POST /api/ingest/hl7: {hl7['messages']:,} messages in batches",
        f"{hl7['rate']:,.0f} msg/s ({hl7['accepted']:,} accepted)",
        "hl7.parse (python-hl7), parsing only",
        f"{hl7['ref_rate']:,.0f} msg/s",
        f"{hl7['rate'] / hl7['ref_rate']:.1f}x",
        ">= 10,000 visits/s",
    )
    fhir = msg["http_fhir"]
    table.add_row(
        f"POST /api/fhir: {fhir['visits']:,} visits in {fhir['bundles']} Bundles",
        f"{fhir['rate']:,.0f} visits/s ({fhir['accepted']:,} accepted)",
        "fhir.resources R4B Bundle validation only",
        f"{fhir['ref_rate']:,.0f} visits/s",
        f"{fhir['rate'] / fhir['ref_rate']:.1f}x",
        ">= 10,000 visits/s",
    )
    console.print(table)


if __name__ == "__main__":
    main()
