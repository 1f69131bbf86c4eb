"""Money: exact amounts, conversions that show their rate, current budgets per IATI."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app import models as m
from app.db.base import Base
from app.db.types import ExactDecimal
from app.models._columns import AMOUNT, CURRENCY_COLUMN
from app.money.conversion import RateQuote, converted, rate_not_found
from app.money.currencies import shown
from app.money.repository import RateKey, applicable_rates
from tests import factories as f
from tests.conftest import Database, GraphQLClient

# (base, quote, rate, date, source)
RATES = [
    ("CNY", "USD", "0.150", date(2021, 1, 1), "old"),
    ("CNY", "USD", "0.155", date(2021, 9, 3), "announcement"),
    ("EUR", "CNY", "7.5", date(2022, 1, 1), "reference"),
]


async def picked(
    db: Database, rates: list[tuple[str, str, str, date, str]], *keys: RateKey
) -> list[RateQuote | None]:
    """The rate each (currency, target, day) is converted with, by the service's rule."""
    async with db.sessions() as session, session.begin():
        for base, quote, rate, day, source in rates:
            await f.exchange_rate(
                session, base=base, quote=quote, rate=Decimal(rate), rate_date=day, source=source
            )
    async with db.sessions() as session:
        found = await applicable_rates(session, keys)
    return [found.get(key) for key in keys]


async def test_the_rate_valid_on_a_date_is_the_latest_on_or_before_it(db: Database) -> None:
    old, announced, later = await picked(
        db,
        RATES,
        ("CNY", "USD", date(2021, 9, 2)),
        ("CNY", "USD", date(2021, 9, 3)),
        ("CNY", "USD", date(2030, 1, 1)),
    )
    assert old is not None and old.source == "old"
    assert announced is not None and announced.source == "announcement"
    assert later is not None and later.rate == Decimal("0.155")


async def test_a_reverse_rate_is_inverted_and_converts_by_division(db: Database) -> None:
    [quote] = await picked(db, RATES, ("CNY", "EUR", date(2022, 6, 1)))
    assert quote is not None and quote.inverted
    assert quote.rate == Decimal("0.1333333333")
    # dividing by the stored 7.5 is exact where the rounded reciprocal would drift
    assert converted(Decimal("750000000.00"), quote) == Decimal("100000000.00")


async def test_a_missing_rate_is_not_picked_and_its_error_names_pair_and_date(
    db: Database,
) -> None:
    assert await picked(db, RATES, ("CNY", "USD", date(2020, 12, 31))) == [None]
    error = rate_not_found("CNY", "USD", date(2020, 12, 31))
    assert error.details == {"base": "CNY", "quote": "USD", "date": "2020-12-31"}
    assert "CNY→USD" in error.message


async def test_same_currency_needs_no_rate(db: Database) -> None:
    [quote] = await picked(db, [], ("CNY", "CNY", date(2022, 1, 1)))
    assert quote is not None and quote.rate == 1
    assert converted(Decimal("12.34"), quote) == Decimal("12.34")


BUDGET_LINE = """
query($currency: String!) {
  budgetLines { nodes { amount { amount currency } amountIn(currency: $currency) {
    amount currency rate rateDate rateSource inverted original { amount currency } } } }
}
"""


async def test_a_converted_amount_shows_its_rate_date_and_source(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.budget_line(
            session, initiative, amount=Decimal("1000.00"), value_date=date(2022, 5, 1)
        )
        await f.exchange_rate(
            session, rate=Decimal("0.1500"), rate_date=date(2022, 4, 30), source="PBoC"
        )
        await f.exchange_rate(
            session, rate=Decimal("0.9999"), rate_date=date(2022, 5, 2), source="later"
        )
    # when
    data = await client.data(BUDGET_LINE, {"currency": "USD"})
    # then
    [line] = data["budgetLines"]["nodes"]
    assert line["amountIn"] == {
        "amount": "150.00",
        "currency": "USD",
        "rate": "0.1500000000",
        "rateDate": "2022-04-30",
        "rateSource": "PBoC",
        "inverted": False,
        "original": {"amount": "1000.00", "currency": "CNY"},
    }


async def test_a_missing_rate_is_an_error_not_a_zero(db: Database, client: GraphQLClient) -> None:
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.budget_line(session, initiative, value_date=date(2022, 5, 1))
    error = await client.error(BUDGET_LINE, {"currency": "EUR"})
    assert error["extensions"] == {
        "code": "RATE_NOT_FOUND",
        "base": "CNY",
        "quote": "EUR",
        "date": "2022-05-01",
    }


@pytest.mark.parametrize("code", ["RMB", "usd", "XYZ", ""])
async def test_an_unknown_currency_code_is_refused(
    db: Database, client: GraphQLClient, code: str
) -> None:
    async with db.sessions() as session, session.begin():
        await f.program(session)
    error = await client.error(
        "query($c: String!) { program { pledgedIn(currency: $c) { amount } } }", {"c": code}
    )
    assert error["extensions"]["code"] == "INVALID_CURRENCY"
    if code == "RMB":
        assert "CNY" in error["message"]


INITIATIVE_BUDGET = """
{
  initiatives { nodes { code budget { amount currency } } }
  program { allocated { amount currency } unallocated { amount } }
}
"""


async def test_a_revised_budget_replaces_the_original_of_its_period(
    db: Database, client: GraphQLClient
) -> None:
    # given: 2022 original 100, revised to 80 then to 90; 2023 original only, 50
    async with db.sessions() as session, session.begin():
        program = await f.program(session, pledged_amount=Decimal("1000.00"))
        initiative = await f.initiative(session, program, code="A")
        await f.budget_line(session, initiative, amount=Decimal("100.00"))
        await f.budget_line(
            session,
            initiative,
            type=m.BudgetType.REVISED,
            amount=Decimal("80.00"),
            value_date=date(2022, 3, 1),
        )
        await f.budget_line(
            session,
            initiative,
            type=m.BudgetType.REVISED,
            amount=Decimal("90.00"),
            value_date=date(2022, 6, 1),
        )
        await f.budget_line(
            session,
            initiative,
            amount=Decimal("50.00"),
            period_start=date(2023, 1, 1),
            period_end=date(2023, 12, 31),
        )
    # when
    data = await client.data(INITIATIVE_BUDGET)
    # then: the latest revision of 2022 plus 2023's original
    assert data["initiatives"]["nodes"] == [
        {"code": "A", "budget": {"amount": "140.00", "currency": "CNY"}}
    ]
    assert data["program"]["allocated"] == {"amount": "140.00", "currency": "CNY"}
    assert data["program"]["unallocated"] == {"amount": "860.00"}


async def test_budget_lines_in_other_currencies_are_converted_never_summed_raw(
    db: Database, client: GraphQLClient
) -> None:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiative = await f.initiative(session, program, code="B")
        await f.budget_line(session, initiative, amount=Decimal("100.00"))
        await f.budget_line(
            session,
            initiative,
            amount=Decimal("10.00"),
            currency="EUR",
            period_start=date(2023, 1, 1),
            period_end=date(2023, 12, 31),
            value_date=date(2023, 1, 1),
        )
        await f.exchange_rate(
            session, base="EUR", quote="CNY", rate=Decimal("7.5"), rate_date=date(2022, 12, 30)
        )
    data = await client.data(INITIATIVE_BUDGET)
    assert data["initiatives"]["nodes"][0]["budget"] == {"amount": "175.00", "currency": "CNY"}


async def test_a_budget_that_cannot_be_converted_is_an_error(
    db: Database, client: GraphQLClient
) -> None:
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        await f.budget_line(session, initiative, currency="EUR")
    error = await client.error("{ initiatives { nodes { budget { amount } } } }")
    assert error["extensions"]["code"] == "RATE_NOT_FOUND"
    assert error["path"] == ["initiatives", "nodes", 0, "budget"]


async def test_amounts_travel_as_exact_strings(db: Database, client: GraphQLClient) -> None:
    async with db.sessions() as session, session.begin():
        await f.program(session, pledged_amount=Decimal("100000000000.01"))
    data = await client.data("{ program { pledged { amount currency } } }")
    assert data["program"]["pledged"] == {"amount": "100000000000.01", "currency": "CNY"}


async def test_a_newer_reverse_rate_beats_an_older_direct_one(db: Database) -> None:
    rates = [
        ("CNY", "USD", "0.14", date(2015, 1, 1), "old direct"),
        ("USD", "CNY", "6.4516", date(2021, 9, 1), "newer reverse"),
    ]
    [quote] = await picked(db, rates, ("CNY", "USD", date(2021, 9, 3)))
    assert quote is not None and quote.source == "newer reverse"
    assert quote.inverted
    assert converted(Decimal("100000000000.00"), quote) == Decimal("15500031000.06")


async def test_on_the_same_date_the_direct_rate_wins(db: Database) -> None:
    rates = [
        ("CNY", "USD", "0.155", date(2021, 9, 3), "direct"),
        ("USD", "CNY", "6.4", date(2021, 9, 3), "reverse"),
    ]
    [quote] = await picked(db, rates, ("CNY", "USD", date(2021, 9, 3)))
    assert quote is not None and quote.source == "direct"


async def test_of_revisions_on_the_same_date_only_the_last_recorded_counts(
    db: Database, client: GraphQLClient
) -> None:
    # given: an original of 100, then two revisions recorded for the same value date
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session), code="C")
        await f.budget_line(session, initiative, amount=Decimal("100.00"))
        for amount in ("150.00", "160.00"):
            await f.budget_line(
                session,
                initiative,
                type=m.BudgetType.REVISED,
                amount=Decimal(amount),
                value_date=date(2022, 6, 1),
            )
    # when
    data = await client.data(INITIATIVE_BUDGET)
    # then: the revision holds the new total; it is not added to the one before
    assert data["initiatives"]["nodes"][0]["budget"]["amount"] == "160.00"
    assert data["program"]["allocated"]["amount"] == "160.00"


async def test_converted_budgets_add_up_to_the_cent_at_every_level(
    db: Database, client: GraphQLClient
) -> None:
    # given: lines of USD 0.01, each 0.0645... CNY, which rounds to 0.06
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for code in ("D", "E"):
            initiative = await f.initiative(session, program, code=code)
            for month in (1, 2):
                await f.budget_line(
                    session,
                    initiative,
                    amount=Decimal("0.01"),
                    currency="USD",
                    period_start=date(2022, month, 1),
                    period_end=date(2022, month, 28),
                )
        await f.exchange_rate(session, rate=Decimal("0.155"), rate_date=date(2021, 1, 1))
    # when
    data = await client.data(
        """{ program { allocated { amount } }
             initiatives { nodes { budget { amount }
               budgetLines { nodes { amountIn(currency: "CNY") { amount } } } } } }"""
    )
    # then: lines → initiatives → programme, each the sum of the figures below it
    initiatives = data["initiatives"]["nodes"]
    for initiative in initiatives:
        lines = [Decimal(n["amountIn"]["amount"]) for n in initiative["budgetLines"]["nodes"]]
        assert lines == [Decimal("0.06"), Decimal("0.06")]
        assert Decimal(initiative["budget"]["amount"]) == sum(lines)
    total = sum(Decimal(i["budget"]["amount"]) for i in initiatives)
    assert Decimal(data["program"]["allocated"]["amount"]) == total == Decimal("0.24")


@pytest.mark.parametrize(
    ("quote", "rate", "expected"),
    [("JPY", "17.0123", "1701"), ("KWD", "0.0452", "4.520"), ("USD", "0.155", "15.50")],
)
async def test_a_conversion_rounds_to_the_minor_unit_of_its_currency(
    db: Database, quote: str, rate: str, expected: str
) -> None:
    rates = [("CNY", quote, rate, date(2021, 1, 1), "test")]
    [picked_rate] = await picked(db, rates, ("CNY", quote, date(2022, 1, 1)))
    assert picked_rate is not None
    assert str(converted(Decimal("100.01"), picked_rate)) == expected


@pytest.mark.parametrize(
    ("stored", "currency", "expected"),
    [
        ("100.000", "JPY", "100"),
        ("100.500", "CNY", "100.50"),
        ("-2.500", "CNY", "-2.50"),
        ("12.345", "KWD", "12.345"),
        ("12.340", "KWD", "12.340"),
        ("1.234", "CLF", "1.2340"),
        # stored finer than its currency before the write rules refused it: never rounded
        ("100.500", "JPY", "100.5"),
    ],
)
def test_an_amount_is_shown_to_its_currencys_minor_unit(
    stored: str, currency: str, expected: str
) -> None:
    assert format(shown(Decimal(stored), currency), "f") == expected


def test_every_money_column_names_the_column_of_its_currency() -> None:
    # (the trail shows money by it, as `Money` does)
    money = [
        (table, column)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, ExactDecimal) and column.type.scale == AMOUNT.scale
    ]
    assert {(t.name, c.key) for t, c in money} == {
        ("programs", "pledged_amount"),
        ("budget_lines", "amount"),
        ("transactions", "amount"),
    }
    for table, column in money:
        currency = table.c[column.info[CURRENCY_COLUMN]]
        assert getattr(currency.type, "length", None) == 3, (table.name, currency.key)
