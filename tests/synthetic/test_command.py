"""The `generate` command, and the sizes it refuses."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.errors import DomainError, ErrorCode
from app.synthetic.generator import Sizes
from app.synthetic.service import check_sizes
from tests.conftest import Database
from tests.synthetic.common import count_rows


def test_sizes_out_of_range_are_refused() -> None:
    with pytest.raises(DomainError) as refused:
        check_sizes(Sizes(initiatives=0, budget_lines=10, transactions=10, seed=1))
    assert refused.value.code == ErrorCode.INVALID_ARGUMENT
    assert refused.value.field == "initiatives"


async def test_the_command_generates_and_refuses_a_repeat(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("DATABASE_URL", db.url)
    get_settings.cache_clear()
    args = ["generate", "--initiatives", "4", "--budget-lines", "30"]
    args += ["--transactions", "200", "--seed", "11"]
    runner = CliRunner()
    try:
        # when: the command runs its own event loop, so it runs in a thread here
        first = await asyncio.to_thread(runner.invoke, cli, args)
        counts = await count_rows(db)
        second = await asyncio.to_thread(runner.invoke, cli, args)
    finally:
        get_settings.cache_clear()
    # then
    assert first.exit_code == 0, (first.output, first.exception)
    assert first.stdout.startswith("generated synthetic-11-4-30-200: ")
    summary = dict(line.split()[:2] for line in first.stdout.splitlines()[1:])
    assert summary["initiatives"] == "4"
    # one trail entry per row written
    assert int(summary["changes"]) == sum(int(v) for k, v in summary.items() if k != "changes")
    assert summary["budget_lines"] == "30"
    assert summary["transactions"] == "200"
    assert counts["transactions"] == 200
    assert second.exit_code == 1
    assert "synthetic-11-4-30-200 already exists" in second.stderr
    assert await count_rows(db) == counts
