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
from app.models import BudgetLine, Initiative, Transaction
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


@dataclass(frozen=True)
class BudgetScope:
    """The records a summary adds up: a condition on budget lines, one on transactions."""

    budget_lines: ColumnElement[bool]
    transactions: ColumnElement[bool]

    @classmethod
    def of(cls, record_filter: Any, limits: FilterLimits) -> BudgetScope:
        """From the summary's filter (None: every record), checked under the limits every
        list's filter is."""
        return cls(
            budget_lines=condition_of(budget_line_spec(), record_filter, limits),
            transactions=condition_of(transaction_spec(), record_filter, limits),
        )
