"""The SQL conversion is the Python conversion: checked against both Python conversions
(the oracle's, and `convert_scaled`, which converts single amounts) over the range the
columns hold, wherever the result fits the 64-bit count of minor units the SQL returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn
from sqlalchemy import Boolean, literal, select, union_all

from app.models._columns import AMOUNT, RATE
from app.money.conversion import RATE_PLACES, RateQuote, identity
from app.money.sql import convert_expr, convert_scaled
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.money_oracle import convert
from tests.reports.budget.programmes import SUMMARY, T, summary

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
