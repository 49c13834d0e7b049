"""``epiradar facility``: the API tokens facilities submit HL7 v2 and FHIR with."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

facility_app = typer.Typer(help="Facility API tokens for HTTP submission.", no_args_is_help=True)
token_app = typer.Typer(help="Create, list and revoke facility API tokens.", no_args_is_help=True)
facility_app.add_typer(token_app, name="token")

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: EPIRADAR_DB or sqlite:///./epiradar.db)."),
]


def _store(db: str | None):
    from epiradar.cli import _settings, _store

    return _store(_settings(db))


@token_app.command("create")
def create(
    facility: Annotated[str, typer.Argument(help="Facility id (as in the city's facilities).")],
    label: Annotated[str | None, typer.Option(help="What the token is for.")] = None,
    db: DbOption = None,
) -> None:
    """Create a token and print it once (only its SHA-256 is stored)."""
    from epiradar.cli import _fail, console

    with _store(db) as store:
        known = {f.id for f in store.facilities()}
        if facility not in known:
            raise _fail(f"unknown facility {facility!r}; load the city first (load-city)", 2)
        token = store.create_token(facility, label)
    console.print(f"token for [bold]{facility}[/] (shown once, keep it secret):")
    typer.echo(token)


@token_app.command("list")
def list_tokens(
    facility: Annotated[str | None, typer.Option(help="Only this facility.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    db: DbOption = None,
) -> None:
    """Tokens with their facility, label and state (never the token itself)."""
    from epiradar.cli import _out

    with _store(db) as store:
        tokens = store.tokens(facility)
    if as_json:
        typer.echo(json.dumps(tokens, indent=2))
        return
    table = Table("id", "facility", "label", "created", "revoked")
    for t in tokens:
        table.add_row(
            str(t["id"]), t["facility_id"], t["label"] or "", t["created_at"], t["revoked_at"] or ""
        )
    _out().print(table)


@token_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="Token id (from token list).")],
    db: DbOption = None,
) -> None:
    """Revoke a token: submissions with it are refused from now on."""
    from epiradar.cli import _fail, console

    with _store(db) as store:
        if not store.revoke_token(token_id):
            raise _fail(f"no live token with id {token_id}", 2)
    console.print(f"token {token_id} revoked")
