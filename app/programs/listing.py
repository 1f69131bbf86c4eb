"""Lists of programmes: what they sort and aggregate by (filters: `app/filters.py`)."""

from __future__ import annotations

from app.filters import program_filters
from app.kit.aggregation import Amount, Day
from app.kit.listing import Listing, ascending, nested, sorts
from app.models import Program

PROGRAMS = Listing(
    "programs",
    Program,
    program_filters,
    sorts(
        Program,
        ref="the programme's ref (its stable identifier)",
        name="the programme's name",
        announced_on="the day the pledge was announced",
        deadline="the pledge's deadline",
        pledged_amount="the pledged amount as a number, whatever its currency (nothing is "
        "converted)",
    ),
    ascending(Program.id),
    aggregates=lambda: {
        "pledged": Amount(Program.pledged_amount, Program.pledged_currency, Program.announced_on),
        "announced_on": Day(Program.announced_on),
        "deadline": Day(Program.deadline),
    },
)
PROGRAMS_OF_SPONSOR = nested(PROGRAMS, "organization.sponsoredPrograms", lambda: Program.sponsor_id)
