"""The days and moments the ledger accepts: one range, checked wherever one comes in.

Days from 1900-01-01 to 2199-12-31; moments from that range's first instant to its
last, in UTC. Pledges, budget periods, transactions, rates and milestones all fall well
inside it, and nothing that computes with dates can overflow near its edges: a moment
at any UTC offset still converts to UTC, a day can move by days or months, and
PostgreSQL never receives 0001-01-01 or 9999-12-31, which asyncpg turns into -infinity
and infinity (dates that reports cannot count with, and that SQLite stores as year 1).

The GraphQL `Date` and `DateTime` scalars read every value through `parse_date` and
`parse_moment`, so mutation inputs, filters and report arguments share one check; an
`asOf`, read before strawberry reads the arguments, goes through `parse_moment` too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from app.errors import DomainError, ErrorCode

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)
EARLIEST_MOMENT = datetime.combine(EARLIEST_DATE, time.min, UTC)
# The first instant after the range: moments lie before it.
END_OF_RANGE = datetime.combine(LATEST_DATE + timedelta(days=1), time.min, UTC)

RANGE = f"{EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}"


class OutOfRange(DomainError):
    code = ErrorCode.INVALID_ARGUMENT


def check_date(value: date, field: str | None = None) -> date:
    """The day, or INVALID_ARGUMENT when it lies outside the range."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise OutOfRange(
            f"{value.isoformat()} is outside the dates the ledger accepts ({RANGE})", field=field
        )
    return value


def check_moment(value: datetime, field: str | None = None) -> datetime:
    """The moment, or INVALID_ARGUMENT when it lies outside the range. A moment without
    a timezone is placed in UTC for this check; who needs a timezone refuses it."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    # Aware datetimes compare as instants without being converted, so year 1 at +14:00,
    # which no datetime can hold in UTC, compares too.
    if not EARLIEST_MOMENT <= aware < END_OF_RANGE:
        raise OutOfRange(
            f"{value.isoformat()} is outside the moments the ledger accepts ({RANGE}, UTC)",
            field=field,
        )
    return value


def parse_date(text: str, field: str | None = None) -> date:
    """An ISO 8601 day in the range. ValueError when it is not a day at all."""
    return check_date(date.fromisoformat(text), field)


def parse_moment(text: str, field: str | None = None) -> datetime:
    """An ISO 8601 date and time in the range. ValueError when it is not one at all."""
    return check_moment(datetime.fromisoformat(text), field)
