"""Rules for the moments a view may show."""

from __future__ import annotations

from datetime import datetime

from app.db.types import utcnow
from app.errors import DomainError, ErrorCode
from app.kit import dates


def parse_moment(value: str) -> datetime:
    """An ISO 8601 date and time in the ledger's range, read as the DateTime scalar
    reads it. The view is chosen before strawberry reads the arguments, so a value this
    cannot read is refused rather than silently ignored."""
    try:
        return dates.parse_moment(value, field="asOf")
    except ValueError:
        raise DomainError(
            f"asOf: {value[:40]!r} is not an ISO 8601 date and time (e.g. 2024-05-01T12:00:00Z)",
            code=ErrorCode.INVALID_ARGUMENT,
            field="asOf",
        ) from None


def check_moment(moment: datetime, now: datetime | None = None) -> datetime:
    """A moment a view can show: with a timezone, and not in the future (which the
    trail cannot know). Returned in UTC."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise DomainError(
            "asOf needs a timezone (e.g. 2024-05-01T12:00:00Z): a local time is ambiguous",
            code=ErrorCode.INVALID_ARGUMENT,
            field="asOf",
        )
    if moment > (now or utcnow()):
        raise DomainError(
            "asOf is in the future: the trail only knows what has happened",
            code=ErrorCode.INVALID_ARGUMENT,
            field="asOf",
        )
    return moment


ONE_MOMENT = "one moment per operation: give every root field the same asOf, or none"


def one_moment(moments: list[datetime | None]) -> datetime | None:
    """The operation's moment, from each root field's `asOf` (None: the field has none).

    The view is the whole operation's, so a moment must be named by every root field:
    otherwise a field without `asOf` would silently answer from the past."""
    named = {moment for moment in moments if moment is not None}
    if not named:
        return None
    if len(named) > 1 or None in moments:
        raise DomainError(
            f"{ONE_MOMENT}; send separate operations for different moments or for live "
            "answers (root fields without asOf, such as changes, cannot take part)",
            code=ErrorCode.INVALID_ARGUMENT,
            field="asOf",
        )
    return named.pop()
