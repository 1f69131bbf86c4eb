"""budgetSummary: committed, disbursed and spent against budget, grouped in SQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx

from app.config import Settings
from app.db.session import StatementCounter
from app.main import create_app
from tests import factories as f
from tests.conftest import Database, GraphQLClient, read_row_counts
from tests.reports.budget.summaries import T, amounts, summary, two_initiatives


async def test_groups_by_initiative_with_every_measure(db: Database, client: GraphQLClient) -> None:
    # given two initiatives with budgets (one revised) and transactions
    await two_initiatives(db)
    # when
    report = await summary(client, groupBy=["INITIATIVE"])
    # then
    assert report["currency"] == "CNY"
    a, b = report["groups"]
    assert a["key"]["initiative"]["code"] == "A"
    figures = a["measures"]
    assert amounts(figures, "budgetOriginal") == Decimal("1000.00")
    assert amounts(figures, "budgetCurrent") == Decimal("1200.00")
    assert amounts(figures, "committed") == Decimal("800.00")
    assert amounts(figures, "disbursed") == Decimal("300.00")
    assert amounts(figures, "spent") == Decimal("250.10")
    assert amounts(figures, "variance") == Decimal("949.90")
    assert amounts(figures, "budgetRevision") == Decimal("200.00")
    assert (figures["count"], figures["budgetLineCount"], figures["transactionCount"]) == (5, 2, 3)
    assert amounts(b["measures"], "spent") == Decimal("90.00")  # a reduction is negative
    total = report["total"]
    for name in ("budgetOriginal", "budgetCurrent", "committed", "disbursed", "spent"):
        assert amounts(total, name) == amounts(a["measures"], name) + amounts(b["measures"], name)
    assert amounts(report["others"], "spent") == 0
    assert report["ratesUsed"] == []


async def test_groups_by_year_quarter_and_month(db: Database, client: GraphQLClient) -> None:
    await two_initiatives(db)
    report = await summary(
        client, groupBy=["QUARTER"], filter={"initiative": {"code": {"eq": "A"}}}
    )
    keys = [(g["key"]["year"], g["key"]["quarter"]) for g in report["groups"]]
    assert keys == [(2022, 1), (2022, 2), (2023, 1)]
    q1 = report["groups"][0]["measures"]
    # the budgets start 2022-01-01, the commitment is dated 2022-02-01
    assert amounts(q1, "budgetCurrent") == Decimal("1200.00")
    assert amounts(q1, "committed") == Decimal("800.00")
    months = await summary(client, groupBy=["MONTH"], filter={"initiative": {"code": {"eq": "A"}}})
    assert [(g["key"]["year"], g["key"]["month"]) for g in months["groups"]] == [
        (2022, 1),
        (2022, 2),
        (2022, 5),
        (2023, 1),
    ]


async def test_groups_by_transaction_type_category_focus_area_and_region(
    db: Database, client: GraphQLClient
) -> None:
    await two_initiatives(db)
    by_type = await summary(client, groupBy=["TRANSACTION_TYPE"])
    types = [g["key"]["transactionType"] for g in by_type["groups"]]
    assert types == ["OUTGOING_COMMITMENT", "DISBURSEMENT", "EXPENDITURE", None] or set(types) == {
        "OUTGOING_COMMITMENT",
        "DISBURSEMENT",
        "EXPENDITURE",
        None,
    }
    budgets = next(g for g in by_type["groups"] if g["key"]["transactionType"] is None)
    assert budgets["measures"]["transactionCount"] == 0
    assert amounts(budgets["measures"], "budgetCurrent") == Decimal("1700.00")
    by_area = await summary(client, groupBy=["FOCUS_AREA", "REGION"])
    assert {(g["key"]["focusArea"], g["key"]["region"]) for g in by_area["groups"]} == {
        ("jobs", "CN-ZJ"),
        ("health", "CN-GD"),
    }
    by_category = await summary(client, groupBy=["CATEGORY"])
    # transactions without a budget line fall in the group without a category
    categories = {g["key"]["category"]: g["measures"] for g in by_category["groups"]}
    assert set(categories) == {"grants", "works", None}
    assert amounts(categories[None], "spent") == Decimal("340.10")


async def test_having_order_and_top_n_keep_the_report_reconciled(
    db: Database, client: GraphQLClient
) -> None:
    await two_initiatives(db)
    report = await summary(
        client, groupBy=["INITIATIVE"], orderBy=[{"measure": "SPENT", "direction": "ASC"}], first=1
    )
    assert [g["key"]["initiative"]["code"] for g in report["groups"]] == ["B"]
    assert report["groupCount"] == 2
    shown, others, total = report["groups"][0]["measures"], report["others"], report["total"]
    for name in ("budgetCurrent", "spent", "committed"):
        assert amounts(shown, name) + amounts(others, name) == amounts(total, name)
    assert shown["count"] + others["count"] == total["count"]
    big = await summary(client, groupBy=["INITIATIVE"], having={"spent": {"gt": "100"}})
    assert [g["key"]["initiative"]["code"] for g in big["groups"]] == ["A"]


async def test_converts_each_record_at_its_value_date_rate(
    db: Database, client: GraphQLClient
) -> None:
    # given CNY and EUR records and rates that change over time, one stored in reverse
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        a = await f.initiative(session, program)
        await f.exchange_rate(
            session,
            base="CNY",
            quote="USD",
            rate=Decimal("0.15"),
            rate_date=date(2021, 1, 1),
            source="first",
        )
        await f.exchange_rate(
            session,
            base="CNY",
            quote="USD",
            rate=Decimal("0.16"),
            rate_date=date(2022, 6, 1),
            source="second",
        )
        await f.exchange_rate(
            session,
            base="USD",
            quote="EUR",
            rate=Decimal("0.9"),
            rate_date=date(2021, 1, 1),
            source="reverse",
        )
        for amount, day in (
            ("0.03", date(2022, 1, 1)),
            ("0.03", date(2022, 1, 2)),
            ("100.00", date(2022, 7, 1)),
        ):
            await f.transaction(
                session,
                a,
                type=T.EXPENDITURE,
                amount=Decimal(amount),
                transaction_date=day,
                value_date=day,
            )
        await f.transaction(session, a, type=T.EXPENDITURE, amount=Decimal("9.00"), currency="EUR")
        await f.transaction(session, a, type=T.EXPENDITURE, amount=Decimal("10.00"), currency="USD")
    # when
    report = await summary(client, groupBy=[], currency="USD")
    # then each record is converted and rounded half-even, then summed:
    # 0.03 * 0.15 = 0.0045 → 0.00 (twice); 100 * 0.16 = 16.00; 9 EUR / 0.9 = 10.00; 10 USD
    assert amounts(report["total"], "spent") == Decimal("36.00")
    assert report["total"]["spent"] == {"amount": "36.00"}
    rates = {(r["currency"], r["source"]): r for r in report["ratesUsed"]}
    assert set(rates) == {("CNY", "first"), ("CNY", "second"), ("EUR", "reverse")}
    assert rates["CNY", "first"]["records"] == 2
    assert rates["CNY", "first"]["original"] == {"amount": "0.06", "currency": "CNY"}
    assert rates["CNY", "first"]["converted"] == {"amount": "0.00", "currency": "USD"}
    assert rates["EUR", "reverse"]["inverted"] is True
    assert Decimal(rates["EUR", "reverse"]["rate"]) == Decimal("1.1111111111")
    assert rates["CNY", "second"]["rateDate"] == "2022-06-01"


async def test_a_missing_rate_is_an_error_naming_pair_and_date(
    db: Database, client: GraphQLClient
) -> None:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        a = await f.initiative(session, program)
        await f.exchange_rate(session, base="CNY", quote="USD", rate_date=date(2022, 1, 1))
        await f.transaction(session, a, value_date=date(2021, 12, 31))
    error = await client.error(
        '{ budgetSummary(groupBy: [], currency: "USD") { total { spent { amount } } } }'
    )
    assert error["extensions"]["code"] == "RATE_NOT_FOUND"
    assert "CNY→USD" in error["message"] and "2021-12-31" in error["message"]


async def test_mixed_pledge_currencies_need_a_report_currency(
    db: Database, client: GraphQLClient
) -> None:
    async with db.sessions() as session, session.begin():
        await f.program(session, pledged_currency="CNY")
        await f.program(session, pledged_currency="EUR")
    error = await client.error("{ budgetSummary(groupBy: []) { currency } }")
    assert error["extensions"]["code"] == "CURRENCY_REQUIRED"


async def test_splits_by_beneficiary_group_with_largest_remainder(
    db: Database, client: GraphQLClient
) -> None:
    # given an initiative shared 1/3, 1/3 and a rest, and one with no shares
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        a = await f.initiative(session, program, code="A")
        b = await f.initiative(session, program, code="B")
        g1 = await f.beneficiary_group(session, code="g1")
        g2 = await f.beneficiary_group(session, code="g2")
        await f.beneficiary_share(session, a, g1, "33.3333")
        await f.beneficiary_share(session, a, g2, "33.3333")
        await f.transaction(session, a, type=T.EXPENDITURE, amount=Decimal("0.10"))
        await f.transaction(session, b, type=T.EXPENDITURE, amount=Decimal("5.00"))
    report = await summary(client, groupBy=["BENEFICIARY_GROUP"])
    spent = {
        (g["key"]["beneficiaryGroup"] or {}).get("code"): amounts(g["measures"], "spent")
        for g in report["groups"]
    }
    # 0.10 splits into 0.03 + 0.03 + 0.04 (the rest of 33.3334 %), B's 5.00 has no group
    assert spent == {"g1": Decimal("0.03"), "g2": Decimal("0.03"), None: Decimal("5.04")}
    assert sum(spent.values()) == amounts(report["total"], "spent") == Decimal("5.10")


async def test_bad_arguments_have_typed_errors(db: Database, client: GraphQLClient) -> None:
    bad_currency = await client.error(
        '{ budgetSummary(groupBy: [], currency: "XYZ") { currency } }'
    )
    assert bad_currency["extensions"]["code"] == "INVALID_CURRENCY"
    negative = await client.error("{ budgetSummary(groupBy: [], first: -1) { currency } }")
    assert negative["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_program_and_initiative_figures_match_the_summary(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await two_initiatives(db)
    # when
    data = await client.data(
        """{ program {
              allocated { amount } unallocated { amount } committed { amount }
              disbursed { amount } spent { amount currency }
              figures { budgetCurrent { amount } variance { amount } count }
              initiatives(orderBy: [{field: CODE}]) { nodes {
                code allocated { amount } committed { amount } disbursed { amount }
                spent { amount } figures { budgetOriginal { amount } budgetCurrent { amount } }
              } } } }"""
    )
    report = await summary(client, groupBy=["INITIATIVE"])
    # then
    program = data["program"]
    assert program["spent"] == {"amount": "340.10", "currency": "CNY"}
    assert Decimal(program["allocated"]["amount"]) == amounts(report["total"], "budgetCurrent")
    assert Decimal(program["figures"]["budgetCurrent"]["amount"]) == Decimal("1700.00")
    assert program["figures"]["count"] == report["total"]["count"]
    for node, group in zip(program["initiatives"]["nodes"], report["groups"], strict=True):
        assert node["code"] == group["key"]["initiative"]["code"]
        for name in ("committed", "disbursed", "spent"):
            assert Decimal(node[name]["amount"]) == amounts(group["measures"], name)
        assert node["allocated"] == node["figures"]["budgetCurrent"]


async def test_figures_convert_on_request(db: Database, client: GraphQLClient) -> None:
    await two_initiatives(db)
    async with db.sessions() as session, session.begin():
        await f.exchange_rate(session, base="CNY", quote="USD", rate=Decimal("0.5"))
    data = await client.data(
        '{ program { figures(currency: "USD") { spent { amount currency } } } }'
    )
    assert data["program"]["figures"]["spent"] == {"amount": "170.05", "currency": "USD"}


async def test_an_initiative_lists_its_beneficiary_shares(
    db: Database, client: GraphQLClient
) -> None:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        a = await f.initiative(session, program)
        await f.initiative(session, program)
        youth = await f.beneficiary_group(session, code="youth")
        await f.beneficiary_share(session, a, youth, "62.5")
    data = await client.data(
        "{ initiatives(first: 100) { nodes { beneficiaryShares { percentage group { code } } } } }"
    )
    shares = [n["beneficiaryShares"] for n in data["initiatives"]["nodes"]]
    assert shares == [[{"percentage": "62.5000", "group": {"code": "youth"}}], []]


async def test_the_statement_count_does_not_grow_with_the_data(
    db: Database, client: GraphQLClient
) -> None:
    query = """{ budgetSummary(groupBy: [INITIATIVE, BENEFICIARY_GROUP], currency: "USD") {
        groups { key { initiative { code } beneficiaryGroup { code } }
                 measures { spent { amount } } }
        ratesUsed { currency exchangeRate { base } } }
      initiatives { nodes { figures { spent { amount } }
                            transactions { aggregate { count } } } } }"""
    counts: list[int] = []
    for size, initiatives_in_all in ((2, 2), (6, 8)):
        async with db.sessions() as session, session.begin():
            program = await f.program(session)
            await f.exchange_rate(session, rate=Decimal("0.15"), rate_date=date(2021, size, 1))
            group = await f.beneficiary_group(session)
            for _ in range(size):
                initiative = await f.initiative(session, program)
                await f.beneficiary_share(session, initiative, group, "50")
                await f.budget_line(session, initiative)
                await f.transaction(session, initiative, type=T.EXPENDITURE)
        await read_row_counts(client)  # read once per app: not the request's own statement
        with StatementCounter(db.engine) as counter:
            data = await client.data(query)
        # every initiative is split in two: half to the group, half to no group
        assert len(data["budgetSummary"]["groups"]) == 2 * initiatives_in_all
        counts.append(counter.count)
    # pledge currencies aside (none needed with a currency): the summary, its shares, the
    # initiatives and groups of its keys, the rates used and their rows; the list, its
    # figures and its aggregates: the same at both sizes
    assert counts[0] == counts[1]


async def test_too_many_groups_is_an_error_never_a_partial_report(
    db: Database, settings: Settings
) -> None:
    # given three initiatives sharing one group, and reports of at most two groups
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        group = await f.beneficiary_group(session)
        for _ in range(3):
            initiative = await f.initiative(session, program)
            await f.beneficiary_share(session, initiative, group, "100")
            await f.transaction(session, initiative, type=T.EXPENDITURE)
    app = create_app(
        settings.model_copy(update={"database_url": db.url, "max_report_groups": 2}),
        engine=db.engine,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        client = GraphQLClient(http)
        # when: one group in the end, but three initiatives to split first
        error = await client.error(
            "{ budgetSummary(groupBy: [BENEFICIARY_GROUP]) { total { spent { amount } } } }"
        )
        by_year = await client.data(
            "{ budgetSummary(groupBy: [YEAR]) { groups { key { year } } } }"
        )
    # then
    assert error["extensions"]["code"] == "REPORT_TOO_LARGE"
    assert by_year["budgetSummary"]["groups"] == [{"key": {"year": 2022}}]
