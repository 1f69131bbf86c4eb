"""`pledge-ledger import`: the report on stdout, exit 1 and nothing written when refused."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.imports import reader
from app.imports.document import document_schema
from tests.imports.documents import as_yaml, small

runner = CliRunner()


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    get_settings.cache_clear()
    try:
        assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
        yield path
    finally:
        get_settings.cache_clear()


def _changes(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM changes").fetchone()
    return int(count)


def test_print_schema_prints_the_published_schema() -> None:
    result = runner.invoke(cli, ["import", "--print-schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == document_schema()


def test_an_import_then_a_dry_run_of_a_change(db_file: Path, tmp_path: Path) -> None:
    # given
    file = tmp_path / "pledge.yaml"
    document = small()
    file.write_bytes(as_yaml(document))
    first = runner.invoke(cli, ["import", str(file)])
    assert first.exit_code == 0, first.output
    assert "written: 20 rows" in first.stdout
    # stderr is no terminal here: no progress bar, only the database and the time
    database, seconds = first.stderr.splitlines()
    assert database.startswith("database:") and seconds.endswith(" s")
    written = _changes(db_file)
    # when
    document["initiatives"][0]["milestones"][0]["status"] = "in_progress"
    file.write_bytes(as_yaml(document))
    result = runner.invoke(cli, ["import", str(file), "--dry-run", "--json"])
    # then
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"] == [
        {
            "place": "initiatives[0].milestones[0]",
            "kind": "milestone",
            "key": "M1",
            "action": "update",
            "fields": ["status"],
        }
    ]
    assert written == 20 and _changes(db_file) == written


def test_a_refused_file_exits_1_and_writes_nothing(db_file: Path, tmp_path: Path) -> None:
    # given
    file = tmp_path / "pledge.yaml"
    document = small()
    document["program"]["pledged"]["currency"] = "RMB"
    file.write_bytes(as_yaml(document))
    # when
    result = runner.invoke(cli, ["import", str(file)])
    # then
    assert result.exit_code == 1
    assert "refused program.pledged.currency: INVALID_CURRENCY" in result.stdout
    assert "nothing was written" in result.stdout
    assert _changes(db_file) == 0


def test_a_citation_of_no_field_is_refused_by_the_command_too(
    db_file: Path, tmp_path: Path
) -> None:
    # given: the command reads the fields a citation may name from the API's schema
    # only when it checks a citation (app/cli.py); one names a field programmes lack,
    # another a transaction's field one level down
    file = tmp_path / "pledge.yaml"
    document = small()
    document["program"]["cite"][0]["field"] = "nosuchfield"
    document["initiatives"][0]["transactions"][1]["cite"][0]["field"] = "amount.currency"
    file.write_bytes(as_yaml(document))
    # when
    result = runner.invoke(cli, ["import", str(file)])
    # then: the first refused as createCitation refuses it, the second taken; nothing
    # written
    assert result.exit_code == 1, result.output
    assert "refused program.cite[0].field: VALIDATION" in result.stdout
    assert "'nosuchfield' is no field of a program" in result.stdout
    assert "refused initiatives[0].transactions[1].cite" not in result.stdout
    assert _changes(db_file) == 0


@pytest.mark.parametrize(
    ("old", "new", "refused"),
    [
        # a day the calendar does not have, unquoted: YAML's own timestamp
        (
            "transaction_date: '2024-03-01'",
            "transaction_date: 2024-02-30",
            "refused initiatives[0].transactions[0].transaction_date: VALIDATION",
        ),
        # a date and time where a date is due
        (
            "announced_on: '2024-01-15'",
            "announced_on: 2024-01-15 10:30:00",
            "refused program.announced_on: VALIDATION",
        ),
        # a YAML tag, and a key written twice
        (
            "announced_on: '2024-01-15'",
            "announced_on: !!binary aGVsbG8=",
            "refused program.announced_on: DOCUMENT_INVALID",
        ),
        (
            "name: Builders Ltd",
            "name: Builders Ltd\n  name: Builders",
            "refused organizations[1]: DOCUMENT_INVALID",
        ),
    ],
)
def test_a_malformed_value_is_refused_at_its_field_not_a_traceback(
    db_file: Path, tmp_path: Path, old: str, new: str, refused: str
) -> None:
    # given
    file = tmp_path / "pledge.yaml"
    text = as_yaml(small()).decode()
    assert text.count(old) == 1
    file.write_text(text.replace(old, new))
    # when
    result = runner.invoke(cli, ["import", str(file)])
    # then
    assert result.exit_code == 1, result.output
    assert refused in result.stdout
    assert "nothing was written" in result.stdout
    assert _changes(db_file) == 0


def test_a_file_over_the_cap_is_refused_by_its_size_unread(
    db_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: files of at most 100 bytes are read; this one has more
    monkeypatch.setattr(reader, "MAX_FILE_BYTES", 100)
    file = tmp_path / "pledge.yaml"
    file.write_bytes(as_yaml(small()))
    size = file.stat().st_size

    def unread(self: Path) -> bytes:
        raise AssertionError(f"{self} was read")

    monkeypatch.setattr(Path, "read_bytes", unread)
    # when
    result = runner.invoke(cli, ["import", str(file)])
    # then
    assert result.exit_code == 1, result.output
    assert f"refused (file): DOCUMENT_TOO_LARGE: the file has {size} bytes" in result.stdout
    assert _changes(db_file) == 0


def test_export_help_names_both_formats() -> None:
    result = runner.invoke(cli, ["export", "--help"], terminal_width=200)
    assert result.exit_code == 0
    summary = " ".join(result.stdout.split()).split("Options")[0]
    assert "as IATI 2.03 activities, or as a backup in the ledger's format" in summary
    assert "--format ledger" in summary
