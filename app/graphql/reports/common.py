"""What every report shares: its filters compiled under the list limits, its paging."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import ColumnElement, true

from app.kit.filtering import FilterLimits, FilterSpec, compile_filter
from app.kit.pagination import Window

# Report lists are read whole more often than paged: a larger default page.
REPORT_PAGE_SIZE = 100
FIRST_DOC = (
    f"Return the first n items (after `after`); default {REPORT_PAGE_SIZE}, at most the "
    "MAX_PAGE_SIZE setting."
)
AFTER_DOC = "Return items after this cursor."


def report_condition(info: strawberry.Info, spec: FilterSpec, value: Any) -> ColumnElement[bool]:
    """A report's filter as SQL, checked against the same limits as every list's."""
    if value is None:
        return true()
    return compile_filter(spec, value, FilterLimits.of(info.context.settings))


def report_window(info: strawberry.Info, first: int | None, after: str | None) -> Window:
    """first/after of a report list: a typed error when `first` is over the cap."""
    max_size = info.context.settings.max_page_size
    return Window.from_args(
        first=first,
        after=after,
        last=None,
        before=None,
        default_size=min(REPORT_PAGE_SIZE, max_size),
        max_size=max_size,
    )
