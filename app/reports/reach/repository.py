"""Every SQL statement of the reach report: beneficiary figures, and their sums per
group and unit (one GROUP BY; units are never added together)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, case, func, select, true, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.kit.ordering import sort_keys
from app.kit.pagination import Page, Window, fetch_window
from app.models import BeneficiaryFigure, BeneficiaryGroup, FigureQualifier, Initiative
from app.models._columns import QUANTITY

AnySelect = Select[*tuple[Any, ...]]


class FigureRow(NamedTuple):
    figure: BeneficiaryFigure
    group: BeneficiaryGroup
    initiative: Initiative


# The report's rows under aliases of their own: the filters are written against the
# tables themselves (a group filter may reach initiatives through figures, and an
# initiative filter groups), so they run in subqueries that cannot correlate with them.
FIG = aliased(BeneficiaryFigure, name="report_figure")
GRP = aliased(BeneficiaryGroup, name="report_group")
INI = aliased(Initiative, name="report_initiative")


def _matching(
    columns: AnySelect, initiatives: ColumnElement[bool], groups: ColumnElement[bool]
) -> AnySelect:
    """`columns` over the figures of matching initiatives for matching groups."""
    return (
        columns.select_from(FIG)
        .join(GRP, GRP.id == FIG.group_id)
        .join(INI, INI.id == FIG.initiative_id)
        .where(
            FIG.initiative_id.in_(select(Initiative.id).where(initiatives)),
            FIG.group_id.in_(select(BeneficiaryGroup.id).where(groups)),
        )
    )


async def figure_rows(
    session: AsyncSession,
    initiatives: ColumnElement[bool],
    groups: ColumnElement[bool],
    window: Window,
) -> Page:
    """A page of figures by group name, initiative position and unit; rows `FigureRow`."""
    columns = select(FIG, GRP, INI)
    stmt = _matching(columns, initiatives, groups).order_by(
        *sort_keys(GRP.name),
        GRP.id,
        INI.position,
        INI.id,
        *sort_keys(FIG.unit),
        FIG.id,
    )
    page = await fetch_window(session, stmt, window)
    page.rows = [FigureRow(*row[:-1]) for row in page.rows]
    return page


class QualifierCounts(NamedTuple):
    """Of the figures summed: how many, how many report a reach, and how many of those
    carry each qualifier other than EXACT (fields named by qualifier value)."""

    parts: int
    reported: int
    more_than: int
    at_least: int
    about: int
    up_to: int


class GroupTotal(NamedTuple):
    group: BeneficiaryGroup
    unit: str
    target: Decimal | None
    reached: Decimal | None
    reached_counts: QualifierCounts
    # The figures that state a target, for the share reached.
    reached_with_target: Decimal | None
    share_counts: QualifierCounts
    reached_as_of_earliest: date | None
    reached_as_of_latest: date | None


_QUALIFIED = (
    FigureQualifier.MORE_THAN,
    FigureQualifier.AT_LEAST,
    FigureQualifier.ABOUT,
    FigureQualifier.UP_TO,
)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _qualifier_counts(among: ColumnElement[bool], prefix: str) -> list[ColumnElement[int]]:
    reported = and_(among, FIG.reached_value.is_not(None))
    counts: list[ColumnElement[int]] = [
        _count(among).label(f"{prefix}_parts"),
        _count(reported).label(f"{prefix}_reported"),
    ]
    for qualifier in _QUALIFIED:
        condition = and_(reported, FIG.reached_qualifier == qualifier)
        counts.append(_count(condition).label(f"{prefix}_{qualifier.value}"))
    return counts


def _qualifier_row(row: Any, prefix: str) -> QualifierCounts:
    return QualifierCounts(*(row[f"{prefix}_{field}"] for field in QualifierCounts._fields))


async def group_totals(
    session: AsyncSession, initiatives: ColumnElement[bool], groups: ColumnElement[bool]
) -> list[GroupTotal]:
    """Per (group, unit) of the matching figures: sums of targets and reach, and the
    qualifier counts the service turns into the sums' qualifiers."""
    has_target = FIG.target_value.is_not(None)
    reached = FIG.reached_value
    # The dates of the figures summed, i.e. those that report a reach.
    reached_as_of = case((reached.is_not(None), FIG.reached_as_of))
    columns = select(
        FIG.group_id.label("group_id"),
        FIG.unit.label("unit"),
        type_coerce(func.sum(FIG.target_value), QUANTITY).label("target"),
        type_coerce(func.sum(reached), QUANTITY).label("reached"),
        type_coerce(func.sum(case((has_target, reached))), QUANTITY).label("with_target"),
        func.min(reached_as_of).label("as_of_earliest"),
        func.max(reached_as_of).label("as_of_latest"),
        *_qualifier_counts(true(), "all"),
        *_qualifier_counts(has_target, "targeted"),
    )
    sums = _matching(columns, initiatives, groups).group_by(FIG.group_id, FIG.unit).subquery("sums")
    stmt = (
        select(GRP, sums)
        .join(sums, sums.c.group_id == GRP.id)
        .order_by(*sort_keys(GRP.name), GRP.id, *sort_keys(sums.c.unit))
    )
    totals = []
    for row in (await session.execute(stmt)).all():
        values = row._mapping
        totals.append(
            GroupTotal(
                group=row[0],
                unit=values["unit"],
                target=values["target"],
                reached=values["reached"],
                reached_counts=_qualifier_row(values, "all"),
                reached_with_target=values["with_target"],
                share_counts=_qualifier_row(values, "targeted"),
                reached_as_of_earliest=values["as_of_earliest"],
                reached_as_of_latest=values["as_of_latest"],
            )
        )
    return totals
