"""`pledge-ledger export --format iati`: the file, its notes, its refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from tests.iati.oracle import assert_valid

runner = CliRunner()


@pytest.fixture
def demo_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A migrated SQLite file with the demo loaded."""
    path = tmp_path / "cli.db"
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    get_settings.cache_clear()
    try:
        for args in (["db", "upgrade"], ["demo", "load"]):
            assert runner.invoke(cli, args).exit_code == 0
        yield path
    finally:
        get_settings.cache_clear()


def test_export_writes_a_valid_file_and_names_what_it_left_out(
    demo_file: Path, tmp_path: Path
) -> None:
    # given
    output = tmp_path / "demo.xml"
    # when
    result = runner.invoke(
        cli,
        [
            "export",
            "--format",
            "iati",
            "--program",
            "alibaba-common-prosperity-2021",
            "-o",
            str(output),
        ],
    )
    # then
    assert result.exit_code == 0, result.output
    root = assert_valid(output.read_bytes())
    assert len(root.xpath("//iati-activity")) == 11
    assert "note: source document 'alibaba-common-prosperity-2021-de' has no URL" in result.stderr
    assert "11 activities" in result.stderr


def test_export_prints_the_file_on_stdout(demo_file: Path) -> None:
    result = runner.invoke(cli, ["export"])
    assert result.exit_code == 0, result.output
    assert_valid(result.stdout_bytes)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--program", "nope"], "no programme 'nope'"),
        (["--as-of", "2024-01-01T00:00:00"], "asOf needs a timezone"),
        (["--format", "csv"], "unknown format 'csv'"),
    ],
)
def test_export_refusals_exit_1_writing_nothing(
    demo_file: Path, tmp_path: Path, args: list[str], words: str
) -> None:
    output = tmp_path / "never.xml"
    result = runner.invoke(cli, ["export", *args, "-o", str(output)])
    assert result.exit_code == 1
    assert words in result.stderr
    assert not output.exists()


def _values(xml: bytes) -> list[tuple[str, str]]:
    root = assert_valid(xml)
    return [
        (str(v.getparent().tag), v.text or "") for v in root.iter("value")
    ]  # budgets and transactions, in file order


def test_import_reads_an_exported_file_into_a_fresh_database(
    demo_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the demo's file, and a fresh database
    exported = tmp_path / "demo.xml"
    assert runner.invoke(cli, ["export", "-o", str(exported)]).exit_code == 0
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    get_settings.cache_clear()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    # when
    imported = runner.invoke(cli, ["import", str(exported)])
    again = runner.invoke(cli, ["export"])
    # then
    assert imported.exit_code == 0, imported.output
    assert "written:" in imported.stdout
    assert again.exit_code == 0, again.output
    assert _values(again.stdout_bytes) == _values(exported.read_bytes())


def test_import_says_what_an_iati_file_holds_that_the_ledger_cannot(
    demo_file: Path, tmp_path: Path
) -> None:
    # given
    from tests.iati.test_reader import FOREIGN

    path = tmp_path / "foreign.xml"
    path.write_bytes(FOREIGN)
    # when
    result = runner.invoke(cli, ["import", "--dry-run", str(path)])
    # then
    assert result.exit_code == 0, result.output
    assert "not read: XM-1-C: not held by the ledger, not read: location" in result.stdout
    assert "dry run: nothing was written" in result.stdout


def test_export_as_of_a_moment_before_the_demo_finds_no_programme(demo_file: Path) -> None:
    before = runner.invoke(cli, ["export", "--as-of", "2020-01-01T00:00:00Z"])
    assert before.exit_code == 1
    assert "no programme to export" in before.stderr
