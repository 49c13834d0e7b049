"""``epiradar users`` and ``epiradar tokens``: accounts, roles and machine API tokens."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

users_app = typer.Typer(
    help="Accounts: add, list, disable, enable, set role.", no_args_is_help=True
)
tokens_app = typer.Typer(
    help="API tokens for machines: create, list, revoke.", no_args_is_help=True
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: EPIRADAR_DB or sqlite:///./epiradar.db)."),
]
RoleArg = Annotated[
    str,
    typer.Option(
        "--role", help="administrator | epidemiologist | hospital_reporter | viewer | public"
    ),
]
DistrictsOpt = Annotated[
    list[str] | None,
    typer.Option("--district", help="Region id of the scope (repeat); none = whole city."),
]
FacilityOpt = Annotated[
    str | None, typer.Option("--facility", help="A hospital reporter's facility id.")
]


def _open(db: str | None):
    from epiradar.cli import _settings, _store

    settings = _settings(db)
    return settings, _store(settings)


def _fail(message: str, code: int = 2) -> typer.Exit:
    from epiradar.cli import _fail as fail

    return fail(message, code)


PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _password(from_stdin: bool) -> str:
    """The password read from standard input, else a random one (shown once by the caller)."""
    from epiradar.service import auth

    given = typer.get_text_stream("stdin").readline().rstrip("\n") if from_stdin else None
    return given or auth.random_password()


@users_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: RoleArg,
    district: DistrictsOpt = None,
    facility: FacilityOpt = None,
    password_stdin: PasswordStdinOpt = False,
    db: DbOption = None,
) -> None:
    """Create an account. Without --password-stdin a random password is made and shown once."""
    from epiradar.cli import console
    from epiradar.service import auth

    password = _password(password_stdin)
    settings, store = _open(db)
    with store:
        try:
            user = auth.add_user(
                store,
                username,
                password,
                role,
                settings=settings.auth,
                districts=district or None,
                facility_id=facility,
            )
        except auth.AuthError as exc:
            raise _fail(str(exc)) from None
    console.print(f"user [bold]{user['username']}[/] ({user['role']}) created")
    if not password_stdin:
        console.print("password (shown once):")
        typer.echo(password)


@users_app.command("list")
def list_users(
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    db: DbOption = None,
) -> None:
    """Accounts with role, scope and state (never a password hash)."""
    from epiradar.cli import _out
    from epiradar.service import auth

    _, store = _open(db)
    with store:
        users = [auth.public_user(u) for u in store.auth.users()]
    if as_json:
        typer.echo(json.dumps(users, indent=2))
        return
    table = Table("username", "role", "districts", "facility", "active", "created")
    for u in users:
        table.add_row(
            u["username"],
            u["role"],
            ",".join(u["districts"]) if u["districts"] is not None else "whole city",
            u["facility_id"] or "",
            "yes" if u["active"] else "no",
            u["created_at"],
        )
    _out().print(table)


def _set_active(username: str, active: bool, db: str | None) -> None:
    from epiradar.cli import console
    from epiradar.service import auth

    _, store = _open(db)
    with store:
        try:
            auth.set_active(store, username, active)
        except LookupError as exc:
            raise _fail(str(exc.args[0])) from None
    console.print(f"user {username} {'enabled' if active else 'disabled (sessions ended)'}")


@users_app.command("disable")
def disable(username: Annotated[str, typer.Argument()], db: DbOption = None) -> None:
    """Disable an account: it can no longer log in and its sessions end."""
    _set_active(username, False, db)


@users_app.command("enable")
def enable(username: Annotated[str, typer.Argument()], db: DbOption = None) -> None:
    """Enable a disabled account."""
    _set_active(username, True, db)


@users_app.command("set-role")
def set_role(
    username: Annotated[str, typer.Argument()],
    role: RoleArg,
    district: DistrictsOpt = None,
    facility: FacilityOpt = None,
    db: DbOption = None,
) -> None:
    """Change an account's role and scope (its sessions end)."""
    from epiradar.cli import console
    from epiradar.service import auth

    _, store = _open(db)
    with store:
        try:
            auth.set_role(store, username, role, districts=district or None, facility_id=facility)
        except LookupError as exc:
            raise _fail(str(exc.args[0])) from None
        except auth.AuthError as exc:
            raise _fail(str(exc)) from None
    console.print(f"user {username} is now {role}")


@users_app.command("set-password")
def set_password(
    username: Annotated[str, typer.Argument()],
    password_stdin: PasswordStdinOpt = False,
    db: DbOption = None,
) -> None:
    """Set a new password (random and shown once without --password-stdin)."""
    from epiradar.cli import console
    from epiradar.service import auth

    password = _password(password_stdin)
    settings, store = _open(db)
    with store:
        try:
            auth.set_password(store, username, password, settings=settings.auth)
        except LookupError as exc:
            raise _fail(str(exc.args[0])) from None
        except auth.AuthError as exc:
            raise _fail(str(exc)) from None
    console.print(f"password of {username} set (sessions ended)")
    if not password_stdin:
        typer.echo(password)


@tokens_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="What the token is for.")],
    role: RoleArg,
    district: DistrictsOpt = None,
    facility: FacilityOpt = None,
    db: DbOption = None,
) -> None:
    """Create an API token scoped to a role; printed once (only its SHA-256 is stored)."""
    from epiradar.cli import console
    from epiradar.service import auth

    _, store = _open(db)
    with store:
        try:
            token_id, token = auth.create_token(
                store,
                name,
                role,
                created_by="cli",
                districts=district or None,
                facility_id=facility,
            )
        except auth.AuthError as exc:
            raise _fail(str(exc)) from None
    console.print(f"token {token_id} ({role}) for [bold]{name}[/] (shown once, keep it secret):")
    typer.echo(token)


@tokens_app.command("list")
def list_tokens(
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    db: DbOption = None,
) -> None:
    """Tokens with their role, scope and state (never the token itself)."""
    from epiradar.cli import _out

    _, store = _open(db)
    with store:
        tokens = store.auth.tokens()
    if as_json:
        typer.echo(json.dumps(tokens, indent=2))
        return
    table = Table("id", "name", "role", "scope", "created", "last used", "revoked")
    for t in tokens:
        scope = t["facility_id"] or (",".join(t["districts"]) if t["districts"] else "whole city")
        table.add_row(
            str(t["id"]),
            t["name"],
            t["role"],
            scope,
            t["created_at"],
            t["last_used_at"] or "",
            t["revoked_at"] or "",
        )
    _out().print(table)


@tokens_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="Token id (from tokens list).")],
    db: DbOption = None,
) -> None:
    """Revoke a token: calls with it are refused from now on."""
    from epiradar.cli import console
    from epiradar.service import auth

    _, store = _open(db)
    with store:
        try:
            auth.revoke_token(store, token_id)
        except LookupError as exc:
            raise _fail(str(exc.args[0])) from None
    console.print(f"token {token_id} revoked")
