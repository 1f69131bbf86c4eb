"""The IATI export: valid against the official 2.03 XSD, the codelists and the rules a
published pledge must keep; the ledger's figures to the cent."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app import models as m
from app.demo.loader import load_demo
from app.errors import DomainError, ErrorCode
from app.iati.service import export_as_of, export_file
from app.synthetic.generator import Sizes
from app.synthetic.service import generate
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.iati.oracle import (
    assert_valid,
    codes_outside_codelists,
    percentages_by_vocabulary,
)
from tests.iati.pledges import full_pledge


def activity(root, identifier):  # type: ignore[no-untyped-def]
    (found,) = root.xpath(f"//iati-activity[iati-identifier='{identifier}']")
    return found


async def test_the_demo_exports_as_a_valid_iati_file(db: Database) -> None:
    # given
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    # when
    result = await export_file(db.sessions, program_ref=None, moment=None)
    # then
    root = assert_valid(result.xml)
    assert codes_outside_codelists(root) == {}
    parents = root.xpath("//iati-activity[@hierarchy='1']")
    children = root.xpath("//iati-activity[@hierarchy='2']")
    assert (len(parents), len(children)) == (1, 10)
    parent_id = parents[0].findtext("iati-identifier")
    child_ids = [c.findtext("iati-identifier") for c in children]
    # Linked both ways: the parent names each child (2), each child its parent (1).
    assert parents[0].xpath("related-activity[@type='2']/@ref") == child_ids
    assert all(c.xpath("related-activity[@type='1']/@ref") == [parent_id] for c in children)
    # The demo's source has no URL, which IATI's document-link requires: said, not hidden.
    assert any("no URL" in note for note in result.notes)
    assert "no URL" in result.xml.decode()


async def test_a_generated_programme_exports_as_a_valid_iati_file(db: Database) -> None:
    # given
    async with db.sessions() as session, session.begin():
        made = await generate(session, Sizes(6, 30, 300, 7))
    # when
    result = await export_file(db.sessions, program_ref=made.program_ref, moment=None)
    # then
    root = assert_valid(result.xml)
    assert codes_outside_codelists(root) == {}
    assert len(root.xpath("//iati-activity[@hierarchy='2']")) == 6
    assert len(root.xpath("//transaction")) == 300
    for element in root.iter("iati-activity"):
        for tag in ("sector", "recipient-country"):
            assert set(percentages_by_vocabulary(element, tag).values()) <= {Decimal(100)}


async def test_every_transaction_type_maps_onto_the_iati_codelist(db: Database) -> None:
    # given
    pledge = await full_pledge(db)
    # when
    result = await export_file(db.sessions, program_ref=pledge.program_ref, moment=None)
    # then
    root = assert_valid(result.xml)
    assert codes_outside_codelists(root) == {}
    jobs = activity(root, "sponsor-org-JOBS")
    codes = jobs.xpath("transaction/transaction-type/@code")
    assert sorted(codes, key=int) == [str(n) for n in range(1, 14)]
    # Incoming commitment 11, outgoing pledge 12, incoming pledge 13, by name.
    described = {
        t.findtext("description/narrative"): t.find("transaction-type").get("code")
        for t in jobs.iter("transaction")
    }
    assert described["move incoming_commitment"] == "11"
    assert described["move outgoing_pledge"] == "12"
    assert described["move incoming_pledge"] == "13"
    first = jobs.find("transaction")
    assert first.find("provider-org").get("ref") == "sponsor-org"
    assert first.find("receiver-org").get("type") == "22"  # an NGO
    # A reduction stays negative, to the cent.
    fund = activity(root, "sponsor-org-FUND")
    assert fund.xpath("transaction/value/text()") == ["-5.25"]


async def test_every_value_carries_its_currency_and_value_date(db: Database) -> None:
    # given
    pledge = await full_pledge(db)
    # when
    result = await export_file(db.sessions, program_ref=pledge.program_ref, moment=None)
    # then
    root = assert_valid(result.xml)
    values = root.xpath("//value")
    assert len(values) == 5 + 2 + 14
    assert all(v.get("currency") == "CNY" and v.get("value-date") for v in values)
    # Exact decimal text, never a float's.
    assert "1.00" in root.xpath("//transaction/value/text()")


async def test_an_envelope_budget_becomes_yearly_budgets_summing_to_the_cent(
    db: Database,
) -> None:
    # given: JOBS holds one 1000.00 CNY line for 2021-2025
    pledge = await full_pledge(db)
    # when
    result = await export_file(db.sessions, program_ref=pledge.program_ref, moment=None)
    # then
    jobs = activity(assert_valid(result.xml), "sponsor-org-JOBS")
    budgets = jobs.findall("budget")
    periods = [
        (b.find("period-start").get("iso-date"), b.find("period-end").get("iso-date"))
        for b in budgets
    ]
    assert periods == [(f"{y}-01-01", f"{y}-12-31") for y in range(2021, 2026)]
    amounts = [Decimal(b.findtext("value")) for b in budgets]
    # 1826 days: 365 each, 366 in 2024; the leftover cents to the largest remainders.
    assert amounts == [Decimal(a) for a in ("199.89", "199.89", "199.89", "200.44", "199.89")]
    assert sum(amounts) == Decimal("1000.00")
    assert {b.find("value").get("value-date") for b in budgets} == {"2021-01-01"}


SUMMARY = """
{ budgetSummary(groupBy: [INITIATIVE]) { groups {
    key { initiative { code } }
    measures { budgetCurrent { amount } committed { amount } disbursed { amount }
               spent { amount } }
} } }
"""

# budgetSummary's measures and the IATI transaction types they sum.
MEASURE_TYPES = {"committed": "2", "disbursed": "3", "spent": "4"}


async def test_budgets_and_transactions_reconcile_to_the_cent_with_the_api(
    db: Database, client: GraphQLClient
) -> None:
    # given
    pledge = await full_pledge(db)
    # when
    result = await export_file(db.sessions, program_ref=pledge.program_ref, moment=None)
    api = await client.data(SUMMARY)
    # then
    root = assert_valid(result.xml)
    fund = activity(root, "sponsor-org-FUND")
    assert [(b.get("type"), b.get("status")) for b in fund.findall("budget")] == [
        ("1", "1"),  # original, indicative
        ("2", "2"),  # revised, committed
    ]
    groups = api["budgetSummary"]["groups"]
    assert {g["key"]["initiative"]["code"] for g in groups} == {"JOBS", "FUND"}
    for group in groups:
        element = activity(root, f"sponsor-org-{group['key']['initiative']['code']}")
        measures = group["measures"]
        assert _current_budget(element) == Decimal(measures["budgetCurrent"]["amount"])
        for measure, code in MEASURE_TYPES.items():
            values = element.xpath(f"transaction[transaction-type/@code='{code}']/value/text()")
            assert sum(map(Decimal, values), Decimal(0)) == Decimal(measures[measure]["amount"])
    # The parent holds no money of its own: totals never count twice.
    parent = root.xpath("//iati-activity[@hierarchy='1']")[0]
    assert parent.findall("budget") == [] and parent.findall("transaction") == []


def _current_budget(element) -> Decimal:  # type: ignore[no-untyped-def]
    """IATI's current budget of each period: the revised one where there is one."""
    by_period: dict[tuple[str, str], dict[str, Decimal]] = {}
    for budget in element.findall("budget"):
        period = (
            budget.find("period-start").get("iso-date"),
            budget.find("period-end").get("iso-date"),
        )
        by_period.setdefault(period, {})[budget.get("type")] = Decimal(budget.findtext("value"))
    return sum(
        (kinds.get("2", kinds.get("1", Decimal(0))) for kinds in by_period.values()), Decimal(0)
    )


async def test_results_publish_the_target_and_the_approved_reach_never_a_draft(
    db: Database,
) -> None:
    # given: reached "more than 10000" approved, 99999 waiting as a draft
    pledge = await full_pledge(db)
    # when
    result = await export_file(db.sessions, program_ref=pledge.program_ref, moment=None)
    # then
    jobs = activity(assert_valid(result.xml), "sponsor-org-JOBS")
    (period,) = jobs.xpath("result/indicator/period")
    assert period.find("target").get("value") == "20000"
    actual = period.find("actual")
    assert actual.get("value") == "10000"
    comment = actual.findtext("comment/narrative")
    assert "more than 10000 people employed" in comment and "auditor-1" in comment
    assert "99999" not in result.xml.decode()
    (baseline,) = jobs.xpath("result/indicator/baseline")
    assert (baseline.get("year"), baseline.get("value")) == ("2021", "0")


async def test_a_transaction_dated_in_the_future_refuses_the_export(db: Database) -> None:
    # given: a transaction written past the rules (they refuse future dates)
    await full_pledge(db)
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    async with db.sessions() as session, session.begin():
        jobs = await session.scalar(select(m.Initiative).where(m.Initiative.code == "JOBS"))
        assert jobs is not None
        future = await f.transaction(session, jobs, transaction_date=tomorrow)
    # when
    with pytest.raises(DomainError) as refused:
        await export_file(db.sessions, program_ref="pledge-1", moment=None)
    # then
    assert refused.value.code is ErrorCode.NOT_PUBLISHABLE
    assert "sponsor-org-JOBS" in refused.value.message
    assert refused.value.details == {"transaction": future.id}


async def test_sector_and_country_percentages_add_up_to_100_on_the_parent(
    db: Database,
) -> None:
    # given: three initiatives with equal budgets in three areas and two countries
    async with db.sessions() as session, session.begin():
        program = await f.program(session, ref="thirds")
        for code, area, region in (
            ("A", "healthcare", "CN"),
            ("B", "education", "CN-GD"),
            ("C", "rural revitalisation", "VN"),
        ):
            initiative = await f.initiative(
                session, program, code=code, focus_area=area, region=region
            )
            await f.budget_line(session, initiative, amount=Decimal("100.00"))
    # when
    result = await export_file(db.sessions, program_ref="thirds", moment=None)
    # then
    root = assert_valid(result.xml)
    parent = root.xpath("//iati-activity[@hierarchy='1']")[0]
    assert parent.xpath("sector[@vocabulary='99']/@percentage") == ["33.34", "33.33", "33.33"]
    assert parent.xpath("sector[@vocabulary='1']/@code") == ["12220", "11110", "43040"]
    assert parent.xpath("recipient-country/@percentage") == ["66.67", "33.33"]
    assert percentages_by_vocabulary(parent, "sector") == {"99": 100, "1": 100}
    assert percentages_by_vocabulary(parent, "recipient-country") == {"1": 100}


async def test_a_region_that_is_no_country_is_left_out_and_said(db: Database) -> None:
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session, ref="elsewhere")
        await f.initiative(session, program, code="EU-WIDE", region="EU")
    # when
    result = await export_file(db.sessions, program_ref="elsewhere", moment=None)
    # then
    root = assert_valid(result.xml)
    assert root.xpath("//recipient-country") == []
    assert any("'EU' names no ISO 3166 country" in note for note in result.notes)


async def test_an_unknown_programme_is_not_found(db: Database) -> None:
    with pytest.raises(DomainError) as missing:
        await export_file(db.sessions, program_ref="nope", moment=None)
    assert missing.value.code is ErrorCode.NOT_FOUND


async def test_as_of_a_moment_exports_the_ledger_as_it_stood_then(db: Database) -> None:
    # given
    await full_pledge(db)
    await asyncio.sleep(0.002)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.002)
    async with db.sessions() as session, session.begin():
        program = await session.scalar(select(m.Program).where(m.Program.ref == "pledge-1"))
        assert program is not None
        late = await f.initiative(session, program, code="LATE")
        await f.transaction(session, late, amount=Decimal("77.00"))
    # when
    then = await export_as_of(db.sessions, program_ref="pledge-1", moment=moment)
    now = await export_as_of(db.sessions, program_ref="pledge-1", moment=None)
    # then
    then_root, now_root = assert_valid(then.xml), assert_valid(now.xml)
    assert "sponsor-org-LATE" not in then_root.xpath("//iati-identifier/text()")
    assert "77.00" not in then_root.xpath("//value/text()")
    assert "sponsor-org-LATE" in now_root.xpath("//iati-identifier/text()")
    assert date.fromisoformat(then_root.get("generated-datetime")[:10]) >= moment.date()


async def test_a_file_over_the_record_limit_is_refused(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: 3 budget lines and 14 transactions, over a limit of 16
    pledge = await full_pledge(db)
    monkeypatch.setattr("app.iati.export.MAX_EXPORT_RECORDS", 16)
    # when
    with pytest.raises(DomainError) as refused:
        await export_file(db.sessions, program_ref=pledge.program_ref, moment=None)
    # then
    assert refused.value.code is ErrorCode.REPORT_TOO_LARGE
    assert "more than 16" in refused.value.message


async def test_cited_sources_with_a_url_become_document_links_of_their_activity(
    db: Database,
) -> None:
    # given: the full pledge cites a report on JOBS; a programme without initiatives
    # cites a news article
    await full_pledge(db)
    async with db.sessions() as session, session.begin():
        program = await f.program(session, ref="alone")
        article = m.SourceDocument(
            ref="article", title="Pledge news", url="https://example.org/a", category="news-article"
        )
        session.add(article)
        await session.flush()
        session.add(
            m.Citation(
                source_document_id=article.id,
                subject_type=m.SubjectType.PROGRAM,
                subject_id=program.id,
                quote="pledged",
            )
        )
    # when
    full = await export_file(db.sessions, program_ref="pledge-1", moment=None)
    alone = await export_file(db.sessions, program_ref="alone", moment=None)
    # then
    jobs = activity(assert_valid(full.xml), "sponsor-org-JOBS")
    (link,) = jobs.findall("document-link")
    assert link.get("url") == "https://example.org/report-2023"
    assert link.find("category").get("code") == "B01"  # annual report
    assert link.find("language").get("code") == "en"
    assert link.find("document-date").get("iso-date") == "2024-03-01"
    root = assert_valid(alone.xml)
    assert root.xpath("//iati-activity[@hierarchy='1']/document-link/category/@code") == ["A02"]


async def test_each_kind_iati_cannot_carry_is_named_once_with_its_count(db: Database) -> None:
    # given: the full pledge (one citation, one draft reach) with two milestones, a share,
    # a rate and a budget line with a description
    pledge = await full_pledge(db)
    async with db.sessions() as session, session.begin():
        jobs = (
            await session.scalars(select(m.Initiative).where(m.Initiative.code == "JOBS"))
        ).one()
        await f.milestone(session, jobs)
        await f.milestone(session, jobs)
        group = (await session.scalars(select(m.BeneficiaryGroup))).one()
        await f.beneficiary_share(session, jobs, group, "40")
        await f.exchange_rate(session)
        line = (
            await session.scalars(select(m.BudgetLine).where(m.BudgetLine.initiative_id == jobs.id))
        ).one()
        line.description = "the envelope"
    # when
    result = await export_file(db.sessions, program_ref=pledge.program_ref, moment=None)
    # then: one note per kind, with counts; the marks keep the file valid
    assert_valid(result.xml)
    (marked,) = [n for n in result.notes if n.startswith("IATI has no element for")]
    assert "2 milestones, 1 beneficiary shares, 1 exchange rates, 1 budget-line descriptions" in (
        marked
    )
    assert any(n.startswith("1 citations (the words of a source") for n in result.notes)
    assert any(n.startswith("1 reached figures awaiting approval") for n in result.notes)
