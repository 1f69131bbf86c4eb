"""Every SQL statement of the timeline report.

All dates are judged as of one day, `as_of`: an actual date after it was not known
then, so such a milestone counts as not reached yet. Day differences are computed in
SQL (`days_between`: date subtraction on PostgreSQL, Julian days on SQLite).
"""

from __future__ import annotations

from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    and_,
    case,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.functions import days_between
from app.kit.pagination import Page, Window, fetch_window
from app.models import Initiative, Milestone, MilestoneStatus

# The report's milestones under an alias of their own: a filter on initiatives may
# reach their milestones (`milestone: {...}`) through the table itself, and must not
# correlate with the report's rows.
M = aliased(Milestone, name="report_milestone")


class MilestoneFigures(NamedTuple):
    """The SQL expressions of one milestone's figures as of a day."""

    achieved: ColumnElement[bool]
    open: ColumnElement[bool]
    slippage: ColumnElement[int]
    overdue: ColumnElement[bool]
    days_overdue: ColumnElement[int]
    status: ColumnElement[Any]


def milestone_figures(as_of: date) -> MilestoneFigures:
    day = literal(as_of, Date())
    # The actual date as known on `as_of`: a later one had not happened yet.
    known_actual = case((M.actual_date <= day, M.actual_date))
    # Achieved by then; an achieved milestone without a date counts as achieved.
    achieved = and_(
        M.status == MilestoneStatus.ACHIEVED,
        or_(M.actual_date.is_(None), M.actual_date <= day),
    )
    open_ = and_(not_(achieved), M.status != MilestoneStatus.CANCELLED)
    # (actual, else forecast) - planned; NULL without a planned date or without both.
    slippage = days_between(func.coalesce(known_actual, M.forecast_date), M.planned_date)
    overdue = and_(open_, known_actual.is_(None), M.planned_date < day)
    days_overdue = case((overdue, days_between(day, M.planned_date)))
    # Statuses are stored without history; the one thing a date tells is that a
    # milestone achieved after `as_of` was not achieved then (reported IN_PROGRESS).
    status = case(
        (
            and_(M.status == MilestoneStatus.ACHIEVED, M.actual_date > day),
            literal(MilestoneStatus.IN_PROGRESS, Milestone.__table__.c.status.type),
        ),
        else_=M.status,
    )
    return MilestoneFigures(achieved, open_, slippage, overdue, days_overdue, status)


def _of_initiatives(where: ColumnElement[bool]) -> ColumnElement[bool]:
    return M.initiative_id.in_(select(Initiative.id).where(where))


async def count_by_status(
    session: AsyncSession, where: ColumnElement[bool], as_of: date
) -> dict[MilestoneStatus, int]:
    """Milestones of the matching initiatives per status as of `as_of` (absent: none)."""
    figures = milestone_figures(as_of)
    # Grouped in an outer query: PostgreSQL cannot tell that a CASE with bound
    # parameters in GROUP BY is the one in the select list.
    statuses = select(figures.status.label("status")).where(_of_initiatives(where)).subquery()
    stmt = select(statuses.c.status, func.count()).group_by(statuses.c.status)
    return {status: count for status, count in (await session.execute(stmt)).all()}


class InitiativeMilestones(NamedTuple):
    """One initiative with the counts and extremes of its milestones as of a day."""

    initiative: Initiative
    milestones: int
    achieved: int
    cancelled: int
    missed: int
    overdue: int
    slipped: int
    largest_slippage: int | None
    largest_open_slippage: int | None


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def milestones_per_initiative(
    session: AsyncSession, where: ColumnElement[bool], as_of: date, window: Window
) -> Page:
    """A page of the matching initiatives (by position), each with its milestone figures
    aggregated in one GROUP BY; rows are `InitiativeMilestones`."""
    figures = milestone_figures(as_of)
    per_initiative = (
        select(
            M.initiative_id.label("initiative_id"),
            func.count().label("milestones"),
            _count(figures.achieved).label("achieved"),
            _count(M.status == MilestoneStatus.CANCELLED).label("cancelled"),
            _count(M.status == MilestoneStatus.MISSED).label("missed"),
            _count(figures.overdue).label("overdue"),
            _count(figures.slippage > 0).label("slipped"),
            func.max(figures.slippage).label("largest_slippage"),
            func.max(case((figures.open, figures.slippage))).label("largest_open_slippage"),
        )
        .group_by(M.initiative_id)
        .subquery("per_initiative")
    )
    c = per_initiative.c
    stmt = (
        select(
            Initiative,
            func.coalesce(c.milestones, 0),
            func.coalesce(c.achieved, 0),
            func.coalesce(c.cancelled, 0),
            func.coalesce(c.missed, 0),
            func.coalesce(c.overdue, 0),
            func.coalesce(c.slipped, 0),
            c.largest_slippage,
            c.largest_open_slippage,
        )
        .outerjoin(per_initiative, c.initiative_id == Initiative.id)
        .where(where)
        .order_by(Initiative.position, Initiative.id)
    )
    page = await fetch_window(session, stmt, window)
    page.rows = [InitiativeMilestones(*row[:-1]) for row in page.rows]
    return page


class MilestoneLateness(NamedTuple):
    """A milestone that slipped or is overdue, with its figures as of a day."""

    milestone: Milestone
    slippage: int | None
    days_overdue: int | None
    days_late: int


def late_milestones_statement(where: ColumnElement[bool], as_of: date) -> Select[Any]:
    figures = milestone_figures(as_of)
    overdue_days = func.coalesce(figures.days_overdue, 0)
    slipped_days = func.coalesce(figures.slippage, 0)
    # How late, whichever tells more: days past the planned date, or the slippage.
    days_late = case((overdue_days >= slipped_days, overdue_days), else_=slipped_days).label(
        "days_late"
    )
    return (
        select(
            M,
            figures.slippage.label("slippage"),
            figures.days_overdue.label("days_overdue"),
            days_late,
        )
        .join(Initiative, Initiative.id == M.initiative_id)
        .where(where, or_(figures.slippage > 0, figures.overdue))
        .order_by(days_late.desc(), M.planned_date, M.id)
    )


async def late_milestones(
    session: AsyncSession, where: ColumnElement[bool], as_of: date, window: Window
) -> Page:
    """A page of the matching initiatives' milestones that slipped (slippage > 0) or are
    overdue, latest first; rows are `MilestoneLateness`."""
    page = await fetch_window(session, late_milestones_statement(where, as_of), window)
    page.rows = [MilestoneLateness(*row[:-1]) for row in page.rows]
    return page
