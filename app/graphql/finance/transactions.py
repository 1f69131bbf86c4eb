"""Mutations of transactions: money committed, disbursed, spent or received."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.roles import Permission
from app.finance import rules
from app.graphql.mutation import (
    UNCHANGED,
    ArchiveInput,
    IdempotencyKey,
    Payload,
    Reason,
    archive_record,
    errors_of,
    given,
    global_ids,
    record_id,
    refuse_nulls,
    run,
)
from app.graphql.nodes import Transaction
from app.models import Transaction as TransactionRow
from app.models import TransactionType
from app.writes import crud
from app.writes.errors import Problems

UNSET: Any = strawberry.UNSET


# --- transactions -----------------------------------------------------------------------


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


# Fields every record has: an update may leave them out but not clear them.
TRANSACTION_REQUIRED = {
    "type": "type",
    "transaction_date": "date",
    "amount": "amount",
    "currency": "currency",
    "value_date": "valueDate",
}


@strawberry.type(description="The result of a transaction mutation.")
class TransactionPayload(Payload):
    transaction: Transaction | None = strawberry.field(
        description="The transaction as written (as it was before, for an archive)."
    )


def _transaction_values(problems: Problems, i: Any) -> dict[str, Any]:
    values = given(
        type=i.type,
        transaction_date=i.transaction_date,
        amount=i.amount,
        currency=i.currency,
        value_date=i.value_date,
        description=i.description,
    )
    ids = global_ids(
        problems,
        budget_line_id=(i.budget_line_id, "BudgetLine"),
        provider_id=(i.provider_id, "Organization"),
        receiver_id=(i.receiver_id, "Organization"),
    )
    return {**values, **ids}


def _transaction_payload(outcome: Any) -> TransactionPayload:
    record = outcome.record
    return TransactionPayload(
        transaction=Transaction.from_row(record) if record is not None else None,
        errors=errors_of(outcome),
        replayed=outcome.replayed,
    )


@strawberry.type
class TransactionMutations:
    @strawberry.mutation(description="Record a transaction (editor, admin).")
    async def create_transaction(
        self,
        info: strawberry.Info,
        input: Annotated[
            CreateTransactionInput, strawberry.argument(description="The new transaction.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> TransactionPayload:
        problems = Problems()
        values = _transaction_values(problems, input)
        values["initiative_id"] = record_id(
            problems, input.initiative_id, "Initiative", "initiative_id"
        )
        values["value_date"] = input.value_date or input.transaction_date

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            return await crud.create(session, TransactionRow, values, rules.validate_transaction)

        outcome = await run(
            info,
            "createTransaction",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _transaction_payload(outcome)

    @strawberry.mutation(description=f"Change a transaction (editor, admin). {UNCHANGED}")
    async def update_transaction(
        self,
        info: strawberry.Info,
        input: Annotated[
            UpdateTransactionInput,
            strawberry.argument(description="The transaction, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> TransactionPayload:
        problems = Problems()
        pk = record_id(problems, input.id, "Transaction", "id")
        values = _transaction_values(problems, input)
        refuse_nulls(problems, values, TRANSACTION_REQUIRED)

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            return await crud.update(
                session,
                TransactionRow,
                pk,
                input.version,
                values,
                "transaction",
                rules.validate_transaction,
            )

        outcome = await run(
            info,
            "updateTransaction",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _transaction_payload(outcome)

    @strawberry.mutation(
        description="Archive a transaction: it leaves lists and reports; the audit trail and "
        "`asOf` queries keep it (editor, admin)."
    )
    async def archive_transaction(
        self,
        info: strawberry.Info,
        input: Annotated[
            ArchiveInput, strawberry.argument(description="The record and the version read.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> TransactionPayload:
        outcome = await archive_record(
            info,
            "archiveTransaction",
            input,
            TransactionRow,
            "Transaction",
            "transaction",
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _transaction_payload(outcome)
