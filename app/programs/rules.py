"""The rules of programmes: the current budgets of a programme's initiatives, in its
pledge currency, stay within its pledge."""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode
from app.finance.rules import programme_of
from app.models import BudgetLine
from app.money.currencies import minor_units
from app.reports.budget.repository import Dimension
from app.reports.budget.service import current_budgets
from app.writes.errors import FieldError, Rejected


async def kept_within_pledge(session: AsyncSession, written: Awaitable[BudgetLine]) -> BudgetLine:
    """The budget line `written` writes (flushed), refused if its programme's current
    budget then passes the pledge."""
    line = await written
    await check_within_pledge(session, line.initiative_id)
    return line


async def check_within_pledge(session: AsyncSession, initiative_id: int) -> None:
    """After a budget change (flushed, not committed): the programme's current budget,
    in its pledge currency as `Program.allocated` shows it, must not pass its pledge."""
    program = await programme_of(session, initiative_id)
    if program is None:
        return
    currency = program.pledged_currency
    try:
        budgets = await current_budgets(session, Dimension.PROGRAM, [program.id], currency)
    except DomainError as error:
        raise Rejected([FieldError("currency", error.code, error.message)]) from error
    allocated = budgets[program.id]
    if allocated > program.pledged_amount:
        over = allocated - program.pledged_amount
        raise Rejected(
            [
                FieldError(
                    "amount",
                    ErrorCode.PLEDGE_EXCEEDED,
                    f"the programme's budgets would come to {_money(allocated, currency)} "
                    f"{currency}, {_money(over, currency)} beyond its pledge of "
                    f"{_money(program.pledged_amount, currency)} {currency}",
                )
            ]
        )


def _money(value: Decimal, currency: str) -> str:
    """An amount for people: thousands separated, to the currency's minor unit."""
    return f"{value:,.{minor_units(currency)}f}"
