"""`aggregate` on list connections: computed in SQL over the whole filtered list."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from app import models as m
from app.db.session import StatementCounter
from tests import factories as f
from tests.conftest import Database, GraphQLClient, read_row_counts

T = m.TransactionType


async def seed(db: Database) -> None:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        a = await f.initiative(session, program, code="A", planned_start=date(2022, 1, 1))
        b = await f.initiative(session, program, code="B", planned_start=date(2021, 6, 1))
        for amount, day in (
            ("10.00", date(2022, 1, 5)),
            ("0.05", date(2022, 3, 1)),
            ("-2.50", date(2023, 2, 1)),
        ):
            await f.transaction(
                session, a, amount=Decimal(amount), transaction_date=day, value_date=day
            )
        await f.transaction(session, b, amount=Decimal("7.00"), type=T.EXPENDITURE)
        group = await f.beneficiary_group(session)
        await f.beneficiary_figure(
            session, a, group, target_value=Decimal("3"), reached_value=Decimal("1")
        )
        await f.beneficiary_figure(
            session, b, group, unit="households", target_value=Decimal("2"), reached_value=None
        )


async def test_root_list_aggregates_honour_the_filter(db: Database, client: GraphQLClient) -> None:
    # given
    await seed(db)
    # when
    data = await client.data(
        """{ transactions(filter: {type: {eq: DISBURSEMENT}}, first: 1) {
              totalCount
              aggregate { count sum { amount { amount currency } }
                          avg { amount { amount } }
                          min { amount { amount } date } max { amount { amount } date } } } }"""
    )
    # then: every disbursement counts, not just the page of one
    agg = data["transactions"]["aggregate"]
    assert agg["count"] == data["transactions"]["totalCount"] == 3
    assert agg["sum"]["amount"] == {"amount": "7.55", "currency": "CNY"}
    assert agg["avg"]["amount"]["amount"] == "2.52"  # 7.55 / 3 = 2.5166… half-even
    assert agg["min"] == {"amount": {"amount": "-2.50"}, "date": "2022-01-05"}
    assert agg["max"] == {"amount": {"amount": "10.00"}, "date": "2023-02-01"}


async def test_nested_aggregates_come_per_parent_in_one_statement(
    db: Database, client: GraphQLClient
) -> None:
    await seed(db)
    query = """{ initiatives(orderBy: [{field: CODE}]) { nodes { code
                  transactions { aggregate { count sum { amount { amount } } } } } } }"""
    await read_row_counts(client)  # read once per app: not the request's own statement
    with StatementCounter(db.engine) as counter:
        data = await client.data(query)
    nodes = data["initiatives"]["nodes"]
    assert [(n["code"], n["transactions"]["aggregate"]["count"]) for n in nodes] == [
        ("A", 3),
        ("B", 1),
    ]
    assert nodes[0]["transactions"]["aggregate"]["sum"]["amount"]["amount"] == "7.55"
    # initiatives page, one aggregate statement for both parents; no transactions page,
    # since none of it is asked for
    assert counter.count == 2


async def test_a_list_asked_only_for_its_aggregate_reads_no_page(
    db: Database, client: GraphQLClient
) -> None:
    # given: transactions, and a dashboard's count of them
    await seed(db)
    await read_row_counts(client)
    # when: only `aggregate` is asked for (and `__typename`)
    with StatementCounter(db.engine) as counter:
        data = await client.data("{ transactions { __typename aggregate { count } } }")
    # then: one statement, the count; the same count as when the page is read too
    assert counter.count == 1
    assert data["transactions"]["__typename"] == "TransactionConnection"
    paged = await client.data("{ transactions { totalCount nodes { id } aggregate { count } } }")
    assert data["transactions"]["aggregate"] == paged["transactions"]["aggregate"]
    assert paged["transactions"]["aggregate"]["count"] == paged["transactions"]["totalCount"]
    # and through a fragment the page is read as before
    spread = await client.data(
        "{ transactions { ...T } } fragment T on TransactionConnection "
        "{ aggregate { count } pageInfo { hasNextPage } }"
    )
    assert spread["transactions"]["pageInfo"]["hasNextPage"] is False
    assert spread["transactions"]["aggregate"] == data["transactions"]["aggregate"]


async def test_numbers_and_dates_aggregate_exactly(db: Database, client: GraphQLClient) -> None:
    await seed(db)
    data = await client.data(
        """{ beneficiaryFigures { aggregate { count sum { target reached } avg { target reached }
               max { target reachedAsOf } } }
             initiatives { aggregate { count min { plannedStart } max { plannedStart } } }
             organizations { aggregate { count } } }"""
    )
    agg = data["beneficiaryFigures"]["aggregate"]
    assert agg["count"] == 2
    assert Decimal(agg["sum"]["target"]) == Decimal("5")
    assert Decimal(agg["sum"]["reached"]) == Decimal("1")
    # averages count only the records that have a value
    assert Decimal(agg["avg"]["target"]) == Decimal("2.5")
    assert Decimal(agg["avg"]["reached"]) == Decimal("1")
    assert agg["max"]["reachedAsOf"] is None
    initiatives = data["initiatives"]["aggregate"]
    assert (initiatives["min"]["plannedStart"], initiatives["max"]["plannedStart"]) == (
        "2021-06-01",
        "2022-01-01",
    )
    assert data["organizations"]["aggregate"]["count"] == 1


async def test_several_currencies_are_never_summed_unconverted(
    db: Database, client: GraphQLClient
) -> None:
    # given a CNY and a EUR transaction
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        a = await f.initiative(session, program)
        await f.transaction(session, a, amount=Decimal("10.00"))
        await f.transaction(session, a, amount=Decimal("1.00"), currency="EUR")
        await f.exchange_rate(session, base="EUR", quote="CNY", rate=Decimal("7.5"))
    # then counting works, summing needs a currency, and converting sums per record
    counted = await client.data("{ transactions { aggregate { count } } }")
    assert counted["transactions"]["aggregate"]["count"] == 2
    error = await client.error("{ transactions { aggregate { sum { amount { amount } } } } }")
    assert error["extensions"]["code"] == "CURRENCY_REQUIRED"
    converted = await client.data(
        '{ transactions { aggregate(currency: "CNY") { sum { amount { amount currency } } '
        "max { amount { amount } } } } }"
    )
    agg = converted["transactions"]["aggregate"]
    assert agg["sum"]["amount"] == {"amount": "17.50", "currency": "CNY"}
    assert agg["max"]["amount"] == {"amount": "10.00"}
    missing = await client.error(
        '{ transactions { aggregate(currency: "USD") { sum { amount { amount } } } } }'
    )
    assert missing["extensions"]["code"] == "RATE_NOT_FOUND"


async def test_a_fragment_or_a_bare_count_reads_what_it_needs(
    db: Database, client: GraphQLClient
) -> None:
    await seed(db)
    await read_row_counts(client)  # read once per app: not the request's own statement
    with StatementCounter(db.engine) as counter:
        data = await client.data("{ transactions { aggregate { count } } }")
    assert data["transactions"]["aggregate"]["count"] == 4
    # a bare count sums nothing
    assert not any("sum(" in statement.lower() for statement in counter.statements)
    spread = await client.data(
        """{ transactions { aggregate { ...figures } } }
           fragment figures on TransactionAggregate { count sum { amount { amount } } }"""
    )
    assert spread["transactions"]["aggregate"]["sum"]["amount"]["amount"] == "14.55"
