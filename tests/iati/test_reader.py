"""Reading an IATI file into the ledger: the ledger's own file comes back whole (the
same reports to the cent), and what cannot be mapped is said, never dropped."""

from __future__ import annotations

from typing import Any

from app.audit.records import SYSTEM_ROLE, Actor
from app.demo.loader import load_demo
from app.errors import ErrorCode
from app.iati.reader import read_iati
from app.iati.service import export_file
from app.imports.apply import import_document
from app.imports.report import MAX_LISTED, Report
from tests.conftest import Database, GraphQLClient, empty_tables
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


def test_two_programmes_in_one_file_are_refused() -> None:
    two = FOREIGN.replace(b'hierarchy="2" default', b'hierarchy="1" default')
    read = read_iati(two)
    assert read.document is None
    assert "one parent activity" in read.problems[0].message


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
