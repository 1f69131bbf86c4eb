"""The reach report: beneficiaries reached against targets, per group and initiative."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry

from app.graphql.context import Info
from app.graphql.extensions.views import AsOf
from app.graphql.extensions.work import REACH_REPORT, reads
from app.graphql.inputs import BeneficiaryGroupFilter, InitiativeFilter
from app.graphql.nodes import BeneficiaryFigure, BeneficiaryGroup, Initiative
from app.graphql.relay import Connection
from app.graphql.reports.common import (
    AFTER_DOC,
    FIRST_DOC,
    REPORT_PAGE_SIZE,
    filter_limits,
    report_window,
)
from app.models import FigureQualifier
from app.reports.reach import service
from app.reports.reach.filters import ReachScope

SHARE_DOC = (
    "reached / target as a fraction (0.4567 is 45.67 %), rounded half-even to 4 decimals "
    "from the exact quotient"
)


@strawberry.type(description="One initiative's target and reach for one group, in one unit.")
class ReachRow:
    group: BeneficiaryGroup = strawberry.field(description="The group of people counted.")
    initiative: Initiative = strawberry.field(description="The initiative serving them.")
    unit: str = strawberry.field(description='What is counted, e.g. "people employed".')
    target: Decimal | None = strawberry.field(description="Null when no target is stated.")
    target_date: date | None = strawberry.field(description="When the target is to be reached.")
    reached: Decimal | None = strawberry.field(description="Null when no reach is reported.")
    reached_qualifier: FigureQualifier = strawberry.field(
        description='How `reached` relates to the truth, e.g. MORE_THAN for "more than '
        '10,000"; the share reached is qualified the same way.'
    )
    reached_as_of: date | None = strawberry.field(
        description="The date the reached figure describes."
    )
    share_reached: Decimal | None = strawberry.field(
        description=f"{SHARE_DOC}; null without a reach or without a target above 0."
    )
    figure: BeneficiaryFigure = strawberry.field(
        description="The stored figure, with the evidence behind it (`sources`)."
    )

    @classmethod
    def from_row(cls, row: service.ReachRow) -> ReachRow:
        figure = row.figure
        return cls(
            group=BeneficiaryGroup.from_row(row.group),
            initiative=Initiative.from_row(row.initiative),
            unit=figure.unit,
            target=figure.target_value,
            target_date=figure.target_date,
            reached=figure.reached_value,
            reached_qualifier=figure.reached_qualifier,
            reached_as_of=figure.reached_as_of,
            share_reached=row.share_reached,
            figure=BeneficiaryFigure.from_row(figure),
        )


@strawberry.type(
    description="One group's figures in one unit, summed across initiatives (different "
    "units are never added together)."
)
class ReachTotal:
    group: BeneficiaryGroup = strawberry.field(description="The group of people counted.")
    unit: str = strawberry.field(description="What is counted.")
    figure_count: int = strawberry.field(description="The figures summed (one per initiative).")
    figures_with_target: int = strawberry.field(description="Of those, the ones with a target.")
    figures_with_reach: int = strawberry.field(description="Of those, the ones with a reach.")
    target: Decimal | None = strawberry.field(
        description="The sum of the stated targets; null when none is stated."
    )
    reached: Decimal | None = strawberry.field(
        description="The sum of the reported reach; null when none is reported."
    )
    reached_qualifier: FigureQualifier | None = strawberry.field(
        description="How `reached` relates to the true total: EXACT only when every figure "
        "reports an EXACT reach; ABOUT if one is ABOUT or the parts bound the sum from both "
        "sides (UP_TO with MORE_THAN, AT_LEAST or an unreported reach); else UP_TO if one is "
        "UP_TO; else MORE_THAN if one is MORE_THAN; else AT_LEAST (a part is AT_LEAST or "
        "reports no reach). Null when `reached` is."
    )
    share_reached: Decimal | None = strawberry.field(
        description=f"Of the figures with a target: their reach over their targets' sum, "
        f"{SHARE_DOC}. Null without a reach or without a target sum above 0."
    )
    share_qualifier: FigureQualifier | None = strawberry.field(
        description="How `shareReached` relates to the truth, by the rule of "
        "`reachedQualifier` over the figures with a target."
    )
    reached_as_of_earliest: date | None = strawberry.field(
        description="The earliest date a summed reach describes."
    )
    reached_as_of_latest: date | None = strawberry.field(
        description="The latest date a summed reach describes."
    )

    @classmethod
    def from_row(cls, row: service.ReachTotal) -> ReachTotal:
        return cls(
            group=BeneficiaryGroup.from_row(row.group),
            unit=row.unit,
            figure_count=row.figures,
            figures_with_target=row.figures_with_target,
            figures_with_reach=row.figures_with_reach,
            target=row.target,
            reached=row.reached,
            reached_qualifier=row.reached_qualifier,
            share_reached=row.share_reached,
            share_qualifier=row.share_qualifier,
            reached_as_of_earliest=row.reached_as_of_earliest,
            reached_as_of_latest=row.reached_as_of_latest,
        )


@strawberry.type(
    description="Beneficiaries reached against targets: per group, initiative and unit, "
    "and per group and unit across initiatives."
)
class ReachReport:
    _scope: strawberry.Private[ReachScope]

    @strawberry.field(description="One row per figure: by group name, initiative, unit.")
    async def rows(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST_DOC)] = (
            REPORT_PAGE_SIZE
        ),
        after: Annotated[str | None, strawberry.argument(description=AFTER_DOC)] = None,
    ) -> Connection[ReachRow]:
        window = report_window(info, first, after)
        async with info.context.reads() as session:
            page = await service.reach_rows(session, self._scope, window)
        return Connection.from_page(page, ReachRow.from_row)

    @strawberry.field(
        description="Per group and unit, by group name: the rows' figures summed in SQL.",
        metadata={"list_size": "report"},
    )
    async def totals(self, info: Info) -> list[ReachTotal]:
        async with info.context.reads() as session:
            totals = await service.reach_totals(session, self._scope)
        return [ReachTotal.from_row(total) for total in totals]


@strawberry.type
class ReachQueries:
    """The reach report's root field (a base of `ReportQueries`)."""

    @strawberry.field(
        description="Beneficiaries reached against targets, per group and initiative, with "
        "the evidence behind each figure and exact totals per group and unit.",
        metadata=reads(*REACH_REPORT),
    )
    def reach_report(
        self,
        info: Info,
        filter: Annotated[
            InitiativeFilter | None,
            strawberry.argument(description="Only figures of matching initiatives."),
        ] = None,
        group_filter: Annotated[
            BeneficiaryGroupFilter | None,
            strawberry.argument(description="Only figures for matching beneficiary groups."),
        ] = None,
        as_of: AsOf = None,
    ) -> ReachReport:
        return ReachReport(_scope=ReachScope.of(filter, group_filter, filter_limits(info)))
