"""Mutations of exchange rates (admins only: Permission.MANAGE_RATES)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from app.auth.roles import Permission
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
from app.graphql.nodes import ExchangeRate
from app.models import ExchangeRate as Row
from app.rates import rules
from app.writes import crud

UNSET: Any = strawberry.UNSET

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


IDS = {"id": "ExchangeRate", "source_document_id": "SourceDocument"}
REQUIRED = ("base", "quote", "rate", "rate_date", "source")


@strawberry.type
class RateMutations:
    @strawberry.mutation(
        description="Add an exchange rate (admin).",
        metadata=requires(Permission.MANAGE_RATES),
    )
    async def create_exchange_rate(
        self,
        info: Info,
        input: Annotated[CreateExchangeRateInput, strawberry.argument(description="The new rate.")],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> ExchangeRatePayload:
        return await write(
            info,
            ExchangeRatePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.create(s, Row, values_of(input, ids=IDS), rules.validate_rate),
        )

    @strawberry.mutation(
        description=f"Change an exchange rate (admin). {KEEPS_REPORTS} {UNCHANGED}",
        metadata=requires(Permission.MANAGE_RATES),
    )
    async def update_exchange_rate(
        self,
        info: Info,
        input: Annotated[
            UpdateExchangeRateInput,
            strawberry.argument(description="The rate, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> ExchangeRatePayload:
        return await write(
            info,
            ExchangeRatePayload,
            input,
            idempotency_key,
            reason,
            lambda s: rules.update(s, values_of(input, ids=IDS, required=REQUIRED)),
        )

    @strawberry.mutation(
        description=f"Archive an exchange rate (admin); the audit trail keeps it. {KEEPS_REPORTS}",
        metadata=requires(Permission.MANAGE_RATES),
    )
    async def archive_exchange_rate(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> ExchangeRatePayload:
        return await write(
            info,
            ExchangeRatePayload,
            input,
            idempotency_key,
            reason,
            lambda s: rules.archive(s, values_of(input, ids=IDS)),
        )
