"""Engines built the normal way (app/engines.py) carry what the domains need: SQLite's
money conversion on every connection (views' too), and the audit recorder on sessions.

`app/db/` no longer adds either, so a forgotten hook would show only as a report that
fails on SQLite or a write that leaves no trail entry. The recorder is installed once per
process, and this process has long had it; so the check runs in a fresh interpreter,
which first shows that a plain `app.db` engine lacks both, then that the normal way has
both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.money.sql import convert_scaled

ROOT = Path(__file__).resolve().parents[2]

# 12.345 (amount scale 3) at rate 1.5 (rate scale 10), into a currency of 2 decimals.
AMOUNT, RATE = 12_345, 15_000_000_000

FRESH_PROCESS = """
import asyncio, json, sys

from sqlalchemy import func, literal, select
from sqlalchemy.exc import OperationalError

from app import models as m
from app.audit.recorder import UnauditedWrite
from app.audit.records import Actor
from app.db.migrate import upgrade
from app.db.session import create_engine, create_session_factory
from app.engines import ledger_engine, ledger_sessions
from app.money.sql import convert_expr
from app.views.views import view_engine

AMOUNT, RATE = int(sys.argv[2]), int(sys.argv[3])


async def converted(engine):
    statement = select(convert_expr(literal(AMOUNT), literal(RATE), literal(False), 2))
    try:
        async with engine.connect() as conn:
            return await conn.scalar(statement)
    except OperationalError as exc:
        return str(exc.orig)


async def write(sessions, ref):
    try:
        async with sessions() as session, session.begin():
            session.add(m.Organization(ref=ref, name=ref, kind=m.OrganizationKind.COMPANY))
    except UnauditedWrite:
        return "refused"
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(m.Change))


async def main(url):
    found = {}
    plain = create_engine(url)
    await upgrade(plain)
    found["plain converts"] = await converted(plain)
    found["plain write, trail entries"] = await write(create_session_factory(plain), "plain")
    await plain.dispose()
    engine = ledger_engine(url)
    found["converts"] = await converted(engine)
    found["view converts"] = await converted(view_engine(engine))
    found["write without actor"] = await write(ledger_sessions(engine), "anonymous")
    actor = Actor("engines-test", "system")
    found["write, trail entries"] = await write(ledger_sessions(engine, actor=actor), "named")
    await view_engine(engine).dispose()
    await engine.dispose()
    print(json.dumps(found))


asyncio.run(main(sys.argv[1]))
"""


def test_engines_built_the_normal_way_convert_money_and_record_every_write(
    tmp_path: Path,
) -> None:
    # given: a fresh process, a new SQLite file
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    # when
    ran = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, url, str(AMOUNT), str(RATE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # then
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout.strip().splitlines()[-1])
    expected = convert_scaled(AMOUNT, RATE, False, 2)
    assert expected == 1852  # 18.5175 → 18.52
    # what app/db alone builds knows neither hook: the check below would see one missing
    assert "no such function" in found["plain converts"]
    assert found["plain write, trail entries"] == 0
    # the normal way: conversion on every connection, the views' twin engine included
    assert found["converts"] == expected
    assert found["view converts"] == expected
    # and the recorder: no write without an actor, and each write leaves its entry
    assert found["write without actor"] == "refused"
    assert found["write, trail entries"] == 1
