"""Lists of milestones: what they sort and aggregate by, and the list nested under an
initiative (filters: `app/filters.py`)."""

from __future__ import annotations

from app.filters import milestone_filters
from app.kit.aggregation import Day
from app.kit.listing import Listing, ascending, nested, sorts
from app.models import Milestone

MILESTONES = Listing(
    "milestones",
    Milestone,
    milestone_filters,
    sorts(
        Milestone,
        title="the milestone's title",
        planned_date="the milestone's planned date",
        forecast_date="the milestone's forecast date",
        actual_date="the day the milestone was achieved",
        status="the milestone's status",
    ),
    ascending(Milestone.planned_date),
    aggregates=lambda: {
        name: Day(getattr(Milestone, name))
        for name in ("planned_date", "forecast_date", "actual_date")
    },
)
MILESTONES_OF_INITIATIVE = nested(
    MILESTONES, "initiative.milestones", lambda: Milestone.initiative_id
)
