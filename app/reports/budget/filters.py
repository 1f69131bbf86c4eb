"""Which budget lines and transactions a budget summary covers.

One client filter becomes two conditions, one per kind of record: a condition on one
kind (a transaction type, a budget status) leaves the other kind alone, and a
transaction's category is that of its budget line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from app.filters import currency_column, initiative_filters
from app.kit.filtering import Column, FilterLimits, FilterSpec, condition_of, member_of
from app.models import BudgetLine, BudgetRollup, Initiative, Transaction
from app.reports.budget import rollups
from app.reports.budget.repository import TRANSACTION_LINE


def budget_line_spec() -> FilterSpec:
    return {
        "initiative": member_of(BudgetLine.initiative_id, Initiative, initiative_filters),
        "date": Column(BudgetLine.period_start),
        "category": Column(BudgetLine.category),
        "currency": currency_column(BudgetLine.currency),
        "budget_status": Column(BudgetLine.status),
    }


def transaction_spec() -> FilterSpec:
    return {
        "initiative": member_of(Transaction.initiative_id, Initiative, initiative_filters),
        "date": Column(Transaction.transaction_date),
        "category": Column(TRANSACTION_LINE.category),
        "currency": currency_column(Transaction.currency),
        "transaction_type": Column(Transaction.type),
    }


def _rollup_spec(*, transactions: bool) -> FilterSpec:
    """The filter on rollup rows (app/reports/budget/rollups.py): every field but the
    date, which the rollups do not keep."""
    r = BudgetRollup
    own = (
        {"transaction_type": Column(r.transaction_type)}
        if transactions
        else {"budget_status": Column(r.budget_status)}
    )
    return {
        "initiative": member_of(r.initiative_id, Initiative, initiative_filters),
        "category": Column(r.category),
        "currency": currency_column(r.currency),
        **own,
    }


def names_date(record_filter: Any) -> bool:
    """Whether the filter, at any depth, has a condition on the record's date (a filter
    already checked under its limits: each node is visited once)."""
    stack = [record_filter]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if getattr(node, "date", None) is not None:
            return True
        stack.extend(getattr(node, "and_", None) or ())
        stack.extend(getattr(node, "or_", None) or ())
        stack.append(getattr(node, "not_", None))
    return False


@dataclass(frozen=True)
class BudgetScope:
    """The records a summary adds up: a condition on budget lines, one on transactions,
    and the same on their rollups (None: the rollups cannot answer, a date filter)."""

    budget_lines: ColumnElement[bool]
    transactions: ColumnElement[bool]
    rollups: ColumnElement[bool] | None = None

    @classmethod
    def of(cls, record_filter: Any, limits: FilterLimits) -> BudgetScope:
        """From the summary's filter (None: every record), checked under the limits every
        list's filter is."""
        budget_lines = condition_of(budget_line_spec(), record_filter, limits)
        transactions = condition_of(transaction_spec(), record_filter, limits)
        rolled = None
        if not names_date(record_filter):
            rolled = rollups.condition(
                condition_of(_rollup_spec(transactions=False), record_filter, limits),
                condition_of(_rollup_spec(transactions=True), record_filter, limits),
            )
        return cls(budget_lines, transactions, rolled)
