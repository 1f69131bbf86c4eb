"""Every SQL statement about exchange rates for single amounts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from sqlalchemy import Date, Integer, String, column, select, values
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.models import ExchangeRate
from app.money.conversion import RateQuote, identity, quote_of
from app.money.sql import applicable_rate_id

# Keys per statement: three bound values each, far below every driver's limit.
BATCH = 1000

RateKey = tuple[str, str, date]  # (currency, target currency, value date)


async def applicable_rates(
    session: AsyncSession, keys: Iterable[RateKey]
) -> dict[RateKey, RateQuote]:
    """The rate that converts each (currency, target, value date), picked by the rule
    reports use (`applicable_rate_id`); a key no stored rate converts is left out, and a
    currency needs none into itself. One statement per target currency (and BATCH keys)."""
    wanted = set(keys)
    found = {key: identity(key[1], key[2]) for key in wanted if key[0] == key[1]}
    by_target: dict[str, list[RateKey]] = defaultdict(list)
    for key in sorted(wanted - found.keys()):
        by_target[key[1]].append(key)
    for target, asked in by_target.items():
        for start in range(0, len(asked), BATCH):
            chunk = asked[start : start + BATCH]
            for n, rate in await _pick(session, target, chunk):
                found[chunk[n]] = quote_of(rate, chunk[n][0], target)
    return found


async def _pick(
    session: AsyncSession, target: str, keys: list[RateKey]
) -> list[tuple[int, ExchangeRate]]:
    """(index into keys, the rate that converts it) for the keys some rate converts."""
    asked = (
        values(
            column("n", Integer),
            column("currency", String),
            column("value_date", Date),
            name="asked",
        )
        .data([(n, currency, on) for n, (currency, _, on) in enumerate(keys)])
        .cte("asked")
    )
    picked = select(
        asked.c.n,
        applicable_rate_id(asked.c.currency, asked.c.value_date, target)
        .scalar_subquery()
        .label("rate_id"),
    ).subquery("picked")
    rate = aliased(ExchangeRate, name="picked_rate")
    stmt = select(picked.c.n, rate).join(rate, rate.id == picked.c.rate_id)
    return [(n, row) for n, row in (await session.execute(stmt)).all()]
