"""`pledge-ledger keys …`: create, list and revoke API keys.

A new key's secret goes to stdout alone (so `$(pledge-ledger keys create …)` captures
it); everything else goes to stderr. A refusal writes nothing and exits 1; a database
that cannot be used (missing, unreachable, not migrated) exits 2, as for every command.
"""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from app.db.session import SessionFactory

T = TypeVar("T")

keys_cli = typer.Typer(help="API keys: callers send them as 'Authorization: Bearer <key>'.")


def run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction; a refusal or a failed statement exits 1, writing
    nothing."""
    from sqlalchemy.exc import IntegrityError, SQLAlchemyError

    from app.cli_support import on_migrated_database
    from app.errors import DomainError

    async def in_session(sessions: SessionFactory) -> T:
        async with sessions() as session, session.begin():
            return await work(session)

    try:
        return on_migrated_database(in_session)
    except DomainError as exc:
        message = exc.message
    except IntegrityError:  # another process took the name between check and insert
        message = "a key with this name already exists"
    except SQLAlchemyError as exc:
        first_line = str(exc.orig if hasattr(exc, "orig") else exc).splitlines()[0]
        message = f"database: {first_line}"
    typer.echo(f"error: {message} (nothing written)", err=True)
    raise typer.Exit(1)


def default_creator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in this environment
        return "cli"


@keys_cli.command("create")
def create(
    name: Annotated[str, typer.Option(help="A unique name, e.g. the caller's system.")],
    role: Annotated[str, typer.Option(help="viewer, auditor, editor, partner or admin.")],
    initiative: Annotated[
        list[str] | None,
        typer.Option(help="Partner keys: an initiative code it may see (repeat for more)."),
    ] = None,
    created_by: Annotated[
        str | None, typer.Option(help="Who asked for the key (default: cli:<user>).")
    ] = None,
) -> None:
    """Create a key and print its secret — the only time it is shown."""
    from app.auth.keys import create_key

    async def work(session: AsyncSession) -> str:
        _key, secret = await create_key(
            session,
            name=name,
            role=role,
            initiative_codes=initiative or [],
            created_by=created_by or default_creator(),
        )
        return secret

    secret = run_in_session(work)
    typer.echo(secret)
    typer.echo(
        f"key '{name}' created; store the secret above now: only its hash is kept, "
        "it cannot be shown again",
        err=True,
    )


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


@keys_cli.command("list")
def list_() -> None:
    """List every key (never its secret), revoked ones included."""
    from app.auth.keys import KeyInfo, list_keys

    async def work(session: AsyncSession) -> list[KeyInfo]:
        return await list_keys(session)

    rows = [
        (
            k.name,
            k.role,
            k.prefix + "…",
            _when(k.created_at),
            _when(k.revoked_at),
            ",".join(k.initiatives) or "-",
        )
        for k in run_in_session(work)
    ]
    header = ("NAME", "ROLE", "PREFIX", "CREATED", "REVOKED", "INITIATIVES")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]))


@keys_cli.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key: it is refused from the next request on."""
    from app.auth.keys import revoke_key

    async def work(session: AsyncSession) -> datetime | None:
        return (await revoke_key(session, name)).revoked_at

    revoked_at = run_in_session(work)
    typer.echo(f"key '{name}' is revoked (since {_when(revoked_at)})")
