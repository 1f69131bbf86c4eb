"""Conversion written out plainly in Python, as the tests' oracle.

The service converts with one rule: the rate is picked in SQL (`app.money.sql.
applicable_rate_id`) and every amount is rounded like `app.money.sql.convert_scaled`.
These functions state the same rule another way, with Decimal arithmetic over a list of
rates, so the tests can check the service against something it does not share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from app.errors import RateNotFound
from app.money.conversion import RATE_PLACES, RateQuote, identity
from app.money.currencies import minor_units


@dataclass(frozen=True)
class StoredRate:
    base: str
    quote: str
    rate: Decimal
    rate_date: date
    source: str
    id: int | None = None


def pick_rate(rates: Iterable[StoredRate], base: str, quote: str, on: date) -> RateQuote:
    """The rate valid on `on`: the latest of the pair, in either direction, dated on
    or before it; on the same date the direct rate wins. A reverse rate is used as its
    reciprocal and marked as inverted. No rate at all is RATE_NOT_FOUND."""
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
    """Convert into the quote currency, rounded once, half-even, to its minor unit."""
    unit = Decimal(1).scaleb(-minor_units(quote.quote))
    # Enough digits that the product (18 + 18 digits) is exact and a quotient carries
    # far more than the minor unit needs: the result is rounded once, to the unit.
    with localcontext(prec=80):
        if quote.reverse_rate is not None:
            return (amount / quote.reverse_rate).quantize(unit, ROUND_HALF_EVEN)
        return (amount * quote.rate).quantize(unit, ROUND_HALF_EVEN)
