"""Weekly bulletin: content, HTML and PDF in both languages, against a 10 s goal.

    python benchmarks/sharing/bulletin_speed.py [--visits 100000] [--repeat 3]

``service.bulletins.generate(kind="weekly")`` on the simulated city (with 30 open alerts over
the last weeks, so the map and the alert table are filled): the content (suppressed curve and
area tables), ``render_html`` and ``render_pdf`` (reportlab) in English and Chinese, and the
draft stored in the database. The best and the median of ``--repeat`` generations, and each
step timed on its own once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

GOAL_S = 10.0
console = Console(width=160)


def add_alerts(store, end: dt.date, n: int = 30, seed: int = 3) -> None:
    from epiradar.model import Alert, AlertStatus, Severity, Signal, Syndrome

    rng = random.Random(seed)
    regions = [r.id for r in store.regions()]
    alerts, members = [], []
    for i in range(n):
        first = end - dt.timedelta(days=rng.randrange(21))
        syndrome = rng.choice(list(Syndrome))
        chosen = sorted(rng.sample(regions, rng.choice((1, 1, 2, 3))))
        alert = Alert(
            id=f"bench-{i}",
            syndrome=syndrome,
            region_ids=chosen,
            start_date=first - dt.timedelta(days=2),
            end_date=first,
            first_alarm_date=first,
            observed=20,
            expected=8.0,
            p_value=1e-4,
            severity=rng.choice(list(Severity)),
            detector="ears_c2",
            status=rng.choice([AlertStatus.NEW, AlertStatus.INVESTIGATING]),
            n_signals=1,
        )
        alerts.append(alert)
        members.append(
            (
                alert.id,
                Signal(
                    date=first,
                    region_id=chosen[0],
                    syndrome=syndrome,
                    detector="ears_c2",
                    observed=20,
                    expected=8.0,
                    upperbound=16.0,
                    p_value=1e-4,
                ),
            )
        )
    store.replace_alerts(alerts, members, end - dt.timedelta(days=30), end)


def run(city, *, repeat: int = 3) -> dict:
    from epiradar.service import bulletins
    from epiradar.share.bulletin_render import render_html, render_pdf
    from epiradar.share.bulletin_text import LANGS

    store, settings = city.store, city.settings
    last = store.visit_date_range()[1]
    add_alerts(store, last)
    times = []
    record = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        record = bulletins.generate(store, settings, kind="weekly", actor="bench")
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    content = bulletins.build_content(store, settings, kind="weekly")
    steps = {"content": time.perf_counter() - t0}
    sizes = {}
    for lang in LANGS:
        t0 = time.perf_counter()
        html = render_html(content, lang)
        steps[f"HTML {lang}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pdf = render_pdf(content, lang)
        steps[f"PDF {lang}"] = time.perf_counter() - t0
        sizes[lang] = (len(html.encode()), len(pdf))
    return {
        "visits": city.n_visits,
        "times": times,
        "steps": steps,
        "sizes": sizes,
        "period": f"{content.period.start} to {content.period.end}",
        "alerts": len(content.alerts) if hasattr(content, "alerts") else None,
        "record": record.id if record is not None else None,
    }


def table(res: dict) -> Table:
    t = Table(title=f"weekly bulletin, {res['visits']:,} visits (goal {GOAL_S:.0f} s)")
    for col in ("benchmark", "epiradar", "goal", "ratio"):
        t.add_column(col)
    best, med = min(res["times"]), statistics.median(res["times"])
    sizes = "; ".join(
        f"{lang}: HTML {h / 1024:.0f} KiB, PDF {p / 1024:.0f} KiB"
        for lang, (h, p) in res["sizes"].items()
    )
    t.add_row(
        f"generate weekly bulletin {res['period']} (content + HTML + PDF, 2 languages, stored; "
        f"{res['alerts']} open alerts)",
        f"best {best:.2f} s, median {med:.2f} s of {len(res['times'])} ({sizes})",
        f"{GOAL_S:.0f} s",
        f"{GOAL_S / med:.0f}x {'✓' if med <= GOAL_S else '✗'}",
    )
    t.add_row(
        "  steps",
        ", ".join(f"{k} {v * 1000:,.0f} ms" for k, v in res["steps"].items()),
        "",
        "",
    )
    return t


def main(argv: list[str] | None = None, city=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if city is None:
        import city as city_module

        with tempfile.TemporaryDirectory(prefix="epiradar-sharing-") as tmp:
            built = city_module.build(Path(tmp), args.visits)
            res = run(built, repeat=args.repeat)
            built.store.close()
    else:
        res = run(city, repeat=args.repeat)
    console.print(table(res))
    return res


if __name__ == "__main__":
    main()
