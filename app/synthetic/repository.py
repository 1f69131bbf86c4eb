"""The synthetic-data generator's reads: checks and id look-ups.

Its writes go through `app.audit.bulk.BulkTrail` (COPY on PostgreSQL, executemany on
SQLite), which appends every row's trail entry as it writes the row.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import BeneficiaryGroup, BudgetLine, ExchangeRate, Initiative, Organization, Program

Row = tuple[object, ...]


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
