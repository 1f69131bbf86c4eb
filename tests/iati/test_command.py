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
