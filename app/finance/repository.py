"""Every SQL statement about budget lines and transactions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from app.models import BudgetLine, BudgetType, Initiative, Program


class BudgetGroup(NamedTuple):
    """Current-budget amounts of one owner summed per currency and value date."""

    owner_id: int
    target_currency: str
    currency: str | None
    value_date: date | None
    amount: Decimal | None


def is_current_budget_line() -> ColumnElement[bool]:
    """True for the lines that make up the current budget of their period.

    IATI: a revised budget holds the new total of its period, so it replaces the
    original; of several revisions of one period the latest counts: by value date,
    then by the order they were recorded in.
    """
    other = aliased(BudgetLine)
    superseded = exists().where(
        other.initiative_id == BudgetLine.initiative_id,
        other.period_start == BudgetLine.period_start,
        other.period_end == BudgetLine.period_end,
        other.type == BudgetType.REVISED,
        or_(
            BudgetLine.type == BudgetType.ORIGINAL,
            other.value_date > BudgetLine.value_date,
            and_(other.value_date == BudgetLine.value_date, other.id > BudgetLine.id),
        ),
    )
    return ~superseded


async def current_budget_by_initiative(
    session: AsyncSession, initiative_ids: Sequence[int]
) -> list[BudgetGroup]:
    """One row per initiative (even with no lines) and currency/value date of its lines."""
    return await _current_budget(session, Initiative.id, initiative_ids)


async def current_budget_by_program(
    session: AsyncSession, program_ids: Sequence[int]
) -> list[BudgetGroup]:
    """The programme-wide current budget: its initiatives' lines, per currency/value date."""
    return await _current_budget(session, Program.id, program_ids)


async def _current_budget(
    session: AsyncSession, owner: InstrumentedAttribute[int], owner_ids: Sequence[int]
) -> list[BudgetGroup]:
    # Lines in the target currency are summed exactly; a line in another currency stays
    # a group of its own, so it is converted and rounded to the cent once, as the line
    # itself shows it — an initiative's budget is the sum of its lines' figures, and a
    # programme's the sum of its initiatives'.
    foreign_line = case((BudgetLine.currency != Program.pledged_currency, BudgetLine.id))
    stmt = (
        select(
            owner,
            Program.pledged_currency,
            BudgetLine.currency,
            BudgetLine.value_date,
            func.sum(BudgetLine.amount),
        )
        .select_from(Program)
        .outerjoin(Initiative, Initiative.program_id == Program.id)
        .outerjoin(
            BudgetLine,
            and_(BudgetLine.initiative_id == Initiative.id, is_current_budget_line()),
        )
        .where(owner.in_(owner_ids))
        .group_by(
            owner,
            Program.pledged_currency,
            BudgetLine.currency,
            BudgetLine.value_date,
            foreign_line,
        )
    )
    return [BudgetGroup(*row) for row in (await session.execute(stmt)).all()]
