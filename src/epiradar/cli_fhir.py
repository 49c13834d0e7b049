"""``epiradar fhir``: FHIR Bulk Data export to NDJSON files."""

from __future__ import annotations

import typer

fhir_app = typer.Typer(help="FHIR Bulk Data export to NDJSON files.", no_args_is_help=True)
