"""One current budget: every field, report and check that shows it gives the same figure.

`allocated`, `unallocated` and `budget` of programmes and initiatives, their `figures`,
`budgetSummary`, the budget lines' `amountIn` and the editor's pledge check all answer
from one calculation. The property test draws programmes pledged in currencies with 0,
2 and 3 minor units (JPY, CNY, KWD), with lines in those and in USD, and compares every
path with the others and with the records converted in Python (tests/money_oracle.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn
from sqlalchemy import update

from app import models as m
from app.db.session import StatementCounter
from app.kit.ids import decode_id_of, encode_global_id
from app.models._columns import AMOUNT
from app.money.currencies import minor_units
from tests import factories as f
from tests.conftest import Database, GraphQLClient, empty_tables, read_row_counts
from tests.money_oracle import StoredRate, convert, pick_rate

# A pledge currency per number of minor units, and USD for lines only.
PLEDGE_CURRENCIES = ("JPY", "CNY", "KWD")
LINE_CURRENCIES = (*PLEDGE_CURRENCIES, "USD")
PERIODS = ((date(2022, 1, 1), date(2022, 12, 31)), (date(2023, 1, 1), date(2023, 12, 31)))
DAYS = (date(2021, 6, 1), date(2022, 1, 1), date(2022, 7, 1), date(2023, 3, 31))
EARLIEST_RATE = date(2021, 1, 1)  # before every value date: no rate is ever missing

FIGURES = """
query($in: String!) {
  program {
    pledged { amount }
    allocated { amount currency }
    unallocated { amount currency }
    figures { budgetCurrent { amount currency } }
    inOther: figures(currency: $in) { budgetCurrent { amount currency } }
    initiatives(orderBy: [{field: CODE}]) { nodes {
      code
      budget { amount currency }
      allocated { amount currency }
      figures { budgetCurrent { amount currency } }
      inOther: figures(currency: $in) { budgetCurrent { amount } }
      budgetLines(first: 100) { nodes {
        id amount { amount currency } amountIn(currency: $in) { amount currency }
      } }
    } }
  }
  budgetSummary(groupBy: [INITIATIVE]) {
    groups { key { initiative { code } } measures { budgetCurrent { amount } } }
    total { budgetCurrent { amount currency } }
  }
  inOther: budgetSummary(groupBy: [INITIATIVE], currency: $in) {
    groups { key { initiative { code } } measures { budgetCurrent { amount } } }
    total { budgetCurrent { amount currency } }
  }
}"""
CREATE_BUDGET_LINE = """
mutation($input: CreateBudgetLineInput!) {
  createBudgetLine(input: $input) { budgetLine { id } errors { field code message } }
}"""


@dataclass(frozen=True)
class Line:
    initiative: int
    period: int
    revised: bool
    amount: Decimal
    currency: str
    value_date: date


@dataclass(frozen=True)
class Ledger:
    pledge_currency: str
    other_currency: str
    initiatives: int
    lines: list[Line]
    rates: list[tuple[str, str, Decimal, date]]


def amounts_in(currency: str) -> st.SearchStrategy[Decimal]:
    """Amounts the write rules accept in `currency`: to its minor unit (whole yen, fen,
    fils), which the columns' thousandths hold."""
    places = minor_units(currency)
    assert places <= AMOUNT.scale
    return st.integers(0, 10**11).map(lambda n: Decimal(n).scaleb(-places))


rates = st.one_of(
    st.integers(10**6, 10**13).map(lambda n: Decimal(n).scaleb(-10)),
    st.sampled_from([Decimal(r) for r in ("0.5", "0.125", "2", "8", "100", "0.003")]),
)


@st.composite
def ledgers(draw: DrawFn) -> Ledger:
    initiatives = draw(st.integers(1, 3))
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        currency = draw(st.sampled_from(LINE_CURRENCIES))
        lines.append(
            Line(
                initiative=draw(st.integers(0, initiatives - 1)),
                period=draw(st.integers(0, len(PERIODS) - 1)),
                revised=draw(st.booleans()),
                amount=draw(amounts_in(currency)),
                currency=currency,
                value_date=draw(st.sampled_from(DAYS)),
            )
        )
    stored: dict[tuple[str, str, date], Decimal] = {}
    for i, base in enumerate(LINE_CURRENCIES):
        for quote in LINE_CURRENCIES[i + 1 :]:
            pair = (base, quote) if draw(st.booleans()) else (quote, base)
            stored[(*pair, EARLIEST_RATE)] = draw(rates)
    pairs = [(a, b) for a in LINE_CURRENCIES for b in LINE_CURRENCIES if a != b]
    for (base, quote), day in draw(
        st.lists(st.tuples(st.sampled_from(pairs), st.sampled_from(DAYS)), max_size=6)
    ):
        stored.setdefault((base, quote, day), draw(rates))
    return Ledger(
        pledge_currency=draw(st.sampled_from(PLEDGE_CURRENCIES)),
        other_currency=draw(st.sampled_from(PLEDGE_CURRENCIES)),
        initiatives=initiatives,
        lines=lines,
        rates=[(b, q, r, d) for (b, q, d), r in stored.items()],
    )


@dataclass
class Stored:
    program: m.Program
    initiatives: list[m.Initiative]
    lines: list[tuple[int, Line]]  # (id, line)
    rates: list[StoredRate]
    editor: str


async def store(db: Database, ledger: Ledger) -> Stored:
    await empty_tables(db.engine)
    async with db.sessions() as session, session.begin():
        program = await f.program(
            session,
            pledged_currency=ledger.pledge_currency,
            pledged_amount=Decimal("999999999999999"),  # the largest whole amount held
        )
        initiatives = [
            await f.initiative(session, program, code=f"I{i}") for i in range(ledger.initiatives)
        ]
        lines = []
        for line in ledger.lines:
            start, end = PERIODS[line.period]
            row = await f.budget_line(
                session,
                initiatives[line.initiative],
                period_start=start,
                period_end=end,
                type=m.BudgetType.REVISED if line.revised else m.BudgetType.ORIGINAL,
                amount=line.amount,
                currency=line.currency,
                value_date=line.value_date,
            )
            lines.append((row.id, line))
        stored_rates = []
        for base, quote, rate, day in ledger.rates:
            row = await f.exchange_rate(session, base=base, quote=quote, rate=rate, rate_date=day)
            stored_rates.append(StoredRate(base, quote, rate, day, row.source, row.id))
        editor = await f.api_key(session, "editor")
    return Stored(program, initiatives, lines, stored_rates, editor)


def current(stored: Stored) -> list[tuple[int, Line]]:
    """IATI, written out here: per initiative and period the revised line with the latest
    value date (ties: the highest id) replaces the originals; without one, the originals."""
    periods: dict[tuple[int, int], list[tuple[int, Line]]] = defaultdict(list)
    for line_id, line in stored.lines:
        periods[line.initiative, line.period].append((line_id, line))
    kept = []
    for members in periods.values():
        revised = [(line.value_date, line_id) for line_id, line in members if line.revised]
        if revised:
            latest = max(revised)[1]
            kept += [(i, line) for i, line in members if i == latest]
        else:
            kept += members
    return kept


def budget(stored: Stored, currency: str, initiative: int | None = None) -> str:
    """The current budget in `currency` as the API writes it: each line converted at its
    value date's rate and rounded to the currency's minor unit, then summed."""
    total = Decimal(0).scaleb(-minor_units(currency))
    for _, line in current(stored):
        if initiative in (None, line.initiative):
            quote = pick_rate(stored.rates, line.currency, currency, line.value_date)
            total += convert(line.amount, quote)
    return format(total, "f")


def by_code(groups: list[dict[str, Any]]) -> dict[str, str]:
    return {
        g["key"]["initiative"]["code"]: g["measures"]["budgetCurrent"]["amount"] for g in groups
    }


async def pledge_check(
    db: Database, client: GraphQLClient, stored: Stored, pledged: Decimal, year: int
) -> list[dict[str, Any]]:
    """The editor's check, with the pledge set to `pledged`: a line of nothing, in a
    period of its own, changes no figure but is checked against the pledge."""
    async with db.engine.begin() as conn:  # the pledge is not edited through the API
        await conn.execute(
            update(m.Program)
            .where(m.Program.id == stored.program.id)
            .values(pledged_amount=pledged)
        )
    data = await client.with_key(stored.editor).data(
        CREATE_BUDGET_LINE,
        {
            "input": {
                "initiativeId": encode_global_id("Initiative", stored.initiatives[0].id),
                "periodStart": f"{year}-01-01",
                "periodEnd": f"{year}-12-31",
                "type": "ORIGINAL",
                "status": "INDICATIVE",
                "amount": "0",
                "currency": stored.program.pledged_currency,
            }
        },
    )
    errors: list[dict[str, Any]] = data["createBudgetLine"]["errors"]
    return errors


@settings(
    deadline=None,
    max_examples=30,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ledger=ledgers())
async def test_every_path_gives_the_same_current_budget(
    db: Database, client: GraphQLClient, ledger: Ledger
) -> None:
    stored = await store(db, ledger)
    pledge, other = ledger.pledge_currency, ledger.other_currency
    data = await client.data(FIGURES, {"in": other})
    program = data["program"]
    whole = budget(stored, pledge)
    # the programme: allocated, its figures and the summary's total, in its currency
    assert program["allocated"] == {"amount": whole, "currency": pledge}
    assert program["figures"]["budgetCurrent"] == program["allocated"]
    assert data["budgetSummary"]["total"]["budgetCurrent"] == program["allocated"]
    unallocated = Decimal(program["pledged"]["amount"]) - Decimal(whole)
    assert program["unallocated"] == {"amount": format(unallocated, "f"), "currency": pledge}
    # ... and in another currency
    in_other = budget(stored, other)
    assert program["inOther"]["budgetCurrent"] == {"amount": in_other, "currency": other}
    assert data["inOther"]["total"]["budgetCurrent"] == program["inOther"]["budgetCurrent"]
    # each initiative: budget, allocated, figures, the summary's group, and its lines
    summary = by_code(data["budgetSummary"]["groups"])
    summary_other = by_code(data["inOther"]["groups"])
    current_ids = {line_id for line_id, _ in current(stored)}
    drawn = dict(stored.lines)
    for i, node in enumerate(program["initiatives"]["nodes"]):
        mine = {"amount": budget(stored, pledge, i), "currency": pledge}
        assert node["budget"] == node["allocated"] == node["figures"]["budgetCurrent"] == mine
        theirs = budget(stored, other, i)
        assert node["inOther"]["budgetCurrent"]["amount"] == theirs
        if any(line.initiative == i for line in ledger.lines):
            assert (summary[node["code"]], summary_other[node["code"]]) == (mine["amount"], theirs)
        else:
            assert node["code"] not in summary and node["code"] not in summary_other
        # single conversions of its current lines add up to the same figure
        converted = sum(
            (
                Decimal(line["amountIn"]["amount"])
                for line in node["budgetLines"]["nodes"]
                if decode_id_of(line["id"], "BudgetLine") in current_ids
            ),
            Decimal(0).scaleb(-minor_units(other)),
        )
        assert format(converted, "f") == theirs
        # each line reads back as written, to its currency's minor unit (12.345 KWD)
        for line in node["budgetLines"]["nodes"]:
            written = drawn[decode_id_of(line["id"], "BudgetLine")]
            assert line["amount"] == {
                "amount": format(written.amount, "f"),
                "currency": written.currency,
            }
    # the pledge check: a pledge of the figure holds, one minor unit less does not
    # (to the fils in KWD: the pledge column holds what the figure is rounded to)
    step = Decimal(1).scaleb(-minor_units(pledge))
    enough = Decimal(whole)
    assert await pledge_check(db, client, stored, enough, 2030) == []
    if enough >= step:
        errors = await pledge_check(db, client, stored, enough - step, 2031)
        assert [(e["field"], e["code"]) for e in errors] == [("amount", "PLEDGE_EXCEEDED")]
        units = minor_units(pledge)
        assert f"would come to {Decimal(whole):,.{units}f} {pledge}" in errors[0]["message"]


async def test_over_precise_stored_amounts_give_one_figure_everywhere(
    db: Database, client: GraphQLClient
) -> None:
    # given: two lines of 100.50 yen in a yen programme, stored before the write rules
    # refused amounts finer than the currency's minor unit
    async with db.sessions() as session, session.begin():
        program = await f.program(session, pledged_currency="JPY", pledged_amount=Decimal(1000))
        initiative = await f.initiative(session, program, code="Y")
        for year in (2022, 2023):
            await f.budget_line(
                session,
                initiative,
                amount=Decimal("100.50"),
                currency="JPY",
                period_start=date(year, 1, 1),
                period_end=date(year, 12, 31),
            )
    # when
    data = await client.data(FIGURES, {"in": "JPY"})
    # then: each line is rounded to whole yen (half to even) before summing, everywhere
    program_data = data["program"]
    assert program_data["allocated"] == {"amount": "200", "currency": "JPY"}
    assert program_data["figures"]["budgetCurrent"] == program_data["allocated"]
    assert data["budgetSummary"]["total"]["budgetCurrent"] == program_data["allocated"]
    (node,) = program_data["initiatives"]["nodes"]
    assert node["budget"] == node["allocated"] == program_data["allocated"]
    assert program_data["unallocated"]["amount"] == "800"  # shown in whole yen too


async def test_a_budget_asked_for_beside_the_figures_costs_no_statement_of_its_own(
    db: Database, client: GraphQLClient
) -> None:
    # given: a programme of two initiatives, with budgets and spending
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for code in ("A", "B"):
            initiative = await f.initiative(session, program, code=code)
            await f.budget_line(session, initiative, amount=Decimal("70.00"))
            await f.transaction(session, initiative, type=m.TransactionType.EXPENDITURE)
    figures_only = "{ program { spent { amount } initiatives { nodes { spent { amount } } } } }"
    with_budgets = """{ program { spent { amount } allocated { amount } unallocated { amount }
        initiatives { nodes { spent { amount } budget { amount } allocated { amount } } } } }"""
    # when
    await read_row_counts(client)  # read once per app: not the request's own statement
    with StatementCounter(db.engine) as alone:
        await client.data(figures_only)
    with StatementCounter(db.engine) as beside:
        data = await client.data(with_budgets)
    # then: the budgets come from the figures already asked for
    assert beside.count == alone.count
    assert data["program"]["allocated"] == {"amount": "140.00"}
    nodes = data["program"]["initiatives"]["nodes"]
    assert [n["budget"] for n in nodes] == [{"amount": "70.00"}] * 2


async def test_the_initiatives_of_the_programme_read_its_currency_without_a_statement(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session, pledged_currency="JPY")
        for code in ("A", "B"):
            initiative = await f.initiative(session, program, code=code)
            await f.budget_line(session, initiative, amount=Decimal(70), currency="JPY")
    listed = "{ program { initiatives { nodes { code } } } }"
    budgeted = "{ program { initiatives { nodes { code budget { amount currency } } } } }"
    # when
    await read_row_counts(client)  # read once per app: not the request's own statement
    with StatementCounter(db.engine) as plain:
        await client.data(listed)
    with StatementCounter(db.engine) as with_budget:
        data = await client.data(budgeted)
    # then: one statement for the budgets and one asking whether budget rollups are kept
    # in yen (app/reports/budget/rollups.py `readable`), none to learn they are in yen
    rollup_checks = [s for s in with_budget.statements if "rollup_currencies" in s]
    assert len(rollup_checks) == 1
    assert with_budget.count == plain.count + 2
    nodes = data["program"]["initiatives"]["nodes"]
    assert [n["budget"] for n in nodes] == [{"amount": "70", "currency": "JPY"}] * 2
