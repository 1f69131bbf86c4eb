"""What every report shares: the limits its filters are checked under, its paging."""

from __future__ import annotations

from app.graphql.context import Info
from app.kit.filtering import FilterLimits
from app.kit.pagination import Window

# Report lists are read whole more often than paged: a larger default page.
REPORT_PAGE_SIZE = 100
FIRST_DOC = (
    f"Return the first n items (after `after`); default {REPORT_PAGE_SIZE}, at most the "
    "MAX_PAGE_SIZE setting."
)
AFTER_DOC = "Return items after this cursor."


def filter_limits(info: Info) -> FilterLimits:
    """The limits a report's filters are checked under: every list's."""
    return FilterLimits.of(info.context.settings)


def report_window(info: Info, first: int | None, after: str | None) -> Window:
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
