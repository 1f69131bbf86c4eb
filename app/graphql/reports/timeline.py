"""The timeline report: milestones slipped or overdue, and initiatives off track."""

from __future__ import annotations

from datetime import UTC, date
from enum import Enum
from typing import Annotated

import strawberry

from app.db.types import utcnow
from app.graphql.context import Info
from app.graphql.extensions.views import AsOf
from app.graphql.extensions.work import TIMELINE_REPORT, reads
from app.graphql.inputs import InitiativeFilter
from app.graphql.nodes import Initiative, Milestone
from app.graphql.relay import Connection
from app.graphql.reports.common import (
    AFTER_DOC,
    FIRST_DOC,
    REPORT_PAGE_SIZE,
    filter_limits,
    report_window,
)
from app.models import MilestoneStatus
from app.reports.timeline import service
from app.reports.timeline.filters import TimelineScope
from app.reports.timeline.service import SLIPPAGE_TOLERANCE_DAYS, OnTrack

_TOLERANCE = f"{SLIPPAGE_TOLERANCE_DAYS} days"


@strawberry.enum(
    description="Whether an initiative is on track as of the report's day; the first rule "
    "that applies, in the order listed, wins. An open milestone is one neither achieved "
    "(by that day) nor cancelled."
)
class OnTrackStatus(Enum):
    CANCELLED = strawberry.enum_value(
        "cancelled", description="The initiative is cancelled; its milestones are not judged."
    )
    COMPLETED = strawberry.enum_value(
        "completed",
        description="The initiative is in FINALISATION or CLOSED, or it has milestones and "
        "every one is achieved or cancelled (at least one achieved).",
    )
    OFF_TRACK = strawberry.enum_value(
        "off_track",
        description=f"An open milestone is overdue, slipped more than {_TOLERANCE}, or is "
        "MISSED; or the planned end has passed without an actual end by the report's day.",
    )
    AT_RISK = strawberry.enum_value(
        "at_risk",
        description=f"An open milestone slipped 1 to {SLIPPAGE_TOLERANCE_DAYS} days "
        "(a late forecast).",
    )
    NO_MILESTONES = strawberry.enum_value(
        "no_milestones", description="No milestones to judge by, and none of the above."
    )
    ON_TRACK = strawberry.enum_value("on_track", description="None of the above.")


def _on_track(value: OnTrack) -> OnTrackStatus:
    return OnTrackStatus[value.name]


@strawberry.type(description="How many milestones had one status on the report's day.")
class MilestoneStatusCount:
    status: MilestoneStatus = strawberry.field(
        description="The status; ACHIEVED only when achieved on or before the report's day "
        "(one achieved later counts as IN_PROGRESS)."
    )
    count: int = strawberry.field(description="How many milestones had it (0 when none).")


@strawberry.type(description="One initiative's milestones on the report's day.")
class InitiativeTimeline:
    initiative: Initiative = strawberry.field(description="The initiative.")
    milestone_count: int = strawberry.field(description="All its milestones.")
    achieved_count: int = strawberry.field(
        description="Milestones achieved on or before the report's day."
    )
    overdue_count: int = strawberry.field(description="Milestones overdue on the report's day.")
    slipped_count: int = strawberry.field(
        description="Milestones with a slippage above 0 (achieved and cancelled ones included)."
    )
    largest_slippage_days: int | None = strawberry.field(
        description="The largest slippage of its milestones (achieved and cancelled ones "
        "included), in days (negative: all early); null when none has one."
    )
    on_track: OnTrackStatus = strawberry.field(
        description="Whether it is on track, by the rule of OnTrackStatus."
    )

    @classmethod
    def from_row(cls, row: service.InitiativeTimeline) -> InitiativeTimeline:
        return cls(
            initiative=Initiative.from_row(row.initiative),
            milestone_count=row.milestones,
            achieved_count=row.achieved,
            overdue_count=row.overdue,
            slipped_count=row.slipped,
            largest_slippage_days=row.largest_slippage,
            on_track=_on_track(row.on_track),
        )


@strawberry.type(description="A milestone that slipped or is overdue on the report's day.")
class LateMilestone:
    milestone: Milestone = strawberry.field(description="The milestone.")
    slippage_days: int | None = strawberry.field(
        description="(actual date, else forecast date) - planned date, in days; an actual "
        "date after the report's day is not known yet and is ignored. Null without a planned "
        "date, or without an actual or forecast date."
    )
    overdue: bool = strawberry.field(
        description="Not achieved or cancelled, no actual date by the report's day, and the "
        "planned date before it."
    )
    days_overdue: int | None = strawberry.field(
        description="Report's day - planned date, in days, when overdue; else null."
    )
    days_late: int = strawberry.field(
        description="The larger of slippageDays and daysOverdue: how late it is (the list "
        "is ordered by it, latest first)."
    )

    @classmethod
    def from_row(cls, row: service.LateMilestone) -> LateMilestone:
        return cls(
            milestone=Milestone.from_row(row.milestone),
            slippage_days=row.slippage,
            overdue=row.overdue,
            days_overdue=row.days_overdue,
            days_late=row.days_late,
        )


@strawberry.type(
    description="Milestones against their planned dates, and which initiatives are off "
    "track, all as of one day."
)
class TimelineReport:
    _scope: strawberry.Private[TimelineScope]
    as_of_date: date = strawberry.field(
        description="The report's day: what happened after it is not known yet."
    )

    @strawberry.field(
        description="Milestones of the matching initiatives per status, every status listed."
    )
    async def milestones_by_status(self, info: Info) -> list[MilestoneStatusCount]:
        async with info.context.reads() as session:
            counts = await service.milestones_by_status(session, self._scope, self.as_of_date)
        return [MilestoneStatusCount(status=s, count=n) for s, n in counts.items()]

    @strawberry.field(description="The matching initiatives, by position, with their figures.")
    async def initiatives(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST_DOC)] = (
            REPORT_PAGE_SIZE
        ),
        after: Annotated[str | None, strawberry.argument(description=AFTER_DOC)] = None,
    ) -> Connection[InitiativeTimeline]:
        window = report_window(info, first, after)
        async with info.context.reads() as session:
            page = await service.initiative_timelines(session, self._scope, self.as_of_date, window)
        return Connection.from_page(page, InitiativeTimeline.from_row)

    @strawberry.field(
        description="Milestones of the matching initiatives that slipped (slippageDays above "
        "0, achieved and cancelled ones included) or are overdue, latest first."
    )
    async def late_milestones(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST_DOC)] = (
            REPORT_PAGE_SIZE
        ),
        after: Annotated[str | None, strawberry.argument(description=AFTER_DOC)] = None,
    ) -> Connection[LateMilestone]:
        window = report_window(info, first, after)
        async with info.context.reads() as session:
            page = await service.late_milestones(session, self._scope, self.as_of_date, window)
        return Connection.from_page(page, LateMilestone.from_row)


@strawberry.type
class TimelineQueries:
    """The timeline report's root field (a base of `ReportQueries`)."""

    @strawberry.field(
        description="Milestones slipped: planned against actual or forecast dates, days late "
        "or overdue, and initiatives off track — as of one day, so a report can be repeated.",
        metadata=reads(*TIMELINE_REPORT),
    )
    def timeline_report(
        self,
        info: Info,
        as_of_date: Annotated[
            date | None,
            strawberry.argument(
                description="The report's day; default: the day (UTC) of `asOf`, else today. "
                "Actual dates after it count as not known yet."
            ),
        ] = None,
        filter: Annotated[
            InitiativeFilter | None,
            strawberry.argument(description="Only milestones of matching initiatives."),
        ] = None,
        as_of: AsOf = None,
    ) -> TimelineReport:
        if as_of_date is None:
            # The report of a past moment is that moment's report (its day, in UTC).
            as_of_date = (as_of or utcnow()).astimezone(UTC).date()
        return TimelineReport(
            _scope=TimelineScope.of(filter, filter_limits(info)), as_of_date=as_of_date
        )
