"""Mutations of money records: transactions and budget lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.roles import Permission
from app.editing import crud
from app.editing import finance as rules
from app.editing.errors import Problems
from app.editing.rules import record_id
from app.graphql.mutations.common import (
    IdempotencyKey,
    Payload,
    Reason,
    errors_of,
    given,
    run,
)
from app.graphql.types import BudgetLine, Transaction
from app.models import BudgetLine as BudgetLineRow
from app.models import BudgetStatus, BudgetType, TransactionType
from app.models import Transaction as TransactionRow

UNSET: Any = strawberry.UNSET


def _ids(problems: Problems, **ids: tuple[str | None, str]) -> dict[str, int | None]:
    """Keys of the global IDs given, checked for type; a None ID stays None."""
    out: dict[str, int | None] = {}
    for field, (value, type_name) in ids.items():
        if value is UNSET:
            continue
        out[field] = None if value is None else record_id(problems, value, type_name, field)
    return out


@strawberry.input(description="Identifies a record to archive, with the version you read.")
class ArchiveInput:
    id: strawberry.ID = strawberry.field(description="The record's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")


# --- transactions -----------------------------------------------------------------------


@strawberry.input(description="A new transaction. Reductions are negative amounts.")
class CreateTransactionInput:
    initiative_id: strawberry.ID = strawberry.field(description="The initiative's global ID.")
    type: TransactionType = strawberry.field(description="The IATI transaction type.")
    transaction_date: dt.date = strawberry.field(
        name="date", description="When it took place; not in the future."
    )
    amount: Decimal = strawberry.field(description="Signed, at most 2 decimals; not zero.")
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


def _required(problems: Problems, values: dict[str, Any], *names: str) -> None:
    for name in names:
        if name in values and values[name] is None:
            problems.add(_api_name(name), "cannot be null")


def _api_name(attr: str) -> str:
    if attr == "transaction_date":
        return "date"
    head, *rest = attr.split("_")
    return head + "".join(part.title() for part in rest)


def _transaction_values(problems: Problems, i: Any) -> dict[str, Any]:
    values = given(
        type=i.type,
        transaction_date=i.transaction_date,
        amount=i.amount,
        currency=i.currency,
        value_date=i.value_date,
        description=i.description,
    )
    ids = _ids(
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
class FinanceMutations:
    @strawberry.mutation(description="Record a transaction (editor, admin).")
    async def create_transaction(
        self,
        info: strawberry.Info,
        input: CreateTransactionInput,
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> TransactionPayload:
        problems = Problems()
        values = _transaction_values(problems, input)
        values["initiative_id"] = record_id(
            problems, input.initiative_id, "Initiative", "initiativeId"
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

    @strawberry.mutation(description="Change a transaction (editor, admin).")
    async def update_transaction(
        self,
        info: strawberry.Info,
        input: UpdateTransactionInput,
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> TransactionPayload:
        problems = Problems()
        pk = record_id(problems, input.id, "Transaction", "id")
        values = _transaction_values(problems, input)
        _required(problems, values, "type", "transaction_date", "amount", "currency", "value_date")

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
        input: ArchiveInput,
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> TransactionPayload:
        problems = Problems()
        pk = record_id(problems, input.id, "Transaction", "id")

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            return await crud.archive(session, TransactionRow, pk, input.version, "transaction")

        outcome = await run(
            info,
            "archiveTransaction",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _transaction_payload(outcome)

    # --- budget lines -------------------------------------------------------------------

    @strawberry.mutation(
        description="Add a budget line (editor, admin). A REVISED line replaces the ORIGINAL "
        "of exactly its period; the programme's budgets must stay within its pledge."
    )
    async def create_budget_line(
        self,
        info: strawberry.Info,
        input: CreateBudgetLineInput,
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BudgetLinePayload:
        problems = Problems()
        values = _budget_line_values(input)
        values["initiative_id"] = record_id(
            problems, input.initiative_id, "Initiative", "initiativeId"
        )
        values = rules.budget_line_values(values)

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            line = await crud.create(session, BudgetLineRow, values, rules.validate_budget_line)
            await rules.check_within_pledge(session, line.initiative_id)
            return line

        outcome = await run(
            info,
            "createBudgetLine",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _budget_line_payload(outcome)

    @strawberry.mutation(description="Change a budget line (editor, admin); same rules as adding.")
    async def update_budget_line(
        self,
        info: strawberry.Info,
        input: UpdateBudgetLineInput,
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BudgetLinePayload:
        problems = Problems()
        pk = record_id(problems, input.id, "BudgetLine", "id")
        values = _budget_line_values(input)
        _required(
            problems,
            values,
            "period_start",
            "period_end",
            "type",
            "status",
            "amount",
            "currency",
            "value_date",
        )

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            line = await crud.update(
                session,
                BudgetLineRow,
                pk,
                input.version,
                values,
                "budget line",
                rules.validate_budget_line,
            )
            await rules.check_within_pledge(session, line.initiative_id)
            return line

        outcome = await run(
            info,
            "updateBudgetLine",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _budget_line_payload(outcome)

    @strawberry.mutation(
        description="Archive a budget line (editor, admin); refused while transactions are "
        "booked against it or revisions replace it."
    )
    async def archive_budget_line(
        self,
        info: strawberry.Info,
        input: ArchiveInput,
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BudgetLinePayload:
        problems = Problems()
        pk = record_id(problems, input.id, "BudgetLine", "id")

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            return await crud.archive(
                session,
                BudgetLineRow,
                pk,
                input.version,
                "budget line",
                rules.guard_budget_line_archive,
            )

        outcome = await run(
            info,
            "archiveBudgetLine",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _budget_line_payload(outcome)


# --- budget lines -----------------------------------------------------------------------


@strawberry.input(description="A new budget line of an initiative.")
class CreateBudgetLineInput:
    initiative_id: strawberry.ID = strawberry.field(description="The initiative's global ID.")
    period_start: dt.date = strawberry.field(description="First day of the period.")
    period_end: dt.date = strawberry.field(description="Last day; not before the first.")
    type: BudgetType = strawberry.field(
        description="ORIGINAL, or REVISED: the new total replacing the original of the period."
    )
    status: BudgetStatus = strawberry.field(description="INDICATIVE or COMMITTED.")
    amount: Decimal = strawberry.field(description="Not negative, at most 2 decimals.")
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


def _budget_line_values(i: Any) -> dict[str, Any]:
    return given(
        period_start=i.period_start,
        period_end=i.period_end,
        type=i.type,
        status=i.status,
        amount=i.amount,
        currency=i.currency,
        value_date=i.value_date,
        category=i.category,
        description=i.description,
    )


def _budget_line_payload(outcome: Any) -> BudgetLinePayload:
    record = outcome.record
    return BudgetLinePayload(
        budget_line=BudgetLine.from_row(record) if record is not None else None,
        errors=errors_of(outcome),
        replayed=outcome.replayed,
    )
