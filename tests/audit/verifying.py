"""What the verification tests share: a trail of some changes, tampering as someone with
direct database access would (guards lifted first), and `audit verify` run in-process
and as the command."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import select
from typer.testing import CliRunner, Result

from app import models as m
from app.audit.guards import create_guards, drop_guards
from app.audit.service import Verification, verify
from app.cli import cli
from app.models import Change
from tests import factories as f
from tests.conftest import Database

VERIFICATION = """
{
  auditVerification {
    intact checkedEntries lastSequence lastHash firstBroken { sequence problem }
  }
}"""

runner = CliRunner()


async def verify_command() -> Result:
    # The command runs its own event loop (asyncio.run), so it runs in a thread here.
    return await asyncio.to_thread(runner.invoke, cli, ["audit", "verify"])


def finding(command: Result) -> str:
    """What the command reports on stderr after naming the database it checked."""
    named, *rest = command.stderr.splitlines()
    assert named.startswith("database: "), command.stderr
    return "\n".join(rest)


async def some_changes(db: Database) -> int:
    """Creates, updates and an archive through ORM sessions; returns the entry count."""
    async with db.sessions() as session:
        program = await f.program(session)
        initiative = await f.initiative(session, program)
        first = await f.transaction(session, initiative)
        second = await f.transaction(session, initiative)
        await session.commit()
    async with db.sessions() as session:
        row = await session.get(m.Transaction, first.id)
        assert row is not None
        row.amount = Decimal("250.00")
        await session.commit()
    async with db.sessions() as session:
        gone = await session.get(m.Transaction, second.id)
        await session.delete(gone)
        await session.commit()
    async with db.sessions() as session:
        return int(
            await session.scalar(select(Change.sequence).order_by(Change.sequence.desc()).limit(1))
            or 0
        )


async def tamper(db: Database, *statements: object) -> None:
    """Run statements on the trail with the guards lifted, then put the guards back."""
    async with db.engine.begin() as conn:
        await conn.run_sync(drop_guards)
        for statement in statements:
            await conn.execute(statement)  # type: ignore[call-overload]
        await conn.run_sync(create_guards)


async def verify_trail(db: Database, batch: int = 5000) -> Verification:
    async with db.sessions() as session:
        return await verify(session, batch=batch)
