"""Checks shared by every kind of write: codes, amounts, dates, text, references.

A problem names the attribute at fault as the model spells it (`period_end`); the
schema's runner (app/graphql/mutation.py) names it as the API does (`periodEnd`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, ErrorCode
from app.kit.text import Kind, text_problem
from app.models._columns import AMOUNT
from app.money.conversion import rate_not_found
from app.money.currencies import ISO_4217, finer_than_minor_unit, minor_units, parse_currency
from app.money.repository import applicable_rates
from app.writes.errors import Problems

MAX_TITLE = 300
MAX_TEXT = 10_000


def today() -> date:
    """Today in UTC: "not in the future" means after this day."""
    return datetime.now(UTC).date()


def currency(problems: Problems, value: str, field: str = "currency") -> str:
    try:
        return parse_currency(value, field=field)
    except DomainError as error:
        problems.check(error)
        return value


def money(
    problems: Problems,
    value: Decimal,
    code: str,
    field: str = "amount",
    *,
    non_negative: bool = False,
    currency_field: str = "currency",
) -> tuple[Decimal, str]:
    """An amount and its currency, as every money amount is written: in an ISO 4217
    currency, no finer than that currency's minor unit (whole yen; cents of a yuan; a
    dinar's fils), and one the money columns hold exactly (15 integer digits, 3
    decimals: the few currencies with a finer minor unit, CLF and UYW, are kept to
    3). Returns both as stored."""
    try:
        checked = AMOUNT.check(value)
    except ValueError:
        problems.add(field, _not_held(value, code))
        return value, currency(problems, code, currency_field)
    if non_negative and checked < 0:
        problems.add(field, "must not be negative")
    code = currency(problems, code, currency_field)
    if code in ISO_4217 and finer_than_minor_unit(checked, code):
        problems.add(field, _finer_than_currency(value, code))
    return checked, code


# What the money columns hold (app/models/_columns.py).
AMOUNT_DIGITS = AMOUNT.precision - AMOUNT.scale


def _finer_than_currency(value: Decimal, code: str) -> str:
    return (
        f"{value} has more decimals than {code} has: {code} amounts have at most "
        f"{minor_units(code)} (its ISO 4217 minor unit)"
    )


def _not_held(value: Decimal, code: str) -> str:
    """Why the money columns cannot hold `value` exactly."""
    if not value.is_finite() or abs(value) >= Decimal(10) ** AMOUNT_DIGITS:
        return (
            f"{value} is too large: amounts have at most {AMOUNT_DIGITS} digits before "
            "the decimal point"
        )
    places = minor_units(code) if code in ISO_4217 else None
    if places is not None and places <= AMOUNT.scale:
        return _finer_than_currency(value, code)
    told = f" ({code}'s ISO 4217 minor unit has {places})" if places is not None else ""
    return (
        f"{value} has more decimals than the ledger keeps: amounts have at most "
        f"{AMOUNT.scale} decimals, in every currency{told}"
    )


def not_future(problems: Problems, value: date | None, field: str) -> None:
    if value is not None and value > today():
        problems.add(field, f"{value.isoformat()} is in the future (today is {today()} UTC)")


def not_future_moment(problems: Problems, value: datetime | None, field: str) -> None:
    """A moment that has happened (an approval, a submission): not after now."""
    now = datetime.now(UTC)
    if value is not None and value > now:
        problems.add(
            field,
            f"{value.isoformat()} is in the future (it is {now.isoformat(timespec='seconds')})",
        )


def ordered(
    problems: Problems, start: date | None, end: date | None, field: str, *, after: str
) -> None:
    """An end not before its start; `after` names the start for people, in the message."""
    if start is not None and end is not None and end < start:
        problems.add(field, f"must not be before {after} ({start.isoformat()})")


def text(
    problems: Problems,
    value: str | None,
    field: str,
    *,
    limit: int = MAX_TEXT,
    required: bool = False,
    kind: Kind = Kind.TEXT,
) -> str | None:
    """The text, stripped; what it may hold depends on its kind (app/kit/text.py).
    The stripped text is what is stored, and what is checked."""
    if value is None:
        if required:
            problems.add(field, "is required")
        return None
    stripped = value.strip()
    if required and not stripped:
        problems.add(field, "must not be empty")
    if len(value) > limit:
        problems.add(field, f"has {len(value)} characters; at most {limit}")
    elif (problem := text_problem(stripped, kind)) is not None:
        problems.add(field, problem)
    return stripped


async def existing(
    session: AsyncSession,
    problems: Problems,
    model: type[Any],
    pk: int,
    field: str,
    what: str,
) -> Any:
    """The row, or a NOT_FOUND problem on `field`."""
    row = await session.get(model, pk) if pk > 0 else None
    if row is None:
        problems.add(field, f"no {what} has this ID", ErrorCode.NOT_FOUND)
    return row


async def convertible(
    session: AsyncSession,
    problems: Problems,
    source: str,
    target: str,
    on: date,
    field: str = "currency",
) -> None:
    """Refuse money no report could convert: a rate source→target must exist by `on`,
    by the rule every conversion uses."""
    if (source, target, on) not in await applicable_rates(session, [(source, target, on)]):
        not_convertible(problems, source, target, on, field)


def not_convertible(
    problems: Problems, source: str, target: str, on: date, field: str = "currency"
) -> None:
    """The problem of money no rate converts (a bulk writer asks `applicable_rates`
    about all its rows at once, then reports each row no rate converts)."""
    problems.add(
        field,
        f"{rate_not_found(source, target, on).message}; add the exchange rate first, "
        "so reports can convert it",
        ErrorCode.RATE_NOT_FOUND,
    )


async def exists_where(session: AsyncSession, *conditions: Any) -> bool:
    return (await session.scalar(select(1).where(*conditions).limit(1))) is not None
