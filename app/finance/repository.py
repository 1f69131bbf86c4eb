"""The SQL rule of the current budget, which every budget figure applies.

The figures themselves (a programme's or initiative's current budget, `allocated`, the
reports, the pledge check) are computed in one place, `app/reports/repository.summarize`,
with each line converted at its value date's rate and rounded before summing.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlalchemy.orm import aliased

from app.models import BudgetLine, BudgetType


def is_current_budget_line() -> ColumnElement[bool]:
    """True for the lines that make up the current budget of their period.

    IATI: a revised budget holds the new total of its period, so it replaces the
    original; of several revisions of one period the latest counts: by value date,
    then by the order they were recorded in.
    """
    other = aliased(BudgetLine)
    superseded = exists().where(
        other.initiative_id == BudgetLine.initiative_id,
        other.period_start == BudgetLine.period_start,
        other.period_end == BudgetLine.period_end,
        other.type == BudgetType.REVISED,
        or_(
            BudgetLine.type == BudgetType.ORIGINAL,
            other.value_date > BudgetLine.value_date,
            and_(other.value_date == BudgetLine.value_date, other.id > BudgetLine.id),
        ),
    )
    return ~superseded
