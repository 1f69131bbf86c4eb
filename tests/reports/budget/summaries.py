"""budgetSummary as the report tests ask for it, and two initiatives with a budget and
transactions to group."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from app import models as m
from tests import factories as f
from tests.conftest import Database, GraphQLClient

T = m.TransactionType

SUMMARY = """
query ($groupBy: [BudgetDimension!]!, $currency: String, $filter: BudgetSummaryFilter,
       $having: BudgetMeasureFilter, $orderBy: [BudgetSummaryOrder!], $first: Int) {
  budgetSummary(groupBy: $groupBy, currency: $currency, filter: $filter, having: $having,
                orderBy: $orderBy, first: $first) {
    currency
    groupCount
    groups {
      key { initiative { code } beneficiaryGroup { code } year quarter month category
            transactionType focusArea region }
      measures { ...figures }
    }
    total { ...figures }
    others { ...figures }
    ratesUsed { currency rate rateDate source inverted records
                original { amount currency } converted { amount currency } }
  }
}
fragment figures on BudgetMeasures {
  budgetOriginal { amount currency } budgetCurrent { amount } committed { amount }
  disbursed { amount } spent { amount } variance { amount } budgetRevision { amount }
  count budgetLineCount transactionCount
}
"""


async def summary(client: GraphQLClient, **variables: Any) -> dict[str, Any]:
    data = await client.data(SUMMARY, variables)
    result: dict[str, Any] = data["budgetSummary"]
    return result


def amounts(figures: dict[str, Any], name: str) -> Decimal:
    return Decimal(figures[name]["amount"])


async def two_initiatives(db: Database) -> tuple[m.Initiative, m.Initiative]:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        a = await f.initiative(session, program, code="A", focus_area="jobs", region="CN-ZJ")
        b = await f.initiative(session, program, code="B", focus_area="health", region="CN-GD")
        await f.budget_line(session, a, amount=Decimal("1000.00"), category="grants")
        await f.budget_line(
            session, a, type=m.BudgetType.REVISED, amount=Decimal("1200.00"), category="grants"
        )
        await f.budget_line(session, b, amount=Decimal("500.00"), category="works")
        for kind, amount, day in (
            (T.OUTGOING_COMMITMENT, "800.00", date(2022, 2, 1)),
            (T.DISBURSEMENT, "300.00", date(2022, 5, 1)),
            (T.EXPENDITURE, "250.10", date(2023, 1, 15)),
        ):
            await f.transaction(
                session, a, type=kind, amount=Decimal(amount), transaction_date=day, value_date=day
            )
        await f.transaction(session, b, type=T.EXPENDITURE, amount=Decimal("99.99"))
        await f.transaction(session, b, type=T.EXPENDITURE, amount=Decimal("-9.99"))
    return a, b
