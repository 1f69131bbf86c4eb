"""Currency conversion that carries its rate, the rate's date and its source."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from app.errors import RateNotFound
from app.money.currencies import minor_units

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


@dataclass(frozen=True)
class StoredRate:
    base: str
    quote: str
    rate: Decimal
    rate_date: date
    source: str
    id: int | None = None


def identity(currency: str, on: date) -> RateQuote:
    return RateQuote(currency, currency, Decimal(1), on, "identity (same currency)")


def pick_rate(rates: Iterable[StoredRate], base: str, quote: str, on: date) -> RateQuote:
    """The rate valid on `on`: the latest of the pair, in either direction, dated on
    or before it.

    A reverse rate (quote→base) is used as its reciprocal and marked as inverted; on
    the same date a direct rate wins. No rate at all is an error naming pair and date.
    """
    if base == quote:
        return identity(base, on)
    direct: StoredRate | None = None
    reverse: StoredRate | None = None
    for rate in rates:
        if rate.rate_date > on:
            continue
        if (rate.base, rate.quote) == (base, quote):
            if direct is None or rate.rate_date > direct.rate_date:
                direct = rate
        elif (rate.base, rate.quote) == (quote, base) and (
            reverse is None or rate.rate_date > reverse.rate_date
        ):
            reverse = rate
    if direct is not None and (reverse is None or direct.rate_date >= reverse.rate_date):
        return RateQuote(
            base, quote, direct.rate, direct.rate_date, direct.source, rate_id=direct.id
        )
    if reverse is not None:
        return RateQuote(
            base,
            quote,
            (Decimal(1) / reverse.rate).quantize(RATE_PLACES, ROUND_HALF_EVEN),
            reverse.rate_date,
            reverse.source,
            reverse_rate=reverse.rate,
            rate_id=reverse.id,
        )
    raise RateNotFound(
        f"no exchange rate {base}→{quote} valid on {on.isoformat()}",
        details={"base": base, "quote": quote, "date": on.isoformat()},
    )


def convert(amount: Decimal, quote: RateQuote) -> Decimal:
    """Convert to the quote currency, rounded half-even to its minor unit (the cent for
    most currencies, the yen for JPY, the fils for KWD)."""
    unit = Decimal(1).scaleb(-minor_units(quote.quote))
    # Enough digits that the product (18 + 18 digits) is exact and a quotient carries
    # far more than the minor unit needs: the result is rounded once, to the unit, as
    # the SQL conversion does (the default 28 digits would round it twice).
    with localcontext(prec=80):
        if quote.reverse_rate is not None:
            return (amount / quote.reverse_rate).quantize(unit, ROUND_HALF_EVEN)
        return (amount * quote.rate).quantize(unit, ROUND_HALF_EVEN)
