"""Random programmes for the budgetSummary properties: drawn with hypothesis, written to
the database, and the figures they must give, worked out here from the raw records (each
converted with `pick_rate` + `convert` of tests/money_oracle.py, the current budget by
the IATI rule)."""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn

from app import models as m
from tests import factories as f
from tests.conftest import Database, GraphQLClient, empty_tables
from tests.money_oracle import StoredRate, convert, pick_rate

T = m.TransactionType
CURRENCIES = ("CNY", "USD", "EUR", "JPY")
UNIT = {"CNY": Decimal("0.01"), "USD": Decimal("0.01"), "EUR": Decimal("0.01"), "JPY": Decimal(1)}
# A few shared days make equal value dates, and rates dated on them, likely.
SHARED_DAYS = (date(2021, 1, 1), date(2022, 3, 1), date(2022, 3, 2), date(2023, 12, 31))
PERIODS = (
    (date(2021, 1, 1), date(2021, 12, 31)),
    (date(2022, 1, 1), date(2022, 12, 31)),
    (date(2023, 7, 1), date(2024, 6, 30)),
)
EARLIEST_RATE = date(2020, 12, 31)  # before every value date: no rate is ever missing

SPLIT = ("budgetOriginal", "budgetCurrent", "committed", "disbursed", "spent")
MONEY = (*SPLIT, "variance", "budgetRevision")
COUNTS = ("count", "budgetLineCount", "transactionCount")
TRANSACTION_MEASURE = {
    T.OUTGOING_COMMITMENT: "committed",
    T.DISBURSEMENT: "disbursed",
    T.EXPENDITURE: "spent",
}
# Every dimension but BENEFICIARY_GROUP, whose split counts a record in several groups.
DIMENSIONS = tuple("PROGRAM INITIATIVE FOCUS_AREA REGION CATEGORY TRANSACTION_TYPE".split())
DIMENSIONS += ("YEAR", "QUARTER", "MONTH")
# The figures `having` and `orderBy` take, by their enum name.
ORDERABLE = {
    "budgetOriginal": "BUDGET_ORIGINAL",
    "budgetCurrent": "BUDGET_CURRENT",
    "committed": "COMMITTED",
    "disbursed": "DISBURSED",
    "spent": "SPENT",
    "variance": "VARIANCE",
    "count": "COUNT",
}
OPS: dict[str, Callable[[Any, Any], bool]] = dict(
    eq=operator.eq, ne=operator.ne, gt=operator.gt, gte=operator.ge, lt=operator.lt, lte=operator.le
)

SUMMARY = """
query ($groupBy: [BudgetDimension!]!, $currency: String, $having: BudgetMeasureFilter,
       $orderBy: [BudgetSummaryOrder!], $first: Int, $rates: Boolean = false) {
  budgetSummary(groupBy: $groupBy, currency: $currency, having: $having, orderBy: $orderBy,
                first: $first) {
    groupCount
    groups {
      key { program { id } initiative { code } beneficiaryGroup { code } focusArea region
            category transactionType year quarter month }
      measures { ...figures }
    }
    total { ...figures }
    others { ...figures }
    ratesUsed @include(if: $rates) { currency source inverted rateDate records
                                     original { amount } converted { amount } }
  }
}
fragment figures on BudgetMeasures {
  budgetOriginal { amount } budgetCurrent { amount } committed { amount } disbursed { amount }
  spent { amount } variance { amount } budgetRevision { amount }
  count budgetLineCount transactionCount
}
"""

Figures = dict[str, Decimal]


@dataclass(frozen=True)
class LineSpec:
    period: int
    revised: bool
    amount: Decimal
    currency: str
    value_date: date
    category: str | None


@dataclass(frozen=True)
class TransactionSpec:
    type: m.TransactionType
    amount: Decimal
    currency: str
    transaction_date: date
    value_date: date
    line: int | None  # index into the initiative's lines


@dataclass(frozen=True)
class InitiativeSpec:
    focus_area: str | None
    region: str | None
    lines: list[LineSpec]
    transactions: list[TransactionSpec]
    shares: list[tuple[int, Decimal]]  # (beneficiary group index, percentage)


@dataclass(frozen=True)
class Programme:
    initiatives: list[InitiativeSpec]
    rates: list[tuple[str, str, Decimal, date]]


def cents(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-2))


days = st.one_of(st.sampled_from(SHARED_DAYS), st.dates(date(2021, 1, 1), date(2025, 12, 31)))
currencies = st.sampled_from(CURRENCIES)
# Up to 10 decimals; the round ones make exact half-cent ties likely.
rates = st.one_of(
    st.integers(10**6, 10**13).map(lambda n: Decimal(n).scaleb(-10)),
    st.sampled_from([Decimal(r) for r in ("0.5", "0.25", "0.125", "1.5", "2", "8")]),
)
lines = st.builds(
    LineSpec,
    period=st.integers(0, len(PERIODS) - 1),
    revised=st.booleans(),
    amount=cents(0, 10**11),
    currency=currencies,
    value_date=days,
    category=st.sampled_from(["grants", "works", None]),
)


@st.composite
def initiatives(draw: DrawFn, shares: bool) -> InitiativeSpec:
    budget = draw(st.lists(lines, max_size=5))
    if draw(st.booleans()):
        # several revisions of one period, on two value dates: equal and different dates
        period, on = draw(st.integers(0, len(PERIODS) - 1)), draw(st.lists(days, min_size=2))
        for line in draw(st.lists(lines, min_size=2, max_size=3)):
            on_day = draw(st.sampled_from(on[:2]))
            budget.append(replace(line, period=period, revised=True, value_date=on_day))
        budget = draw(st.permutations(budget))
    line_index = st.none() | st.integers(0, len(budget) - 1) if budget else st.none()
    transaction = st.builds(
        TransactionSpec,
        type=st.sampled_from(list(T)),
        amount=cents(-(10**11), 10**11),
        currency=currencies,
        transaction_date=days,
        value_date=days,
        line=line_index,
    )
    split: list[tuple[int, Decimal]] = []
    if shares:
        groups = draw(st.lists(st.integers(0, 3), unique=True, max_size=3))
        # Cut points in ten-thousandths of a percent: shares sum to at most 100.
        k = len(groups)
        cuts = sorted(draw(st.lists(st.integers(1, 10**6), unique=True, min_size=k, max_size=k)))
        split = [
            (g, Decimal(hi - lo).scaleb(-4))
            for g, lo, hi in zip(groups, [0, *cuts], cuts, strict=False)
        ]
    return InitiativeSpec(
        focus_area=draw(st.sampled_from(["jobs", "health", None])),
        region=draw(st.sampled_from(["CN", "CN-ZJ", None])),
        lines=budget,
        transactions=draw(st.lists(transaction, max_size=8)),
        shares=split,
    )


@st.composite
def programmes(draw: DrawFn, shares: bool = False) -> Programme:
    stored: dict[tuple[str, str, date], Decimal] = {}
    for i, base in enumerate(CURRENCIES):
        for quote in CURRENCIES[i + 1 :]:
            pair = (base, quote) if draw(st.booleans()) else (quote, base)
            stored[(*pair, EARLIEST_RATE)] = draw(rates)
    pairs = [(a, b) for a in CURRENCIES for b in CURRENCIES if a != b]
    for (base, quote), day, both in draw(
        st.lists(st.tuples(st.sampled_from(pairs), days, st.booleans()), max_size=10)
    ):
        stored.setdefault((base, quote, day), draw(rates))
        if both:  # the reverse pair on the same day too: the direct rate must win
            stored.setdefault((quote, base, day), draw(rates))
    return Programme(
        draw(st.lists(initiatives(shares), min_size=1, max_size=4)),
        [(base, quote, rate, day) for (base, quote, day), rate in stored.items()],
    )


@dataclass
class Stored:
    lines: list[tuple[int, int, LineSpec]]  # (id, initiative index, line)
    transactions: list[tuple[int, TransactionSpec]]  # (initiative index, transaction)
    rates: list[StoredRate]


async def store(db: Database, programme: Programme) -> Stored:
    await empty_tables(db.engine)
    stored = Stored([], [], [])
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        used = sorted({g for spec in programme.initiatives for g, _ in spec.shares})
        groups = {g: await f.beneficiary_group(session, code=f"g{g}") for g in used}
        for i, spec in enumerate(programme.initiatives):
            initiative = await f.initiative(
                session, program, code=f"I{i}", focus_area=spec.focus_area, region=spec.region
            )
            ids = []
            for line in spec.lines:
                start, end = PERIODS[line.period]
                row = await f.budget_line(
                    session,
                    initiative,
                    period_start=start,
                    period_end=end,
                    type=m.BudgetType.REVISED if line.revised else m.BudgetType.ORIGINAL,
                    **{k: getattr(line, k) for k in ("amount", "currency", "value_date")},
                    category=line.category,
                )
                ids.append(row.id)
                stored.lines.append((row.id, i, line))
            for t in spec.transactions:
                await f.transaction(
                    session,
                    initiative,
                    type=t.type,
                    amount=t.amount,
                    currency=t.currency,
                    transaction_date=t.transaction_date,
                    value_date=t.value_date,
                    budget_line_id=None if t.line is None else ids[t.line],
                )
                stored.transactions.append((i, t))
            for group, percentage in spec.shares:
                await f.beneficiary_share(session, initiative, groups[group], str(percentage))
        for n, (base, quote, rate, day) in enumerate(programme.rates):
            row = await f.exchange_rate(
                session, base=base, quote=quote, rate=rate, rate_date=day, source=f"rate {n}"
            )
            stored.rates.append(StoredRate(base, quote, rate, day, f"rate {n}", row.id))
    return stored


def current_line_ids(stored: Stored) -> set[int]:
    """IATI, written out here: per initiative and period the revised line with the latest
    value date (ties: the highest id) is the current budget, else the original lines."""
    periods: dict[tuple[int, int], list[tuple[int, LineSpec]]] = defaultdict(list)
    for line_id, initiative, line in stored.lines:
        periods[initiative, line.period].append((line_id, line))
    current: set[int] = set()
    for members in periods.values():
        revised = [(line.value_date, line_id) for line_id, line in members if line.revised]
        current |= {max(revised)[1]} if revised else {line_id for line_id, _ in members}
    return current


def expected(stored: Stored, target: str, initiative: int | None = None) -> Figures:
    """The figures of the records (of one initiative), each converted in Python."""

    def converted(amount: Decimal, currency: str, on: date) -> Decimal:
        return convert(amount, pick_rate(stored.rates, currency, target, on))

    out = dict.fromkeys(MONEY + COUNTS, Decimal(0))
    current = current_line_ids(stored)
    for line_id, owner, line in stored.lines:
        if initiative in (None, owner):
            value = converted(line.amount, line.currency, line.value_date)
            out["budgetOriginal"] += 0 if line.revised else value
            out["budgetCurrent"] += value if line_id in current else 0
            out["budgetLineCount"] += 1
    for owner, t in stored.transactions:
        if initiative in (None, owner):
            if t.type in TRANSACTION_MEASURE:
                out[TRANSACTION_MEASURE[t.type]] += converted(t.amount, t.currency, t.value_date)
            out["transactionCount"] += 1
    out["variance"] = out["budgetCurrent"] - out["spent"]
    out["budgetRevision"] = out["budgetCurrent"] - out["budgetOriginal"]
    out["count"] = out["budgetLineCount"] + out["transactionCount"]
    return out


def expected_rates(stored: Stored, target: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(currency, rate source) → records, their sum, their converted sum, inverted, date."""
    uses: dict[tuple[str, str], list[Any]] = {}
    records = [(line.amount, line.currency, line.value_date) for _, _, line in stored.lines]
    records += [(t.amount, t.currency, t.value_date) for _, t in stored.transactions]
    for amount, currency, on in records:
        if currency != target:
            quote = pick_rate(stored.rates, currency, target, on)
            use = uses.setdefault(
                (currency, quote.source), [0, 0, 0, quote.inverted, quote.rate_date.isoformat()]
            )
            use[0] += 1
            use[1] += amount
            use[2] += convert(amount, quote)
    return {key: tuple(use) for key, use in uses.items()}


async def summary(client: GraphQLClient, **variables: Any) -> dict[str, Any]:
    data = await client.data(SUMMARY, variables)
    result: dict[str, Any] = data["budgetSummary"]
    return result


def figures(raw: dict[str, Any]) -> Figures:
    out = {name: Decimal(raw[name]["amount"]) for name in MONEY}
    return out | {name: Decimal(raw[name]) for name in COUNTS}


def added(groups: list[dict[str, Any]], names: tuple[str, ...] = MONEY + COUNTS) -> Figures:
    return {n: sum((figures(g["measures"])[n] for g in groups), Decimal(0)) for n in names}


PROPERTY = settings(
    deadline=None,
    max_examples=40,
    # Each example costs ~0.1 s, so shrinking is slow: shrink one failure, not each kind.
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
dimension_sets = st.lists(st.sampled_from(DIMENSIONS), min_size=1, max_size=4, unique=True)
