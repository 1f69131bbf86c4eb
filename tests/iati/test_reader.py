"""Reading an IATI file into the ledger: the ledger's own file comes back whole (the
same reports to the cent), and what cannot be mapped is said, never dropped."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app import models as m
from app.audit.records import SYSTEM_ROLE, Actor
from app.demo.loader import load_demo
from app.errors import ErrorCode
from app.iati import reader
from app.iati.reader import read_iati
from app.iati.service import export_file
from app.iati.writer import LEDGER_NS
from app.imports.apply import import_document
from app.imports.report import MAX_LISTED, Report
from app.synthetic.generator import Sizes
from app.synthetic.service import generate
from tests.conftest import Database, GraphQLClient, empty_tables
from tests.iati.oracle import assert_valid
from tests.iati.pledges import full_pledge
from tests.imports.documents import FIELDS

REPORTS = """
query Reports($groupBy: [BudgetDimension!]!) {
  budgetSummary(groupBy: $groupBy) {
    groups { key { initiative { code } focusArea region category transactionType year }
             measures { budgetOriginal { amount currency } budgetCurrent { amount }
                        committed { amount } disbursed { amount } spent { amount } count } }
    total { budgetCurrent { amount currency } spent { amount } }
  }
}
"""

LEDGER = """
{
  program { ref name pledged { amount currency } announcedOn deadline
            governance { body lead } sponsor { ref name } }
  initiatives(first: 100, orderBy: [{field: POSITION}]) { nodes {
    code position title status region focusArea plannedStart actualStart plannedEnd
    budget { amount currency }
    beneficiaries { nodes { group { code name } unit target reached reachedQualifier
                            reachedAsOf } }
  } }
}
"""

GROUPINGS = [
    ["INITIATIVE"],
    ["INITIATIVE", "YEAR"],
    ["INITIATIVE", "TRANSACTION_TYPE"],
    ["FOCUS_AREA", "REGION"],
    ["CATEGORY"],
]

IMPORTER = Actor("iati-import-test", SYSTEM_ROLE)


async def answers(client: GraphQLClient) -> dict[str, Any]:
    found = {"ledger": await client.data(LEDGER)}
    for group_by in GROUPINGS:
        found[" ".join(group_by)] = await client.data(REPORTS, {"groupBy": group_by})
    return found


async def round_trip(db: Database, program_ref: str) -> list[str]:
    """Export the programme, empty the database, read the file back in; the notes."""
    exported = await export_file(db.sessions, program_ref=program_ref, moment=None)
    await empty_tables(db.engine)
    read = read_iati(exported.xml)
    assert read.document is not None, read.problems
    async with db.sessions() as session, session.begin():
        report = await import_document(
            session, read.document, IMPORTER, Report(False), fields=FIELDS
        )
        assert not report.refused, report.problems
    return read.notes


async def test_the_ledgers_own_file_reads_back_to_the_same_reports(
    db: Database, client: GraphQLClient
) -> None:
    # given
    pledge = await full_pledge(db)
    before = await answers(client)
    # when
    await round_trip(db, pledge.program_ref)
    # then
    assert await answers(client) == before


async def test_the_demo_reads_back_to_the_same_reports(db: Database, client: GraphQLClient) -> None:
    # given
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    before = await answers(client)
    # when
    notes = await round_trip(db, "alibaba-common-prosperity-2021")
    # then
    after = await answers(client)
    assert after == before
    # The ledger's own file holds nothing the reader cannot map.
    assert notes == []


FOREIGN = b"""<?xml version="1.0" encoding="UTF-8"?>
<iati-activities version="2.03">
 <iati-activity hierarchy="1" default-currency="EUR">
  <iati-identifier>XM-1-P</iati-identifier>
  <reporting-org ref="XM-1" type="21"><narrative>Funder</narrative></reporting-org>
  <title><narrative>Programme</narrative></title>
  <description><narrative>About it</narrative></description>
  <participating-org role="1" ref="XM-1"><narrative>Funder</narrative></participating-org>
  <activity-status code="2"/>
  <activity-date type="1" iso-date="2022-01-01"/>
  <related-activity ref="XM-1-C" type="2"/>
 </iati-activity>
 <iati-activity hierarchy="2" default-currency="EUR">
  <iati-identifier>XM-1-C</iati-identifier>
  <reporting-org ref="XM-1" type="21"><narrative>Funder</narrative></reporting-org>
  <title><narrative>Child</narrative></title>
  <description><narrative>Child work</narrative></description>
  <participating-org role="4"><narrative>A partner with no ref</narrative></participating-org>
  <activity-status code="2"/>
  <activity-date type="1" iso-date="2022-01-01"/>
  <recipient-country code="KE" percentage="60"/>
  <recipient-country code="UG" percentage="40"/>
  <location><name><narrative>Nairobi</narrative></name></location>
  <sector vocabulary="1" code="12220"><narrative>Basic health care</narrative></sector>
  <budget type="1" status="2">
   <period-start iso-date="2022-01-01"/><period-end iso-date="2022-12-31"/>
   <value currency="EUR" value-date="2022-01-01">500.00</value>
  </budget>
  <transaction>
   <transaction-type code="3"/><transaction-date iso-date="2022-02-01"/>
   <value value-date="2022-02-01">120.50</value>
  </transaction>
  <related-activity ref="XM-1-P" type="1"/>
 </iati-activity>
 <iati-activity hierarchy="2"><iati-identifier>XM-1-STRAY</iati-identifier></iati-activity>
</iati-activities>
"""


def test_a_file_from_elsewhere_is_read_and_what_cannot_be_held_is_said() -> None:
    # when
    read = read_iati(FOREIGN)
    # then
    document = read.document
    assert document is not None, read.problems
    assert document.program.ref == "P"
    # No pledge: the import makes the current budget its pledge (tests/iati/test_round_trip.py)
    assert (document.program.pledged.amount, document.program.pledged.currency) == (None, "EUR")
    (child,) = document.initiatives
    assert (child.code, child.region, child.focus_area) == ("C", "KE", "Basic health care")
    assert [str(t.amount) for t in child.transactions] == ["120.50"]
    assert child.transactions[0].currency == "EUR"  # the activity's default currency
    notes = "\n".join(read.notes)
    assert "not held by the ledger, not read: location" in notes
    assert "2 recipient countries" in notes
    assert "without a ref ('A partner with no ref')" in notes
    assert "'XM-1-STRAY' is not a child" in notes


def test_a_doctype_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><iati-activities/>'
    read = read_iati(bomb)
    assert read.document is None
    assert read.problems[0].code is ErrorCode.DOCUMENT_INVALID


def test_a_file_without_a_parent_activity_is_refused() -> None:
    none = FOREIGN.replace(b'hierarchy="1" default', b'hierarchy="2" default')
    read = read_iati(none)
    assert read.document is None
    assert "at least one parent activity" in read.problems[0].message


def test_a_value_that_is_no_decimal_is_a_problem_at_its_place() -> None:
    read = read_iati(FOREIGN.replace(b">120.50<", b">12O.50<"))
    assert read.document is None
    assert any("transactions[0].amount" in p.place for p in read.problems)


def test_a_value_with_a_vast_exponent_is_a_problem_not_a_vast_number() -> None:
    # "1E+300000000" would be a number of 300 million digits (xsd:decimal has no
    # exponent); a budget's too
    for value in (b"1E+300000000", b"1e5", b"1" * 41):
        read = read_iati(FOREIGN.replace(b">120.50<", b">" + value + b"<"))
        assert read.document is None
        assert any("transactions[0].amount" in p.place for p in read.problems), value


def test_notes_are_listed_up_to_a_limit_and_the_rest_counted() -> None:
    # given: many stray activities, each worth a note
    strays = b"".join(
        b'<iati-activity hierarchy="2"><iati-identifier>XM-1-S%d</iati-identifier>'
        b"</iati-activity>" % n
        for n in range(MAX_LISTED + 50)
    )
    read = read_iati(FOREIGN.replace(b"</iati-activities>", strays + b"</iati-activities>"))
    # then
    assert read.document is not None, read.problems
    assert len(read.notes) <= MAX_LISTED + 1
    assert any(note.startswith("and ") and "more notes" in note for note in read.notes)


def test_what_the_parent_activity_holds_beyond_a_programme_is_said() -> None:
    # given: a parent with money, a sector, a country and a result of its own
    parent_extras = b"""
  <budget type="1" status="2"><period-start iso-date="2022-01-01"/>
   <period-end iso-date="2022-12-31"/><value value-date="2022-01-01">999999.00</value></budget>
  <transaction ref="parent-tx"><transaction-type code="3"/>
   <transaction-date iso-date="2022-02-01"/>
   <value currency="USD" value-date="2022-02-01">12345.00</value></transaction>
  <sector vocabulary="1" code="11110"/>
  <recipient-country code="TZ"/>
  <result type="1"><title><narrative>Teachers: teachers</narrative></title>
   <indicator measure="1"><title><narrative>teachers</narrative></title></indicator></result>
  <related-activity ref="XM-1-C" type="2"/>"""
    marker = b'  <related-activity ref="XM-1-C" type="2"/>'
    # when
    read = read_iati(FOREIGN.replace(marker, parent_extras, 1))
    # then: each is named, with its amount; the initiative's budget is the only one read
    assert read.document is not None, read.problems
    assert [str(line.amount) for line in read.document.initiatives[0].budget_lines] == ["500.00"]
    notes = "\n".join(read.notes)
    assert "budget 2022-01-01..2022-12-31 of 999999.00 EUR is not read" in notes
    assert "transaction 'parent-tx' (type 3, 2022-02-01) of 12345.00 USD is not read" in notes
    assert "the programme's sector 11110, recipient-country TZ not read" in notes
    assert "the programme's result 'Teachers: teachers' is not read" in notes
    assert "activity-status 2 is not read" in notes


MEASURES = """budgetOriginal { amount currency } budgetCurrent { amount } committed { amount }
              disbursed { amount } spent { amount } variance { amount }
              budgetRevision { amount } count"""
EVERY_GROUPING = """
query Every($groupBy: [BudgetDimension!]!, $currency: String) {
  budgetSummary(groupBy: $groupBy, currency: $currency) {
    currency groupCount
    groups { key { program { ref } initiative { code } beneficiaryGroup { code name }
                   focusArea region category transactionType year quarter month }
             measures { MEASURES } }
    total { MEASURES } others { MEASURES }
    ratesUsed { currency rate rateDate source inverted records original { amount } }
  }
}
""".replace("MEASURES", MEASURES)

FIGURES = """
{
  program { ref name pledged { amount currency } announcedOn deadline sponsor { ref } }
  initiatives(first: 100, orderBy: [{field: POSITION}]) { nodes {
    code title status region focusArea plannedStart actualStart plannedEnd actualEnd
    budget { amount currency }
    beneficiaries { nodes { group { code name } unit target targetDate reached
                            reachedQualifier reachedAsOf approvedBy approvedAt } }
  } }
  reachReport { totals { group { code } unit figureCount figuresWithTarget
                         figuresWithReach target reached reachedQualifier shareReached } }
  timelineReport(asOfDate: "2026-01-01") {
    milestonesByStatus { status count }
    initiatives(first: 100) { nodes { initiative { code } milestoneCount achievedCount
      overdueCount slippedCount largestSlippageDays onTrack } }
    lateMilestones(first: 100) { nodes { milestone { title plannedDate actualDate status }
      slippageDays daysOverdue daysLate } }
  }
}
"""

DIMENSIONS = [
    "PROGRAM", "INITIATIVE", "FOCUS_AREA", "BENEFICIARY_GROUP", "REGION", "CATEGORY",
    "TRANSACTION_TYPE", "YEAR", "QUARTER", "MONTH",
]  # fmt: skip


async def every_report(client: GraphQLClient, currencies: list[str]) -> dict[str, Any]:
    figures = await client.data(FIGURES)
    for initiative in figures["initiatives"]["nodes"]:  # a list in no stated order
        initiative["beneficiaries"]["nodes"].sort(key=lambda f: (f["group"]["code"], f["unit"]))
    found = {"figures": figures}
    groupings = [[d] for d in DIMENSIONS] + [["INITIATIVE", "BENEFICIARY_GROUP", "YEAR"]]
    for currency in currencies:
        for group_by in groupings:
            variables = {"groupBy": group_by, "currency": currency}
            found[f"{currency} {group_by}"] = await client.data(EVERY_GROUPING, variables)
    return found


async def test_a_generated_programme_of_many_currencies_reads_back_to_the_same_reports(
    db: Database, client: GraphQLClient
) -> None:
    # given: what `generate` writes: budgets and transactions in several currencies,
    # rates between them, beneficiary shares, milestones, reaches approved by no one named
    async with db.sessions() as session, session.begin():
        ref = (await generate(session, Sizes(6, 18, 120, 11))).program_ref
    async with db.sessions() as session:
        held = set(await session.scalars(select(m.Transaction.currency)))
        held |= set(await session.scalars(select(m.BudgetLine.currency)))
        # The currencies the rates convert into (a report in any other has no rate).
        currencies = set(await session.scalars(select(m.ExchangeRate.quote)))
    assert len(held) > 1 and currencies
    before = await every_report(client, sorted(currencies))
    # The ledger's marks (rates, shares, milestones, groups) keep the file valid IATI.
    exported = await export_file(db.sessions, program_ref=ref, moment=None)
    assert_valid(exported.xml)
    # when: exported, the database emptied, the file read back in
    notes = await round_trip(db, ref)
    # then: every grouping and figure to the cent, in every currency reports convert into
    after = await every_report(client, sorted(currencies))
    assert after == before
    assert notes == []


def test_what_a_foreign_activity_holds_beyond_the_ledger_is_said_not_misread() -> None:
    # given: descriptions of two types (objectives first), an organisation in a role the
    # ledger has no name for, a planned disbursement, a transaction's sector and flags,
    # a percentage indicator and a count with a baseline
    child = FOREIGN.replace(
        b"<description><narrative>Child work</narrative></description>",
        b'<description type="2"><narrative>Aims</narrative></description>'
        b'<description type="1"><narrative>Child work</narrative></description>'
        b'<participating-org ref="XM-9" role="9"><narrative>Odd</narrative></participating-org>',
    ).replace(
        b'<value value-date="2022-02-01">120.50</value>',
        b'<value value-date="2022-02-01">120.50</value><sector vocabulary="1" code="12220"/>'
        b'<flow-type code="10"/>',
    )
    child = child.replace(b"<transaction>", b'<transaction humanitarian="1">')
    child = child.replace(
        b'<related-activity ref="XM-1-P" type="1"/>',
        b"""<planned-disbursement type="1"><period-start iso-date="2022-01-01"/>
   <period-end iso-date="2022-06-30"/><value value-date="2022-01-01">250</value>
  </planned-disbursement>
  <related-activity ref="XM-1-P" type="1"/>
  <result type="2"><title><narrative>Access rate</narrative></title>
   <indicator measure="2"><title><narrative>percent</narrative></title>
    <period><period-start iso-date="2022-01-01"/><period-end iso-date="2022-12-31"/>
     <target value="80"/><actual value="50"/></period></indicator></result>
  <result type="1"><title><narrative>Households: households</narrative></title>
   <indicator measure="1"><title><narrative>households</narrative></title>
    <baseline year="2021" iso-date="2021-01-01" value="35"/>
    <period><period-start iso-date="2022-01-01"/><period-end iso-date="2022-12-31"/>
     <target value="1000"/><actual value="200"/></period></indicator></result>""",
    )
    # when
    read = read_iati(child)
    # then: the general description is the summary; the percentage is no count
    assert read.document is not None, read.problems
    (initiative,) = read.document.initiatives
    assert initiative.summary == "Child work"
    assert [(f.unit, str(f.target_value)) for f in initiative.beneficiaries] == [
        ("households", "1000")
    ]
    assert [p.org for p in initiative.participants] == []
    notes = "\n".join(read.notes)
    assert "a description of type 2 (objectives) is not read" in notes
    assert "organisation 'XM-9' in role '9' is not read" in notes
    assert "planned disbursement 2022-01-01..2022-06-30 of 250 EUR is not read" in notes
    assert "@humanitarian (1), flow-type (1), sector (1) not read" in notes
    assert "result 'Access rate' is not read: its indicator measures a percentage" in notes
    assert "its baseline (35, 2021-01-01) is not read" in notes


def _parents(count: int, marks: str = "") -> bytes:
    """A file of `count` parent activities (the second of them with a child that shares
    in the group 'women'), then the ledger's own `marks`."""
    parents = "".join(
        f'<iati-activity hierarchy="1" default-currency="EUR"><iati-identifier>XM-1-P{n}'
        '</iati-identifier><reporting-org ref="XM-1"/></iati-activity>'
        for n in range(count)
    )
    child = (
        '<iati-activity hierarchy="2"><iati-identifier>XM-1-C</iati-identifier>'
        '<reporting-org ref="XM-1"/><related-activity ref="XM-1-P1" type="1"/>'
        '<ledger:share group="women" name="Named by the share" percentage="100"/>'
        "</iati-activity>"
    )
    return (
        f'<iati-activities version="2.03" xmlns:ledger="{LEDGER_NS}">'
        f"{parents}{child}{marks}</iati-activities>"
    ).encode()


RATES = "".join(
    f'<ledger:exchange-rate base="USD" quote="EUR" rate="0.9" rate-date="2025-01-{day:02}" '
    'source="ecb"/>'
    for day in range(1, 6)
)
MARKS = (
    '<ledger:source ref="ecb" title="ECB rates"/>'
    '<ledger:beneficiary-group code="women" name="Women"/>'
    '<ledger:beneficiary-group code="youth" name="Youth"/>' + RATES
)


def test_the_files_shared_marks_are_carried_once_not_by_every_programme() -> None:
    # given: three programmes and five rates, a source and two groups of the file's marks
    read = read_iati(_parents(3, MARKS))
    # then: the first document carries each mark once; the others only what they name
    assert len(read.documents) == 3, read.problems
    first, second, third = read.documents
    assert len(first.exchange_rates) == 5
    assert [s.ref for s in first.sources] == ["ecb"]
    assert sorted(g.code for g in first.beneficiary_groups) == ["women", "youth"]
    assert sum(len(d.exchange_rates) for d in read.documents) == 5
    # the group the second programme's initiative names, as the file marks it
    assert [(g.code, g.name) for g in second.beneficiary_groups] == [("women", "Women")]
    assert third.beneficiary_groups == [] and third.sources == []


def test_more_parent_activities_than_a_backup_holds_are_refused_before_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: one parent more than the limit of programmes in one file
    monkeypatch.setattr(reader, "MAX_DOCUMENTS", 3)
    read = read_iati(_parents(4, MARKS))
    # then: refused for its parents, the file's own count (no intermediate size)
    assert read.documents == []
    [problem] = read.problems
    assert problem.code is ErrorCode.DOCUMENT_TOO_LARGE
    assert "4 parent activities" in problem.message and "at most 3" in problem.message
    assert len(read_iati(_parents(3, MARKS)).documents) == 3


@pytest.mark.parametrize(
    ("mark", "named"),
    [
        ('<ledger:beneficiary-group code="women" name="Other"/>', "code='women'"),
        ('<ledger:source ref="ecb" title="Other"/>', "ref='ecb'"),
    ],
)
def test_a_shared_record_marked_twice_is_refused_not_replaced(mark: str, named: str) -> None:
    read = read_iati(_parents(2, MARKS + mark))
    assert read.documents == []
    [problem] = read.problems
    assert problem.code is ErrorCode.DOCUMENT_INVALID
    assert named in problem.message and "twice" in problem.message


def test_two_parent_activities_of_one_identifier_are_refused() -> None:
    twice = _parents(2).replace(b"XM-1-P1</iati", b"XM-1-P0</iati")
    read = read_iati(twice)
    assert read.documents == []
    [problem] = read.problems
    assert problem.code is ErrorCode.DOCUMENT_INVALID
    assert "'XM-1-P0'" in problem.message
