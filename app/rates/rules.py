"""The rules of exchange rates (admins only).

A rate is `1 base = rate quote` from its date until the pair's next rate. The pair is
two different ISO 4217 codes, the rate is positive and fits the RATE column (at most
10 decimals, below 10^8), and its date is past: a rate is published, not forecast.
A rate is the only way a budget line or transaction in a foreign currency reaches its
programme's pledge currency, so one may not be changed or archived from under them:
after the write, SQL looks for a record of the old pair that no rate converts now.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.errors import ErrorCode
from app.kit.ids import encode_global_id
from app.kit.text import Kind
from app.models import BudgetLine, ExchangeRate, Initiative, Program, SourceDocument, Transaction
from app.models._columns import RATE
from app.writes import checks, crud
from app.writes.errors import FieldError, Problems, Rejected

MAX_SOURCE = 300


def _rate(problems: Problems, value: Decimal) -> Decimal:
    try:
        value = RATE.check(value)
    except ValueError:
        problems.add("rate", f"{value} is not a rate below 10^8 with at most 10 decimals")
        return value
    if value <= 0:
        problems.add("rate", "must be above 0: 1 base buys a positive amount of quote")
    return value


async def validate_rate(session: AsyncSession, problems: Problems, rate: ExchangeRate) -> None:
    rate.base = checks.currency(problems, rate.base, "base")
    rate.quote = checks.currency(problems, rate.quote, "quote")
    if rate.base == rate.quote:
        problems.add("quote", f"must differ from base ({rate.base}): a rate converts between two")
    rate.rate = _rate(problems, rate.rate)
    checks.not_future(problems, rate.rate_date, "rate_date")
    rate.source = (
        checks.text(
            problems, rate.source, "source", limit=MAX_SOURCE, required=True, kind=Kind.NAME
        )
        or ""
    )
    if rate.source_document_id is not None:
        await checks.existing(
            session,
            problems,
            SourceDocument,
            rate.source_document_id,
            "source_document_id",
            "source document",
        )
    if await checks.exists_where(
        session,
        ExchangeRate.base == rate.base,
        ExchangeRate.quote == rate.quote,
        ExchangeRate.rate_date == rate.rate_date,
        ExchangeRate.id != (rate.id or -1),
    ):
        problems.add(
            "rate_date",
            f"a {rate.base}→{rate.quote} rate dated {rate.rate_date.isoformat()} exists "
            "already; update that one",
            ErrorCode.ALREADY_EXISTS,
        )


async def first_unconvertible(
    session: AsyncSession, base: str, quote: str, since: date
) -> str | None:
    """A budget line or transaction of the pair (either way round, into its programme's
    pledge currency) valued on or after `since` that no stored rate converts; None if
    every one still has its rate. It sees the session's flushed changes."""
    for model, type_name in ((BudgetLine, "BudgetLine"), (Transaction, "Transaction")):
        other = aliased(ExchangeRate, name="other_rate")
        target = Program.pledged_currency
        stmt = (
            select(model.id, model.currency, model.value_date, target)
            .join(Initiative, Initiative.id == model.initiative_id)
            .join(Program, Program.id == Initiative.program_id)
            .where(
                or_(
                    and_(model.currency == base, target == quote),
                    and_(model.currency == quote, target == base),
                ),
                model.value_date >= since,
                ~exists().where(
                    or_(
                        and_(other.base == model.currency, other.quote == target),
                        and_(other.base == target, other.quote == model.currency),
                    ),
                    other.rate_date <= model.value_date,
                ),
            )
            .order_by(model.value_date, model.id)
            .limit(1)
        )
        row = (await session.execute(stmt)).first()
        if row is not None:
            pk, currency, value_date, pledge = row
            label = "budget line" if model is BudgetLine else "transaction"
            return (
                f"{label} {encode_global_id(type_name, pk)} ({currency}, value date "
                f"{value_date.isoformat()}) would have no rate into its programme's "
                f"currency {pledge}"
            )
    return None


async def keep_convertible(session: AsyncSession, base: str, quote: str, since: date) -> None:
    """After a flushed change or archive of a rate of this pair dated `since`: refuse it
    when some record now has no rate (a report over it would fail)."""
    record = await first_unconvertible(session, base, quote, since)
    if record is not None:
        raise Rejected(
            [
                FieldError(
                    "id",
                    ErrorCode.CONFLICT,
                    f"reports still need this rate: {record}; add a replacement rate first",
                )
            ]
        )


async def update(session: AsyncSession, values: Mapping[str, Any]) -> ExchangeRate:
    """The rate changed as `values` say, unless records of its old pair, date on, would
    be left without a rate."""
    current = await crud.load_for_change(session, ExchangeRate, values["id"], values["version"])
    before = (current.base, current.quote, current.rate_date)
    rate: ExchangeRate = await crud.update(session, ExchangeRate, values, validate_rate)
    if (rate.base, rate.quote, rate.rate_date) != before:
        await keep_convertible(session, *before)
    return rate


async def archive(session: AsyncSession, values: Mapping[str, Any]) -> ExchangeRate:
    """The rate archived, unless records of its pair, date on, would be left without one."""
    rate: ExchangeRate = await crud.archive(session, ExchangeRate, values)
    await keep_convertible(session, rate.base, rate.quote, rate.rate_date)
    return rate
