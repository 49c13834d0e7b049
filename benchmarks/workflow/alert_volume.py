"""Alert volume per week before and after grouping, and after muting known events, on a
simulated year.

    python benchmarks/workflow/alert_volume.py [--regions 40] [--daily-visits 500] [--seed 3]

Simulates two years of a city (the first year is the detectors' history) with a point-source
outbreak in the last month, ingests it through the product, and runs detection prospectively
over the last 365 days with the default settings (``compute_alerts``: every detector, the
space-time scan, then ``detect.merge.group_signals``). Counts per week:

- signals: what the detectors raised (each region x day x method, each scan cluster);
- alerts: after grouping signals of one syndrome in the same or neighbouring regions within
  ``merge_gap_days`` days (the alerts the work queue shows);
- needing action: the alerts left when each alert acted on mutes its event (its syndrome in its
  regions) for ``--mute-days`` days (``service.ranking.needing_action``), so a later alert of
  a known ongoing event arrives muted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=40)
    parser.add_argument("--daily-visits", type=float, default=500.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--mute-days", type=int, default=14)
    args = parser.parse_args(argv)

    from epiradar.config import Settings
    from epiradar.service.city import load_city
    from epiradar.service.detection import compute_alerts
    from epiradar.service.ingest import ingest_file
    from epiradar.service.ranking import alert_volume, needing_action
    from epiradar.sim.scenarios import simulate
    from epiradar.sim.writers import write_simulation
    from epiradar.store import Store

    end = dt.date(2026, 3, 31)
    start = end - dt.timedelta(days=364)
    with tempfile.TemporaryDirectory(prefix="epiradar-volume-") as tmp:
        work = Path(tmp)
        settings = Settings(db=f"sqlite:///{work / 'volume.db'}", pseudonym_key="bench-key")
        store = Store(settings.db)
        store.migrate()
        t0 = time.perf_counter()
        sim = simulate(
            "point-source",
            seed=args.seed,
            days=730,
            end_date=end,
            n_regions=args.regions,
            daily_visits=args.daily_visits,
        )
        write_simulation(sim, work / "city")
        load_city(store, work / "city")
        ingest_file(store, work / "city" / "visits.csv", settings, progress=False)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, _, groups = compute_alerts(store, settings, start=start, end=end)
        t_detect = time.perf_counter() - t0
        store.close()

    alerts = [a for a, _ in groups]
    n_signals = sum(len(g) for _, g in groups)
    volume = alert_volume(n_signals, alerts, start, end, mute_days=args.mute_days)
    acted = {a.id for a in needing_action(alerts, mute_days=args.mute_days)}

    def monday(day: dt.date) -> dt.date:
        return day - dt.timedelta(days=day.weekday())

    weeks: dict[dt.date, list[int]] = {}
    first = monday(start)
    for i in range((end - first).days // 7 + 1):
        weeks[first + dt.timedelta(days=7 * i)] = [0, 0, 0]
    for alert, group in groups:
        for s in group:
            weeks[monday(s.date)][0] += 1
        weeks[monday(alert.first_alarm_date)][1] += 1
        if alert.id in acted:
            weeks[monday(alert.first_alarm_date)][2] += 1

    console.print(
        f"{args.regions} regions, {args.daily_visits:.0f} visits a day, two years simulated "
        f"(load {t_load:.1f} s); detection over {start} .. {end} with the default settings "
        f"({t_detect:.1f} s); muting an event for {args.mute_days} days"
    )
    table = Table(title="alert volume on a simulated year")
    for col in ("", "total", "per week", "median week", "busiest week", "reduction"):
        table.add_column(col, justify="left" if not col else "right")
    per_week = list(weeks.values())
    for i, (name, total, rate, factor) in enumerate(
        (
            ("signals (detectors)", volume.signals, volume.signals_per_week, "1.0x"),
            (
                "alerts (after grouping)",
                volume.alerts,
                volume.alerts_per_week,
                f"{volume.grouping_factor:.1f}x",
            ),
            (
                "needing action (after muting)",
                volume.needing_action,
                volume.action_per_week,
                f"{volume.total_factor:.1f}x",
            ),
        )
    ):
        column = [w[i] for w in per_week]
        table.add_row(
            name,
            f"{total:,}",
            f"{rate:.1f}",
            f"{statistics.median(column):.0f}",
            f"{max(column)}",
            factor,
        )
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
