"""Which figures a reach report covers: the client's filters, compiled once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from app.filters import beneficiary_group_filters, initiative_filters
from app.kit.filtering import FilterLimits, condition_of


@dataclass(frozen=True)
class ReachScope:
    """The figures of matching initiatives for matching beneficiary groups."""

    initiatives: ColumnElement[bool]
    groups: ColumnElement[bool]

    @classmethod
    def of(cls, initiative_filter: Any, group_filter: Any, limits: FilterLimits) -> ReachScope:
        """From an initiative filter and a group filter (None: every one), checked under
        the limits every list's filter is."""
        return cls(
            initiatives=condition_of(initiative_filters(), initiative_filter, limits),
            groups=condition_of(beneficiary_group_filters(), group_filter, limits),
        )
