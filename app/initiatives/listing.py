"""Lists of initiatives and of their participants: what they sort and aggregate by,
and the lists nested under a programme, a beneficiary group or an organisation
(filters: `app/filters.py`)."""

from __future__ import annotations

from sqlalchemy import select

from app.filters import initiative_filters, participation_filters
from app.kit.aggregation import Day
from app.kit.listing import Listing, ascending, nested, sorts
from app.models import BeneficiaryFigure, Initiative, Participation

INITIATIVES = Listing(
    "initiatives",
    Initiative,
    initiative_filters,
    sorts(
        Initiative,
        code="the initiative's code",
        position="the initiative's number within its programme",
        title="the initiative's title",
        focus_area="the initiative's focus area",
        status="the initiative's status",
        region="the initiative's region code",
        planned_start="the initiative's planned start date",
        actual_start="the initiative's actual start date",
        planned_end="the initiative's planned end date",
        actual_end="the initiative's actual end date",
    ),
    ascending(Initiative.position),
    aggregates=lambda: {
        name: Day(getattr(Initiative, name))
        for name in ("planned_start", "actual_start", "planned_end", "actual_end")
    },
)
INITIATIVES_OF_PROGRAM = nested(INITIATIVES, "program.initiatives", lambda: Initiative.program_id)
# An initiative serves a group when it has a figure for it (once, whatever the units).
_GROUP_LINKS = (
    select(BeneficiaryFigure.initiative_id, BeneficiaryFigure.group_id)
    .distinct()
    .subquery("initiative_group_links")
)
INITIATIVES_OF_GROUP = nested(
    INITIATIVES,
    "beneficiaryGroup.initiatives",
    lambda: _GROUP_LINKS.c.group_id,
    join=lambda: (_GROUP_LINKS, _GROUP_LINKS.c.initiative_id == Initiative.id),
)
PARTICIPATIONS = Listing(
    "participations",
    Participation,
    participation_filters,
    sorts(Participation, role="the organisation's role"),
    ascending(Participation.role),
    aggregates=lambda: {},
)
PARTICIPATIONS_OF_INITIATIVE = nested(
    PARTICIPATIONS, "initiative.participants", lambda: Participation.initiative_id
)
PARTICIPATIONS_OF_ORGANIZATION = nested(
    PARTICIPATIONS,
    "organization.participations",
    lambda: Participation.organization_id,
    default_order=ascending(Participation.initiative_id),
)
