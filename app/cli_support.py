"""What every `pledge-ledger` command shares: its settings read (or a bad one named in
one line), the database it uses named on stderr, and a database it cannot open or use
answered in one line rather than a traceback.

Exit codes, the same for every command:
  0  done;
  1  the command's own refusal or finding (a key name in use, a broken audit chain);
  2  it could not run: a bad setting, a database it cannot reach or open, a SQLite file
     that does not exist, a database not migrated to the code's revision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from app.config import Settings, get_settings, setting_problems

if TYPE_CHECKING:
    from app.db.session import SessionFactory

T = TypeVar("T")

CANNOT_RUN = 2
EXIT_CODES = (
    "Exit codes: 0 done; 1 refused, or (audit verify) the chain is broken; 2 could not "
    "run: a bad setting, a database that cannot be reached or opened, a missing SQLite "
    "file, or a database not migrated."
)


def cannot_run(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(CANNOT_RUN)


def settings() -> Settings:
    """The settings; a bad one is named in one line, and the command exits 2."""
    try:
        return get_settings()
    except ValidationError as exc:
        for line in setting_problems(exc):
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(CANNOT_RUN) from None


def database(*, create: bool = False) -> str:
    """The database URL the command uses, named on stderr (a SQLite file by its
    absolute path, a server's URL with its password masked).

    A SQLite file that does not exist is refused (exit 2) unless `create`: a command
    run from another directory must not make an empty database and report on it."""
    from app.db.session import describe_database, sqlite_file

    url = settings().database_url
    typer.echo(f"database: {describe_database(url)}", err=True)
    path = sqlite_file(url)
    if not create and path is not None and not path.exists():
        cannot_run(
            f"there is no database at {path}: create it with `pledge-ledger db upgrade`, "
            "or point DATABASE_URL at the one to use"
        )
    return url


def run(url: str, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work`; a database that cannot be reached, opened or logged into is one line
    naming it, and exit 2."""
    from app.db.session import cannot_open, describe_database

    try:
        return asyncio.run(work())
    except Exception as exc:
        reason = cannot_open(exc)
        if reason is None:
            raise
        cannot_run(f"cannot use the database {describe_database(url)}: {reason}")


class _NotMigrated(str):
    """Why a command could not run: the database is not at the code's migration."""


def on_migrated_database(work: Callable[[SessionFactory], Awaitable[T]]) -> T:
    """Run `work` with sessions on the configured database, which must exist and be
    migrated to the code's revision (else one line and exit 2, nothing written)."""
    from app.db import migrate
    from app.engines import ledger_engine, ledger_sessions

    url = database()

    async def checked() -> T | _NotMigrated:
        engine = ledger_engine(url)
        try:
            current = await migrate.current_revision(engine)
            if current != migrate.head_revision():
                return _NotMigrated(
                    f"the database is at migration {current or 'none'}, not "
                    f"{migrate.head_revision()}: run `pledge-ledger db upgrade` first"
                )
            return await work(ledger_sessions(engine))
        finally:
            await engine.dispose()

    result = run(url, checked)
    if isinstance(result, _NotMigrated):
        cannot_run(result)
    return result
