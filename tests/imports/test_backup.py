"""Backup and restore: the ledger written in its own format and read back.

A backup of the demo and a generated programme, imported into an empty database,
answers every report as the original does, to the cent, with its evidence, and leaves
a trail that verifies; imported into the ledger it came from, it writes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from app import models as m
from app.audit.records import SYSTEM_ROLE, Actor
from app.audit.service import compare_tables, verify
from app.backup.service import Syntax, backup_from, render
from app.cli import cli
from app.config import Settings, get_settings
from app.db.migrate import upgrade
from app.demo.loader import load_demo
from app.engines import ledger_engine, ledger_sessions
from app.imports.apply import run_import
from app.imports.report import Action, Report
from app.main import create_app
from app.synthetic.generator import Sizes
from app.synthetic.service import generate
from tests import factories as f
from tests.conftest import (
    TEST_ACTOR,
    Database,
    GraphQLClient,
    create_postgres_database,
    drop_postgres_database,
)
from tests.iati.pledges import full_pledge
from tests.imports.documents import FIELDS

RESTORER = Actor("restore-test", SYSTEM_ROLE)
# A generated programme with originals and revisions in several periods of each
# initiative: a backup of it goes through the same budget-line rules as any import.
SIZES = Sizes(initiatives=3, budget_lines=30, transactions=60, seed=7)
DAY = "2026-01-01"

MEASURES = """
fragment M on BudgetMeasures {
  budgetOriginal { amount currency } budgetCurrent { amount } committed { amount }
  disbursed { amount } spent { amount } variance { amount } budgetRevision { amount }
  count budgetLineCount transactionCount
}
"""
BUDGET = (
    """
query Budget($groupBy: [BudgetDimension!]!) {
  budgetSummary(groupBy: $groupBy, currency: "CNY") {
    currency groupCount
    groups { key { initiative { code } beneficiaryGroup { code } focusArea region category
                   transactionType year }
             measures { ...M } }
    total { ...M }
  }
}
"""
    + MEASURES
)
GROUPINGS = [[], ["INITIATIVE"], ["CATEGORY", "TRANSACTION_TYPE"], ["YEAR", "INITIATIVE"]]
GROUPINGS.append(["BENEFICIARY_GROUP"])
EVIDENCE = "sources(first: 10) { nodes { field quote translation isEstimate note } }"
PROGRAMS = (
    """
query Programs($day: Date!) {
  programs(first: 10) { nodes {
    ref name summary pledged { amount currency } allocated { amount } unallocated { amount }
    committed { amount } disbursed { amount } spent { amount } announcedOn deadline
    governance { body lead } figures { ...M } EVIDENCE
    sponsor { ref name kind headquarters EVIDENCE }
  } }
  exchangeRates(first: 100) { totalCount nodes { base quote rate rateDate source } }
  timelineReport(asOfDate: $day) {
    milestonesByStatus { status count }
    initiatives(first: 100) { nodes { initiative { code } milestoneCount achievedCount
                                      overdueCount slippedCount largestSlippageDays onTrack } }
  }
  reachReport {
    rows(first: 100) { nodes { group { code } initiative { code } unit target reached
                               shareReached } }
    totals { group { code } unit figureCount target reached shareReached }
  }
}
"""
    + MEASURES
).replace("EVIDENCE", EVIDENCE)
# Each initiative's records of one kind, with the words they rest on.
RECORDS = {
    "initiative": "figures { ...M } EVIDENCE",
    "participants": "participants { nodes { role organization { ref name } } }",
    "budgetLines": "budgetLines(first: 50) { nodes { type status category description "
    "amount { amount currency } valueDate periodStart periodEnd EVIDENCE } }",
    "transactions": "transactions(first: 50) { nodes { type date valueDate description "
    "amount { amount currency } provider { ref } receiver { ref } budgetLine { category } "
    "EVIDENCE } }",
    "milestones": "milestones(first: 50) { nodes { title description status plannedDate "
    "forecastDate actualDate EVIDENCE } }",
    "beneficiaries": "beneficiaries { nodes { group { code name } unit target targetDate "
    "reached reachedQualifier reachedAsOf approvedBy approvedAt EVIDENCE } }",
}
INITIATIVES = """
query Records {
  initiatives(first: 20, orderBy: [{field: CODE}]) { nodes {
    code position title summary status region focusArea plannedStart actualStart plannedEnd
    actualEnd budget { amount currency } RECORDS
  } }
}
"""


def _sorted(value: Any) -> Any:
    """Lists of records in one order (an import may write them in another)."""
    if isinstance(value, dict):
        return {k: _sorted(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_sorted(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


async def answers(client: GraphQLClient) -> dict[str, Any]:
    found = {"programs": await client.data(PROGRAMS, {"day": DAY})}
    for name, fields in RECORDS.items():
        query = INITIATIVES.replace("RECORDS", fields).replace("EVIDENCE", EVIDENCE)
        if "...M" in query:
            query += MEASURES
        found[name] = _sorted(await client.data(query))
    for group_by in GROUPINGS:
        found[" ".join(group_by)] = await client.data(BUDGET, {"groupBy": group_by})
    return found


@pytest.fixture
async def fresh(database: Database, tmp_path: Path) -> AsyncIterator[Database]:
    """A second, empty, migrated database on the backend under test."""
    if database.backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    else:
        url = await create_postgres_database("pledge_fresh")
    engine = ledger_engine(url)
    try:
        await upgrade(engine)
        yield Database(database.backend, url, engine, ledger_sessions(engine, actor=TEST_ACTOR))
    finally:
        await engine.dispose()
        if database.backend == "postgresql":
            await drop_postgres_database(url)


@pytest.fixture
async def fresh_client(fresh: Database, settings: Settings) -> AsyncIterator[GraphQLClient]:
    app = create_app(settings.model_copy(update={"database_url": fresh.url}), engine=fresh.engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield GraphQLClient(http)


async def backup_of(db: Database, syntax: Syntax, program: str | None = None) -> bytes:
    backup = await backup_from(db.sessions, program_ref=program, drafts=True)
    return await render(backup, syntax, single=program is not None)


async def restore(db: Database, data: bytes) -> Report:
    return await run_import(db.sessions, data, RESTORER, dry_run=False, fields=FIELDS)


async def trail_length(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(m.Change)) or 0)


async def with_demo_and_generated(db: Database) -> None:
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    async with db.sessions() as session, session.begin():
        await generate(session, SIZES, now=datetime(2025, 6, 30, tzinfo=UTC))


@pytest.mark.parametrize("syntax", [Syntax.YAML, Syntax.JSON])
async def test_a_backup_restores_into_an_empty_ledger_with_the_same_reports(
    db: Database,
    client: GraphQLClient,
    fresh: Database,
    fresh_client: GraphQLClient,
    syntax: Syntax,
) -> None:
    # given
    await with_demo_and_generated(db)
    before = await answers(client)
    # when
    report = await restore(fresh, await backup_of(db, syntax))
    # then
    assert report.written and not report.refused, report.problems
    assert await answers(fresh_client) == before
    async with fresh.sessions() as session:
        chain = await verify(session)
    assert chain.intact and chain.checked == await trail_length(fresh) > 0
    tables = await compare_tables(fresh.engine)
    assert tables.first_difference is None
    assert tables.records == report.changes


async def test_a_generated_programme_restores_with_its_revisions_and_the_same_reports(
    db: Database, client: GraphQLClient, fresh: Database, fresh_client: GraphQLClient
) -> None:
    # given: a generated programme whose initiatives have budgets in several periods,
    # some of them revised (the current budget is the revision, not the original)
    async with db.sessions() as session, session.begin():
        await generate(session, SIZES, now=datetime(2025, 6, 30, tzinfo=UTC))
    async with db.sessions() as session:
        lines = list(await session.scalars(select(m.BudgetLine)))
    periods = {(line.initiative_id, line.period_start, line.period_end) for line in lines}
    assert len(periods) > 2 * SIZES.initiatives
    assert any(line.type == m.BudgetType.REVISED for line in lines)
    before = await answers(client)
    # when
    report = await restore(fresh, await backup_of(db, Syntax.JSON))
    # then
    assert not report.refused, report.problems
    assert report.counts["budget_line"][Action.CREATE] == SIZES.budget_lines
    assert await answers(fresh_client) == before
    async with fresh.sessions() as session:
        chain = await verify(session)
    assert chain.intact and chain.checked == await trail_length(fresh) > 0


async def test_a_backup_imported_into_its_own_ledger_writes_nothing(db: Database) -> None:
    # given: rows made without a ref (the generator's, the factories') among them
    await with_demo_and_generated(db)
    await full_pledge(db)
    entries = await trail_length(db)
    # when
    report = await restore(db, await backup_of(db, Syntax.YAML))
    # then
    assert not report.refused, report.problems
    assert report.changes == 0
    assert report.counts["transaction"]["unchanged"] > 0
    assert await trail_length(db) == entries


async def test_a_restored_ledger_takes_its_own_backup_back_without_a_change(
    db: Database, fresh: Database
) -> None:
    # given
    await full_pledge(db)
    await restore(fresh, await backup_of(db, Syntax.JSON))
    entries = await trail_length(fresh)
    # when
    report = await restore(fresh, await backup_of(fresh, Syntax.JSON))
    # then
    assert not report.refused and report.changes == 0
    assert await trail_length(fresh) == entries


async def figure(db: Database) -> m.BeneficiaryFigure:
    async with db.sessions() as session:
        found = await session.scalar(select(m.BeneficiaryFigure))
        assert found is not None
        return found


async def test_a_draft_stays_a_draft_and_the_approval_is_kept(
    db: Database, fresh: Database
) -> None:
    # given: an approved reach of 10000 and a draft of 99999 waiting (full_pledge)
    await full_pledge(db)
    original = await figure(db)
    # when
    report = await restore(fresh, await backup_of(db, Syntax.YAML, "pledge-1"))
    # then
    assert not report.refused, report.problems
    restored = await figure(fresh)
    assert restored.reached_value == original.reached_value == 10000
    assert (restored.approved_by, restored.approved_at) == ("auditor-1", original.approved_at)
    assert restored.draft_reached_value == 99999
    assert restored.draft_submitted_by == "editor-1"


async def test_a_file_without_approval_or_draft_leaves_a_stored_draft_alone(
    db: Database,
) -> None:
    # given
    await full_pledge(db)
    data = json.loads(await backup_of(db, Syntax.JSON, "pledge-1"))
    figure_raw = data["initiatives"][0]["beneficiaries"][0]
    assert figure_raw["draft"]["value"] == "99999.0000"
    del figure_raw["draft"], figure_raw["approved_by"], figure_raw["approved_at"]
    # when
    report = await restore(db, json.dumps(data).encode())
    # then
    assert not report.refused and report.changes == 0
    assert (await figure(db)).draft_reached_value == 99999


async def key(db: Database, role: str, initiatives: tuple[str, ...] = ()) -> dict[str, str]:
    async with db.sessions() as session, session.begin():
        secret = await f.api_key(session, role, initiatives=initiatives)
    return {"Authorization": f"Bearer {secret}"}


async def test_a_partner_downloads_only_its_initiatives_and_no_drafts(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await full_pledge(db)
    headers = await key(db, "partner", ("JOBS",))
    # when
    response = await client.http.get("/exports/ledger.json", headers=headers)
    # then
    assert response.status_code == 200, response.text
    documents = response.json()
    assert [d["program"]["ref"] for d in documents] == ["pledge-1"]
    (jobs,) = documents[0]["initiatives"]
    assert jobs["code"] == "JOBS"
    assert [b["draft"] for b in jobs["beneficiaries"]] == [None]
    assert jobs["beneficiaries"][0]["reached_value"] == "10000.0000"


async def test_an_auditor_downloads_drafts_as_drafts_and_a_viewer_is_refused(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await full_pledge(db)
    # when
    auditor = await client.http.get(
        "/exports/ledger.yaml", params={"program": "pledge-1"}, headers=await key(db, "auditor")
    )
    viewer = await client.http.get("/exports/ledger.json", headers=await key(db, "viewer"))
    # then
    assert auditor.status_code == 200, auditor.text
    assert auditor.headers["content-disposition"] == 'attachment; filename="ledger-pledge-1.yaml"'
    document = yaml.safe_load(auditor.text)
    draft = document["initiatives"][0]["beneficiaries"][0]["draft"]
    assert draft["value"] == "99999.0000" and draft["submitted_by"] == "editor-1"
    assert viewer.status_code == 403


async def test_an_unknown_programme_is_not_found(db: Database, client: GraphQLClient) -> None:
    await full_pledge(db)
    response = await client.http.get(
        "/exports/ledger.json", params={"program": "nope"}, headers=await key(db, "auditor")
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_as_of_gives_the_backup_as_the_ledger_stood(
    db: Database, client: GraphQLClient
) -> None:
    # given: the demo, then a change after the moment asked for
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    async with db.sessions() as session:
        moment = await session.scalar(select(func.max(m.Change.occurred_at)))
    assert moment is not None
    async with db.sessions() as session, session.begin():
        program = await session.scalar(select(m.Program))
        assert program is not None
        program.name = "Renamed later"
    # when
    response = await client.http.get(
        "/exports/ledger.json",
        params={"program": "alibaba-common-prosperity-2021", "asOf": moment.isoformat()},
        headers=await key(db, "auditor"),
    )
    # then
    assert response.status_code == 200, response.text
    assert response.json()["program"]["name"] != "Renamed later"


runner = CliRunner()


def test_the_command_writes_a_backup_that_restores_and_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a ledger with the demo
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    backup = tmp_path / "backup.yaml"

    def run(database: Path, *args: str) -> Any:
        monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{database}")
        get_settings.cache_clear()
        return runner.invoke(cli, list(args))

    try:
        for args in (["db", "upgrade"], ["demo", "load"]):
            assert run(source, *args).exit_code == 0
        # when
        exported = run(source, "export", "--format", "ledger", "-o", str(backup))
        printed = run(source, "export", "--format", "ledger")
        assert run(target, "db", "upgrade").exit_code == 0
        restored = run(target, "import", str(backup))
        verified = run(target, "audit", "verify")
        again = run(target, "import", str(backup))
        unknown = run(source, "export", "--format", "ledger", "--program", "nope")
    finally:
        get_settings.cache_clear()
    # then
    assert exported.exit_code == 0, exported.output
    assert yaml.safe_load(backup.read_text())["program"]["ref"] == (
        "alibaba-common-prosperity-2021"
    )
    assert json.loads(printed.stdout)[0]["format"] == "pledge-ledger/1"
    assert restored.exit_code == 0, restored.output
    assert verified.exit_code == 0 and "intact" in verified.stdout
    assert "nothing to write" in again.stdout
    assert unknown.exit_code == 1 and "no programme 'nope'" in unknown.stderr


async def test_a_refused_row_in_any_programme_of_a_backup_writes_nothing(
    db: Database, fresh: Database
) -> None:
    # given: a whole-ledger backup whose second programme has a row the rules refuse
    await with_demo_and_generated(db)
    documents = json.loads(await backup_of(db, Syntax.JSON))
    assert len(documents) == 2
    documents[1]["initiatives"][0]["transactions"][0]["currency"] = "XXQ"
    # when
    report = await restore(fresh, json.dumps(documents).encode())
    # then
    assert report.refused and not report.written
    assert [p.place.split(".")[0] for p in report.problems] == ["documents[1]"]
    assert report.problems[0].place.startswith("documents[1].initiatives[0].transactions[0]")
    assert await trail_length(fresh) == 0
    async with fresh.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.Program)) == 0


ARCHIVE = """
mutation($input: ArchiveInput!) {
  archiveTransaction(input: $input) { errors { code } }
}"""


async def test_an_archived_record_is_not_in_the_backup(db: Database, client: GraphQLClient) -> None:
    # given: the reduction of FUND archived through the API
    await full_pledge(db)
    editor = client.with_key((await key(db, "editor"))["Authorization"].split()[1])
    listed = await editor.data(
        '{ transactions(filter: {description: {eq: "a reduction"}}) { nodes { id version } } }'
    )
    (reduction,) = listed["transactions"]["nodes"]
    archived = await editor.data(ARCHIVE, {"input": reduction})
    assert archived["archiveTransaction"]["errors"] == []
    # when
    document = json.loads(await backup_of(db, Syntax.JSON, "pledge-1"))
    # then
    fund = next(i for i in document["initiatives"] if i["code"] == "FUND")
    assert fund["transactions"] == []
    jobs = next(i for i in document["initiatives"] if i["code"] == "JOBS")
    assert len(jobs["transactions"]) == len(m.TransactionType)


async def test_an_admin_uploads_a_whole_ledger_backup_into_an_empty_ledger(
    db: Database, fresh: Database, fresh_client: GraphQLClient
) -> None:
    # given: a backup of two programmes, and an admin of the empty ledger
    await full_pledge(db)
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    data = await backup_of(db, Syntax.YAML)
    async with fresh.sessions() as session, session.begin():
        secret = await f.api_key(session, "admin")
    # when
    response = await fresh_client.http.post(
        "/imports",
        content=data,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/yaml"},
    )
    # then
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["program"]["create"] == 2
    listed = await fresh_client.data("{ programs { nodes { ref } } }")
    assert [p["ref"] for p in listed["programs"]["nodes"]] == [
        "pledge-1",
        "alibaba-common-prosperity-2021",
    ]
