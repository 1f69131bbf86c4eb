"""Budget figures: current budget per initiative and programme, in one currency."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.finance.repository import BudgetGroup
from app.money.conversion import convert, pick_rate
from app.money.repository import rates_for_pairs


@dataclass(frozen=True)
class MoneyValue:
    amount: Decimal
    currency: str


async def totals_in_target_currency(
    session: AsyncSession, groups: Sequence[BudgetGroup]
) -> dict[int, MoneyValue]:
    """Sum each owner's groups in its target currency, converting at value-date rates.

    A group in another currency is one budget line (see the repository): it is converted
    at the rate valid on its value date and rounded as the line shows itself, so totals
    add up to the cent. A missing rate raises RATE_NOT_FOUND.
    """
    foreign = [g for g in groups if g.currency is not None and g.currency != g.target_currency]
    rates = []
    if foreign:
        until = max(g.value_date for g in foreign if g.value_date is not None)
        rates = await rates_for_pairs(
            session, {(g.currency, g.target_currency) for g in foreign if g.currency}, until
        )
    totals: dict[int, Decimal] = defaultdict(Decimal)
    targets: dict[int, str] = {}
    for group in groups:
        targets[group.owner_id] = group.target_currency
        if group.amount is None or group.currency is None:
            continue
        if group.currency == group.target_currency:
            totals[group.owner_id] += group.amount
        else:
            assert group.value_date is not None
            quote = pick_rate(rates, group.currency, group.target_currency, group.value_date)
            totals[group.owner_id] += convert(group.amount, quote)
    return {
        owner: MoneyValue(totals[owner].quantize(Decimal("0.01")), currency)
        for owner, currency in targets.items()
    }
