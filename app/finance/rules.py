"""The rules of money records: transactions and budget lines.

IATI's conventions: a budget is never negative and its period ends on or after it
starts; a REVISED budget holds the new total of its period and so replaces the
ORIGINAL of exactly that period (there must be one); transactions are signed (a
reduction is negative) and dated no later than today. Every amount must be
convertible into its programme's pledge currency (and the programme's budgets must
stay within its pledge: app/programs/rules.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ErrorCode
from app.kit.text import Kind
from app.models import BudgetLine, BudgetType, Initiative, Organization, Program, Transaction
from app.writes import checks
from app.writes.errors import Problems


async def programme_of(session: AsyncSession, initiative_id: int) -> Program | None:
    """The programme an initiative belongs to."""
    return await session.scalar(
        select(Program)
        .join(Initiative, Initiative.program_id == Program.id)
        .where(Initiative.id == initiative_id)
    )


def check_transaction_values(problems: Problems, tx: Transaction) -> None:
    """The rules of a transaction's own values, which need no reads: a bulk import
    checks each of many rows by these and resolves its references itself."""
    tx.amount, tx.currency = checks.money(problems, tx.amount, tx.currency)
    if tx.amount == 0:
        problems.add("amount", "a transaction moves money: the amount must not be zero")
    checks.not_future(problems, tx.transaction_date, "transaction_date")
    if tx.value_date != tx.transaction_date:  # one problem, not two, when it defaulted
        checks.not_future(problems, tx.value_date, "value_date")
    tx.description = checks.text(problems, tx.description, "description")


async def validate_transaction(session: AsyncSession, problems: Problems, tx: Transaction) -> None:
    check_transaction_values(problems, tx)
    initiative = await checks.existing(
        session, problems, Initiative, tx.initiative_id, "initiative_id", "initiative"
    )
    if tx.budget_line_id is not None:
        line = await checks.existing(
            session, problems, BudgetLine, tx.budget_line_id, "budget_line_id", "budget line"
        )
        if line is not None and line.initiative_id != tx.initiative_id:
            problems.add("budget_line_id", "the budget line belongs to another initiative")
    for attr in ("provider_id", "receiver_id"):
        if getattr(tx, attr) is not None:
            await checks.existing(
                session, problems, Organization, getattr(tx, attr), attr, "organisation"
            )
    if initiative is not None and not problems.errors:
        program = await programme_of(session, tx.initiative_id)
        assert program is not None
        await checks.convertible(
            session, problems, tx.currency, program.pledged_currency, tx.value_date
        )


def check_budget_line_values(problems: Problems, line: BudgetLine) -> None:
    """The rules of a budget line's own values, which need no reads (a bulk import
    checks many new lines by these, then `check_budget_type` with what it knows)."""
    line.amount, line.currency = checks.money(
        problems, line.amount, line.currency, non_negative=True
    )
    checks.ordered(problems, line.period_start, line.period_end, "period_end", after="periodStart")
    line.category = checks.text(problems, line.category, "category", limit=100, kind=Kind.NAME)
    line.description = checks.text(problems, line.description, "description")


def check_budget_type(problems: Problems, line: BudgetLine, has_original: bool) -> None:
    """IATI's rule of a period's budgets, given whether another line of the initiative
    is the ORIGINAL of exactly this period: one original per period, and a revision
    replaces it (so it needs one)."""
    period = f"{line.period_start.isoformat()} to {line.period_end.isoformat()}"
    if line.type == BudgetType.ORIGINAL and has_original:
        problems.add(
            "type",
            f"the initiative has an original budget for {period} already; a change to it "
            "is a REVISED line (it replaces the original), or an update of the original",
        )
    if line.type == BudgetType.REVISED and not has_original:
        problems.add(
            "type",
            f"a revised budget replaces the original of its period, and there is no "
            f"original for {period}: add the ORIGINAL first, with exactly this period",
        )


async def validate_budget_line(session: AsyncSession, problems: Problems, line: BudgetLine) -> None:
    check_budget_line_values(problems, line)
    initiative = await checks.existing(
        session, problems, Initiative, line.initiative_id, "initiative_id", "initiative"
    )
    if initiative is None or problems.errors:
        return
    has_original = await checks.exists_where(
        session,
        BudgetLine.initiative_id == line.initiative_id,
        BudgetLine.period_start == line.period_start,
        BudgetLine.period_end == line.period_end,
        BudgetLine.id != (line.id or -1),
        BudgetLine.type == BudgetType.ORIGINAL,
    )
    check_budget_type(problems, line, has_original)
    program = await programme_of(session, line.initiative_id)
    assert program is not None
    await checks.convertible(
        session, problems, line.currency, program.pledged_currency, line.value_date
    )


async def guard_budget_line_archive(
    session: AsyncSession, problems: Problems, line: BudgetLine
) -> None:
    booked = await session.scalar(
        select(func.count()).select_from(Transaction).where(Transaction.budget_line_id == line.id)
    )
    if booked:
        problems.add(
            "id",
            f"{booked} transaction(s) are booked against this budget line; move or archive "
            "them first",
            ErrorCode.CONFLICT,
        )
    if line.type == BudgetType.ORIGINAL and await checks.exists_where(
        session,
        BudgetLine.initiative_id == line.initiative_id,
        BudgetLine.period_start == line.period_start,
        BudgetLine.period_end == line.period_end,
        BudgetLine.type == BudgetType.REVISED,
    ):
        problems.add(
            "id",
            "revised budgets replace this original; archive them first",
            ErrorCode.CONFLICT,
        )


def budget_line_values(values: dict[str, Any]) -> dict[str, Any]:
    """A new line's value date is its period's start unless given."""
    return _dated(values, "period_start")


def transaction_values(values: dict[str, Any]) -> dict[str, Any]:
    """A new transaction's value date is its date unless given."""
    return _dated(values, "transaction_date")


def _dated(values: dict[str, Any], default: str) -> dict[str, Any]:
    if values.get("value_date") is None and values.get(default) is not None:
        values["value_date"] = values[default]
    return values
