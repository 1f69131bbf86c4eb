"""Drawing only: where a bar ends or a mark sits in an inline SVG, from the figures the
API gave. Nothing here is shown as a number; every figure on a page is the API's, in
a table beside its chart and in the chart's `data-` attributes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation

# Bars are drawn in a box this wide (SVG user units; the SVG scales to the page).
WIDTH = 600


def length(value: Decimal | str | int | None, whole: Decimal | str | int | None) -> str:
    """How long a bar of `value` is when `whole` fills WIDTH (0 for nothing to draw;
    never past the box, never negative)."""
    try:
        part, full = Decimal(value or 0), Decimal(whole or 0)
    except InvalidOperation:
        return "0"
    if full <= 0 or part <= 0:
        return "0"
    drawn = min(part / full, Decimal(1)) * WIDTH
    return str(drawn.quantize(Decimal("0.1")))


def largest(values: Iterable[Decimal | str | int | None]) -> Decimal:
    """The longest bar's value: what fills the box when several bars share a scale."""
    found = [Decimal(v) for v in values if v is not None]
    return max(found, default=Decimal(0))


def position(day: date | str | None, start: date | str | None, end: date | str | None) -> str:
    """Where `day` sits on a time axis from `start` to `end` drawn over WIDTH."""
    if day is None or start is None or end is None:
        return "0"
    d, s, e = (date.fromisoformat(x) if isinstance(x, str) else x for x in (day, start, end))
    span = (e - s).days
    if span <= 0:
        return "0"
    where = min(max((d - s).days, 0), span) / span * WIDTH
    return f"{where:.1f}"


def share_length(share: Decimal | str | None) -> str:
    """A progress bar's length for a share the API gave (1 = the whole target)."""
    if share is None:
        return "0"
    return length(share, 1)


def span(days: Iterable[date | str | None]) -> tuple[date | None, date | None]:
    """The first and last of `days` (None ignored): a time axis's ends."""
    found = [date.fromisoformat(d) if isinstance(d, str) else d for d in days if d is not None]
    return (min(found), max(found)) if found else (None, None)
