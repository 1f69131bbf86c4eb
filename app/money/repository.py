"""Every SQL statement about exchange rates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ExchangeRate
from app.money.conversion import StoredRate


async def rates_for_pairs(
    session: AsyncSession, pairs: Iterable[tuple[str, str]], until: date
) -> list[StoredRate]:
    """All rates of the given pairs (either direction) dated on or before `until`."""
    wanted = {pair for pair in pairs if pair[0] != pair[1]}
    wanted |= {(q, b) for b, q in wanted}
    if not wanted:
        return []
    stmt = select(ExchangeRate).where(
        ExchangeRate.rate_date <= until,
        or_(*(and_(ExchangeRate.base == b, ExchangeRate.quote == q) for b, q in sorted(wanted))),
    )
    return [
        StoredRate(r.base, r.quote, r.rate, r.rate_date, r.source, r.id)
        for r in (await session.scalars(stmt)).all()
    ]
