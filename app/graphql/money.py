"""Money on the wire: exact amounts with their currency; conversions show their rate."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from app import models as m
from app.graphql.context import Info
from app.models import SubjectType
from app.money.conversion import RateQuote, converted
from app.money.currencies import parse_currency, shown

if TYPE_CHECKING:
    from app.graphql.loaders import NodeLoader
    from app.graphql.rates.types import ExchangeRate


@strawberry.type(description="An exact amount in an ISO 4217 currency.")
class Money:
    amount: Decimal = strawberry.field(
        description="Exact decimal amount, as a string, to the currency's minor unit "
        '(ISO 4217): "100" yen, "100.50" CNY, "12.345" KWD.'
    )
    currency: str = strawberry.field(description="ISO 4217 currency code, e.g. CNY.")

    def __post_init__(self) -> None:
        # Every amount shown is shown by one rule, whatever it was read or summed from.
        self.amount = shown(self.amount, self.currency)


@strawberry.type(
    description="An amount converted into another currency, with the rate that was used."
)
class ConvertedMoney:
    amount: Decimal = strawberry.field(
        description="The converted amount, rounded half-even to the currency's minor unit "
        "(the cent; the yen for JPY; the fils for KWD)."
    )
    currency: str = strawberry.field(description="The currency converted into.")
    rate: Decimal = strawberry.field(description="1 unit of the original currency in `currency`.")
    rate_date: date = strawberry.field(description="The date the rate is valid from.")
    rate_source: str = strawberry.field(description="Who states the rate.")
    inverted: bool = strawberry.field(
        description="True when only the reverse rate is stored and `rate` is its reciprocal."
    )
    original: Money = strawberry.field(description="The amount as published, unconverted.")
    _rate_id: strawberry.Private[int | None] = None

    @strawberry.field(
        description="The stored exchange rate used, with its evidence; null when no "
        "conversion was needed (same currency)."
    )
    async def exchange_rate(
        self, info: Info
    ) -> Annotated[ExchangeRate, strawberry.lazy("app.graphql.rates.types")] | None:
        # By model: this module is a leaf that the object types themselves import.
        rates: NodeLoader[ExchangeRate] = info.context.loaders.node_of(m.ExchangeRate)
        return await rates.load(self._rate_id)

    @strawberry.field(
        description="True when the rate is an estimate (its source does not state it "
        "outright): the converted figure is then an estimate too."
    )
    async def rate_is_estimate(self, info: Info) -> bool:
        if self._rate_id is None:
            return False
        estimated: bool = await info.context.loaders.has_estimate.load(
            (SubjectType.EXCHANGE_RATE, self._rate_id)
        )
        return estimated

    @classmethod
    def build(cls, original: Money, quote: RateQuote) -> ConvertedMoney:
        return cls(
            amount=converted(original.amount, quote),
            currency=quote.quote,
            rate=quote.rate,
            rate_date=quote.rate_date,
            rate_source=quote.source,
            inverted=quote.inverted,
            original=original,
            _rate_id=quote.rate_id,
        )


async def convert_money(info: Info, original: Money, currency: str, on: date) -> ConvertedMoney:
    """Convert at the rate valid on `on` (the value date); a missing rate is an error."""
    target = parse_currency(currency)
    quote = await info.context.loaders.rates.load((original.currency, target, on))
    return ConvertedMoney.build(original, quote)
