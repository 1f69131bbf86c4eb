"""The `pledge-ledger` command line, against a SQLite file named by DATABASE_URL.

The commands run their own event loop (asyncio.run), so these tests are plain sync tests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.db.base import Base
from app.db.migrate import head_revision
from app.graphql.schema import schema

APP_TABLES = {table.name for table in Base.metadata.sorted_tables}

runner = CliRunner()


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """DATABASE_URL points at a SQLite file that does not exist yet."""
    path = tmp_path / "cli.db"
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    get_settings.cache_clear()
    try:
        yield path
    finally:
        get_settings.cache_clear()


def _run(*args: str) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def _tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def _revision(path: Path) -> str | None:
    with closing(sqlite3.connect(path)) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def test_db_upgrade_creates_the_database_at_head(db_file: Path) -> None:
    # given
    assert not db_file.exists()
    # when
    output = _run("db", "upgrade")
    # then
    assert output == f"database at {head_revision()}\n"
    assert db_file.exists()
    assert _tables(db_file) >= APP_TABLES
    assert _revision(db_file) == head_revision()


def test_demo_load_twice_loads_once(db_file: Path) -> None:
    # given
    _run("db", "upgrade")
    # when
    first = _run("demo", "load")
    second = _run("demo", "load")
    # then
    assert first.startswith("demo loaded: "), first
    assert second.startswith("demo already present: "), second
    assert "(nothing written)" in second
    with closing(sqlite3.connect(db_file)) as conn:
        assert conn.execute("SELECT count(*) FROM programs").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM initiatives").fetchone() == (10,)


def test_db_downgrade_base_removes_the_tables(db_file: Path) -> None:
    # given
    _run("db", "upgrade")
    # when
    output = _run("db", "downgrade", "base")
    # then
    assert output == "database at base\n"
    assert _tables(db_file) - {"alembic_version"} == set()
    assert _revision(db_file) is None


def test_db_downgrade_needs_a_target(db_file: Path) -> None:
    result = runner.invoke(cli, ["db", "downgrade"])
    assert result.exit_code != 0
    assert not db_file.exists()


def test_export_schema_prints_the_sdl() -> None:
    assert _run("export-schema") == schema.as_str() + "\n"


def test_export_schema_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    assert _run("export-schema", "-o", str(target)) == ""
    assert target.read_text(encoding="utf-8") == schema.as_str() + "\n"
