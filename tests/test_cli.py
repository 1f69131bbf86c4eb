"""The `pledge-ledger` command line, against a SQLite file named by DATABASE_URL.

The commands run their own event loop (asyncio.run), so these tests are plain sync tests.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import make_url
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings, get_settings
from app.db.base import Base
from app.db.migrate import head_revision
from app.graphql.schema import build_schema
from tests.conftest import POSTGRES_DSN, unreachable

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


# The SDL, which no setting changes.
SDL = build_schema(Settings()).as_str() + "\n"


def test_export_schema_prints_the_sdl() -> None:
    assert _run("export-schema") == SDL


def test_export_schema_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    assert _run("export-schema", "-o", str(target)) == ""
    assert target.read_text(encoding="utf-8") == SDL


# --- a database the command cannot use: one line, exit 2 (run as a user runs them) ----

COMMANDS = [
    ["db", "upgrade"],
    ["db", "downgrade", "base"],
    ["demo", "load"],
    ["generate", "--transactions", "1"],
    ["audit", "baseline"],
    ["audit", "verify"],
    ["keys", "list"],
    ["keys", "create", "--name", "ops", "--role", "viewer"],
]
ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "s3cret-pw"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: list[str]


def pledge_ledger(args: list[str], cwd: Path, **env: str) -> Run:
    """The command in its own process, with only the given settings (and no .env)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORT")}
    done = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", *args],
        cwd=cwd,
        env={**environment, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(done.returncode, done.stdout, done.stderr.splitlines())


def server() -> tuple[str, int]:
    """The test PostgreSQL server's address (skipped, or in CI failed, when it is away)."""
    url = make_url(POSTGRES_DSN)
    host, port = url.host or "127.0.0.1", url.port or 5432
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        unreachable("PostgreSQL", f"{POSTGRES_DSN}: {exc}")
    return host, port


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_one_line_naming(run: Run, masked: str, reason: str) -> None:
    assert run.code == 2, run
    assert run.stdout == ""
    announced, error = run.stderr  # the database used, then one line: no traceback
    assert announced == f"database: {masked}"
    assert error.startswith(f"error: cannot use the database {masked}: "), error
    assert reason in error
    assert PASSWORD not in "\n".join(run.stderr)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_postgresql_database_that_does_not_exist_is_one_line_and_exit_2(
    args: list[str], tmp_path: Path
) -> None:
    # given a server that answers, and a database name it does not have
    host, port = server()
    name = f"pledge_missing_{uuid.uuid4().hex[:8]}"
    url = f"postgresql+asyncpg://postgres:{PASSWORD}@{host}:{port}/{name}"
    # when
    run = pledge_ledger(args, tmp_path, DATABASE_URL=url)
    # then
    masked = f"postgresql+asyncpg://postgres:***@{host}:{port}/{name}"
    assert_one_line_naming(run, masked, f'database "{name}" does not exist')


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_database_server_that_is_down_is_one_line_and_exit_2(
    args: list[str], tmp_path: Path
) -> None:
    # given a port nothing listens on: a stopped server
    port = closed_port()
    url = f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:{port}/ledger"
    # when
    run = pledge_ledger(args, tmp_path, DATABASE_URL=url)
    # then: audit verify too says "could not check" (2), never "the chain is broken" (1)
    assert_one_line_naming(
        run, f"postgresql+asyncpg://postgres:***@127.0.0.1:{port}/ledger", "connection refused"
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [("PORT", "eighty"), ("DATABASE_URL", "mysql://ledger@db/ledger")],
)
def test_a_bad_setting_is_named_in_one_line_and_exit_2(
    setting: str, value: str, tmp_path: Path
) -> None:
    for args in (["audit", "verify"], ["serve"], ["export-schema"]):
        run = pledge_ledger(args, tmp_path, **{setting: value})
        assert run.code == 2, (args, run)
        (line,) = run.stderr
        assert line.startswith(f"error: setting {setting}: "), line
        assert value not in line  # a setting's value may be a secret


def test_a_command_on_a_missing_sqlite_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    # given a relative SQLite path, run from a directory without the file
    for args in (["audit", "verify"], ["demo", "load"], ["keys", "list"]):
        # when
        run = pledge_ledger(args, tmp_path, DATABASE_URL="sqlite+aiosqlite:///./ledger.db")
        # then
        assert run.code == 2, (args, run)
        announced, error = run.stderr
        assert announced == f"database: SQLite file {tmp_path / 'ledger.db'}"
        assert error.startswith(f"error: there is no database at {tmp_path / 'ledger.db'}")
        assert not (tmp_path / "ledger.db").exists()


def test_every_command_names_the_database_it_uses(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "sqlite+aiosqlite:///./ledger.db"}
    named = f"database: SQLite file {tmp_path / 'ledger.db'}"
    for args in (["db", "upgrade"], ["demo", "load"], ["audit", "verify"], ["keys", "list"]):
        run = pledge_ledger(args, tmp_path, **env)
        assert run.code == 0, (args, run)
        assert run.stderr[0] == named, args
        assert named not in run.stdout  # stdout stays the command's own answer


def test_help_tells_the_truth_about_creating_databases_and_exit_codes() -> None:
    upgrade = runner.invoke(cli, ["db", "upgrade", "--help"], terminal_width=200)
    top = runner.invoke(cli, ["--help"], terminal_width=200)
    assert upgrade.exit_code == 0 and top.exit_code == 0
    text = " ".join(upgrade.stdout.split())
    assert "A SQLite file is created when it does not exist" in text
    assert "A PostgreSQL database must exist already" in text
    assert "Exit 2 when the database cannot be reached or opened" in text
    assert "2 could not run" in " ".join(top.stdout.split())


def test_serve_with_several_workers_needs_the_link_secret(db_file: Path) -> None:
    # given no DOWNLOAD_LINK_SECRET: each worker would make its own, and a link made by
    # one would be refused by the others
    result = runner.invoke(cli, ["serve", "--workers", "2"])
    # then it does not start
    assert result.exit_code == 2
    assert result.stderr.startswith("error: setting DOWNLOAD_LINK_SECRET: ")
    assert len(result.stderr.splitlines()) == 1


def test_a_migration_that_refuses_the_data_is_one_line_and_exit_1(db_file: Path) -> None:
    # given: the demo, and a pledge with a third decimal (as a dinar pledge would have)
    _run("db", "upgrade")
    _run("demo", "load")
    with closing(sqlite3.connect(db_file)) as conn:
        conn.execute("UPDATE programs SET pledged_amount = pledged_amount + 1")  # +0.001
        conn.commit()
    # the database at money in thousandths (3d9175aeb81a), the later migrations undone
    _run("db", "downgrade", "3d9175aeb81a")
    head = _revision(db_file)
    # when: going back to money in hundredths, which cannot hold it
    result = runner.invoke(cli, ["db", "downgrade", "--", "-1"])
    # then: one line saying why, exit 1, and the database where it was
    assert result.exit_code == 1, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if not line.startswith("database:")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("refused: programs.pledged_amount holds an amount with a third")
    assert "nothing was changed" in lines[0]
    assert _revision(db_file) == head
