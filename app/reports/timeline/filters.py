"""Which initiatives a timeline report covers: the client's filter, compiled once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from app.filters import initiative_filters
from app.kit.filtering import FilterLimits, condition_of


@dataclass(frozen=True)
class TimelineScope:
    """The initiatives whose milestones the report reads."""

    initiatives: ColumnElement[bool]

    @classmethod
    def of(cls, initiative_filter: Any, limits: FilterLimits) -> TimelineScope:
        """From an initiative filter (None: every initiative), checked under the limits
        every list's filter is."""
        return cls(condition_of(initiative_filters(), initiative_filter, limits))
