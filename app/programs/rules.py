"""The rules of programmes: the current budgets of a programme's initiatives, in its
pledge currency, stay within its pledge.

A programme has a unique reference, a name, a sponsor and a pledge: an amount (exact,
not negative, to its currency's minor unit) in an ISO 4217 currency. It was announced
on a day not in the future, with a deadline not before it. Changing the pledge keeps
the rule: the budgets must still fit it, and every amount of the programme must still
convert into its currency. A programme with initiatives is not archived under them.
"""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode
from app.finance.rules import programme_of
from app.kit.text import Kind
from app.models import BudgetLine, Initiative, Organization, Program
from app.money.conversion import rate_not_found
from app.money.currencies import minor_units
from app.money.repository import applicable_rates
from app.programs import repository
from app.reports.budget.repository import Dimension
from app.reports.budget.service import current_budgets
from app.writes import checks
from app.writes.errors import FieldError, Problems, Rejected

MAX_REF = 64
MAX_GOVERNANCE = 300


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
    await check_budgets_fit(session, program, amount="amount", currency="currency")


async def check_budgets_fit(
    session: AsyncSession, program: Program, *, amount: str, currency: str
) -> None:
    """The programme's current budget, in its pledge currency, within its pledge; a
    problem is reported on the fields `amount` and `currency` name."""
    code = program.pledged_currency
    try:
        budgets = await current_budgets(session, Dimension.PROGRAM, [program.id], code)
    except DomainError as error:
        raise Rejected([FieldError(currency, error.code, error.message)]) from error
    allocated = budgets.get(program.id, Decimal(0))
    if allocated > program.pledged_amount:
        over = allocated - program.pledged_amount
        raise Rejected(
            [
                FieldError(
                    amount,
                    ErrorCode.PLEDGE_EXCEEDED,
                    f"the programme's budgets would come to {_money(allocated, code)} "
                    f"{code}, {_money(over, code)} beyond its pledge of "
                    f"{_money(program.pledged_amount, code)} {code}",
                )
            ]
        )


def _money(value: Decimal, currency: str) -> str:
    """An amount for people: thousands separated, to the currency's minor unit."""
    return f"{value:,.{minor_units(currency)}f}"


async def validate_program(session: AsyncSession, problems: Problems, program: Program) -> None:
    """A programme as a mutation writes it: its values, its references, and, for a stored
    one (it may hold money), the money its pledge must cover."""
    check_program_values(problems, program)
    await check_program_references(session, problems, program)
    if program.id is None or problems.errors:
        return  # a new programme has no money yet
    await check_program_money(session, problems, program)


def check_program_values(problems: Problems, program: Program) -> None:
    """The rules of a programme's own values, which need no reads (normalised in place)."""
    program.ref = (
        checks.text(
            problems, program.ref, "ref", limit=MAX_REF, required=True, kind=Kind.IDENTIFIER
        )
        or ""
    )
    program.name = (
        checks.text(
            problems, program.name, "name", limit=checks.MAX_TITLE, required=True, kind=Kind.NAME
        )
        or ""
    )
    program.summary = checks.text(problems, program.summary, "summary")
    program.governance_body = checks.text(
        problems, program.governance_body, "governance_body", limit=MAX_GOVERNANCE, kind=Kind.NAME
    )
    program.governance_lead = checks.text(
        problems, program.governance_lead, "governance_lead", limit=MAX_GOVERNANCE, kind=Kind.NAME
    )
    program.pledged_amount, program.pledged_currency = checks.money(
        problems,
        program.pledged_amount,
        program.pledged_currency,
        "pledged_amount",
        non_negative=True,
        currency_field="pledged_currency",
    )
    checks.not_future(problems, program.announced_on, "announced_on")
    checks.ordered(
        problems, program.announced_on, program.deadline, "deadline", after="announcedOn"
    )


async def check_program_references(
    session: AsyncSession, problems: Problems, program: Program
) -> None:
    """Its sponsor exists and no other programme has its ref."""
    await checks.existing(
        session, problems, Organization, program.sponsor_id, "sponsor_id", "organisation"
    )
    if program.ref and await checks.exists_where(
        session, Program.ref == program.ref, Program.id != (program.id or -1)
    ):
        problems.add(
            "ref", f"another programme has the ref {program.ref!r}", ErrorCode.ALREADY_EXISTS
        )


async def check_program_money(session: AsyncSession, problems: Problems, program: Program) -> None:
    """After its pledge or its budgets changed (flushed): every amount of the programme
    converts into its pledge currency, and its current budget stays within its pledge.
    A mutation checks this as it writes the programme; an import once its budget lines
    are written too (app/imports/money.py)."""
    await _amounts_convert(session, problems, program)
    if not problems.errors:
        try:
            await check_budgets_fit(
                session, program, amount="pledged_amount", currency="pledged_currency"
            )
        except Rejected as refused:
            problems.errors.extend(refused.errors)


async def _amounts_convert(session: AsyncSession, problems: Problems, program: Program) -> None:
    """Every amount of the programme converts into its (new) pledge currency, by the rule
    every conversion uses, each (currency, value date) pair once, in one batch."""
    target = program.pledged_currency
    keys = [(code, target, on) for code, on in await repository.amount_dates(session, program.id)]
    found = await applicable_rates(session, keys)
    missing = sorted(key for key in keys if key not in found)
    if missing:
        source, _, on = missing[0]
        problems.add(
            "pledged_currency",
            f"{rate_not_found(source, target, on).message} ({len(missing)} amount date(s) of "
            "this programme lack a rate); add the exchange rates first",
            ErrorCode.RATE_NOT_FOUND,
        )


async def guard_program_archive(
    session: AsyncSession, problems: Problems, program: Program
) -> None:
    count = await session.scalar(
        select(func.count()).select_from(Initiative).where(Initiative.program_id == program.id)
    )
    if count:
        problems.add(
            "id",
            f"the programme still has {count} initiative(s); archive them first",
            ErrorCode.CONFLICT,
        )
