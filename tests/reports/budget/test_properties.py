"""Properties of budgetSummary, on random programmes and on both backends.

The figures must reconcile: groups add up to `total`, `total` is what the raw records
give when each is converted in Python (`pick_rate` + `convert` of tests/money_oracle.py)
with the current budget worked out here from the IATI rule, grouping changes nothing,
`others` keeps a cut report whole, and a beneficiary split neither loses nor invents a
cent. The SQL conversion itself is checked against both Python conversions (the oracle's,
and `convert_scaled`, which converts single amounts) over the range the columns hold,
wherever the result fits the 64-bit count of minor units the SQL returns.

Each test draws its examples with hypothesis and empties the tables before each one (the
`db` fixture only empties them after the test); a failing example is shrunk as usual.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn
from sqlalchemy import Boolean, literal, select, union_all

from app import models as m
from app.models._columns import AMOUNT, RATE
from app.money.conversion import RATE_PLACES, RateQuote, identity
from app.money.sql import convert_expr, convert_scaled
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

# ---- random programmes -----------------------------------------------------------------


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


# ---- writing them, and the figures they must give ------------------------------------


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


# ---- 1. groups, total, raw records and the ungrouped report agree -----------------------


@PROPERTY
@given(programme=programmes(), dimensions=dimension_sets, currency=currencies)
async def test_groups_add_up_to_the_total_the_records_give(
    db: Database, client: GraphQLClient, programme: Programme, dimensions: list[str], currency: str
) -> None:
    stored = await store(db, programme)
    report = await summary(client, groupBy=dimensions, currency=currency, rates=True)
    total = figures(report["total"])
    # a. every figure of the groups adds up to the total
    assert added(report["groups"]) == total
    # b. the total is the records', each converted at its own value date's rate
    assert total == expected(stored, currency)
    rates_used = {
        (r["currency"], r["source"]): (
            r["records"],
            Decimal(r["original"]["amount"]),
            Decimal(r["converted"]["amount"]),
            r["inverted"],
            r["rateDate"],
        )
        for r in report["ratesUsed"]
    }
    assert rates_used == expected_rates(stored, currency)
    # c. grouping changes nothing about the total
    whole = await summary(client, groupBy=[], currency=currency)
    assert figures(whole["total"]) == total
    assert [figures(g["measures"]) for g in whole["groups"]] == [total]
    assert report["groupCount"] == len(report["groups"])


# ---- 2. having, orderBy and first: what is shown plus `others` is the total --------------


@PROPERTY
@given(
    programme=programmes(shares=True),
    dimensions=st.lists(
        st.sampled_from((*DIMENSIONS, "BENEFICIARY_GROUP")), min_size=1, max_size=3, unique=True
    ),
    currency=currencies,
    data=st.data(),
)
async def test_having_order_and_first_keep_the_report_whole(
    db: Database,
    client: GraphQLClient,
    programme: Programme,
    dimensions: list[str],
    currency: str,
    data: st.DataObject,
) -> None:
    await store(db, programme)
    full = await summary(client, groupBy=dimensions, currency=currency)
    observed = [figures(g["measures"]) for g in full["groups"]]
    having: dict[str, dict[str, Any]] = {}
    for measure, op in data.draw(
        st.lists(
            st.tuples(st.sampled_from(list(ORDERABLE)), st.sampled_from(list(OPS))), max_size=2
        )
    ):
        seen = [o[measure] for o in observed]
        value = data.draw(
            (st.sampled_from(seen) if seen else st.nothing()) | cents(-(10**9), 10**9)
        )
        having.setdefault(measure, {})[op] = int(value) if measure == "count" else str(value)
    order = data.draw(
        st.lists(st.tuples(st.sampled_from(list(ORDERABLE)), st.booleans()), max_size=2)
    )
    first = data.draw(st.none() | st.integers(0, len(observed) + 1))
    cut = await summary(
        client,
        groupBy=dimensions,
        currency=currency,
        having=having,
        orderBy=[
            {"measure": ORDERABLE[name], "direction": "DESC" if desc else "ASC"}
            for name, desc in order
        ],
        first=first,
    )
    total = figures(cut["total"])
    shown = added(cut["groups"])
    others = figures(cut["others"])
    assert {n: shown[n] + others[n] for n in total} == total
    assert total == figures(full["total"])
    assert cut["groupCount"] == full["groupCount"] == len(full["groups"])
    # the groups shown are those that pass `having`, sorted (ties in key order), cut to first
    kept = [
        g
        for g in full["groups"]
        if all(
            OPS[op](figures(g["measures"])[name], Decimal(value))
            for name, ops in having.items()
            for op, value in ops.items()
        )
    ]
    for name, desc in reversed(order):
        kept.sort(key=lambda g: figures(g["measures"])[name], reverse=desc)
    assert cut["groups"] == (kept if first is None else kept[:first])


# ---- 3. a beneficiary split loses nothing and rounds each part by less than a cent ------


@PROPERTY
@given(programme=programmes(shares=True), dimensions=dimension_sets, currency=currencies)
async def test_beneficiary_split_adds_up_and_stays_within_a_cent_of_each_share(
    db: Database, client: GraphQLClient, programme: Programme, dimensions: list[str], currency: str
) -> None:
    stored = await store(db, programme)
    unsplit = figures((await summary(client, groupBy=[], currency=currency))["total"])
    assert unsplit == expected(stored, currency)
    split = await summary(client, groupBy=[*dimensions, "BENEFICIARY_GROUP"], currency=currency)
    assert added(split["groups"], MONEY) == {n: unsplit[n] for n in MONEY}
    by_initiative = await summary(
        client, groupBy=["INITIATIVE", "BENEFICIARY_GROUP"], currency=currency
    )
    parts: dict[str, dict[str | None, Figures]] = defaultdict(dict)
    for g in by_initiative["groups"]:
        group = g["key"]["beneficiaryGroup"]
        parts[g["key"]["initiative"]["code"]][group and group["code"]] = figures(g["measures"])
    for i, spec in enumerate(programme.initiatives):
        whole = expected(stored, currency, initiative=i)
        if not whole["count"]:
            assert f"I{i}" not in parts
            continue
        weights: dict[str | None, Decimal] = {f"g{g}": p / 100 for g, p in spec.shares}
        rest = 1 - sum(weights.values(), Decimal(0))
        if rest:
            weights[None] = rest
        assert set(parts[f"I{i}"]) == set(weights)
        for name in SPLIT:
            assert sum(part[name] for part in parts[f"I{i}"].values()) == whole[name]
            for group, weight in weights.items():
                assert abs(parts[f"I{i}"][group][name] - whole[name] * weight) < UNIT[currency]


# ---- 4. the SQL conversion is the Python conversion -------------------------------------

INT64 = 2**63 - 1
# A target currency per number of minor units: fewer than the amounts' 3 decimals, as
# many, and more (CLF's ten-thousandths).
TARGETS = {0: "JPY", 2: "USD", 3: "KWD", 4: "CLF"}
PLACES = AMOUNT.scale + RATE.scale  # of the product of an amount and a rate


@dataclass(frozen=True)
class Conversion:
    amount: int  # thousandths, as AMOUNT holds them: up to 15 integer digits
    rate: int | None  # 10**-10 units, as RATE holds them: up to 8 integer digits; None: same
    inverted: bool
    minor_units: int


@st.composite
def conversions(draw: DrawFn) -> Conversion:
    minor = draw(st.sampled_from(sorted(TARGETS)))
    direction = draw(st.sampled_from(["same", "direct", "inverted"]))
    if direction == "same":  # CLF has more minor units than the amount: keep within 64 bits
        largest = min(10**18 - 1, INT64 * 10**AMOUNT.scale // 10**minor)
        return Conversion(draw(st.integers(-largest, largest)), None, False, minor)
    amount = draw(st.integers(-(10**18) + 1, 10**18 - 1))
    # Only rates whose result fits the 64-bit count of minor units the SQL returns (beyond
    # it, see test_a_figure_beyond_64_bit_minor_units_is_never_a_crash).
    if direction == "direct":
        low, high = 1, min(10**18 - 1, INT64 * 10 ** (PLACES - minor) // max(abs(amount), 1))
        # 5·10^k: amount * rate often ends in exactly half a minor unit
        ties = [5 * 10**k for k in range(18)]
    else:
        shift = RATE.scale - AMOUNT.scale + minor  # amount / rate in minor units
        low, high = max(1, -(-abs(amount) * 10**shift // INT64)), 10**18 - 1
        # amount / rate = 5^j / 2 minor units exactly
        ties = [2 * abs(amount) * 10**shift // 5**j for j in range(shift + 1)]
    ties = [r for r in ties if low <= r <= high]
    rate = draw(st.integers(low, high) | st.sampled_from(ties) if ties else st.integers(low, high))
    return Conversion(amount, rate, direction == "inverted", minor)


def python_convert(c: Conversion) -> Decimal:
    target, day = TARGETS[c.minor_units], date(2022, 1, 1)
    if c.rate is None:
        return convert(Decimal(c.amount).scaleb(-AMOUNT.scale), identity(target, day))
    rate = Decimal(c.rate).scaleb(-10)
    if c.inverted:  # as pick_rate returns a reverse rate
        quote = RateQuote(
            "EUR", target, (1 / rate).quantize(RATE_PLACES), day, "t", reverse_rate=rate
        )
    else:
        quote = RateQuote("EUR", target, rate, day, "t")
    return convert(Decimal(c.amount).scaleb(-AMOUNT.scale), quote)


@settings(
    deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cases=st.lists(conversions(), min_size=1, max_size=40))
async def test_sql_conversion_equals_python_conversion(
    db: Database, cases: list[Conversion]
) -> None:
    # one statement for the whole batch: a UNION ALL of selects over typed literals
    batch = union_all(
        *(
            select(
                literal(i).label("i"),
                convert_expr(
                    literal(Decimal(c.amount).scaleb(-AMOUNT.scale), AMOUNT),
                    literal(None if c.rate is None else Decimal(c.rate).scaleb(-10), RATE),
                    literal(c.inverted, Boolean),
                    c.minor_units,
                ).label("minor"),
            )
            for i, c in enumerate(cases)
        )
    )
    async with db.engine.connect() as conn:
        in_sql = {i: minor for i, minor in (await conn.execute(batch)).all()}
    for i, c in enumerate(cases):
        exact = convert_scaled(c.amount, c.rate, c.inverted, c.minor_units)
        assert (in_sql[i], python_convert(c).scaleb(c.minor_units)) == (exact, exact), c


async def test_a_report_in_yen_after_one_in_cents_converts_to_yen(
    db: Database, client: GraphQLClient
) -> None:
    # given 100 CNY spent, 1 CNY = 0.15 USD = 20 JPY
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.exchange_rate(session, base="CNY", quote="USD", rate=Decimal("0.15"))
        await f.exchange_rate(session, base="CNY", quote="JPY", rate=Decimal(20))
        await f.transaction(session, initiative, type=T.EXPENDITURE, amount=Decimal(100))
    # when the same report is asked for in USD, JPY, USD again and CNY
    spent = [
        (await summary(client, groupBy=[], currency=c))["total"]["spent"]["amount"]
        for c in ("USD", "JPY", "USD", "CNY")
    ]
    # then each is in its own currency's minor unit: the SQL compiled for one is not reused
    assert spent == ["15.00", "2000", "15.00", "100.00"]


@pytest.mark.parametrize(
    ("amount", "rate", "inverted", "minor"),
    [
        # into USD: 500000000000000.01 * 2.5000000001 = 1250000000050000.025000000001,
        # .03, not .02
        ("500000000000000.01", "2.5000000001", False, 2),
        # 290311427764576.373 / 113.8619629119 = 2549678754345.760500000000000439…:
        # into USD .76, into KWD .761, not .760
        ("290311427764576.373", "113.8619629119", True, 2),
        ("290311427764576.373", "113.8619629119", True, 3),
    ],
)
def test_python_conversion_rounds_once_like_sql(
    amount: str, rate: str, inverted: bool, minor: int
) -> None:
    c = Conversion(
        int(Decimal(amount).scaleb(AMOUNT.scale)), int(Decimal(rate).scaleb(10)), inverted, minor
    )
    assert python_convert(c).scaleb(minor) == convert_scaled(c.amount, c.rate, c.inverted, minor)


@pytest.mark.parametrize(
    ("currency", "rate", "target"),
    [
        # 1 EUR = 10000 JPY: 9,999,999,999,999,999,990 yen > 2**63 - 1
        ("EUR", Decimal(10000), "JPY"),
        # no conversion, but CLF counts ten-thousandths: 9,999,999,999,999,999,990 of them
        ("CLF", None, "CLF"),
    ],
)
async def test_a_figure_beyond_64_bit_minor_units_is_never_a_crash(
    db: Database, client: GraphQLClient, currency: str, rate: Decimal | None, target: str
) -> None:
    # given the largest amount the column holds
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        if rate is not None:
            await f.exchange_rate(session, base=currency, quote=target, rate=rate)
        await f.transaction(
            session,
            initiative,
            type=T.EXPENDITURE,
            amount=Decimal("999999999999999.999"),
            currency=currency,
        )
    # when the report is asked for in the target currency
    body = await client.execute(SUMMARY, {"groupBy": [], "currency": target})
    # then it is a typed error, never a crash (nor, on SQLite, a float)
    assert body["errors"][0]["extensions"]["code"] == "AMOUNT_OUT_OF_RANGE", body["errors"]
