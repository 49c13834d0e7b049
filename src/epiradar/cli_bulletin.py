"""``epiradar bulletin``: Bulletins: generate, list, approve, reject, render."""

from __future__ import annotations

import typer

bulletin_app = typer.Typer(
    help="Bulletins: generate, list, approve, reject, render.", no_args_is_help=True
)
