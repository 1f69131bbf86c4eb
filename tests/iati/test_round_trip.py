"""An IATI file read back into a ledger: into its own ledger it changes nothing (rows
without a ref included), and a file from elsewhere re-read after a change updates only
what changed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.audit.records import SYSTEM_ROLE, Actor
from app.demo.loader import load_demo
from app.errors import DomainError, ErrorCode
from app.iati.reader import read_iati
from app.iati.service import export_file
from app.imports.apply import import_document, run_import
from app.imports.report import Action, Report
from app.synthetic.generator import Sizes
from app.synthetic.service import generate
from tests import factories as f
from tests.conftest import Database, empty_tables
from tests.iati.pledges import full_pledge
from tests.imports.documents import FIELDS

IMPORTER = Actor("iati-round-trip-test", SYSTEM_ROLE)
TABLES: tuple[type[Any], ...] = (
    m.Organization,
    m.Program,
    m.Initiative,
    m.Participation,
    m.BudgetLine,
    m.Transaction,
    m.Milestone,
    m.BeneficiaryGroup,
    m.BeneficiaryFigure,
    m.SourceDocument,
    m.Citation,
    m.Change,
)


async def _rows(db: Database) -> dict[str, int]:
    async with db.sessions() as session:
        return {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model)) or 0
            for model in TABLES
        }


async def _transactions(db: Database, program_ref: str) -> int:
    async with db.sessions() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(m.Transaction)
            .join(m.Initiative, m.Initiative.id == m.Transaction.initiative_id)
            .join(m.Program, m.Program.id == m.Initiative.program_id)
            .where(m.Program.ref == program_ref)
        )
        return found or 0


async def _import(db: Database, xml: bytes) -> Report:
    read = read_iati(xml)
    assert read.document is not None, read.problems
    async with db.sessions() as session, session.begin():
        report = await import_document(
            session, read.document, IMPORTER, Report(False), fields=FIELDS
        )
        assert not report.refused, report.problems
    report.notes.extend(read.notes)
    return report


def _done(report: Report, action: Action) -> dict[str, int]:
    return {kind: counts[action] for kind, counts in report.counts.items() if counts[action]}


async def _demo(db: Database) -> str:
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    return "alibaba-common-prosperity-2021"


async def _without_refs(db: Database) -> str:
    """Budget lines and transactions written without refs, as the API and the generator
    write them."""
    return (await full_pledge(db)).program_ref


async def _generated(db: Database) -> str:
    """What `generate` writes: no refs, originals and revisions of several periods."""
    async with db.sessions() as session, session.begin():
        return (await generate(session, Sizes(4, 16, 200, 7))).program_ref


async def _dateless_and_uncategorised(db: Database) -> str:
    """An initiative without dates (the file gives it the programme's, as IATI needs one)
    citing a source without a category and one whose category's code reads back as
    another ("objectives" is A02, as "news-article" is)."""
    pledge = await full_pledge(db)
    async with db.sessions() as session, session.begin():
        program = (await session.scalars(select(m.Program))).one()
        program.announced_on, program.deadline = date(2021, 8, 17), date(2025, 12, 31)
        bare = await f.initiative(session, program, code="BARE", focus_area=None)
        for ref, category in (("plain", None), ("aims", "objectives")):
            source = m.SourceDocument(
                ref=ref, title=ref, url=f"https://example.org/{ref}", category=category
            )
            session.add(source)
            await session.flush()
            session.add(
                m.Citation(
                    source_document_id=source.id,
                    subject_type=m.SubjectType.INITIATIVE,
                    subject_id=bare.id,
                    quote="words",
                )
            )
    return pledge.program_ref


@pytest.mark.parametrize(
    "given",
    [_demo, _without_refs, _generated, _dateless_and_uncategorised],
    ids=["demo", "without-refs", "generated", "dateless-uncategorised"],
)
async def test_an_export_imported_into_its_own_ledger_writes_nothing(
    db: Database, given: Callable[[Database], Awaitable[str]]
) -> None:
    # given
    program_ref = await given(db)
    before = await _rows(db)
    exported = await export_file(db.sessions, program_ref=program_ref, moment=None)
    # when
    report = await _import(db, exported.xml)
    # then: every row found again, none changed, none created
    assert report.rows == [], [row.as_json() for row in report.rows]
    assert report.changes == 0
    unchanged = _done(report, Action.UNCHANGED)
    assert unchanged["initiative"] > 0 and unchanged["budget_line"] > 0
    assert unchanged.get("transaction", 0) == await _transactions(db, program_ref)
    assert await _rows(db) == before


# A file from elsewhere: no pledge, transactions without refs, budgets without marks.
FOREIGN = """<?xml version="1.0" encoding="UTF-8"?>
<iati-activities version="2.03">
 <iati-activity hierarchy="1" default-currency="EUR">
  <iati-identifier>XM-1-P</iati-identifier>
  <reporting-org ref="XM-1" type="21"><narrative>Funder</narrative></reporting-org>
  <title><narrative>Programme</narrative></title>
  <activity-date type="1" iso-date="2022-01-01"/>
 </iati-activity>
 <iati-activity hierarchy="2" default-currency="EUR">
  <iati-identifier>XM-1-C</iati-identifier>
  <reporting-org ref="XM-1" type="21"><narrative>Funder</narrative></reporting-org>
  <title><narrative>Child</narrative></title>
  <activity-status code="2"/>
  <activity-date type="1" iso-date="2022-01-01"/>
  {budgets}
  {transactions}
  <related-activity ref="XM-1-P" type="1"/>
 </iati-activity>
</iati-activities>
"""

BUDGETS = """
  <budget type="1" status="2">
   <period-start iso-date="2022-01-01"/><period-end iso-date="2022-12-31"/>
   <value value-date="2022-01-01">500.00</value>
  </budget>
  <budget type="2" status="2">
   <period-start iso-date="2022-01-01"/><period-end iso-date="2022-12-31"/>
   <value value-date="2022-06-01">450.00</value>
  </budget>
  <budget type="2" status="2">
   <period-start iso-date="2022-01-01"/><period-end iso-date="2022-12-31"/>
   <value value-date="2022-03-01">400.00</value>
  </budget>
"""

ORIGINAL = BUDGETS.split('  <budget type="2"')[0]


def _transaction(day: str, amount: str, words: str = "paid") -> str:
    return f"""
  <transaction>
   <transaction-type code="3"/><transaction-date iso-date="{day}"/>
   <value value-date="{day}">{amount}</value>
   <description><narrative>{words}</narrative></description>
  </transaction>"""


def _foreign(transactions: list[str], budgets: str = BUDGETS) -> bytes:
    text = FOREIGN.replace("{budgets}", budgets).replace("{transactions}", "".join(transactions))
    return text.encode("utf-8")


async def _pledge(db: Database) -> tuple[Decimal, str]:
    async with db.sessions() as session:
        program = (await session.scalars(select(m.Program))).one()
        return program.pledged_amount, program.pledged_currency


async def test_a_file_without_a_pledge_takes_its_current_budget_by_the_one_rule(
    db: Database,
) -> None:
    # when: an original of 500 and two revisions of the year, the later-dated one (450)
    # listed first
    report = await _import(db, _foreign([_transaction("2022-02-01", "120.50")]))
    # then: the latest revision by value date is the current budget (finance's rule)
    assert await _pledge(db) == (Decimal("450.00"), "EUR")
    assert any("states no pledge" in note and "450.00 EUR" in note for note in report.notes)


async def test_a_transaction_inserted_in_a_foreign_file_updates_nothing_else(
    db: Database,
) -> None:
    # given: two transactions without refs, one repeated exactly
    first = [
        _transaction("2022-02-01", "120.50"),
        _transaction("2022-03-01", "80.00", "fees"),
        _transaction("2022-03-01", "80.00", "fees"),
    ]
    await _import(db, _foreign(first, ORIGINAL))
    # when: another is inserted before them
    report = await _import(db, _foreign([_transaction("2022-01-15", "10.00"), *first], ORIGINAL))
    # then: only it is new; the others (the repeat too) are found again, unchanged
    assert _done(report, Action.CREATE) == {"transaction": 1}
    assert _done(report, Action.UPDATE) == {}
    assert _done(report, Action.UNCHANGED)["transaction"] == 3
    assert _done(report, Action.UNCHANGED)["program"] == 1  # its pledge stays
    assert any("keyed by its type, date, value" in note for note in report.notes)
    async with db.sessions() as session:
        amounts = sorted(await session.scalars(select(m.Transaction.amount)))
    assert amounts == [Decimal("10.00"), Decimal("80.00"), Decimal("80.00"), Decimal("120.50")]


MARKED = """<?xml version="1.0" encoding="UTF-8"?>
<iati-activities version="2.03" xmlns:ledger="urn:x-pledge-ledger:iati:1">
 <iati-activity hierarchy="1" default-currency="EUR">
  <iati-identifier>XM-1-P</iati-identifier>
  <reporting-org ref="XM-1" type="21"><narrative>Funder</narrative></reporting-org>
  <title><narrative>Programme</narrative></title>
  <activity-date type="1" iso-date="2022-01-01"/>
  <ledger:programme ref="P" pledged="1000" currency="EUR"/>
 </iati-activity>
 <iati-activity hierarchy="2" default-currency="EUR">
  <iati-identifier>XM-1-C</iati-identifier>
  <reporting-org ref="XM-1" type="21"><narrative>Funder</narrative></reporting-org>
  <title><narrative>Child</narrative></title>
  <activity-status code="2"/>
  <activity-date type="1" iso-date="2022-01-01"/>
  <budget type="1" status="2" ledger:line="L1">
   <period-start iso-date="2022-01-01"/><period-end iso-date="2022-12-31"/>
   <value currency="EUR" value-date="2022-01-01">100.00</value>
  </budget>
  <budget type="1" status="2" ledger:line="L1">
   <period-start iso-date="2023-01-01"/><period-end iso-date="2023-12-31"/>
   <value currency="USD" value-date="2022-01-01">70.00</value>
  </budget>
  <budget type="1" status="1" ledger:line="L1">
   <period-start iso-date="2023-01-01"/><period-end iso-date="2023-12-31"/>
   <value currency="EUR" value-date="2022-01-01">5.00</value>
  </budget>
  <budget type="1" status="2" ledger:line="L1">
   <period-start iso-date="2023-01-01"/><period-end iso-date="2023-12-31"/>
   <value currency="EUR" value-date="2022-01-01">30.00</value>
  </budget>
  <related-activity ref="XM-1-P" type="1"/>
 </iati-activity>
</iati-activities>
"""


def test_budgets_of_one_line_are_summed_only_like_with_like() -> None:
    # when
    read = read_iati(MARKED.encode("utf-8"))
    # then: EUR committed parts are one line; USD and the indicative part lines of their own
    assert read.document is not None, read.problems
    (child,) = read.document.initiatives
    lines = {
        line.ref: (str(line.amount), line.currency, line.status.value, str(line.period_start))
        for line in child.budget_lines
    }
    assert lines == {
        "L1": ("130.00", "EUR", "committed", "2022-01-01"),
        "L1-2": ("70.00", "USD", "committed", "2023-01-01"),
        "L1-3": ("5.00", "EUR", "indicative", "2023-01-01"),
    }
    assert any("differ in currency, type or status" in note for note in read.notes)


async def test_an_export_read_into_a_fresh_ledger_reads_into_it_again_unchanged(
    db: Database,
) -> None:
    # given: rows without refs, exported, read into an empty database
    pledge = await full_pledge(db)
    exported = await export_file(db.sessions, program_ref=pledge.program_ref, moment=None)
    await empty_tables(db.engine)
    await _import(db, exported.xml)
    before = await _rows(db)
    # when: the same file again
    report = await _import(db, exported.xml)
    # then: the keys it created them with find them
    assert report.changes == 0 and report.rows == []
    assert await _rows(db) == before


async def test_a_ref_that_spells_another_rows_id_is_not_published(db: Database) -> None:
    # given: one transaction imported with the ref another's id would be exported as
    pledge = await full_pledge(db)
    async with db.sessions() as session, session.begin():
        rows = await session.scalars(select(m.Transaction).order_by(m.Transaction.id))
        first, second = rows.all()[:2]
        assert first.initiative_id == second.initiative_id
        second.ref = f"transaction-{first.id}"
    # when
    with pytest.raises(DomainError) as refused:
        await export_file(db.sessions, program_ref=pledge.program_ref, moment=None)
    # then: a file naming both so could not be read back
    assert refused.value.code is ErrorCode.NOT_PUBLISHABLE
    assert f"'transaction-{first.id}'" in refused.value.message


async def test_a_whole_ledger_file_of_several_programmes_reads_back_a_programme_each(
    db: Database,
) -> None:
    # given: two programmes, exported as one file (every programme)
    await _demo(db)
    await full_pledge(db)
    before = await _rows(db)
    exported = await export_file(db.sessions, program_ref=None, moment=None)
    # when: read into the ledger it came from, then into an empty one
    read = read_iati(exported.xml)
    assert len(read.documents) == 2, read.problems
    again = await _import_all(db, exported.xml)
    await empty_tables(db.engine)
    fresh = await _import_all(db, exported.xml)
    # then: nothing changes in its own ledger; an empty one gets both programmes whole
    assert again.rows == [] and again.changes == 0
    assert fresh.counts["program"][Action.CREATE] == 2
    after = await _rows(db)
    for table in ("citations", "changes"):  # IATI carries no citations; the trail is new
        del after[table], before[table]
    assert after == before


async def _import_all(db: Database, xml: bytes) -> Report:
    report = await run_import(
        db.sessions, xml, IMPORTER, dry_run=False, fields=FIELDS, reader=read_iati
    )
    assert not report.refused, report.problems
    return report
