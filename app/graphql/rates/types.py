"""Exchange rates, each with its date and source."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry

from app import models as m
from app.graphql.context import Info
from app.graphql.evidence.types import SourceDocument, cited_sources
from app.graphql.records import Record, order_input, register, stamps
from app.graphql.visibility import Shows
from app.models import SubjectType
from app.rates.listing import EXCHANGE_RATES

ExchangeRateOrder = order_input("ExchangeRate", EXCHANGE_RATES)


@register(m.ExchangeRate)
@strawberry.type(description="`1 base = rate quote`, valid from `rateDate` until the next one.")
class ExchangeRate(Record):
    _document_id: strawberry.Private[int | None]
    base: str = strawberry.field(description="The currency converted from (ISO 4217).")
    quote: str = strawberry.field(description="The currency converted into (ISO 4217).")
    rate: Decimal = strawberry.field(
        description="How many units of `quote` one unit of `base` buys."
    )
    rate_date: date = strawberry.field(description="The date the rate is valid from.")
    source: str = strawberry.field(description="Who states the rate, in words.")

    @classmethod
    def from_row(cls, row: m.ExchangeRate) -> ExchangeRate:
        return cls(
            **stamps(row),
            _document_id=row.source_document_id,
            base=row.base,
            quote=row.quote,
            rate=row.rate,
            rate_date=row.rate_date,
            source=row.source,
        )

    @strawberry.field(
        description="The document that states the rate, if any.",
        extensions=[Shows("source_document_id")],
    )
    async def source_document(self, info: Info) -> SourceDocument | None:
        return await info.context.loaders.node(SourceDocument).load(self._document_id)

    sources = cited_sources(SubjectType.EXCHANGE_RATE)


# Global-id type name → (model, node type), for `node(id:)`.
