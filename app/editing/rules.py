"""Checks shared by every kind of write: codes, amounts, dates, text, references."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.editing.errors import Problems
from app.errors import DomainError, ErrorCode, RateNotFound
from app.kit.ids import decode_id_of
from app.kit.text import Kind, text_problem
from app.models._columns import AMOUNT
from app.money.conversion import pick_rate
from app.money.currencies import parse_currency
from app.money.repository import rates_for_pairs

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


def amount(
    problems: Problems, value: Decimal, field: str = "amount", *, non_negative: bool = False
) -> Decimal:
    """An amount the money columns hold exactly: two decimals, 16 integer digits."""
    try:
        value = AMOUNT.check(value)
    except ValueError:
        problems.add(field, f"{value} is not an amount of at most 16 digits and 2 decimals")
        return value
    if non_negative and value < 0:
        problems.add(field, "must not be negative")
    return value


def not_future(problems: Problems, value: date | None, field: str) -> None:
    if value is not None and value > today():
        problems.add(field, f"{value.isoformat()} is in the future (today is {today()} UTC)")


def ordered(
    problems: Problems, start: date | None, end: date | None, field: str, start_field: str
) -> None:
    if start is not None and end is not None and end < start:
        problems.add(field, f"must not be before {start_field} ({start.isoformat()})")


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


def record_id(problems: Problems, global_id: str, type_name: str, field: str) -> int:
    """The key of a global ID of `type_name`; -1 (matches nothing) when malformed."""
    try:
        return decode_id_of(global_id, type_name)
    except DomainError as error:
        problems.add(field, error.message, error.code)
        return -1


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
    """Refuse money no report could convert: a rate source→target must exist by `on`."""
    if source == target:
        return
    rates = await rates_for_pairs(session, {(source, target)}, on)
    try:
        pick_rate(rates, source, target, on)
    except RateNotFound as error:
        problems.add(
            field,
            f"{error.message}; add the exchange rate first, so reports can convert it",
            ErrorCode.RATE_NOT_FOUND,
        )


async def exists_where(session: AsyncSession, *conditions: Any) -> bool:
    return (await session.scalar(select(1).where(*conditions).limit(1))) is not None
