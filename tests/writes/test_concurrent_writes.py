"""Two editors at once, and clients that retry: no update lost, nothing written twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app import models as m
from app.audit import recorder
from app.audit.recorder import lock_chain
from app.config import Settings
from app.engines import ledger_engine
from app.kit.ids import decode_global_id, encode_global_id
from app.main import create_app
from app.writes.checks import today
from tests import factories as f
from tests.conftest import Database, GraphQLClient

CREATE = """
mutation($input: CreateTransactionInput!, $key: String) {
  createTransaction(input: $input, idempotencyKey: $key) {
    transaction { id version amount { amount } }
    errors { field code message }
    replayed
  }
}"""
UPDATE = """
mutation($input: UpdateTransactionInput!) {
  updateTransaction(input: $input) {
    transaction { version description }
    errors { field code }
  }
}"""


@asynccontextmanager
async def server(db: Database, settings: Settings, secret: str) -> AsyncIterator[GraphQLClient]:
    """An app instance with its own engine and pool, as a second server process has."""
    engine = ledger_engine(db.url)
    app = create_app(settings.model_copy(update={"database_url": db.url}), engine=engine)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as http:
            yield GraphQLClient(http).with_key(secret)
    finally:
        await engine.dispose()


async def _setup(db: Database) -> tuple[m.Initiative, str]:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiative = await f.initiative(session, program)
        secret = await f.api_key(session, "editor", name="editor-a")
    return initiative, secret


def _input(initiative: m.Initiative, amount: str = "10.00") -> dict[str, Any]:
    return {
        "initiativeId": encode_global_id("Initiative", initiative.id),
        "type": "EXPENDITURE",
        "date": (today() - timedelta(days=3)).isoformat(),
        "amount": amount,
        "currency": "CNY",
    }


async def _count(db: Database, model: Any) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_two_concurrent_updates_of_one_version_one_wins_the_other_conflicts(
    db: Database, settings: Settings
) -> None:
    # given: two servers, one transaction at version 1
    initiative, secret = await _setup(db)
    async with server(db, settings, secret) as a, server(db, settings, secret) as b:
        created = await a.data(CREATE, {"input": _input(initiative)})
        tx_id = created["createTransaction"]["transaction"]["id"]
        # when: both send an update of version 1 at the same time
        results = await asyncio.gather(
            a.data(UPDATE, {"input": {"id": tx_id, "version": 1, "description": "from A"}}),
            b.data(UPDATE, {"input": {"id": tx_id, "version": 1, "description": "from B"}}),
        )
    # then: exactly one was written; the other learned of the conflict
    payloads = [r["updateTransaction"] for r in results]
    won = [p for p in payloads if not p["errors"]]
    lost = [p for p in payloads if p["errors"]]
    assert len(won) == 1 and len(lost) == 1
    assert lost[0]["errors"] == [{"field": "version", "code": "CONFLICT"}]
    assert won[0]["transaction"]["version"] == 2
    async with db.sessions() as session:
        row = await session.get(m.Transaction, decode_global_id(tx_id)[1])
        updates = await session.scalar(
            select(func.count()).select_from(m.Change).where(m.Change.operation == "update")
        )
    assert row is not None and row.description == won[0]["transaction"]["description"]
    assert updates == 1


async def test_a_retry_with_the_same_key_returns_the_first_result_and_writes_once(
    db: Database, client: GraphQLClient
) -> None:
    # given
    initiative, secret = await _setup(db)
    editor = client.with_key(secret)
    # when
    first = await editor.data(CREATE, {"input": _input(initiative), "key": "req-1"})
    again = await editor.data(CREATE, {"input": _input(initiative), "key": "req-1"})
    # then
    assert first["createTransaction"]["replayed"] is False
    assert again["createTransaction"]["replayed"] is True
    assert again["createTransaction"]["transaction"] == first["createTransaction"]["transaction"]
    assert await _count(db, m.Transaction) == 1


async def test_concurrent_retries_on_two_servers_write_once(
    db: Database, settings: Settings
) -> None:
    # given
    initiative, secret = await _setup(db)
    async with server(db, settings, secret) as a, server(db, settings, secret) as b:
        # when: a client retries on another server before the first answer arrived
        results = await asyncio.gather(
            a.data(CREATE, {"input": _input(initiative), "key": "req-2"}),
            b.data(CREATE, {"input": _input(initiative), "key": "req-2"}),
        )
    # then
    payloads = [r["createTransaction"] for r in results]
    assert all(p["errors"] == [] for p in payloads)
    assert sorted(p["replayed"] for p in payloads) == [False, True]
    assert payloads[0]["transaction"]["id"] == payloads[1]["transaction"]["id"]
    assert await _count(db, m.Transaction) == 1


async def test_a_key_reused_for_another_request_is_refused(
    db: Database, client: GraphQLClient
) -> None:
    # given
    initiative, secret = await _setup(db)
    editor = client.with_key(secret)
    await editor.data(CREATE, {"input": _input(initiative), "key": "req-3"})
    # when
    data = await editor.data(CREATE, {"input": _input(initiative, "11.00"), "key": "req-3"})
    # then
    assert [(e["field"], e["code"]) for e in data["createTransaction"]["errors"]] == [
        ("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")
    ]
    assert await _count(db, m.Transaction) == 1


async def test_keys_belong_to_their_caller(db: Database, client: GraphQLClient) -> None:
    # given: two editors who happen to pick the same key
    initiative, secret = await _setup(db)
    async with db.sessions() as session, session.begin():
        other = await f.api_key(session, "editor", name="editor-b")
    # when
    await client.with_key(secret).data(CREATE, {"input": _input(initiative), "key": "k"})
    data = await client.with_key(other).data(CREATE, {"input": _input(initiative), "key": "k"})
    # then: both were written
    assert data["createTransaction"]["replayed"] is False
    assert await _count(db, m.Transaction) == 2


async def test_a_refused_write_is_not_remembered_for_its_key(
    db: Database, client: GraphQLClient
) -> None:
    # given: a first call that was refused
    initiative, secret = await _setup(db)
    editor = client.with_key(secret)
    bad = await editor.data(CREATE, {"input": _input(initiative, "0"), "key": "req-4"})
    assert bad["createTransaction"]["errors"]
    # when: the same call again
    again = await editor.data(CREATE, {"input": _input(initiative, "0"), "key": "req-4"})
    # then: checked again and refused again; a refusal is not a result to replay
    assert again["createTransaction"]["replayed"] is False
    assert [e["code"] for e in again["createTransaction"]["errors"]] == ["VALIDATION"]
    assert await _count(db, m.IdempotencyRecord) == 0


async def test_a_writer_queued_too_long_gives_up_with_busy_and_writes_nothing(
    db: Database, client: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: another writer holds the write lock (PostgreSQL waits WRITE_LOCK_WAIT_SECONDS,
    # shortened here; SQLite waits its busy_timeout of 5 s)
    monkeypatch.setattr(recorder, "WRITE_LOCK_WAIT_SECONDS", 1)
    initiative, secret = await _setup(db)
    async with db.sessions() as holder, holder.begin():
        await lock_chain(holder)
        # when
        data = await client.with_key(secret).data(CREATE, {"input": _input(initiative)})
    # then
    assert [(e["field"], e["code"]) for e in data["createTransaction"]["errors"]] == [
        (None, "BUSY")
    ]
    assert await _count(db, m.Transaction) == 0
