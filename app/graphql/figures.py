"""Budget and execution figures, as reports and programme/initiative fields show them."""

from __future__ import annotations

import strawberry

from app.graphql.money import Money
from app.money.currencies import from_minor_units
from app.reports.budget.service import Measures


@strawberry.type(
    description="Budget and execution figures of a group, in the report currency. Every "
    "amount was converted at its own value date's rate and rounded before summing."
)
class BudgetMeasures:
    _m: strawberry.Private[Measures]
    _currency: strawberry.Private[str]

    def money(self, measure: str) -> Money:
        """One money figure by its measure name (e.g. "spent")."""
        return self._money(self._m.value(measure))

    def _money(self, minor: int) -> Money:
        return Money(amount=from_minor_units(minor, self._currency), currency=self._currency)

    @strawberry.field(description="Original budgets (IATI budget type original).")
    def budget_original(self) -> Money:
        return self._money(self._m.budget_original)

    @strawberry.field(
        description="Current budget: per initiative and period the latest revised budget, "
        "else the original."
    )
    def budget_current(self) -> Money:
        return self._money(self._m.budget_current)

    @strawberry.field(description="Outgoing commitments (IATI transaction type 2).")
    def committed(self) -> Money:
        return self._money(self._m.committed)

    @strawberry.field(description="Disbursements (IATI transaction type 3).")
    def disbursed(self) -> Money:
        return self._money(self._m.disbursed)

    @strawberry.field(description="Expenditure (IATI transaction type 4).")
    def spent(self) -> Money:
        return self._money(self._m.spent)

    @strawberry.field(description="Current budget minus spent.")
    def variance(self) -> Money:
        return self._money(self._m.variance)

    @strawberry.field(
        description="Current budget minus original budget: what revisions added (negative: "
        "took away)."
    )
    def budget_revision(self) -> Money:
        return self._money(self._m.budget_current - self._m.budget_original)

    @strawberry.field(
        description="Records counted: budget lines plus transactions. Split by "
        "BENEFICIARY_GROUP, a record counts in every group it has a share in."
    )
    def count(self) -> int:
        return self._m.count

    @strawberry.field(description="Budget lines counted (original and revised).")
    def budget_line_count(self) -> int:
        return self._m.budget_lines

    @strawberry.field(description="Transactions counted, of every type.")
    def transaction_count(self) -> int:
        return self._m.transactions


def measures(currency: str, m: Measures) -> BudgetMeasures:
    return BudgetMeasures(_m=m, _currency=currency)
