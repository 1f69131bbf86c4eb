"""A programme from a workbook or CSV files: imported as its YAML is, to the same rows
and reports, re-importable, refused at its sheet, row and column with nothing written;
from the command line and over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from app import models as m
from app.cli import cli
from app.demo.loader import read_demo
from app.iati.reader import read_any
from app.imports.apply import run_import
from app.imports.csvfiles import read_csv_folder
from app.imports.reader import Read
from app.imports.report import Report
from tests import factories as f
from tests.conftest import Database, GraphQLClient, empty_tables
from tests.imports.documents import ACTOR, FIELDS, as_yaml, small
from tests.imports.test_cli_import import db_file  # noqa: F401 - a fixture
from tests.imports.test_demo_oracle import _answers
from tests.imports.test_sheets_reader import _as_csv_zip, _edit, _emptied
from tests.imports.workbooks import (
    as_csv_folder,
    as_csv_zip,
    as_workbook,
    with_shared_strings,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
runner = CliRunner()


async def _import(
    db: Database,
    data: bytes,
    reader: Callable[[bytes, int], Read] = read_any,
    *,
    dry_run: bool = False,
) -> Report:
    return await run_import(db.sessions, data, ACTOR, dry_run=dry_run, fields=FIELDS, reader=reader)


async def _entries(db: Database) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(m.Change)) or 0


def _folder(path: Path) -> Callable[[bytes, int], Read]:
    return lambda _data, max_bytes: read_csv_folder(path, max_bytes)


# "numbers": amounts in number cells, text in a shared strings table (as Excel writes a
# workbook); "text": every amount a text cell, and text in its cells (as openpyxl does).
@pytest.mark.parametrize("layout", ["numbers", "text", "csv zip", "csv folder"])
async def test_the_demo_from_sheets_answers_every_report_as_its_yaml_does(
    db: Database, client: GraphQLClient, tmp_path: Path, layout: str
) -> None:
    # given: the demo imported from its YAML, and the answers of every report
    demo = read_demo()
    from_yaml = await _import(db, as_yaml(demo))
    assert from_yaml.written, from_yaml.problems
    before = await _answers(client)
    await empty_tables(db.engine)
    data, reader = {
        "numbers": (with_shared_strings(as_workbook(demo)), read_any),
        "text": (as_workbook(demo, numbers=False), read_any),
        "csv zip": (as_csv_zip(demo), read_any),
        "csv folder": (b"", _folder(as_csv_folder(demo, tmp_path / "demo"))),
    }[layout]
    # when: a fresh database imports the same programme from sheets
    report = await _import(db, data, reader)
    # then
    assert report.written and not report.refused, report.problems
    assert report.counts == from_yaml.counts
    assert await _answers(client) == before
    # and importing the sheets again writes nothing
    entries = await _entries(db)
    again = await _import(db, data, reader)
    assert (again.written, again.refused, again.changes) == (True, False, 0)
    assert await _entries(db) == entries


async def test_a_changed_cell_is_one_new_version_told_by_its_row(db: Database) -> None:
    # given
    document = small()
    await _import(db, as_workbook(document))
    entries = await _entries(db)
    document["initiatives"][1]["transactions"][1]["amount"] = "8000.00"
    # when
    report = await _import(db, as_workbook(document))
    # then: the transactions sheet lists AS-1's two rows first, then AS-2's
    assert report.written and report.changes == 1
    [changed] = [row.as_json() for row in report.rows if row.action.value == "update"]
    assert changed == {"place": "sheet transactions, row 5", "kind": "transaction",
                       "key": "T2", "action": "update", "fields": ["amount"]}  # fmt: skip
    assert await _entries(db) == entries + 1


@pytest.mark.parametrize("form", ["xlsx", "csv zip"])
async def test_an_emptied_cell_clears_the_value_as_one_new_version(db: Database, form: str) -> None:
    # given: both initiatives imported with a summary
    document = small()
    for initiative, summary in zip(document["initiatives"], ("Rooms", "Teachers"), strict=True):
        initiative["summary"] = summary
    write = as_workbook if form == "xlsx" else as_csv_zip
    await _import(db, write(document))
    entries = await _entries(db)
    # when: AS-1's summary cell is emptied (the column stays: AS-2 has one)
    document["initiatives"][0]["summary"] = None
    dry = await _import(db, write(document), dry_run=True)
    report = await _import(db, write(document))
    # then: the dry run tells the change and writes nothing; the import writes it once
    label = "sheet initiatives" if form == "xlsx" else "export/initiatives.csv"
    expected = {"place": f"{label}, row 2", "kind": "initiative", "key": "AS-1",
                "action": "update", "fields": ["summary"]}  # fmt: skip
    assert [row.as_json() for row in dry.rows] == [expected]
    assert [row.as_json() for row in report.rows] == [expected]
    assert report.written and report.changes == 1
    assert await _entries(db) == entries + 1
    async with db.sessions() as session:
        summaries = dict(
            (await session.execute(select(m.Initiative.code, m.Initiative.summary))).all()
        )
    assert summaries == {"AS-1": None, "AS-2": "Teachers"}
    # and a file without the summary column leaves the stored summaries alone
    for initiative in document["initiatives"]:
        initiative.pop("summary")
    again = await _import(db, write(document))
    assert again.changes == 0 and await _entries(db) == entries + 1


async def test_a_row_the_importer_refuses_is_told_by_sheet_row_and_column(
    db: Database,
) -> None:
    # given: a transaction dated in the future, and a citation of an unknown source
    document = small()
    document["initiatives"][0]["transactions"][0]["transaction_date"] = "2999-01-01"
    document["program"]["cite"][0]["source"] = "no-such-report"
    # when
    report = await _import(db, as_workbook(document))
    # then
    assert report.refused and not report.written
    assert sorted((p.place, p.code.value) for p in report.problems) == [
        ("sheet citations, row 2, column source", "NOT_FOUND"),
        ("sheet transactions, row 2, column transaction_date", "VALIDATION"),
    ]
    assert await _entries(db) == 0


async def test_a_bad_cell_is_refused_and_nothing_is_written(db: Database, tmp_path: Path) -> None:
    # given: an amount with a thousands separator in a CSV file
    folder = as_csv_folder(small(), tmp_path / "export")
    text = (folder / "budget_lines.csv").read_text("utf-8")
    (folder / "budget_lines.csv").write_text(text.replace("400000.00", '"400,000.00"'), "utf-8")
    # when
    report = await _import(db, b"", _folder(folder))
    # then
    [problem] = report.problems
    assert (problem.place, problem.code.value) == (
        "budget_lines.csv, row 2, column amount",
        "VALIDATION",
    )
    assert "no spaces or commas" in problem.message
    assert await _entries(db) == 0


def test_the_command_line_imports_a_workbook_and_a_folder(
    db_file: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    # given
    workbook = tmp_path / "pledge.xlsx"
    workbook.write_bytes(as_workbook(small()))
    folder = as_csv_folder(small(), tmp_path / "pledge")
    # when
    dry = runner.invoke(cli, ["import", str(workbook), "--dry-run", "--json"])
    written = runner.invoke(cli, ["import", str(folder)])
    again = runner.invoke(cli, ["import", str(workbook)])
    # then
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert (report["dryRun"], report["written"]) == (True, False)
    assert {"place": "sheet transactions, row 3", "kind": "transaction", "key": "T2",
            "action": "create"} in report["rows"]  # fmt: skip
    assert written.exit_code == 0 and "written: 20 rows" in written.stdout
    assert again.exit_code == 0 and "nothing to write" in again.stdout


def test_the_command_line_refuses_a_bad_cell_with_exit_1(
    db_file: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    # given
    folder = as_csv_folder(small(), tmp_path / "pledge")
    (folder / "shares.csv").write_text("initiative,group,percentage\nAS-1,pupils,sixty\n", "utf-8")
    # when
    result = runner.invoke(cli, ["import", str(folder)])
    # then
    assert result.exit_code == 1
    assert "refused shares.csv, row 2, column percentage: VALIDATION" in result.stdout
    assert "nothing was written" in result.stdout


def test_one_csv_file_is_answered_with_what_to_name_instead(tmp_path: Path) -> None:
    folder = as_csv_folder(small(), tmp_path / "pledge")
    result = runner.invoke(cli, ["import", str(folder / "transactions.csv")])
    assert result.exit_code == 2
    assert "name the folder of the programme's CSV files" in result.stderr


def test_a_template_written_by_the_command_line_reads_back(tmp_path: Path) -> None:
    # when
    result = runner.invoke(cli, ["import", "--write-template", str(tmp_path / "t.xlsx")])
    # then: its sheets are all there, and only the programme's row is missing
    assert result.exit_code == 0, result.output
    assert "an empty cell clears an optional value" in result.stdout
    read = read_any((tmp_path / "t.xlsx").read_bytes())
    assert [(p.place, p.code.value) for p in read.problems] == [("program", "DOCUMENT_INVALID")]


def test_the_csv_example_is_the_yaml_example() -> None:
    from_csv = read_csv_folder(EXAMPLES / "school-meals")
    from_yaml = read_any((EXAMPLES / "school-meals.yaml").read_bytes())
    assert from_csv.document is not None, from_csv.problems
    assert from_csv.document == from_yaml.document
    assert yaml.safe_load((EXAMPLES / "school-meals.yaml").read_text("utf-8"))


async def _admin(db: Database) -> dict[str, str]:
    async with db.sessions() as session, session.begin():
        secret = await f.api_key(session, "admin")
    return {"Authorization": f"Bearer {secret}"}


async def test_an_admin_uploads_a_workbook_and_a_zip_of_csv_files(
    db: Database, client: GraphQLClient
) -> None:
    # given
    admin = await _admin(db)
    # when
    dry = await client.http.post(
        "/imports?dryRun=true",
        content=as_workbook(small()),
        headers=admin | {"Content-Type": XLSX},
    )
    written = await client.http.post(
        "/imports", content=as_csv_zip(small()), headers=admin | {"Content-Type": "application/zip"}
    )
    # then
    assert dry.status_code == 200, dry.text
    assert (dry.json()["dryRun"], dry.json()["written"]) == (True, False)
    assert written.status_code == 200, written.text
    assert written.json()["summary"]["transaction"]["create"] == 4
    assert await _entries(db) == 20


async def test_an_uploaded_workbook_with_a_bad_cell_is_answered_422(
    db: Database, client: GraphQLClient
) -> None:
    # given
    admin = await _admin(db)
    document = small()
    document["initiatives"][0]["shares"][0]["percentage"] = "160"
    # when
    response = await client.http.post(
        "/imports", content=as_workbook(document), headers=admin | {"Content-Type": XLSX}
    )
    # then
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["place"].startswith("sheet shares, row 2")
    assert await _entries(db) == 0


async def test_an_uploaded_zip_bomb_is_refused(db: Database, client: GraphQLClient) -> None:
    import io
    import zipfile

    # given
    admin = await _admin(db)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("transactions.csv", b"0" * 20_000_000)
    # when
    response = await client.http.post(
        "/imports", content=out.getvalue(), headers=admin | {"Content-Type": "application/zip"}
    )
    # then
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "DOCUMENT_TOO_LARGE"


async def test_a_formula_with_no_saved_result_is_refused_and_clears_nothing(db: Database) -> None:
    # given: a budget line imported with a description
    document = small()
    document["initiatives"][0]["budget_lines"][0]["description"] = "Classrooms 2024"
    await _import(db, as_workbook(document))
    entries = await _entries(db)
    # when: the description cell becomes a formula, saved by a program that does not
    # calculate (openpyxl), so the workbook holds no result for it
    data = _edit(as_workbook(document), "budget_lines", {(2, "description"): '="Rooms "&2024'})
    report = await _import(db, data)
    # then: refused at that cell, and the stored description is kept
    assert report.refused and not report.written
    assert [(p.place, p.code.value) for p in report.problems] == [
        ("sheet budget_lines, row 2, column description", "VALIDATION")
    ]
    assert "a formula with no saved result" in report.problems[0].message
    assert await _entries(db) == entries
    async with db.sessions() as session:
        stored = await session.scalar(select(m.BudgetLine.description))
    assert stored == "Classrooms 2024"


@pytest.mark.parametrize("form", ["xlsx", "csv zip"])
async def test_a_cell_of_only_spaces_is_an_empty_cell(db: Database, form: str) -> None:
    # given: an initiative with a summary and a milestone with a forecast date
    document = small()
    document["initiatives"][0]["summary"] = "Rooms"
    document["initiatives"][0]["milestones"][0]["forecast_date"] = "2024-09-01"
    write = as_workbook if form == "xlsx" else as_csv_zip
    await _import(db, write(document))
    # when: both cells hold only spaces
    document["initiatives"][0]["summary"] = "   "
    document["initiatives"][0]["milestones"][0]["forecast_date"] = "  "
    report = await _import(db, write(document))
    # then: both are read as empty cells: the optional values are cleared
    assert not report.refused, report.problems
    assert sorted((row.kind, tuple(row.fields)) for row in report.rows) == [
        ("initiative", ("summary",)),
        ("milestone", ("forecast_date",)),
    ]
    async with db.sessions() as session:
        summary = await session.scalar(
            select(m.Initiative.summary).where(m.Initiative.code == "AS-1")
        )
        forecasts = (await session.scalars(select(m.Milestone.forecast_date))).all()
    assert summary is None
    assert None in forecasts


@pytest.mark.parametrize("form", ["xlsx", "csv"])
async def test_an_emptied_required_cell_is_refused_at_its_place_and_nothing_written(
    db: Database, form: str
) -> None:
    # given: AS-2's second transaction without its amount
    data = _emptied(as_workbook(small(), numbers=False), "transactions", (5, "amount"))
    if form == "csv":
        data = _as_csv_zip(data)
    # when
    report = await _import(db, data)
    # then
    label = "sheet transactions" if form == "xlsx" else "transactions.csv"
    assert report.refused and not report.written
    assert [(p.place, p.code.value) for p in report.problems] == [
        (f"{label}, row 5, column amount", "VALIDATION")
    ]
    assert await _entries(db) == 0
