"""What a re-imported file leaves out stays as stored; what it gives as null is cleared;
and the programme is held to its domain's one rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app import models as m
from app.errors import ErrorCode
from app.imports.apply import run_import
from app.imports.report import Action, Report
from tests.conftest import Database
from tests.imports.documents import ACTOR, FIELDS, as_json, small


async def _import(db: Database, document: dict[str, Any]) -> Report:
    report = await run_import(db.sessions, as_json(document), ACTOR, dry_run=False, fields=FIELDS)
    assert not report.refused, report.problems
    return report


async def _one(db: Database, model: type[Any], *where: Any) -> Any:
    async with db.sessions() as session:
        return (await session.scalars(select(model).where(*where))).one()


def _full() -> dict[str, Any]:
    document = small()
    document["program"]["governance_body"] = "Board of trustees"
    initiative = document["initiatives"][0]
    initiative |= {"summary": "Ten classrooms", "focus_area": "education"}
    initiative["milestones"][0]["forecast_date"] = "2024-09-01"
    initiative["budget_lines"][0] |= {"category": "construction", "description": "walls"}
    initiative["transactions"][0]["description"] = "first payment"
    return document


async def test_a_field_left_out_of_a_file_keeps_its_stored_value(db: Database) -> None:
    # given
    document = _full()
    await _import(db, document)
    # when: the same file without those fields
    initiative = document["initiatives"][0]
    del document["program"]["governance_body"]
    del initiative["summary"], initiative["focus_area"]
    del initiative["milestones"][0]["forecast_date"]
    del initiative["budget_lines"][0]["category"], initiative["budget_lines"][0]["description"]
    del initiative["transactions"][0]["description"]
    report = await _import(db, document)
    # then: nothing changed, and the report says so
    assert report.rows == [] and report.changes == 0
    assert report.counts["milestone"][Action.UNCHANGED] == 1
    assert (await _one(db, m.Program)).governance_body == "Board of trustees"
    stored = await _one(db, m.Initiative, m.Initiative.code == "AS-1")
    assert (stored.summary, stored.focus_area) == ("Ten classrooms", "education")
    stone = await _one(db, m.Milestone, m.Milestone.ref == "M1")
    assert stone.forecast_date == date(2024, 9, 1)
    line = await _one(db, m.BudgetLine, m.BudgetLine.ref == "B1")
    assert (line.category, line.description) == ("construction", "walls")
    tx = await _one(db, m.Transaction, m.Transaction.ref == "T1", m.Transaction.amount > 50000)
    assert tx.description == "first payment"


async def test_a_pledge_without_its_amount_keeps_the_stored_pledge(db: Database) -> None:
    # given
    document = small()
    await _import(db, document)
    # when: a nested field left out
    del document["program"]["pledged"]["amount"]
    report = await _import(db, document)
    # then
    assert report.counts["program"][Action.UNCHANGED] == 1 and report.changes == 0
    program = await _one(db, m.Program)
    assert (program.pledged_amount, program.pledged_currency) == (Decimal("1000000.00"), "EUR")


async def test_a_field_given_as_null_clears_the_stored_value(db: Database) -> None:
    # given
    document = _full()
    await _import(db, document)
    # when
    initiative = document["initiatives"][0]
    initiative["milestones"][0]["forecast_date"] = None
    initiative["summary"] = None
    report = await _import(db, document)
    # then: only those fields, each reported
    assert {(row.kind, row.fields) for row in report.rows} == {
        ("milestone", ("forecast_date",)),
        ("initiative", ("summary",)),
    }
    assert (await _one(db, m.Milestone, m.Milestone.ref == "M1")).forecast_date is None
    assert (await _one(db, m.Initiative, m.Initiative.code == "AS-1")).summary is None


async def test_a_programme_is_held_to_the_rule_a_mutation_applies(db: Database) -> None:
    # given: announced tomorrow (createProgram refuses that)
    document = small()
    document["program"]["announced_on"] = (date.today() + timedelta(days=2)).isoformat()
    # when
    report = await run_import(db.sessions, as_json(document), ACTOR, dry_run=False, fields=FIELDS)
    # then
    assert report.refused and not report.written
    assert [(p.place, p.code) for p in report.problems] == [
        ("program.announced_on", ErrorCode.VALIDATION)
    ]


async def test_a_changed_reach_without_an_approval_is_approved_by_the_importer(
    db: Database,
) -> None:
    # given: a reach the file approved by name
    document = small()
    figure = document["initiatives"][0]["beneficiaries"][0]
    figure |= {"approved_by": "auditor-1", "approved_at": "2024-07-01T00:00:00Z"}
    await _import(db, document)
    # when: the reach changes and the file names no approval
    del figure["approved_by"], figure["approved_at"]
    figure["reached_value"] = "450"
    await _import(db, document)
    # then: the importer answers for the reach it wrote
    stored = await _one(db, m.BeneficiaryFigure)
    assert stored.reached_value == 450
    assert stored.approved_by == ACTOR.name and stored.approved_at is not None


async def test_a_draft_without_the_reach_keeps_the_stored_reach_and_its_approval(
    db: Database,
) -> None:
    # given: a reach approved by name
    document = small()
    figure = document["initiatives"][0]["beneficiaries"][0]
    figure |= {"approved_by": "auditor-1", "approved_at": "2024-07-01T00:00:00Z"}
    await _import(db, document)
    # when: a file gives only a draft for the figure, no reach and no approval
    del figure["reached_value"], figure["reached_as_of"], figure["target_value"]
    del figure["approved_by"], figure["approved_at"]
    figure["draft"] = {"value": "500", "submitted_by": "editor-1"}
    await _import(db, document)
    # then: the reach and who approved it stay; the draft waits beside them
    stored = await _one(db, m.BeneficiaryFigure)
    assert (stored.reached_value, stored.target_value) == (300, 1200)
    assert stored.approved_by == "auditor-1"
    assert (stored.draft_reached_value, stored.draft_submitted_by) == (500, "editor-1")


async def test_an_approval_or_a_submission_still_to_come_is_refused(db: Database) -> None:
    # given: a reach approved a minute from now, and a draft submitted in 2099
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    document = small()
    figure = document["initiatives"][0]["beneficiaries"][0]
    figure |= {"approved_by": "auditor-1", "approved_at": soon}
    figure["draft"] = {
        "value": "500",
        "submitted_by": "editor-1",
        "submitted_at": "2099-01-01T00:00:00Z",
    }
    # when
    report = await run_import(db.sessions, as_json(document), ACTOR, dry_run=False, fields=FIELDS)
    # then
    assert report.refused and not report.written
    assert [(p.place, p.code) for p in report.problems] == [
        ("initiatives[0].beneficiaries[0].approved_at", ErrorCode.VALIDATION),
        ("initiatives[0].beneficiaries[0].draft.submitted_at", ErrorCode.VALIDATION),
    ]
    assert "in the future" in report.problems[0].message
