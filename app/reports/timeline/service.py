"""The timeline report's rules: milestones by status, slippage, and whether each
initiative is on track, all as of one day.

The on-track rule, first match wins:

1. CANCELLED — the initiative is cancelled; its milestones are not judged.
2. COMPLETED — the initiative is in finalisation or closed, or it has milestones and
   every one is achieved or cancelled (at least one achieved).
3. OFF_TRACK — an open milestone is overdue, or slipped more than 90 days, or is
   marked MISSED; or the initiative's planned end has passed without an actual end.
4. AT_RISK — an open milestone slipped 1 to 90 days (a late forecast).
5. NO_MILESTONES — the initiative has no milestones to judge by.
6. ON_TRACK — otherwise.

Open means not achieved (as of the day) and not cancelled: work done late is history,
shown in the slippage figures, and does not put an initiative off track.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.pagination import Page, Window
from app.models import Initiative, InitiativeStatus, Milestone, MilestoneStatus
from app.reports.timeline import repository
from app.reports.timeline.filters import TimelineScope
from app.reports.timeline.repository import InitiativeMilestones, MilestoneLateness

# A slippage beyond this many days puts an initiative off track; up to it, at risk.
SLIPPAGE_TOLERANCE_DAYS = 90


class OnTrack(StrEnum):
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    OFF_TRACK = "off_track"
    AT_RISK = "at_risk"
    NO_MILESTONES = "no_milestones"
    ON_TRACK = "on_track"


@dataclass(frozen=True)
class InitiativeTimeline:
    initiative: Initiative
    milestones: int
    achieved: int
    overdue: int
    slipped: int
    largest_slippage: int | None
    on_track: OnTrack


@dataclass(frozen=True)
class LateMilestone:
    milestone: Milestone
    slippage: int | None
    days_overdue: int | None
    days_late: int

    @property
    def overdue(self) -> bool:
        return self.days_overdue is not None


def on_track(figures: InitiativeMilestones, as_of: date) -> OnTrack:
    """The initiative's standing as of `as_of` (the rule in the module docstring)."""
    initiative = figures.initiative
    if initiative.status == InitiativeStatus.CANCELLED:
        return OnTrack.CANCELLED
    if initiative.status in (InitiativeStatus.FINALISATION, InitiativeStatus.CLOSED) or (
        figures.achieved > 0 and figures.achieved + figures.cancelled == figures.milestones
    ):
        return OnTrack.COMPLETED
    open_slippage = figures.largest_open_slippage
    ended = initiative.actual_end is not None and initiative.actual_end <= as_of
    end_passed = initiative.planned_end is not None and initiative.planned_end < as_of and not ended
    if (
        figures.overdue > 0
        or figures.missed > 0
        or (open_slippage is not None and open_slippage > SLIPPAGE_TOLERANCE_DAYS)
        or end_passed
    ):
        return OnTrack.OFF_TRACK
    if open_slippage is not None and open_slippage > 0:
        return OnTrack.AT_RISK
    if figures.milestones == 0:
        return OnTrack.NO_MILESTONES
    return OnTrack.ON_TRACK


async def milestones_by_status(
    session: AsyncSession, scope: TimelineScope, as_of: date
) -> dict[MilestoneStatus, int]:
    """Every status, with 0 where no milestone has it."""
    counts = await repository.count_by_status(session, scope.initiatives, as_of)
    return {status: counts.get(status, 0) for status in MilestoneStatus}


async def initiative_timelines(
    session: AsyncSession, scope: TimelineScope, as_of: date, window: Window
) -> Page:
    """A page of initiatives, rows `InitiativeTimeline`."""
    page = await repository.milestones_per_initiative(session, scope.initiatives, as_of, window)
    page.rows = [
        InitiativeTimeline(
            initiative=f.initiative,
            milestones=f.milestones,
            achieved=f.achieved,
            overdue=f.overdue,
            slipped=f.slipped,
            largest_slippage=f.largest_slippage,
            on_track=on_track(f, as_of),
        )
        for f in page.rows
    ]
    return page


async def late_milestones(
    session: AsyncSession, scope: TimelineScope, as_of: date, window: Window
) -> Page:
    """A page of slipped or overdue milestones, latest first; rows `LateMilestone`."""
    page = await repository.late_milestones(session, scope.initiatives, as_of, window)
    rows: list[MilestoneLateness] = page.rows
    page.rows = [LateMilestone(*row) for row in rows]
    return page
