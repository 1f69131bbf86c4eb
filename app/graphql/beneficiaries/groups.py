"""Beneficiary groups: the people initiatives serve."""

from __future__ import annotations

import strawberry

from app import models as m
from app.beneficiaries.listing import BENEFICIARY_GROUPS, FIGURES_OF_GROUP
from app.graphql.beneficiaries.types import BeneficiaryFigure, BeneficiaryFigureOrder
from app.graphql.evidence.types import cited_sources
from app.graphql.initiatives.types import Initiative, InitiativeOrder
from app.graphql.inputs import BeneficiaryFigureFilter, InitiativeFilter
from app.graphql.records import Record, db_id_of, order_input, register, stamps
from app.graphql.relay import connection
from app.initiatives.listing import INITIATIVES_OF_GROUP
from app.models import SubjectType

BeneficiaryGroupOrder = order_input("BeneficiaryGroup", BENEFICIARY_GROUPS)


@register(m.BeneficiaryGroup)
@strawberry.type(description="A group of people an initiative serves.")
class BeneficiaryGroup(Record):
    code: str = strawberry.field(description="Stable code of the group.")
    name: str = strawberry.field(description="The group's name.")
    description: str | None = strawberry.field(description="Who belongs to the group.")

    @classmethod
    def from_row(cls, row: m.BeneficiaryGroup) -> BeneficiaryGroup:
        return cls(**stamps(row), code=row.code, name=row.name, description=row.description)

    figures = connection(
        FIGURES_OF_GROUP,
        BeneficiaryFigure,
        BeneficiaryFigureFilter,
        BeneficiaryFigureOrder,
        description="Targets and reach for this group, per initiative.",
        parent_key=db_id_of,
    )
    initiatives = connection(
        INITIATIVES_OF_GROUP,
        Initiative,
        InitiativeFilter,
        InitiativeOrder,
        description="Initiatives serving this group.",
        parent_key=db_id_of,
    )
    sources = cited_sources(SubjectType.BENEFICIARY_GROUP)
