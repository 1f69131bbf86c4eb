"""Mutations of exchange rates (admins only: Permission.MANAGE_RATES)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.roles import Permission
from app.graphql.mutation import (
    UNCHANGED,
    ArchiveInput,
    IdempotencyKey,
    Payload,
    Reason,
    errors_of,
    given,
    record_id,
    refuse_nulls,
    run,
)
from app.graphql.nodes import ExchangeRate
from app.models import ExchangeRate as RateRow
from app.rates import rules
from app.writes import crud
from app.writes.errors import Problems

UNSET: Any = strawberry.UNSET
WHAT = "exchange rate"

KEEPS_REPORTS = (
    "Refused (CONFLICT) when a budget line or transaction would be left without a rate "
    "into its programme's pledge currency; the error names one."
)


@strawberry.input(description="A new exchange rate: 1 base = rate quote, from rateDate on.")
class CreateExchangeRateInput:
    base: str = strawberry.field(description="ISO 4217 code converted from, e.g. USD.")
    quote: str = strawberry.field(description="ISO 4217 code converted into; not the base.")
    rate: Decimal = strawberry.field(
        description="Units of quote one base buys; above 0, below 10^8, at most 10 decimals."
    )
    rate_date: dt.date = strawberry.field(
        description="The date it is valid from; not in the future. One rate per pair and date."
    )
    source: str = strawberry.field(
        description='Who states the rate, e.g. "ECB reference rate"; at most 300 characters.'
    )
    source_document_id: strawberry.ID | None = strawberry.field(
        default=None, description="The source document stating it, if any."
    )


@strawberry.input(
    description=f"Changes to an exchange rate; fields left out stay as they are. {KEEPS_REPORTS}"
)
class UpdateExchangeRateInput:
    id: strawberry.ID = strawberry.field(description="The rate's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    base: str | None = strawberry.field(default=UNSET, description="New base currency.")
    quote: str | None = strawberry.field(default=UNSET, description="New quote currency.")
    rate: Decimal | None = strawberry.field(default=UNSET, description="New rate.")
    rate_date: dt.date | None = strawberry.field(default=UNSET, description="New date.")
    source: str | None = strawberry.field(default=UNSET, description="New source.")
    source_document_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="New source document; null unlinks."
    )


@strawberry.type(description="The result of an exchange rate mutation.")
class ExchangeRatePayload(Payload):
    exchange_rate: ExchangeRate | None = strawberry.field(
        description="The rate as written (as it was before, for an archive)."
    )


def _values(problems: Problems, i: Any) -> dict[str, Any]:
    values = given(base=i.base, quote=i.quote, rate=i.rate, rate_date=i.rate_date, source=i.source)
    if i.source_document_id is not UNSET:
        values["source_document_id"] = (
            None
            if i.source_document_id is None
            else record_id(problems, i.source_document_id, "SourceDocument", "source_document_id")
        )
    return values


def _payload(outcome: Any) -> ExchangeRatePayload:
    record = outcome.record
    return ExchangeRatePayload(
        exchange_rate=ExchangeRate.from_row(record) if record is not None else None,
        errors=errors_of(outcome),
        replayed=outcome.replayed,
    )


@strawberry.type
class RateMutations:
    @strawberry.mutation(description="Add an exchange rate (admin).")
    async def create_exchange_rate(
        self,
        info: strawberry.Info,
        input: Annotated[CreateExchangeRateInput, strawberry.argument(description="The new rate.")],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> ExchangeRatePayload:
        problems = Problems()
        values = _values(problems, input)

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            return await crud.create(session, RateRow, values, rules.validate_rate)

        outcome = await run(
            info,
            "createExchangeRate",
            Permission.MANAGE_RATES,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description=f"Change an exchange rate (admin). {KEEPS_REPORTS} {UNCHANGED}"
    )
    async def update_exchange_rate(
        self,
        info: strawberry.Info,
        input: Annotated[
            UpdateExchangeRateInput,
            strawberry.argument(description="The rate, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> ExchangeRatePayload:
        problems = Problems()
        pk = record_id(problems, input.id, "ExchangeRate", "id")
        values = _values(problems, input)
        refuse_nulls(
            problems,
            values,
            {
                "base": "base",
                "quote": "quote",
                "rate": "rate",
                "rate_date": "rateDate",
                "source": "source",
            },
        )

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            current = await crud.load_for_change(session, RateRow, pk, input.version, WHAT)
            before = (current.base, current.quote, current.rate_date)
            rate = await crud.update(
                session, RateRow, pk, input.version, values, WHAT, rules.validate_rate
            )
            if (rate.base, rate.quote, rate.rate_date) != before:
                await rules.keep_convertible(session, *before)
            return rate

        outcome = await run(
            info,
            "updateExchangeRate",
            Permission.MANAGE_RATES,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description=f"Archive an exchange rate (admin); the audit trail keeps it. {KEEPS_REPORTS}"
    )
    async def archive_exchange_rate(
        self,
        info: strawberry.Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> ExchangeRatePayload:
        problems = Problems()
        pk = record_id(problems, input.id, "ExchangeRate", "id")

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            rate = await crud.archive(session, RateRow, pk, input.version, WHAT)
            await rules.keep_convertible(session, rate.base, rate.quote, rate.rate_date)
            return rate

        outcome = await run(
            info,
            "archiveExchangeRate",
            Permission.MANAGE_RATES,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)
