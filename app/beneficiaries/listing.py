"""Lists of beneficiary groups and figures: what they sort and aggregate by, and the
lists nested under an initiative or a group (filters: `app/filters.py`)."""

from __future__ import annotations

from app.filters import beneficiary_figure_filters, beneficiary_group_filters
from app.kit.aggregation import Day, Number
from app.kit.listing import Listing, ascending, nested, sorts
from app.models import BeneficiaryFigure, BeneficiaryGroup

BENEFICIARY_GROUPS = Listing(
    "beneficiaryGroups",
    BeneficiaryGroup,
    beneficiary_group_filters,
    sorts(
        BeneficiaryGroup, code="the beneficiary group's code", name="the beneficiary group's name"
    ),
    ascending(BeneficiaryGroup.name),
    aggregates=lambda: {},
)
BENEFICIARY_FIGURES = Listing(
    "beneficiaryFigures",
    BeneficiaryFigure,
    beneficiary_figure_filters,
    sorts(
        BeneficiaryFigure,
        unit="the unit counted (e.g. people employed)",
        reached_as_of="the date the approved reach describes",
        target=(BeneficiaryFigure.target_value, "the target"),
        reached=(BeneficiaryFigure.reached_value, "the approved reach"),
    ),
    ascending(BeneficiaryFigure.initiative_id),
    aggregates=lambda: {
        "target": Number(BeneficiaryFigure.target_value),
        "reached": Number(BeneficiaryFigure.reached_value),
        "reached_as_of": Day(BeneficiaryFigure.reached_as_of),
    },
)
FIGURES_OF_INITIATIVE = nested(
    BENEFICIARY_FIGURES,
    "initiative.beneficiaries",
    lambda: BeneficiaryFigure.initiative_id,
    default_order=ascending(BeneficiaryFigure.group_id),
)
FIGURES_OF_GROUP = nested(
    BENEFICIARY_FIGURES, "beneficiaryGroup.figures", lambda: BeneficiaryFigure.group_id
)
