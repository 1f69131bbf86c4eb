"""The list of exchange rates: what it sorts and aggregates by (filters: `app/filters.py`)."""

from __future__ import annotations

from app.filters import exchange_rate_filters
from app.kit.aggregation import Day, Number
from app.kit.listing import Listing, ascending, sorts
from app.models import ExchangeRate

EXCHANGE_RATES = Listing(
    "exchangeRates",
    ExchangeRate,
    exchange_rate_filters,
    sorts(
        ExchangeRate,
        base="the base currency's code",
        quote="the quote currency's code",
        rate="the rate: units of the quote currency per unit of the base",
        rate_date="the day from which the rate is valid",
    ),
    ascending(ExchangeRate.rate_date),
    aggregates=lambda: {
        "rate": Number(ExchangeRate.rate),
        "rate_date": Day(ExchangeRate.rate_date),
    },
)
