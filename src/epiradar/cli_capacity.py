"""``epiradar capacity``: Facility capacity: report, list, forecast, nearest clinic."""

from __future__ import annotations

import typer

capacity_app = typer.Typer(
    help="Facility capacity: report, list, forecast, nearest clinic.", no_args_is_help=True
)
