"""``epiradar public``: Published aggregates (small counts suppressed)."""

from __future__ import annotations

import typer

public_app = typer.Typer(
    help="Published aggregates (small counts suppressed).", no_args_is_help=True
)
