"""Money records: budget lines and transactions."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app import models as m
from app.finance.listing import BUDGET_LINES, TRANSACTIONS, TRANSACTIONS_OF_BUDGET_LINE
from app.graphql.compiled import sql_json
from app.graphql.compiled.declare import row_value
from app.graphql.context import Info
from app.graphql.evidence.types import cited_sources
from app.graphql.inputs import TransactionFilter
from app.graphql.money import ConvertedMoney, Money, convert_money
from app.graphql.records import Record, db_id_of, order_input, register, stamps
from app.graphql.relay import connection
from app.graphql.visibility import Shows
from app.models import BudgetStatus, BudgetType, SubjectType, TransactionType
from app.money.currencies import shown_sql

if TYPE_CHECKING:
    from app.graphql.initiatives.types import Initiative
    from app.graphql.loaders import NodeLoader
    from app.graphql.organizations.types import Organization

TransactionOrder = order_input("Transaction", TRANSACTIONS)
BudgetLineOrder = order_input("BudgetLine", BUDGET_LINES)


def money_of(row: Any) -> Money:
    """A stored amount with its currency."""
    return Money(amount=row.amount, currency=row.currency)


def money_sql(columns: Any) -> dict[str, Any]:
    """`money_of` as JSON written by the database."""
    return {
        "amount": sql_json.quoted(shown_sql(columns.amount, columns.currency)),
        "currency": sql_json.escaped(columns.currency),
    }


@strawberry.interface(
    description="A record with an amount of money and the value date that converts it."
)
class Amounted(Record):
    _row: strawberry.Private[Any]
    value_date: date = strawberry.field(description="The date whose rate converts the amount.")

    @strawberry.field(
        description="The amount in its own currency (signed for transactions).",
        extensions=[Shows("amount", "currency")],
        metadata=row_value(money_of, money_sql),
    )
    def amount(self) -> Money:
        return money_of(self._row)

    @strawberry.field(description="The amount converted at the rate valid on its value date.")
    async def amount_in(
        self,
        info: Info,
        currency: Annotated[
            str, strawberry.argument(description="ISO 4217 code to convert into, e.g. USD.")
        ],
    ) -> ConvertedMoney:
        return await convert_money(info, self.amount(), currency, self.value_date)


@register(m.Transaction)
@strawberry.type(
    description="A flow of money: commitment, disbursement, expenditure, incoming funds, ... "
    "Signed: a reduction is negative."
)
class Transaction(Amounted):
    type: TransactionType = strawberry.field(
        description="The kind of flow (IATI transaction type)."
    )
    transaction_date: date = strawberry.field(
        name="date", description="When the transaction took place."
    )
    description: str | None = strawberry.field(description="What the transaction was for.")
    ref: str | None = strawberry.field(
        description="Its key in the file it was imported from (unique within its "
        "initiative; docs/imports.md); null when written through the API."
    )

    @classmethod
    def from_row(cls, row: m.Transaction) -> Transaction:
        return cls(
            **stamps(row),
            _row=row,
            type=row.type,
            transaction_date=row.transaction_date,
            value_date=row.value_date,
            description=row.description,
            ref=row.ref,
        )

    @strawberry.field(
        description="The initiative the transaction belongs to.",
        extensions=[Shows("initiative_id")],
    )
    async def initiative(
        self, info: Info
    ) -> Annotated[Initiative, strawberry.lazy("app.graphql.initiatives.types")]:
        initiatives: NodeLoader[Initiative] = info.context.loaders.node_of(m.Initiative)
        return await initiatives.load_required(self._row.initiative_id)

    @strawberry.field(
        description="The budget line the transaction is booked against, if any.",
        extensions=[Shows("budget_line_id")],
    )
    async def budget_line(self, info: Info) -> BudgetLine | None:
        return await info.context.loaders.node(BudgetLine).load(self._row.budget_line_id)

    @strawberry.field(description="Who the money came from.", extensions=[Shows("provider_id")])
    async def provider(
        self, info: Info
    ) -> Annotated[Organization, strawberry.lazy("app.graphql.organizations.types")] | None:
        organizations: NodeLoader[Organization] = info.context.loaders.node_of(m.Organization)
        return await organizations.load(self._row.provider_id)

    @strawberry.field(description="Who the money went to.", extensions=[Shows("receiver_id")])
    async def receiver(
        self, info: Info
    ) -> Annotated[Organization, strawberry.lazy("app.graphql.organizations.types")] | None:
        organizations: NodeLoader[Organization] = info.context.loaders.node_of(m.Organization)
        return await organizations.load(self._row.receiver_id)

    sources = cited_sources(SubjectType.TRANSACTION)


@register(m.BudgetLine)
@strawberry.type(
    description="Money budgeted for one initiative and period. A REVISED line replaces the "
    "ORIGINAL of its period (it holds the new total)."
)
class BudgetLine(Amounted):
    period_start: date = strawberry.field(description="First day of the budget period.")
    period_end: date = strawberry.field(description="Last day of the budget period.")
    type: BudgetType = strawberry.field(
        description="ORIGINAL, or REVISED (replaces the original of its period)."
    )
    status: BudgetStatus = strawberry.field(description="INDICATIVE or COMMITTED.")
    category: str | None = strawberry.field(
        description="Functional classification, e.g. `fund` or `grants`."
    )
    description: str | None = strawberry.field(description="What the money is for.")
    ref: str | None = strawberry.field(
        description="Its key in the file it was imported from (unique within its "
        "initiative; docs/imports.md); null when written through the API."
    )

    @classmethod
    def from_row(cls, row: m.BudgetLine) -> BudgetLine:
        return cls(
            **stamps(row),
            _row=row,
            period_start=row.period_start,
            period_end=row.period_end,
            type=row.type,
            status=row.status,
            category=row.category,
            value_date=row.value_date,
            description=row.description,
            ref=row.ref,
        )

    @strawberry.field(
        description="The initiative the budget belongs to.", extensions=[Shows("initiative_id")]
    )
    async def initiative(
        self, info: Info
    ) -> Annotated[Initiative, strawberry.lazy("app.graphql.initiatives.types")]:
        initiatives: NodeLoader[Initiative] = info.context.loaders.node_of(m.Initiative)
        return await initiatives.load_required(self._row.initiative_id)

    transactions = connection(
        TRANSACTIONS_OF_BUDGET_LINE,
        Transaction,
        TransactionFilter,
        TransactionOrder,
        description="Transactions booked against this budget line.",
        parent_key=db_id_of,
    )
    sources = cited_sources(SubjectType.BUDGET_LINE)
