"""The list of organisations: what it sorts by (filters: `app/filters.py`)."""

from __future__ import annotations

from app.filters import organization_filters
from app.kit.listing import Listing, ascending, sorts
from app.models import Organization

ORGANIZATIONS = Listing(
    "organizations",
    Organization,
    organization_filters,
    sorts(
        Organization,
        ref="the organisation's ref (its stable identifier)",
        name="the organisation's name",
        kind="the organisation's kind",
    ),
    ascending(Organization.name),
    aggregates=lambda: {},
)
