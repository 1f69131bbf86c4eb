"""Beneficiary figures: an initiative's target and reach for one group."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from app import models as m
from app.auth.roles import DRAFT_READERS
from app.beneficiaries.listing import BENEFICIARY_FIGURES
from app.graphql.context import Info
from app.graphql.evidence.types import cited_sources
from app.graphql.records import Record, order_input, register, stamps
from app.graphql.visibility import OnlyFor, Shows
from app.models import FigureQualifier, SubjectType

if TYPE_CHECKING:
    from app.graphql.beneficiaries.groups import BeneficiaryGroup
    from app.graphql.initiatives.types import Initiative
    from app.graphql.loaders import NodeLoader

BeneficiaryFigureOrder = order_input("BeneficiaryFigure", BENEFICIARY_FIGURES)


@strawberry.type(
    description="A reached figure waiting for approval by an auditor or admin other than "
    "its submitter."
)
class DraftReached:
    value: Decimal = strawberry.field(description="How many were reached, as submitted.")
    qualifier: FigureQualifier = strawberry.field(
        description="How the value relates to the truth, as submitted."
    )
    as_of: date | None = strawberry.field(description="The date the submitted value describes.")
    submitted_by: str = strawberry.field(description="Who submitted it (the key's name).")
    submitted_at: datetime | None = strawberry.field(description="When it was submitted (UTC).")


@register(m.BeneficiaryFigure)
@strawberry.type(
    description="An initiative's target and reach for one beneficiary group, in one unit."
)
class BeneficiaryFigure(Record):
    _row: strawberry.Private[m.BeneficiaryFigure]
    unit: str = strawberry.field(description='What is counted, e.g. "people employed".')
    target: Decimal | None = strawberry.field(
        description="Null when no target is stated.", extensions=[Shows("target_value")]
    )
    target_date: date | None = strawberry.field(description="When the target is to be reached.")
    reached: Decimal | None = strawberry.field(
        description="Null when no reach is reported.", extensions=[Shows("reached_value")]
    )
    reached_qualifier: FigureQualifier = strawberry.field(
        description='How `reached` relates to the truth, e.g. MORE_THAN for "more than 10,000".'
    )
    reached_as_of: date | None = strawberry.field(
        description="The date the reached figure describes."
    )
    approved_by: str | None = strawberry.field(
        description="Who approved the reached figure (an auditor or admin, never its "
        "submitter); null before the first approval."
    )
    approved_at: datetime | None = strawberry.field(
        description="When the reached figure was approved (UTC)."
    )

    @classmethod
    def from_row(cls, row: m.BeneficiaryFigure) -> BeneficiaryFigure:
        return cls(
            **stamps(row),
            _row=row,
            unit=row.unit,
            target=row.target_value,
            target_date=row.target_date,
            reached=row.reached_value,
            reached_qualifier=row.reached_qualifier,
            reached_as_of=row.reached_as_of,
            approved_by=row.approved_by,
            approved_at=row.approved_at,
        )

    @strawberry.field(
        description="A reached figure submitted and not yet approved or rejected; reports do "
        "not count it. Visible only to callers who may write or approve (editor, auditor, "
        "admin): null for others, and null when none is pending.",
        extensions=[
            Shows(
                "draft_reached_value",
                "draft_reached_qualifier",
                "draft_reached_as_of",
                "draft_submitted_by",
                "draft_submitted_at",
            ),
            OnlyFor(*DRAFT_READERS),
        ],
    )
    def draft_reached(self) -> DraftReached | None:
        row = self._row
        if row.draft_submitted_by is None or row.draft_reached_value is None:
            return None
        return DraftReached(
            value=row.draft_reached_value,
            qualifier=row.draft_reached_qualifier or FigureQualifier.EXACT,
            as_of=row.draft_reached_as_of,
            submitted_by=row.draft_submitted_by,
            submitted_at=row.draft_submitted_at,
        )

    @strawberry.field(description="The group of people counted.", extensions=[Shows("group_id")])
    async def group(
        self, info: Info
    ) -> Annotated[BeneficiaryGroup, strawberry.lazy("app.graphql.beneficiaries.groups")]:
        groups: NodeLoader[BeneficiaryGroup] = info.context.loaders.node_of(m.BeneficiaryGroup)
        return await groups.load_required(self._row.group_id)

    @strawberry.field(
        description="The initiative serving them.", extensions=[Shows("initiative_id")]
    )
    async def initiative(
        self, info: Info
    ) -> Annotated[Initiative, strawberry.lazy("app.graphql.initiatives.types")]:
        initiatives: NodeLoader[Initiative] = info.context.loaders.node_of(m.Initiative)
        return await initiatives.load_required(self._row.initiative_id)

    sources = cited_sources(SubjectType.BENEFICIARY_FIGURE)


@register(m.BeneficiaryShare)
@strawberry.type(
    description="The percentage of an initiative's money meant for one beneficiary group; "
    "budgetSummary splits the initiative's figures by these when grouping by "
    "BENEFICIARY_GROUP."
)
class BeneficiaryShare(Record):
    _row: strawberry.Private[m.BeneficiaryShare]
    percentage: Decimal = strawberry.field(
        description="Above 0, at most 100; an initiative's shares add up to at most 100."
    )

    @classmethod
    def from_row(cls, row: m.BeneficiaryShare) -> BeneficiaryShare:
        return cls(**stamps(row), _row=row, percentage=row.percentage)

    @strawberry.field(description="The beneficiary group.", extensions=[Shows("group_id")])
    async def group(
        self, info: Info
    ) -> Annotated[BeneficiaryGroup, strawberry.lazy("app.graphql.beneficiaries.groups")]:
        groups: NodeLoader[BeneficiaryGroup] = info.context.loaders.node_of(m.BeneficiaryGroup)
        return await groups.load_required(self._row.group_id)

    @strawberry.field(
        description="The initiative whose money the share splits.",
        extensions=[Shows("initiative_id")],
    )
    async def initiative(
        self, info: Info
    ) -> Annotated[Initiative, strawberry.lazy("app.graphql.initiatives.types")]:
        initiatives: NodeLoader[Initiative] = info.context.loaders.node_of(m.Initiative)
        return await initiatives.load_required(self._row.initiative_id)
