"""`pledge-ledger rollups build | check | drop`, as an operator runs them (SQLite file)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings

runner = CliRunner()


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    get_settings.cache_clear()
    try:
        yield path
    finally:
        get_settings.cache_clear()


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result.output


def test_rollups_built_are_kept_by_generate_and_checked(db_file: Path) -> None:
    # given: a migrated database with rollups kept in USD and CNY
    _run("db", "upgrade")
    built = _run("rollups", "build", "usd", "CNY")
    assert "USD: 0 rollup rows" in built and "CNY: 0 rollup rows" in built
    # when: a synthetic programme is generated (bulk writes)
    _run("generate", "--initiatives", "2", "--budget-lines", "8", "--transactions", "60")
    # then: its rollups were written with it, equal to the records
    checked = _run("rollups", "check")
    assert "CNY: " in checked and "USD: " in checked
    assert checked.count(" 0 differ from the records, 0 from the history's open rows") == 2
    with closing(sqlite3.connect(db_file)) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM budget_rollups").fetchone()
    assert rows > 0


def test_a_rollup_that_differs_fails_the_check_and_drop_forgets_it(db_file: Path) -> None:
    # given: rollups in USD over a generated programme, one sum altered behind its back
    _run("db", "upgrade")
    _run("rollups", "build", "USD")
    _run("generate", "--initiatives", "1", "--budget-lines", "4", "--transactions", "20")
    with closing(sqlite3.connect(db_file)) as conn, conn:
        conn.execute(
            "UPDATE budget_rollups SET amount_minor = amount_minor + 1 "
            "WHERE id = (SELECT min(id) FROM budget_rollups)"
        )
    # when / then: the check names the difference and exits 1
    assert "USD: " in _run("rollups", "check", code=1)
    # when: USD is dropped
    _run("rollups", "drop", "USD")
    # then: nothing is kept any more
    assert "no currency is kept" in _run("rollups", "check")


def test_a_history_row_that_differs_fails_the_check(db_file: Path) -> None:
    # given: rollups in USD over a generated programme, one open history row altered
    _run("db", "upgrade")
    _run("rollups", "build", "USD")
    _run("generate", "--initiatives", "1", "--budget-lines", "4", "--transactions", "20")
    assert "USD: " in _run("rollups", "check")
    with closing(sqlite3.connect(db_file)) as conn, conn:
        conn.execute(
            "UPDATE budget_rollup_history SET records = records + 1 WHERE id = "
            "(SELECT min(id) FROM budget_rollup_history WHERE until_sequence IS NULL)"
        )
    # when / then: the check names it (the rollups themselves equal the records)
    output = _run("rollups", "check", code=1)
    assert "0 differ from the records, 2 from the history's open rows" in output


def test_a_currency_that_is_not_a_code_is_refused(db_file: Path) -> None:
    _run("db", "upgrade")
    output = _run("rollups", "build", "RMB", code=1)
    assert "CNY" in output and "nothing written" in output
