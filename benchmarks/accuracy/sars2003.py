"""SARS 2003 on the world air-transport network: where does Hong Kong rank as the origin?

    python benchmarks/accuracy/sars2003.py [--shared ../shared]

Network: OpenFlights routes (2014 snapshot, ``../shared/data/openflights``) aggregated from
airports to countries, weight = number of airline routes between two countries (OpenFlights
has no seat counts), domestic routes dropped. Arrivals: the first date with cumulative probable
cases > 0 in the WHO daily reports (``../shared/data/sars2003``). The reports start on
2003-03-17, when seven countries already had cases (Hong Kong, Viet Nam, Singapore, Canada,
Germany, Switzerland, Thailand): their arrivals are left-censored at 2003-03-17 (known only to
be at or before it), which :func:`epiradar.trace.origins.rank_origins` handles with a censored
fit. WHO names are mapped to OpenFlights country names.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from epiradar.trace.origins import rank_origins

SHARED = Path(__file__).resolve().parents[3] / "shared"
START = pd.Timestamp("2003-03-17")
WHO_TO_OPENFLIGHTS = {
    "Hong Kong SAR, China": "Hong Kong",
    "Macao SAR, China": "Macau",
    "Taiwan, China": "Taiwan",
    "Viet Nam": "Vietnam",
    "Republic of Ireland": "Ireland",
    "Republic of Korea": "South Korea",
    "Russian Federation": "Russia",
}


def country_flows(shared: Path = SHARED) -> pd.DataFrame:
    """Country-to-country air routes: ``origin, destination, weight`` (routes counted)."""
    data = shared / "data" / "openflights"
    airports = pd.read_csv(
        data / "airports.dat", header=None, usecols=[0, 3], names=["airport", "country"]
    )
    routes = pd.read_csv(
        data / "routes.dat", header=None, usecols=[3, 5], names=["src", "dst"], na_values="\\N"
    ).dropna()
    country = airports.set_index("airport")["country"]
    routes["origin"] = country.reindex(routes["src"].astype(int)).to_numpy()
    routes["destination"] = country.reindex(routes["dst"].astype(int)).to_numpy()
    routes = routes.dropna(subset=["origin", "destination"])
    routes = routes[routes["origin"] != routes["destination"]]
    return routes.groupby(["origin", "destination"]).size().rename("weight").reset_index()


def who_arrivals(shared: Path = SHARED) -> pd.Series:
    """First WHO report date with cases > 0 per country (OpenFlights names)."""
    who = pd.read_csv(shared / "data" / "sars2003" / "who_sars_2003_cumulative.csv")
    who = who[who["cases"] > 0]
    first = pd.to_datetime(who.groupby("country")["date"].min())
    first.index = [WHO_TO_OPENFLIGHTS.get(c, c) for c in first.index]
    return first.sort_values()


def run(shared: Path = SHARED, unreached: str = "late", criterion: str = "rmse") -> pd.DataFrame:
    """The candidate-origin ranking (every country of the network). With ``unreached="late"``
    the countries without cases are right-censored at the last WHO report (2003-07-11)."""
    who = pd.read_csv(shared / "data" / "sars2003" / "who_sars_2003_cumulative.csv")
    return rank_origins(
        country_flows(shared),
        who_arrivals(shared),
        censored_at=START,
        unreached=unreached,
        observed_until=pd.Timestamp(who["date"].max()),
        criterion=criterion,
    )


VARIANTS = (  # (label, unreached, criterion)
    ("effective distance (default: rmse, unreached late)", "late", "rmse"),
    ("effective distance (correlation, unreached late)", "late", "correlation"),
    ("effective distance (B&H: correlation, reached only)", "ignore", "correlation"),
    ("effective distance (rmse, reached only)", "ignore", "rmse"),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    flows, arrivals = country_flows(args.shared), who_arrivals(args.shared)
    console = Console(width=150)
    console.print(
        f"{flows[['origin', 'destination']].stack().nunique()} countries, {len(flows)} "
        f"country pairs, {int(flows['weight'].sum())} routes; {len(arrivals)} countries with "
        f"SARS, {int((arrivals <= START).sum())} censored at {START.date()}"
    )
    ranked = run(args.shared)
    table = Table(title="SARS 2003: candidate origins (defaults: rmse, unreached late)")
    for col in ("rank", "country", "first report", "rmse (days)", "correlation", "days/unit D"):
        table.add_column(col, justify="left" if col in ("country", "first report") else "right")
    for _, r in ranked.head(args.top).iterrows():
        first = arrivals.get(r["node"])
        table.add_row(
            str(r["rank"]),
            r["node"],
            "-" if first is None else f"{first.date()}{' (censored)' if first <= START else ''}",
            f"{r['rmse']:.2f}",
            f"{r['correlation']:.3f}",
            f"{r['slope']:.2f}",
        )
    console.print(table)
    summary = Table(title=f"Rank of Hong Kong and China among {len(ranked)} countries")
    for col in ("method", "Hong Kong", "China", "first"):
        summary.add_column(col, justify="left" if col in ("method", "first") else "right")
    for label, unreached, criterion in VARIANTS:
        r = run(args.shared, unreached, criterion).set_index("node")
        summary.add_row(
            label,
            str(r.loc["Hong Kong", "rank"]),
            str(r.loc["China", "rank"]),
            str(r.index[0]),
        )
    r = ranked.set_index("node")
    for name in ("jordan", "rumor", "degree", "closeness"):
        col = f"{name}_rank"
        summary.add_row(
            f"{name} (reached subgraph)",
            str(r.loc["Hong Kong", col]),
            str(r.loc["China", col]),
            str(r[col].idxmin()),
        )
    console.print(summary)


if __name__ == "__main__":
    main()
