"""`pledge-ledger rollups …`: which currencies budget reports keep rollups in.

A report in a currency kept reads the rollups (app/reports/budget/rollups.py); every
other report reads the records, as before. Building one takes one pass over every
record, under the write lock; from then on every write keeps it in its transaction.
Exit 1 when a currency code is refused or a check finds a difference; 2 when the
database cannot be used, as for every command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from app.db.session import SessionFactory

T = TypeVar("T")

rollups_cli = typer.Typer(help="Budget rollups: report currencies read from kept sums.")

CurrencyCodes = Annotated[
    list[str] | None,
    typer.Argument(help="ISO 4217 codes, e.g. USD EUR; default: every currency kept."),
]


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from app.cli_support import on_migrated_database
    from app.errors import DomainError

    async def in_session(sessions: SessionFactory) -> T:
        async with sessions() as session, session.begin():
            return await work(session)

    try:
        return on_migrated_database(in_session)
    except DomainError as exc:
        typer.echo(f"error: {exc.message} (nothing written)", err=True)
        raise typer.Exit(1) from None


def _codes(currencies: list[str] | None) -> list[str]:
    from app.money.currencies import parse_currency

    return sorted({parse_currency(code.strip().upper()) for code in currencies or ()})


@rollups_cli.command("build")
def build(
    currencies: Annotated[list[str], typer.Argument(help="ISO 4217 codes, e.g. USD EUR.")],
) -> None:
    """Keep rollups in these currencies: compute them from every record now (again,
    for one already kept)."""
    from app.reports.budget import rollups

    async def work(session: AsyncSession) -> dict[str, int]:
        return await rollups.build(session, _codes(currencies))

    for code, rows in _run(work).items():
        typer.echo(f"{code}: {rows} rollup rows")


@rollups_cli.command("drop")
def drop(
    currencies: Annotated[list[str], typer.Argument(help="ISO 4217 codes, e.g. USD EUR.")],
) -> None:
    """Stop keeping rollups in these currencies; their reports read the records."""
    from app.reports.budget import rollups

    async def work(session: AsyncSession) -> None:
        await rollups.forget(session, _codes(currencies))

    _run(work)
    typer.echo("dropped: " + " ".join(_codes(currencies)))


@rollups_cli.command("check")
def check(currencies: CurrencyCodes = None) -> None:
    """Compare the kept rollups with their recomputation from the records, and the
    history's open rows with the kept rollups (what asOf reads from the next write
    on); exit 1 when any differs."""
    from app.reports.budget import rollups

    def differ(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> int:
        return len(set(a) ^ set(b)) + abs(len(a) - len(set(a))) + abs(len(b) - len(set(b)))

    async def work(session: AsyncSession) -> dict[str, tuple[int, int, int]]:
        codes = _codes(currencies) or await rollups.kept_currencies(session)
        found = {}
        for code in codes:
            kept = await rollups.rows_of(session, code)
            recomputed = await rollups.recomputed_rows(session, code)
            history = await rollups.open_history_rows(session, code)
            found[code] = (len(kept), differ(kept, recomputed), differ(kept, history))
        return found

    results = _run(work)
    if not results:
        typer.echo("no currency is kept (pledge-ledger rollups build USD)")
    for code, (rows, differing, open_) in results.items():
        typer.echo(
            f"{code}: {rows} rows, {differing} differ from the records, "
            f"{open_} from the history's open rows"
        )
    if any(differing or open_ for _rows, differing, open_ in results.values()):
        raise typer.Exit(1)
