"""`run_import`: a whole programme from one file, all or nothing, re-importable."""

from __future__ import annotations

import gc
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app import demo
from app import models as m
from app.audit.service import compare_tables, verify
from app.demo.loader import DEMO_FILE
from app.imports.apply import run_import
from app.imports.report import Action, Report
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.imports.documents import ACTOR, FIELDS, as_json, as_yaml, small


async def _import(db: Database, data: bytes, *, dry_run: bool = False) -> Report:
    return await run_import(db.sessions, data, ACTOR, dry_run=dry_run, fields=FIELDS)


async def _entries(db: Database) -> list[m.Change]:
    async with db.sessions() as session:
        return list(await session.scalars(select(m.Change).order_by(m.Change.sequence)))


async def _count(db: Database, model: type[Any]) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


def _summary(report: Report, action: Action) -> dict[str, int]:
    return {kind: counts[action] for kind, counts in report.counts.items() if counts[action]}


async def test_a_dry_run_reports_what_it_would_create_and_writes_nothing(db: Database) -> None:
    # given
    data = as_yaml(small())
    # when
    report = await _import(db, data, dry_run=True)
    # then
    assert not report.refused and not report.written
    assert _summary(report, Action.CREATE) == {
        "source": 1,
        "organization": 2,
        "program": 1,
        "exchange_rate": 1,
        "beneficiary_group": 1,
        "initiative": 2,
        "participation": 2,
        "budget_line": 1,
        "transaction": 4,
        "milestone": 1,
        "beneficiary_figure": 1,
        "beneficiary_share": 1,
        "citation": 2,
    }
    assert {"place": "initiatives[1].transactions[1]", "kind": "transaction", "key": "T2",
            "action": "create"} in report.as_json()["rows"]  # fmt: skip
    assert await _entries(db) == []
    assert await _count(db, m.Program) == 0


async def test_an_import_writes_every_row_with_its_trail_entry(db: Database) -> None:
    # when
    report = await _import(db, as_json(small()))
    # then
    assert report.written and not report.refused
    entries = await _entries(db)
    assert len(entries) == report.changes == 20
    assert {e.operation for e in entries} == {"create"}
    assert {e.actor_name for e in entries} == {ACTOR.name}
    assert await _count(db, m.Transaction) == 4
    async with db.sessions() as session:
        t2 = await session.scalar(
            select(m.Transaction).where(m.Transaction.ref == "T2", m.Transaction.currency == "USD")
        )
        figure = await session.scalar(select(m.BeneficiaryFigure))
    assert t2 is not None and t2.amount == Decimal("5000") and t2.value_date == t2.transaction_date
    assert figure is not None and figure.approved_by == ACTOR.name


async def test_a_refused_row_writes_nothing_and_is_named_with_its_code(db: Database) -> None:
    # given: one amount with more decimals than euros have
    document = small()
    document["initiatives"][1]["transactions"][1]["amount"] = "7500.005"
    # when
    report = await _import(db, as_json(document))
    # then
    assert report.refused and not report.written
    [problem] = report.as_json()["errors"]
    assert problem["place"] == "initiatives[1].transactions[1].amount"
    assert problem["code"] == "VALIDATION"
    assert "EUR" in problem["message"]
    assert await _entries(db) == []
    assert await _count(db, m.Organization) == 0


async def test_an_unknown_reference_is_refused_where_it_is_named(db: Database) -> None:
    # given
    document = small()
    document["initiatives"][0]["transactions"][0]["receiver"] = "nobody"
    # when
    report = await _import(db, as_json(document))
    # then
    assert [(p.place, p.code.value) for p in report.problems] == [
        ("initiatives[0].transactions[0].receiver", "NOT_FOUND")
    ]
    assert await _entries(db) == []


async def test_money_no_rate_converts_is_refused_as_a_mutation_would_be(db: Database) -> None:
    # given: a transaction in yen, and no JPY rate
    document = small()
    document["initiatives"][1]["transactions"][0]["currency"] = "JPY"
    document["initiatives"][1]["transactions"][0]["amount"] = "20000"
    # when
    report = await _import(db, as_yaml(document), dry_run=True)
    # then
    [problem] = report.problems
    assert (problem.place, problem.code.value) == (
        "initiatives[1].transactions[0].currency",
        "RATE_NOT_FOUND",
    )


async def test_importing_the_same_file_again_writes_nothing(db: Database) -> None:
    # given
    data = as_yaml(small())
    await _import(db, data)
    before = await _entries(db)
    # when
    again = await _import(db, data)
    # then
    assert not again.refused and again.changes == 0
    assert _summary(again, Action.UNCHANGED)["transaction"] == 4
    assert [e.hash for e in await _entries(db)] == [e.hash for e in before]


async def test_a_changed_amount_is_one_new_version_in_the_trail(db: Database) -> None:
    # given
    document = small()
    await _import(db, as_json(document))
    before = len(await _entries(db))
    # when
    document["initiatives"][1]["transactions"][1]["amount"] = "8000.00"
    report = await _import(db, as_json(document))
    # then
    assert [row.as_json() for row in report.rows] == [
        {
            "place": "initiatives[1].transactions[1]",
            "kind": "transaction",
            "key": "T2",
            "action": "update",
            "fields": ["amount"],
        }
    ]
    entries = await _entries(db)
    [entry] = entries[before:]
    assert (entry.entity_type, entry.operation) == ("transactions", "update")
    assert json.loads(entry.before or "")["amount"] == "7500.00"
    after = json.loads(entry.after or "")
    assert (after["amount"], after["version"]) == ("8000.00", 2)


async def test_records_absent_from_the_file_are_left_alone(db: Database) -> None:
    # given
    document = small()
    await _import(db, as_json(document))
    # when: the second initiative and a transaction of the first are left out
    del document["initiatives"][1]
    del document["initiatives"][0]["transactions"][1]
    report = await _import(db, as_json(document))
    # then
    assert report.changes == 0 and "never deletes" in report.as_json()["note"]
    assert await _count(db, m.Initiative) == 2
    assert await _count(db, m.Transaction) == 4


async def test_a_revised_budget_passing_the_pledge_is_refused(db: Database) -> None:
    # given
    document = small()
    document["initiatives"][0]["budget_lines"][0]["amount"] = "1000000.01"
    # when
    report = await _import(db, as_json(document))
    # then
    assert [(p.place, p.code.value) for p in report.problems] == [
        ("program.pledged.amount", "PLEDGE_EXCEEDED")
    ]
    assert await _entries(db) == []


def _line(ref: str, start: str, end: str, kind: str, amount: str = "1000.00") -> dict[str, Any]:
    return {"ref": ref, "period_start": start, "period_end": end, "type": kind,
            "status": "committed", "amount": amount, "currency": "EUR"}  # fmt: skip


async def test_a_periods_second_original_and_a_revision_without_one_are_refused(
    db: Database,
) -> None:
    # given: B1 is the original of 2024; a second original of 2024, a revision of 2025
    # (which has none), and a revision of 2024 (which is right)
    document = small()
    document["initiatives"][0]["budget_lines"] += [
        _line("B2", "2024-01-01", "2024-12-31", "original"),
        _line("B3", "2025-01-01", "2025-12-31", "revised"),
        _line("B4", "2024-01-01", "2024-12-31", "revised", "350000.00"),
    ]
    # when
    report = await _import(db, as_json(document))
    # then
    assert sorted((p.place, p.code.value) for p in report.problems) == [
        ("initiatives[0].budget_lines[1].type", "VALIDATION"),
        ("initiatives[0].budget_lines[2].type", "VALIDATION"),
    ]
    assert await _entries(db) == []


async def test_a_stored_original_moved_frees_its_period_for_a_new_original(
    db: Database,
) -> None:
    # given: B1, the stored original of 2024
    document = small()
    await _import(db, as_json(document))
    # when: the file moves B1 to 2025, adds an original B2 for 2024 and revises it
    lines = document["initiatives"][0]["budget_lines"]
    lines[0] |= {"period_start": "2025-01-01", "period_end": "2025-12-31"}
    lines += [
        _line("B2", "2024-01-01", "2024-12-31", "original", "300000.00"),
        _line("B3", "2024-01-01", "2024-12-31", "revised", "320000.00"),
    ]
    report = await _import(db, as_json(document))
    # then
    assert not report.refused, report.problems
    assert report.counts["budget_line"][Action.CREATE] == 2
    assert report.counts["budget_line"][Action.UPDATE] == 1
    async with db.sessions() as session:
        stored = {
            line.ref: (line.type.value, line.period_start.year)
            for line in await session.scalars(select(m.BudgetLine))
        }
    assert stored == {"B1": ("original", 2025), "B2": ("original", 2024),
                      "B3": ("revised", 2024)}  # fmt: skip
    async with db.sessions() as session:
        assert (await verify(session)).intact


async def test_a_key_listed_twice_is_refused_at_its_second_place(db: Database) -> None:
    # given
    document = small()
    document["initiatives"][0]["transactions"][1]["ref"] = "T1"
    # when
    report = await _import(db, as_json(document))
    # then
    assert [(p.place, p.code.value) for p in report.problems] == [
        ("initiatives[0].transactions[1].ref", "ALREADY_EXISTS")
    ]
    assert await _entries(db) == []


async def test_a_refused_change_leaves_the_stored_record_as_it_was(db: Database) -> None:
    # given: a stored programme, then a file that changes a transaction well and one badly
    document = small()
    await _import(db, as_json(document))
    document["initiatives"][1]["transactions"][0]["amount"] = "25000.00"
    document["initiatives"][1]["transactions"][1]["transaction_date"] = "2999-01-01"
    # when
    report = await _import(db, as_json(document))
    # then
    assert [p.place for p in report.problems] == ["initiatives[1].transactions[1].transaction_date"]
    async with db.sessions() as session:
        amounts = sorted(str(a) for a in await session.scalars(select(m.Transaction.amount)))
    assert "25000.00" not in amounts and "25000.000" not in amounts


async def test_an_initiative_of_another_programme_is_refused(db: Database) -> None:
    # given: AS-2 belongs to another programme already
    other = small()
    other["program"]["ref"] = "other-pledge"
    del other["initiatives"][0]
    await _import(db, as_json(other))
    # when
    report = await _import(db, as_json(small()))
    # then
    assert [(p.place, p.code.value) for p in report.problems] == [
        ("initiatives[1].code", "CONFLICT")
    ]


async def test_the_trail_proves_the_tables_after_imports_and_a_change(db: Database) -> None:
    # given: an import, then a re-import that changes rows of several kinds
    document = small()
    await _import(db, as_yaml(document))
    document["initiatives"][0]["transactions"][0]["amount"] = "90000.00"
    document["initiatives"][0]["milestones"][0]["status"] = "in_progress"
    document["initiatives"][0]["transactions"][1]["cite"].append({"quote": "desks for 30 rooms"})
    assert (await _import(db, as_yaml(document))).changes == 3
    # when
    async with db.sessions() as session:
        chain = await verify(session)
    tables = await compare_tables(db.engine)
    # then: the hash chain holds and replaying the trail gives the tables
    assert chain.intact and chain.checked == 23
    assert tables.first_difference is None


async def test_the_garbage_collector_is_on_again_after_a_file_is_read(db: Database) -> None:
    # given: the collector is held off while a file is read (app/imports/apply.py)
    assert gc.isenabled()
    seen: list[bool] = []

    def failing(_data: bytes, _max_bytes: int) -> Any:
        seen.append(gc.isenabled())
        raise RuntimeError("a reader that fails")

    # when: an import reads, and one whose reader fails
    report = await run_import(db.sessions, as_json(small()), ACTOR, dry_run=True, fields=FIELDS)
    with pytest.raises(RuntimeError):
        await run_import(db.sessions, b"", ACTOR, dry_run=True, fields=FIELDS, reader=failing)
    # then: held off while reading, and on again after either
    assert not report.refused, report.problems
    assert seen == [False]
    assert gc.isenabled()


async def test_a_citation_of_no_field_is_refused_as_create_citation_refuses_it(
    db: Database,
) -> None:
    # given: the programme's citation names a field programmes do not have, and a
    # transaction's a field one level down, as the API names it
    document = small()
    document["program"]["cite"][0]["field"] = "nosuchfield"
    document["initiatives"][0]["transactions"][1]["cite"][0]["field"] = "amount.currency"
    # when
    report = await _import(db, as_json(document))
    # then: the first refused with createCitation's words, the second taken
    assert report.refused and not report.written
    [problem] = report.problems
    assert (problem.place, problem.code.value) == ("program.cite[0].field", "VALIDATION")
    assert problem.message.startswith("'nosuchfield' is no field of a program; name one")
    assert await _entries(db) == []


async def test_the_demo_cites_only_fields_the_api_names(db: Database) -> None:
    # The demo loader holds no name to the schema's (it is below the schema): this does.
    data = (Path(demo.__file__).parent / DEMO_FILE).read_bytes()
    report = await _import(db, data, dry_run=True)
    assert not report.refused, report.problems[:3]


ARCHIVE = """
mutation($t: ArchiveInput!, $m: ArchiveInput!) {
  archiveTransaction(input: $t) { errors { code } }
  archiveMilestone(input: $m) { errors { code } }
}"""


async def test_a_key_an_archived_record_had_is_created_anew_and_the_row_says_so(
    db: Database, client: GraphQLClient
) -> None:
    # given: an import, then an editor archives a transaction and a milestone of it
    await _import(db, as_json(small()))
    async with db.sessions() as session, session.begin():
        secret = await f.api_key(session, "editor")
    editor = client.with_key(secret)
    found = await editor.data(
        "{ transactions { nodes { id version ref initiative { code } } }"
        " milestones { nodes { id version } } }"
    )
    [t2] = [
        {"id": t["id"], "version": t["version"]}
        for t in found["transactions"]["nodes"]
        if (t["initiative"]["code"], t["ref"]) == ("AS-1", "T2")
    ]
    [m1] = found["milestones"]["nodes"]
    archived = await editor.data(ARCHIVE, {"t": t2, "m": m1})
    assert archived["archiveTransaction"]["errors"] == archived["archiveMilestone"]["errors"] == []
    # when: the same file again
    report = await _import(db, as_json(small()), dry_run=True)
    # then: both come back as new records, and their rows say whose keys they had
    rows = {row["place"]: row for row in report.as_json()["rows"] if row["kind"] != "citation"}
    assert set(rows) == {"initiatives[0].transactions[1]", "initiatives[0].milestones[0]"}
    for row in rows.values():
        assert row["action"] == "create"
        assert row["note"].startswith("the key of a record archived ")
        assert row["note"].endswith("; created anew, with a new id")
    assert any("archived" in line for line in report.lines() if line.startswith("create"))
