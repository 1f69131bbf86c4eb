"""`pledge-ledger keys …` against a SQLite file named by DATABASE_URL.

The commands run their own event loop, so these are plain sync tests.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings

runner = CliRunner()


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A migrated SQLite file holding the demo (initiatives CP-01 …)."""
    path = tmp_path / "keys.db"
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    get_settings.cache_clear()
    try:
        ok("db", "upgrade")
        ok("demo", "load")
        yield path
    finally:
        get_settings.cache_clear()


def invoke(*args: str) -> Result:
    return runner.invoke(cli, list(args))


def ok(*args: str) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def keys_table(path: Path) -> list[tuple[str, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT * FROM api_keys ORDER BY name").fetchall()


def test_create_prints_the_secret_once_and_stores_only_its_hash(db_file: Path) -> None:
    # when
    created = ok("keys", "create", "--name", "dashboard", "--role", "viewer")
    listed = ok("keys", "list")
    # then
    secret = created.stdout.strip()
    assert secret.startswith("pl_") and len(secret) > 40
    assert "not" in created.stderr and "again" in created.stderr
    (row,) = keys_table(db_file)
    assert hashlib.sha256(secret.encode()).hexdigest() in row
    assert not any(secret in str(value) for value in row)
    assert "dashboard" in listed.stdout and "viewer" in listed.stdout
    assert secret not in listed.stdout


def test_a_partner_key_lists_its_initiatives_until_it_is_revoked(db_file: Path) -> None:
    # given
    ok("keys", "create", "--name", "ngo", "--role", "partner", "--initiative", "CP-01")
    # when
    revoked = ok("keys", "revoke", "ngo")
    again = ok("keys", "revoke", "ngo")
    listed = ok("keys", "list")
    # then
    assert "revoked" in revoked.stdout and again.stdout == revoked.stdout
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith("ngo ")]
    assert "partner" in line and line.endswith("CP-01")
    assert line.count("Z ") == 2  # created and revoked times


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "taken", "--role", "viewer"], "already exists"),
        (["--name", "new", "--role", "boss"], "unknown role 'boss'"),
        (["--name", "new", "--role", "partner"], "needs at least one initiative"),
        (["--name", "new", "--role", "viewer", "--initiative", "CP-01"], "only partner keys"),
        (["--name", "new", "--role", "partner", "--initiative", "CP-99"], "CP-99"),
    ],
)
def test_create_refusals_say_why_and_write_nothing(
    db_file: Path, args: list[str], message: str
) -> None:
    # given
    ok("keys", "create", "--name", "taken", "--role", "admin")
    before = keys_table(db_file)
    # when
    result = invoke("keys", "create", *args)
    # then
    assert result.exit_code == 1
    assert message in result.stderr and "nothing written" in result.stderr
    assert result.stdout == ""
    assert keys_table(db_file) == before


def test_revoking_an_unknown_key_fails(db_file: Path) -> None:
    # when
    result = invoke("keys", "revoke", "ghost")
    # then
    assert result.exit_code == 1
    assert "no key named 'ghost'" in result.stderr
