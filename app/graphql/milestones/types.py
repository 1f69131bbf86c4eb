"""Milestones: planned, forecast and actual dates."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import strawberry

from app import models as m
from app.graphql.context import Info
from app.graphql.evidence.types import cited_sources
from app.graphql.records import Record, order_input, register, stamps
from app.graphql.visibility import Shows
from app.milestones.listing import MILESTONES
from app.models import MilestoneStatus, SubjectType

if TYPE_CHECKING:
    from app.graphql.initiatives.types import Initiative
    from app.graphql.loaders import NodeLoader

MilestoneOrder = order_input("Milestone", MILESTONES)


@register(m.Milestone)
@strawberry.type(description="A dated step of an initiative: planned, forecast and actual dates.")
class Milestone(Record):
    _initiative_id: strawberry.Private[int]
    title: str = strawberry.field(description="A short title.")
    description: str | None = strawberry.field(description="What the milestone means.")
    planned_date: date | None = strawberry.field(description="Null when no date is known yet.")
    forecast_date: date | None = strawberry.field(description="When it is now expected.")
    actual_date: date | None = strawberry.field(description="When it was reached.")
    status: MilestoneStatus = strawberry.field(description="Where the milestone stands.")
    ref: str | None = strawberry.field(
        description="Its key in the file it was imported from (unique within its "
        "initiative; docs/imports.md); null when written through the API."
    )

    @classmethod
    def from_row(cls, row: m.Milestone) -> Milestone:
        return cls(
            **stamps(row),
            _initiative_id=row.initiative_id,
            title=row.title,
            description=row.description,
            planned_date=row.planned_date,
            forecast_date=row.forecast_date,
            actual_date=row.actual_date,
            status=row.status,
            ref=row.ref,
        )

    @strawberry.field(
        description="The initiative the milestone belongs to.", extensions=[Shows("initiative_id")]
    )
    async def initiative(
        self, info: Info
    ) -> Annotated[Initiative, strawberry.lazy("app.graphql.initiatives.types")]:
        initiatives: NodeLoader[Initiative] = info.context.loaders.node_of(m.Initiative)
        return await initiatives.load_required(self._initiative_id)

    sources = cited_sources(SubjectType.MILESTONE)
