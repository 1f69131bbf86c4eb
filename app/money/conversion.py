"""A conversion as the API shows it: the amount, the rate used, its date and source.

Money is converted by one rule wherever it is shown. The rate is the newest of the pair,
in either direction, dated on or before the amount's value date, the direct rate winning
a tie; it is picked in SQL (`sql.applicable_rate_id`), for a report's records and for a
single amount alike. The amount is converted exactly and rounded once, half-even, to the
target currency's minor unit: in SQL for reports (`sql.converted_minor_units`), and by
`sql.convert_scaled`, the same arithmetic in Python, for a single amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from app.errors import RateNotFound
from app.money.currencies import from_minor_units, minor_units
from app.money.sql import AMOUNT_SCALE, RATE_SCALE, convert_scaled

if TYPE_CHECKING:
    from app.models import ExchangeRate

RATE_PLACES = Decimal("1e-10")


@dataclass(frozen=True)
class RateQuote:
    """`1 base = rate quote` as used for one conversion."""

    base: str
    quote: str
    rate: Decimal
    rate_date: date
    source: str
    # Set when the stored rate was quote→base: `rate` is its rounded reciprocal, and
    # conversions divide by this stored rate instead, so no precision is lost.
    reverse_rate: Decimal | None = None
    # The stored rate's id; None for the identity of a currency with itself.
    rate_id: int | None = None

    @property
    def inverted(self) -> bool:
        return self.reverse_rate is not None


def identity(currency: str, on: date) -> RateQuote:
    return RateQuote(currency, currency, Decimal(1), on, "identity (same currency)")


def reciprocal(rate: Decimal) -> Decimal:
    """1 / rate, as an inverted conversion shows its rate (to the rate column's places)."""
    return (Decimal(1) / rate).quantize(RATE_PLACES, ROUND_HALF_EVEN)


def quote_of(stored: ExchangeRate, base: str, quote: str) -> RateQuote:
    """A stored rate of the pair, as it converts `base` into `quote`: inverted when it
    is stored the other way round."""
    if stored.base == base:
        return RateQuote(
            base, quote, stored.rate, stored.rate_date, stored.source, rate_id=stored.id
        )
    return RateQuote(
        base,
        quote,
        reciprocal(stored.rate),
        stored.rate_date,
        stored.source,
        reverse_rate=stored.rate,
        rate_id=stored.id,
    )


def converted(amount: Decimal, quote: RateQuote) -> Decimal:
    """`amount` (as the money columns hold it) in the quote currency, rounded as every
    record of a report is."""
    stored = amount.scaleb(AMOUNT_SCALE)
    if stored != stored.to_integral_value():
        raise ValueError(f"{amount} has more decimals than the money columns hold")
    rate = None
    if quote.base != quote.quote:
        rate = int((quote.reverse_rate or quote.rate).scaleb(RATE_SCALE))
    units = minor_units(quote.quote)
    return from_minor_units(convert_scaled(int(stored), rate, quote.inverted, units), quote.quote)


def rate_not_found(base: str, quote: str, on: date) -> RateNotFound:
    return RateNotFound(
        f"no exchange rate {base}→{quote} valid on {on.isoformat()}",
        details={"base": base, "quote": quote, "date": on.isoformat()},
    )
