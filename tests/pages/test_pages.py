"""The pages show the API's own figures: every figure in a page's `data-` attributes
equals what the GraphQL API answers the same caller."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from app import models as m
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.pages.html import elements, figures, one
from tests.reports.budget.summaries import two_initiatives

DEMO = "alibaba-common-prosperity-2021"


def one_text(html: str) -> str:
    """The words of the page's failure."""
    return html.split('data-code="NOT_FOUND">', 1)[1].split("<", 1)[0]


PROGRAM = """
query($ref: String!) {
  programs(filter: {ref: {eq: $ref}}) { nodes {
    pledged { amount currency } allocated { amount currency } unallocated { amount currency }
    figures { committed { amount } disbursed { amount } spent { amount } }
    initiatives(first: 100) { nodes { code status figures { budgetCurrent { amount }
      spent { amount } } } }
  } }
  timelineReport(filter: {program: {ref: {eq: $ref}}}) {
    initiatives { nodes { initiative { code } onTrack slippedCount } }
  }
}
"""


async def test_the_programme_page_shows_the_apis_funnel_ladder_and_initiatives(
    demo: Database, client: GraphQLClient
) -> None:
    # when
    page = await client.http.get(f"/programmes/{DEMO}")
    api = (await client.data(PROGRAM, {"ref": DEMO}))["programs"]["nodes"][0]
    timeline = (await client.data(PROGRAM, {"ref": DEMO}))["timelineReport"]
    # then: the funnel, stage by stage, in the chart and in its table
    assert page.status_code == 200
    html = page.text
    stages = {e["data-stage"]: e for e in elements(html, "g", data_stage="*")}
    assert stages["pledged"]["data-amount"] == api["pledged"]["amount"]
    assert stages["allocated"]["data-amount"] == api["allocated"]["amount"]
    assert stages["committed"]["data-amount"] == api["figures"]["committed"]["amount"]
    assert stages["disbursed"]["data-amount"] == api["figures"]["disbursed"]["amount"]
    assert stages["spent"]["data-amount"] == api["figures"]["spent"]["amount"]
    # the unallocated 80 bn RMB is drawn as such, never spread over the initiatives
    unallocated = one(html, "rect", data_stage="unallocated")
    assert unallocated["data-amount"] == api["unallocated"]["amount"] == "80000000000.00"
    assert {r["data-stage"] for r in elements(html, "tr", data_stage="*")} >= {
        "pledged",
        "allocated",
        "unallocated",
        "committed",
        "disbursed",
        "spent",
    }
    # the status ladder counts what the API counts
    ladder = {e["data-status"]: int(e["data-count"]) for e in elements(html, "li", data_count="*")}
    statuses = [i["status"] for i in api["initiatives"]["nodes"]]
    assert ladder["PIPELINE"] == statuses.count("PIPELINE") == 9
    assert ladder["IMPLEMENTATION"] == statuses.count("IMPLEMENTATION") == 1
    # each initiative's budget, spending, on-track status and slippage
    bars = {e["data-code"]: e for e in elements(html, "g", data_code="*")}
    rows = {e["data-code"]: e for e in elements(html, "tr", data_code="*")}
    assert len(bars) == len(rows) == 10
    for initiative in api["initiatives"]["nodes"]:
        code = initiative["code"]
        assert bars[code]["data-budget"] == initiative["figures"]["budgetCurrent"]["amount"]
        assert bars[code]["data-spent"] == initiative["figures"]["spent"]["amount"]
    for row in timeline["initiatives"]["nodes"]:
        assert rows[row["initiative"]["code"]]["data-on-track"] == row["onTrack"]
    # a table beside every chart
    assert html.count("<svg") <= html.count("<table") + 1  # the deadline's marker has facts
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


async def test_the_programme_page_in_another_currency_names_the_rate(
    demo: Database, client: GraphQLClient
) -> None:
    page = await client.http.get(f"/programmes/{DEMO}", params={"currency": "usd"})
    api = await client.data(
        """query($ref: String!) { programs(filter: {ref: {eq: $ref}}) { nodes {
             pledgedIn(currency: "USD") { amount rate rateDate rateSource rateIsEstimate }
           } } }""",
        {"ref": DEMO},
    )
    converted = api["programs"]["nodes"][0]["pledgedIn"]
    assert page.status_code == 200
    html = page.text
    pledged = one(html, "g", data_stage="pledged")
    assert (pledged["data-amount"], pledged["data-currency"]) == (converted["amount"], "USD")
    rate = one(html, "p", data_rate="*")
    assert rate["data-rate"] == converted["rate"]
    assert rate["data-rate-date"] == converted["rateDate"]
    assert rate["data-rate-source"] == converted["rateSource"]
    assert converted["rateIsEstimate"] and "The rate is an estimate." in html
    # the download links carry the same currency
    assert "currency=USD" in html


async def test_the_initiative_page_shows_quarters_milestones_and_reach(
    demo: Database, client: GraphQLClient
) -> None:
    # given: spending over several quarters, and a milestone that slipped
    async with demo.sessions() as session, session.begin():
        program = await f.program(session, ref="second")
        a = await f.initiative(session, program, code="A")
        await f.budget_line(session, a, amount=Decimal("1000.00"))
        await f.transaction(
            session, a, type=m.TransactionType.EXPENDITURE, amount=Decimal("250.10")
        )
        late = await f.milestone(session, a, forecast_date=date(2024, 3, 1))
    # when
    page = await client.http.get("/initiatives/A")
    api = await client.data(
        """{ budgetSummary(groupBy: [QUARTER], currency: "CNY",
               filter: {initiative: {code: {eq: "A"}}}) {
               groups { key { year quarter } measures { budgetCurrent { amount }
                 spent { amount } } } }
             timelineReport(filter: {code: {eq: "A"}}) { lateMilestones { nodes {
               milestone { id } slippageDays overdue } } } }"""
    )
    # then
    assert page.status_code == 200
    html = page.text
    quarters = {e["data-quarter"]: e for e in elements(html, "g", data_quarter="*")}
    assert len(quarters) == len(api["budgetSummary"]["groups"]) >= 1
    for group in api["budgetSummary"]["groups"]:
        shown = quarters[f"{group['key']['year']}-Q{group['key']['quarter']}"]
        assert shown["data-budget"] == group["measures"]["budgetCurrent"]["amount"]
        assert shown["data-spent"] == group["measures"]["spent"]["amount"]
    (slipped,) = api["timelineReport"]["lateMilestones"]["nodes"]
    row = one(html, "tr", data_milestone=slipped["milestone"]["id"])
    assert row["data-slippage-days"] == str(slipped["slippageDays"])
    assert row["data-overdue"] == ("true" if slipped["overdue"] else "false")
    assert late.id is not None


async def test_reach_keeps_its_qualifier_and_evidence_its_estimate_flag(
    demo: Database, client: GraphQLClient
) -> None:
    page = await client.http.get("/initiatives/CP-09")
    api = await client.data(
        """{ initiative(code: "CP-09") { beneficiaries { nodes { id reached reachedQualifier } }
             sources { nodes { isEstimate } } } }"""
    )
    html = page.text
    for figure in api["initiative"]["beneficiaries"]["nodes"]:
        shown = one(html, "li", data_figure=figure["id"])
        assert shown["data-reached"] == figure["reached"]
        assert shown["data-qualifier"] == figure["reachedQualifier"]
    assert "more than 10,000" in html
    estimates = [s["isEstimate"] for s in api["initiative"]["sources"]["nodes"]]
    flags = figures(html, "data-estimate", "data-estimate")
    assert ("true" in flags) == any(estimates)


async def test_the_programme_list_links_every_programme(
    db: Database, client: GraphQLClient
) -> None:
    await two_initiatives(db)
    async with db.sessions() as session, session.begin():
        await f.program(session, ref="other", pledged_currency="EUR")
    page = await client.http.get("/")
    api = await client.data("{ programs { nodes { ref pledged { amount currency } } } }")
    rows = {e["data-ref"]: e for e in elements(page.text, "tr", data_ref="*")}
    assert set(rows) == {p["ref"] for p in api["programs"]["nodes"]}
    for program in api["programs"]["nodes"]:
        assert f'href="/programmes/{program["ref"]}"' in page.text
    # an unknown programme or initiative is a page that says so
    assert (await client.http.get("/programmes/nothing")).status_code == 404
    missing = await client.http.get("/initiatives/NOPE")
    assert missing.status_code == 404
    assert "There is no initiative NOPE" in one_text(missing.text)


async def test_a_bad_control_is_refused_with_its_reason(
    demo: Database, client: GraphQLClient
) -> None:
    bad_date = await client.http.get(f"/programmes/{DEMO}", params={"asOf": "last week"})
    assert bad_date.status_code == 400 and "as-of date" in bad_date.text
    bad_currency = await client.http.get(f"/programmes/{DEMO}", params={"currency": "RMB"})
    assert bad_currency.status_code == 400
    assert one(bad_currency.text, "p", data_code="INVALID_CURRENCY")


async def test_as_of_a_day_before_the_demo_shows_no_programme(
    demo: Database, client: GraphQLClient
) -> None:
    page = await client.http.get(f"/programmes/{DEMO}", params={"asOf": "2020-01-01"})
    assert page.status_code == 404
    assert one(page.text, "p", data_code="NOT_FOUND")
    listing = await client.http.get("/", params={"asOf": "2020-01-01"})
    assert elements(listing.text, "tr", data_ref="*") == []
