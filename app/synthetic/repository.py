"""Every SQL statement of the synthetic-data generator: checks, id look-ups, bulk writes.

Bulk writes run on the session's connection, inside its transaction: on PostgreSQL by
COPY (asyncpg's `copy_records_to_table` on the driver connection), on SQLite by
executemany of a Core insert, which binds through the column types (ExactDecimal
stores SQLite amounts as scaled integers).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime
from itertools import islice
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import BeneficiaryGroup, BudgetLine, ExchangeRate, Initiative, Organization, Program

Row = tuple[object, ...]
CHUNK_ROWS = 20_000


async def program_exists(session: AsyncSession, ref: str) -> bool:
    return await session.scalar(select(Program.id).where(Program.ref == ref)) is not None


async def program_id(session: AsyncSession, ref: str) -> int:
    return (await session.execute(select(Program.id).where(Program.ref == ref))).scalar_one()


async def organization_ids(session: AsyncSession, refs: Collection[str]) -> dict[str, int]:
    stmt = select(Organization.ref, Organization.id).where(Organization.ref.in_(refs))
    return {ref: id_ for ref, id_ in (await session.execute(stmt)).all()}


async def beneficiary_group_ids(session: AsyncSession, codes: Collection[str]) -> dict[str, int]:
    stmt = select(BeneficiaryGroup.code, BeneficiaryGroup.id).where(
        BeneficiaryGroup.code.in_(codes)
    )
    return {code: id_ for code, id_ in (await session.execute(stmt)).all()}


async def initiative_ids(session: AsyncSession, program: int) -> dict[str, int]:
    stmt = select(Initiative.code, Initiative.id).where(Initiative.program_id == program)
    return {code: id_ for code, id_ in (await session.execute(stmt)).all()}


async def budget_line_ids(session: AsyncSession, program: int) -> list[int]:
    """The programme's budget lines in the order they were written (ids ascend with it)."""
    stmt = (
        select(BudgetLine.id)
        .join(Initiative, Initiative.id == BudgetLine.initiative_id)
        .where(Initiative.program_id == program)
        .order_by(BudgetLine.id)
    )
    return list((await session.scalars(stmt)).all())


async def existing_rate_keys(
    session: AsyncSession, pairs: Collection[tuple[str, str]], first: date, last: date
) -> set[tuple[str, str, date]]:
    """(base, quote, rate_date) of the stored rates of these pairs between the dates."""
    stmt = select(ExchangeRate.base, ExchangeRate.quote, ExchangeRate.rate_date).where(
        ExchangeRate.rate_date.between(first, last)
    )
    wanted = set(pairs)
    return {
        (base, quote, day)
        for base, quote, day in (await session.execute(stmt)).all()
        if (base, quote) in wanted
    }


async def bulk_insert(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Row],
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """Write `rows` (tuples in `columns` order) in chunks, stamped created/updated `now`;
    return how many. Rows are pulled from the iterable one chunk at a time."""
    names = (*columns, "created_at", "updated_at")
    stamp = (now, now)
    conn = await session.connection()
    driver: Any = None
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if not driver.is_in_transaction():
            # The asyncpg dialect opens its transaction lazily on the first statement;
            # COPY must run inside it, so that one commit or rollback covers everything.
            await conn.execute(select(1))
    stmt = insert(table)
    source = iter(rows)
    written = 0
    while chunk := [row + stamp for row in islice(source, chunk_rows)]:
        if driver is not None:
            await driver.copy_records_to_table(
                table.name, records=chunk, columns=names, schema_name=table.schema
            )
        else:
            await conn.execute(stmt, [dict(zip(names, row, strict=True)) for row in chunk])
        written += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return written
