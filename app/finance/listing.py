"""Lists of budget lines and transactions: what they sort and aggregate by, and the
lists nested under an initiative or a budget line (filters: `app/filters.py`)."""

from __future__ import annotations

from app.filters import budget_line_filters, transaction_filters
from app.kit.aggregation import Amount, Day
from app.kit.listing import Listing, ascending, nested, sorts
from app.models import BudgetLine, Transaction

# What every amount's sort key is: the number as stored, in whatever currency.
_AMOUNT = "the amount as a number, whatever its currency (nothing is converted)"
_VALUE_DATE = "the value date (the day whose exchange rate converts the amount)"

BUDGET_LINES = Listing(
    "budgetLines",
    BudgetLine,
    budget_line_filters,
    sorts(
        BudgetLine,
        period_start="the first day of the budget's period",
        period_end="the last day of the budget's period",
        type="the budget type",
        status="the budget status",
        category="the budget line's category",
        amount=_AMOUNT,
        currency="the currency code",
        value_date=_VALUE_DATE,
    ),
    ascending(BudgetLine.period_start),
    aggregates=lambda: {
        "amount": Amount(BudgetLine.amount, BudgetLine.currency, BudgetLine.value_date),
        "period_start": Day(BudgetLine.period_start),
        "period_end": Day(BudgetLine.period_end),
    },
)
BUDGET_LINES_OF_INITIATIVE = nested(
    BUDGET_LINES, "initiative.budgetLines", lambda: BudgetLine.initiative_id
)
TRANSACTIONS = Listing(
    "transactions",
    Transaction,
    transaction_filters,
    sorts(
        Transaction,
        type="the transaction type",
        amount=_AMOUNT,
        currency="the currency code",
        value_date=_VALUE_DATE,
        date=(Transaction.transaction_date, "the transaction date"),
    ),
    ascending(Transaction.transaction_date),
    aggregates=lambda: {
        "amount": Amount(Transaction.amount, Transaction.currency, Transaction.value_date),
        "date": Day(Transaction.transaction_date),
    },
)
TRANSACTIONS_OF_INITIATIVE = nested(
    TRANSACTIONS, "initiative.transactions", lambda: Transaction.initiative_id
)
TRANSACTIONS_OF_BUDGET_LINE = nested(
    TRANSACTIONS, "budgetLine.transactions", lambda: Transaction.budget_line_id
)
