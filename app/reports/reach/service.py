"""The reach report's rules: share reached, and how qualified a sum of figures is.

A sum's qualifier says how it relates to the true total of its parts:

- none of the parts reports a reach: no sum, no qualifier;
- ABOUT if a part is ABOUT, or if parts bound the sum from both sides (an UP_TO part
  with a MORE_THAN or AT_LEAST part, or with a part that reports no reach);
- UP_TO if a part is UP_TO (the others EXACT): the true total is at most the sum;
- MORE_THAN if a part is MORE_THAN (the others EXACT, AT_LEAST or not reported);
- AT_LEAST if a part is AT_LEAST, or reports no reach (an unknown count, not below 0);
- EXACT only when every part reports an EXACT reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.pagination import Page, Window
from app.models import BeneficiaryFigure, BeneficiaryGroup, FigureQualifier, Initiative
from app.reports.reach import repository
from app.reports.reach.filters import ReachScope
from app.reports.reach.repository import FigureRow, QualifierCounts

SHARE_PLACES = 4


def share_reached(reached: Decimal | None, target: Decimal | None) -> Decimal | None:
    """reached / target to 4 decimals, rounded half-even from the exact fraction (no
    intermediate rounding); None without a reach or without a target above 0."""
    if reached is None or target is None or target == 0:
        return None
    # round() of a Fraction rounds half to even, exactly.
    units = round(Fraction(reached) / Fraction(target) * 10**SHARE_PLACES)
    return Decimal(units).scaleb(-SHARE_PLACES)


def sum_qualifier(counts: QualifierCounts) -> FigureQualifier | None:
    """The qualifier of a sum of figures (the rule in the module docstring)."""
    if counts.reported == 0:
        return None
    unreported = counts.parts - counts.reported
    below = counts.more_than + counts.at_least + unreported  # parts the sum undercounts
    if counts.about or (counts.up_to and below):
        return FigureQualifier.ABOUT
    if counts.up_to:
        return FigureQualifier.UP_TO
    if counts.more_than:
        return FigureQualifier.MORE_THAN
    if below:
        return FigureQualifier.AT_LEAST
    return FigureQualifier.EXACT


@dataclass(frozen=True)
class ReachRow:
    figure: BeneficiaryFigure
    group: BeneficiaryGroup
    initiative: Initiative
    share_reached: Decimal | None


@dataclass(frozen=True)
class ReachTotal:
    group: BeneficiaryGroup
    unit: str
    figures: int
    figures_with_target: int
    figures_with_reach: int
    target: Decimal | None
    reached: Decimal | None
    reached_qualifier: FigureQualifier | None
    share_reached: Decimal | None
    share_qualifier: FigureQualifier | None
    reached_as_of_earliest: date | None
    reached_as_of_latest: date | None


async def reach_rows(session: AsyncSession, scope: ReachScope, window: Window) -> Page:
    """A page of figures with their share reached; rows `ReachRow`."""
    page = await repository.figure_rows(session, scope.initiatives, scope.groups, window)
    rows: list[FigureRow] = page.rows
    page.rows = [
        ReachRow(
            figure=r.figure,
            group=r.group,
            initiative=r.initiative,
            share_reached=share_reached(r.figure.reached_value, r.figure.target_value),
        )
        for r in rows
    ]
    return page


async def reach_totals(session: AsyncSession, scope: ReachScope) -> list[ReachTotal]:
    """Per group and unit: the sums, their qualifiers, and the share reached of the
    figures that state a target (reach over their targets' sum)."""
    totals = []
    for t in await repository.group_totals(session, scope.initiatives, scope.groups):
        share = share_reached(t.reached_with_target, t.target)
        totals.append(
            ReachTotal(
                group=t.group,
                unit=t.unit,
                figures=t.reached_counts.parts,
                figures_with_target=t.share_counts.parts,
                figures_with_reach=t.reached_counts.reported,
                target=t.target,
                reached=t.reached,
                reached_qualifier=sum_qualifier(t.reached_counts),
                share_reached=share,
                share_qualifier=sum_qualifier(t.share_counts) if share is not None else None,
                reached_as_of_earliest=t.reached_as_of_earliest,
                reached_as_of_latest=t.reached_as_of_latest,
            )
        )
    return totals
