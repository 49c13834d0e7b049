"""``epiradar export``: De-identified line-list exports."""

from __future__ import annotations

import typer

export_app = typer.Typer(help="De-identified line-list exports.", no_args_is_help=True)
