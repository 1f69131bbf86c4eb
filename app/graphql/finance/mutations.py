"""Mutations of money records: budget lines (what each initiative plans to spend, per
period) and transactions (money committed, disbursed, spent or received)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from app.auth.roles import Permission
from app.finance import rules
from app.graphql.context import Info
from app.graphql.mutation import (
    UNCHANGED,
    ArchiveInput,
    IdempotencyKey,
    Payload,
    Reason,
    requires,
    values_of,
    write,
)
from app.graphql.nodes import BudgetLine, Transaction
from app.models import BudgetLine as BudgetLineRow
from app.models import BudgetStatus, BudgetType, TransactionType
from app.models import Transaction as TransactionRow
from app.programs.rules import kept_within_pledge
from app.writes import crud

UNSET: Any = strawberry.UNSET

IDS = {
    "initiative_id": "Initiative",
    "budget_line_id": "BudgetLine",
    "provider_id": "Organization",
    "receiver_id": "Organization",
}
BUDGET_LINE_IDS = {**IDS, "id": "BudgetLine"}
TRANSACTION_IDS = {**IDS, "id": "Transaction"}

# Fields every record has: an update may leave them out but not clear them.
BUDGET_LINE_REQUIRED = (
    "period_start",
    "period_end",
    "type",
    "status",
    "amount",
    "currency",
    "value_date",
)
TRANSACTION_REQUIRED = ("type", "transaction_date", "amount", "currency", "value_date")


@strawberry.input(description="A new budget line of an initiative.")
class CreateBudgetLineInput:
    initiative_id: strawberry.ID = strawberry.field(description="The initiative's global ID.")
    period_start: dt.date = strawberry.field(description="First day of the period.")
    period_end: dt.date = strawberry.field(description="Last day; not before the first.")
    type: BudgetType = strawberry.field(
        description="ORIGINAL, or REVISED: the new total replacing the original of the period."
    )
    status: BudgetStatus = strawberry.field(description="INDICATIVE or COMMITTED.")
    amount: Decimal = strawberry.field(
        description="Not negative; no finer than the currency's ISO 4217 minor unit (JPY 0 "
        "decimals, CNY 2, KWD 3), and at most 3 decimals in any currency."
    )
    currency: str = strawberry.field(description="ISO 4217 code, e.g. CNY.")
    value_date: dt.date | None = strawberry.field(
        default=None, description="The date whose rate converts it; defaults to periodStart."
    )
    category: str | None = strawberry.field(default=None, description="e.g. `grants`.")
    description: str | None = strawberry.field(default=None, description="What it is for.")


@strawberry.input(description="Changes to a budget line; fields left out stay as they are.")
class UpdateBudgetLineInput:
    id: strawberry.ID = strawberry.field(description="The budget line's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    period_start: dt.date | None = strawberry.field(default=UNSET, description="New first day.")
    period_end: dt.date | None = strawberry.field(default=UNSET, description="New last day.")
    type: BudgetType | None = strawberry.field(default=UNSET, description="New type.")
    status: BudgetStatus | None = strawberry.field(default=UNSET, description="New status.")
    amount: Decimal | None = strawberry.field(default=UNSET, description="New amount.")
    currency: str | None = strawberry.field(default=UNSET, description="New currency.")
    value_date: dt.date | None = strawberry.field(default=UNSET, description="New value date.")
    category: str | None = strawberry.field(default=UNSET, description="New category.")
    description: str | None = strawberry.field(default=UNSET, description="New description.")


@strawberry.type(description="The result of a budget line mutation.")
class BudgetLinePayload(Payload):
    budget_line: BudgetLine | None = strawberry.field(
        description="The budget line as written (as it was before, for an archive)."
    )


@strawberry.input(description="A new transaction. Reductions are negative amounts.")
class CreateTransactionInput:
    initiative_id: strawberry.ID = strawberry.field(description="The initiative's global ID.")
    type: TransactionType = strawberry.field(description="The IATI transaction type.")
    transaction_date: dt.date = strawberry.field(
        name="date", description="When it took place; not in the future."
    )
    amount: Decimal = strawberry.field(
        description="Signed, not zero; no finer than the currency's ISO 4217 minor unit "
        "(JPY 0 decimals, CNY 2, KWD 3), and at most 3 decimals in any currency."
    )
    currency: str = strawberry.field(description="ISO 4217 code, e.g. CNY.")
    value_date: dt.date | None = strawberry.field(
        default=None, description="The date whose rate converts it; defaults to `date`."
    )
    budget_line_id: strawberry.ID | None = strawberry.field(
        default=None, description="The budget line it is booked against (same initiative)."
    )
    provider_id: strawberry.ID | None = strawberry.field(
        default=None, description="The organisation the money came from."
    )
    receiver_id: strawberry.ID | None = strawberry.field(
        default=None, description="The organisation the money went to."
    )
    description: str | None = strawberry.field(default=None, description="What it was for.")


@strawberry.input(description="Changes to a transaction; fields left out stay as they are.")
class UpdateTransactionInput:
    id: strawberry.ID = strawberry.field(description="The transaction's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    type: TransactionType | None = strawberry.field(default=UNSET, description="New type.")
    transaction_date: dt.date | None = strawberry.field(
        name="date", default=UNSET, description="New date."
    )
    amount: Decimal | None = strawberry.field(default=UNSET, description="New amount.")
    currency: str | None = strawberry.field(default=UNSET, description="New currency.")
    value_date: dt.date | None = strawberry.field(default=UNSET, description="New value date.")
    budget_line_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="New budget line; null to unlink."
    )
    provider_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="New provider; null to clear."
    )
    receiver_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="New receiver; null to clear."
    )
    description: str | None = strawberry.field(
        default=UNSET, description="New description; null to clear."
    )


@strawberry.type(description="The result of a transaction mutation.")
class TransactionPayload(Payload):
    transaction: Transaction | None = strawberry.field(
        description="The transaction as written (as it was before, for an archive)."
    )


@strawberry.type
class FinanceMutations:
    @strawberry.mutation(
        description="Add a budget line (editor, admin). A REVISED line replaces the ORIGINAL "
        "of exactly its period; the programme's budgets must stay within its pledge.",
        metadata=requires(Permission.WRITE),
    )
    async def create_budget_line(
        self,
        info: Info,
        input: Annotated[
            CreateBudgetLineInput, strawberry.argument(description="The new budget line.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BudgetLinePayload:
        return await write(
            info,
            BudgetLinePayload,
            input,
            idempotency_key,
            reason,
            lambda s: kept_within_pledge(
                s,
                crud.create(
                    s,
                    BudgetLineRow,
                    rules.budget_line_values(values_of(input, ids=IDS)),
                    rules.validate_budget_line,
                ),
            ),
        )

    @strawberry.mutation(
        description=f"Change a budget line (editor, admin); same rules as adding. {UNCHANGED}",
        metadata=requires(Permission.WRITE),
    )
    async def update_budget_line(
        self,
        info: Info,
        input: Annotated[
            UpdateBudgetLineInput,
            strawberry.argument(description="The budget line, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BudgetLinePayload:
        return await write(
            info,
            BudgetLinePayload,
            input,
            idempotency_key,
            reason,
            lambda s: kept_within_pledge(
                s,
                crud.update(
                    s,
                    BudgetLineRow,
                    values_of(input, ids=BUDGET_LINE_IDS, required=BUDGET_LINE_REQUIRED),
                    rules.validate_budget_line,
                ),
            ),
        )

    @strawberry.mutation(
        description="Archive a budget line (editor, admin); refused while transactions are "
        "booked against it or revisions replace it.",
        metadata=requires(Permission.WRITE),
    )
    async def archive_budget_line(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput, strawberry.argument(description="The record and the version read.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BudgetLinePayload:
        return await write(
            info,
            BudgetLinePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.archive(
                s,
                BudgetLineRow,
                values_of(input, ids=BUDGET_LINE_IDS),
                rules.guard_budget_line_archive,
            ),
        )

    @strawberry.mutation(
        description="Record a transaction (editor, admin).",
        metadata=requires(Permission.WRITE),
    )
    async def create_transaction(
        self,
        info: Info,
        input: Annotated[
            CreateTransactionInput, strawberry.argument(description="The new transaction.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> TransactionPayload:
        return await write(
            info,
            TransactionPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.create(
                s,
                TransactionRow,
                rules.transaction_values(values_of(input, ids=IDS)),
                rules.validate_transaction,
            ),
        )

    @strawberry.mutation(
        description=f"Change a transaction (editor, admin). {UNCHANGED}",
        metadata=requires(Permission.WRITE),
    )
    async def update_transaction(
        self,
        info: Info,
        input: Annotated[
            UpdateTransactionInput,
            strawberry.argument(description="The transaction, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> TransactionPayload:
        return await write(
            info,
            TransactionPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.update(
                s,
                TransactionRow,
                values_of(input, ids=TRANSACTION_IDS, required=TRANSACTION_REQUIRED),
                rules.validate_transaction,
            ),
        )

    @strawberry.mutation(
        description="Archive a transaction: it leaves lists and reports; the audit trail and "
        "`asOf` queries keep it (editor, admin).",
        metadata=requires(Permission.WRITE),
    )
    async def archive_transaction(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput, strawberry.argument(description="The record and the version read.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> TransactionPayload:
        return await write(
            info,
            TransactionPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.archive(s, TransactionRow, values_of(input, ids=TRANSACTION_IDS)),
        )
