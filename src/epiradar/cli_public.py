"""``epiradar public``: Published aggregates (small counts suppressed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

public_app = typer.Typer(
    help="Published aggregates (small counts suppressed).", no_args_is_help=True
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: EPIRADAR_DB or sqlite:///./epiradar.db)."),
]


@public_app.command("aggregates")
def aggregates(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write ('-' = stdout).")],
    syndrome: Annotated[
        str | None, typer.Option(help="Only this syndrome (a published syndrome code).")
    ] = None,
    level: Annotated[str | None, typer.Option(help="city | district (default: both).")] = None,
    period: Annotated[str | None, typer.Option(help="week | day (default: both).")] = None,
    db: DbOption = None,
) -> None:
    """Write the published aggregates (as on /api/open/aggregates.csv) to a CSV file."""
    from epiradar.cli import _fail, _settings, _store
    from epiradar.service import public

    settings = _settings(db)
    store = _store(settings)
    with store:
        agg = public.aggregates(store, settings)
        try:
            rows = public.rows(agg, syndrome=syndrome, level=level, period=period)  # type: ignore[arg-type]
        except ValueError as exc:
            raise _fail(str(exc), 2) from exc
    text = public.to_csv(rows)
    if str(out) == "-":
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    hidden = sum(1 for r in rows if r["suppressed"])
    typer.echo(
        f"wrote {len(rows)} rows ({hidden} suppressed, min_count {agg.rules.min_count}) to {out}"
    )
