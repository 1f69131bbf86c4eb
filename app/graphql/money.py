"""Money on the wire: exact amounts with their currency; conversions show their rate."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry

from app.money.conversion import RateQuote, convert, pick_rate
from app.money.currencies import parse_currency


@strawberry.type(description="An exact amount in an ISO 4217 currency.")
class Money:
    amount: Decimal = strawberry.field(description="Exact decimal amount, as a string.")
    currency: str = strawberry.field(description="ISO 4217 currency code, e.g. CNY.")


@strawberry.type(
    description="An amount converted into another currency, with the rate that was used."
)
class ConvertedMoney:
    amount: Decimal = strawberry.field(description="The converted amount, rounded to the cent.")
    currency: str = strawberry.field(description="The currency converted into.")
    rate: Decimal = strawberry.field(description="1 unit of the original currency in `currency`.")
    rate_date: date = strawberry.field(description="The date the rate is valid from.")
    rate_source: str = strawberry.field(description="Who states the rate.")
    inverted: bool = strawberry.field(
        description="True when only the reverse rate is stored and `rate` is its reciprocal."
    )
    original: Money = strawberry.field(description="The amount as published, unconverted.")

    @classmethod
    def build(cls, original: Money, quote: RateQuote) -> ConvertedMoney:
        return cls(
            amount=convert(original.amount, quote),
            currency=quote.quote,
            rate=quote.rate,
            rate_date=quote.rate_date,
            rate_source=quote.source,
            inverted=quote.inverted,
            original=original,
        )


async def convert_money(
    info: strawberry.Info, original: Money, currency: str, on: date
) -> ConvertedMoney:
    """Convert at the rate valid on `on` (the value date); a missing rate is an error."""
    target = parse_currency(currency)
    rates = []
    if target != original.currency:
        rates = await info.context.loaders.rates.load((original.currency, target, on))
    return ConvertedMoney.build(original, pick_rate(rates, original.currency, target, on))
