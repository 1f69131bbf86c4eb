"""Mutations of budget lines: what each initiative plans to spend, per period."""

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
    record_id,
    refuse_nulls,
    run,
)
from app.graphql.nodes import BudgetLine
from app.models import BudgetLine as BudgetLineRow
from app.models import BudgetStatus, BudgetType
from app.programs import rules as pledge
from app.writes import crud
from app.writes.errors import Problems

UNSET: Any = strawberry.UNSET

BUDGET_LINE_REQUIRED = {
    "period_start": "periodStart",
    "period_end": "periodEnd",
    "type": "type",
    "status": "status",
    "amount": "amount",
    "currency": "currency",
    "value_date": "valueDate",
}


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


@strawberry.type
class BudgetLineMutations:
    @strawberry.mutation(
        description="Add a budget line (editor, admin). A REVISED line replaces the ORIGINAL "
        "of exactly its period; the programme's budgets must stay within its pledge."
    )
    async def create_budget_line(
        self,
        info: strawberry.Info,
        input: Annotated[
            CreateBudgetLineInput, strawberry.argument(description="The new budget line.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BudgetLinePayload:
        problems = Problems()
        values = _budget_line_values(input)
        values["initiative_id"] = record_id(
            problems, input.initiative_id, "Initiative", "initiative_id"
        )
        values = rules.budget_line_values(values)

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            line = await crud.create(session, BudgetLineRow, values, rules.validate_budget_line)
            await pledge.check_within_pledge(session, line.initiative_id)
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

    @strawberry.mutation(
        description=f"Change a budget line (editor, admin); same rules as adding. {UNCHANGED}"
    )
    async def update_budget_line(
        self,
        info: strawberry.Info,
        input: Annotated[
            UpdateBudgetLineInput,
            strawberry.argument(description="The budget line, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BudgetLinePayload:
        problems = Problems()
        pk = record_id(problems, input.id, "BudgetLine", "id")
        values = _budget_line_values(input)
        refuse_nulls(problems, values, BUDGET_LINE_REQUIRED)

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
            await pledge.check_within_pledge(session, line.initiative_id)
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
        input: Annotated[
            ArchiveInput, strawberry.argument(description="The record and the version read.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BudgetLinePayload:
        outcome = await archive_record(
            info,
            "archiveBudgetLine",
            input,
            BudgetLineRow,
            "BudgetLine",
            "budget line",
            rules.guard_budget_line_archive,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _budget_line_payload(outcome)
