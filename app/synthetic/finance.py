"""Deterministic money rows for a synthetic programme: exchange rates, budget lines,
transactions. See `app.synthetic.generator` for how the randomness is seeded.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import NamedTuple

from app.models import BudgetStatus, BudgetType, TransactionType
from app.synthetic.generator import (
    FIRST_DAY,
    FOREIGN_CURRENCIES,
    PROGRAM_CURRENCY,
    InitiativePlan,
    OrgIds,
    Sizes,
    month_end,
    month_index,
    month_start,
    part_rng,
)

CENT = Decimal("0.01")
# Roughly what one CNY buys, to give foreign amounts a realistic size. Only the
# magnitudes of generated amounts use it; stored rates come from `rate_rows`.
CNY_IN = {"CNY": 1.0, "USD": 0.145, "EUR": 0.13, "HKD": 1.13}

# ---------------------------------------------------------------- exchange rates

EXCHANGE_RATE_COLUMNS = ("base", "quote", "rate", "rate_date", "source")
RATE_SOURCE = "synthetic (pledge-ledger generate); not a published rate"
# pair: start, long-run level it drifts back to, monthly step (standard deviation),
# bounds, decimals. Roughly the 2021-2025 ranges of these rates.
_WALKS = {
    ("CNY", "USD"): (0.1545, 0.1440, 0.0015, 0.1370, 0.1580, 6),
    ("EUR", "USD"): (1.2200, 1.1000, 0.0150, 0.9600, 1.2300, 4),
    ("HKD", "USD"): (0.1288, 0.1282, 0.0002, 0.1274, 0.1290, 6),
}


def _quantize(value: Decimal | float, places: int) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)


def rate_rows(last: date) -> list[tuple[object, ...]]:
    """Monthly rates from FIRST_DAY to `last`'s month: every currency used to USD and to
    CNY, so any generated amount converts to either on its value date.

    The same for every seed (a run's rates may already be there from another run).
    """
    rnd = random.Random("synthetic-rates")
    rows: list[tuple[object, ...]] = []
    levels = {pair: walk[0] for pair, walk in _WALKS.items()}
    for month in range(month_index(FIRST_DAY), month_index(last) + 1):
        day = month_start(month)
        to_usd: dict[str, Decimal] = {}
        for (base, quote), (_start, mean, step, low, high, places) in _WALKS.items():
            level = levels[base, quote]
            level += 0.1 * (mean - level) + rnd.gauss(0, step)
            level = min(max(level, low), high)
            levels[base, quote] = level
            to_usd[base] = _quantize(level, places)
            rows.append((base, quote, to_usd[base], day, RATE_SOURCE))
        usd_cny = _quantize(1 / to_usd["CNY"], 4)
        rows.append(("USD", "CNY", usd_cny, day, RATE_SOURCE))
        rows.append(("EUR", "CNY", _quantize(to_usd["EUR"] * usd_cny, 4), day, RATE_SOURCE))
        rows.append(("HKD", "CNY", _quantize(to_usd["HKD"] * usd_cny, 6), day, RATE_SOURCE))
    return rows


# ---------------------------------------------------------------- budget lines

BUDGET_LINE_COLUMNS = (
    "initiative_id",
    "period_start",
    "period_end",
    "type",
    "status",
    "category",
    "amount",
    "currency",
    "value_date",
    "description",
)
CATEGORIES = ("grants", "infrastructure", "training", "operations", "research", "equipment")
_PERIOD_MONTHS = (12, 6, 3, 1)


class LineRef(NamedTuple):
    """What transactions need of a budget line (dates as ordinals)."""

    start: int
    end: int
    currency: str


def _periods(plan: InitiativePlan, months: int) -> list[tuple[date, date, str]]:
    """The initiative's span cut into calendar-aligned periods of `months` months."""
    first, last = month_index(plan.planned_start), month_index(plan.planned_end)
    periods = []
    for k in range(first // months, last // months + 1):
        start, end = max(first, k * months), min(last, k * months + months - 1)
        year, nth = divmod(k * months, 12)
        label = {12: f"{year}", 6: f"{year}-H{nth // 6 + 1}", 3: f"{year}-Q{nth // 3 + 1}"}
        periods.append(
            (month_start(start), month_end(end), label.get(months, f"{year}-{nth + 1:02d}"))
        )
    return periods


def budget_line_rows(
    sizes: Sizes, plan: InitiativePlan, initiative_id: int, count: int
) -> list[tuple[object, ...]]:
    """`count` lines: one original per period, then revisions that restate a period's
    budget. IATI keeps one original budget per period of an activity (a change to it
    is a revision, which holds the new total), and so do the write rules
    (`app.finance.rules.validate_budget_line`); each line has a category, and a
    revision keeps its period's, so a backup of generated data restores through them."""
    if count == 0:
        return []
    rnd = part_rng(sizes.seed, "budget", plan.position)
    revised = int(count * rnd.uniform(0.1, 0.3)) if count > 1 else 0
    originals = count - revised
    # The longest periods that give every original a period of its own.
    for months in _PERIOD_MONTHS:
        periods = _periods(plan, months)
        if len(periods) >= originals:
            break
    # More lines than even monthly periods: the rest are further revisions.
    originals = min(originals, len(periods))
    revised = count - originals
    chosen = sorted(rnd.sample(range(len(periods)), originals))
    categories = {p: rnd.randrange(len(CATEGORIES)) for p in chosen}
    currencies = [
        plan.currency if rnd.random() < 0.85 else rnd.choice(FOREIGN_CURRENCIES) for _ in periods
    ]
    weights = [rnd.uniform(0.5, 1.5) for _ in chosen]
    unit = plan.envelope / sum(weights)
    rows: list[tuple[object, ...]] = []
    totals: dict[int, int] = {}
    for p, weight in zip(chosen, weights, strict=True):
        start, end, label = periods[p]
        currency, category = currencies[p], CATEGORIES[categories[p]]
        # Whole hundreds, at least one hundred: budgets are planned in round figures.
        hundreds = max(1, int(unit * weight * CNY_IN[currency]) // 100)
        totals[p] = hundreds
        status = BudgetStatus.COMMITTED if rnd.random() < 0.7 else BudgetStatus.INDICATIVE
        rows.append(
            (
                initiative_id,
                start,
                end,
                BudgetType.ORIGINAL.value,
                status.value,
                category,
                Decimal(hundreds * 100).quantize(CENT),
                currency,
                start,
                f"{category.capitalize()} {label}",
            )
        )
    for _ in range(revised):
        p = rnd.choice(chosen)
        start, end, label = periods[p]
        hundreds = max(1, int(totals[p] * rnd.uniform(0.8, 1.25)))
        rows.append(
            (
                initiative_id,
                start,
                end,
                BudgetType.REVISED.value,
                BudgetStatus.COMMITTED.value,
                CATEGORIES[categories[p]],
                Decimal(hundreds * 100).quantize(CENT),
                currencies[p],
                start,
                f"Revised budget {label}",
            )
        )
    return rows


def line_ref(row: tuple[object, ...]) -> LineRef:
    start, end, currency = row[1], row[2], row[7]
    assert isinstance(start, date) and isinstance(end, date) and isinstance(currency, str)
    return LineRef(start.toordinal(), end.toordinal(), currency)


# ---------------------------------------------------------------- transactions

TRANSACTION_COLUMNS = (
    "initiative_id",
    "budget_line_id",
    "type",
    "transaction_date",
    "amount",
    "currency",
    "value_date",
    "provider_id",
    "receiver_id",
    "description",
)
_OUT = TransactionType.OUTGOING_COMMITMENT.value
_DISBURSE = TransactionType.DISBURSEMENT.value
_SPEND = TransactionType.EXPENDITURE.value
_IN = TransactionType.INCOMING_FUNDS.value
# Per cent of transactions: type, sign, size relative to the average transaction.
_KINDS = (
    (18, _OUT, 1, 4.0),
    (36, _DISBURSE, 1, 1.5),
    (39, _SPEND, 1, 0.4),
    (3, _IN, 1, 6.0),
    (2, _OUT, -1, 1.0),  # reductions: negative commitments and disbursements
    (2, _DISBURSE, -1, 0.5),
)
# One entry per per cent, so a draw is one index.
_KIND_TABLE = [(kind, sign, size) for share, kind, sign, size in _KINDS for _ in range(share)]
assert len(_KIND_TABLE) == 100
ALL_CURRENCIES = (PROGRAM_CURRENCY, *FOREIGN_CURRENCIES)
_LINKED = 0.9


def transaction_rows(
    sizes: Sizes,
    plan: InitiativePlan,
    initiative_id: int,
    count: int,
    lines: list[tuple[int, LineRef]],
    orgs: OrgIds,
    last: date,
) -> Iterator[tuple[object, ...]]:
    """`count` transactions of one initiative, lazily. Most fall in the period of one of
    its budget lines (`(id, ref)` pairs) and are in its currency; none is after `last`."""
    rnd = part_rng(sizes.seed, "transactions", plan.position)
    random_, lognormal = rnd.random, rnd.lognormvariate
    last_ord = last.toordinal()
    usable = [(i, ref) for i, ref in lines if ref.start <= last_ord]
    first = max(plan.planned_start, FIRST_DAY).toordinal()
    end = min(plan.planned_end.toordinal(), last_ord)
    first = min(first, end)
    # The average transaction, in cents of the programme's currency.
    average = plan.envelope * 100 / max(count, 1)
    sponsor = orgs.sponsor
    implementer, cofunder = orgs.partners[plan.implementer], orgs.partners[plan.cofunder]
    for _ in range(count):
        kind, sign, size = _KIND_TABLE[int(random_() * 100)]
        if usable and random_() < _LINKED:
            line_id, ref = usable[int(random_() * len(usable))]
            low, high = ref.start, min(ref.end, last_ord)
            currency = ref.currency if random_() < 0.95 else ALL_CURRENCIES[int(random_() * 4)]
        else:
            line_id, low, high = None, first, end
            currency = plan.currency if random_() < 0.8 else ALL_CURRENCIES[int(random_() * 4)]
        day = date.fromordinal(low + int(random_() * (high - low + 1)))
        cents = max(1, int(average * size * CNY_IN[currency] * min(lognormal(-0.5, 1.0), 20)))
        if kind == _SPEND:
            provider, receiver, note = implementer, None, None
        elif kind == _IN:
            provider, receiver, note = cofunder, sponsor, "Co-funding received"
        else:
            provider, receiver = sponsor, implementer
            note = "Reduction" if sign < 0 else None
        yield (
            initiative_id,
            line_id,
            kind,
            day,
            Decimal(sign * cents).scaleb(-2),
            currency,
            day,
            provider,
            receiver,
            note,
        )
