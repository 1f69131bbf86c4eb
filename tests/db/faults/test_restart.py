"""Across a restart of the database: /readyz follows it and the service recovers by itself;
no acknowledged write is lost and a retry with its idempotency key applies once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select

from app import models as m
from app.audit.service import verify
from app.kit.ids import decode_id_of
from tests.db.faults.common import (
    CREATE_KEYED,
    PROGRAMS,
    RECOVERY_SECONDS,
    Cluster,
    clean,
    outage,
    server_of,
    transaction_input,
    wait_ready,
)
from tests.live import LiveData

pytestmark = pytest.mark.postgres_only


async def test_readiness_follows_the_database_and_the_service_recovers_by_itself(
    cluster: Cluster, live: LiveData
) -> None:
    server = server_of(live)
    viewer = {"Authorization": f"Bearer {live.keys['viewer']}"}
    editor = {"Authorization": f"Bearer {live.keys['editor']}"}
    write = {"query": CREATE_KEYED, "variables": {"input": transaction_input(live)}}
    # A probe's own timeout: a /readyz that hung instead of answering would fail here.
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"

        async with outage(cluster, "fast"):
            unready = await http.get("/readyz")
            assert unready.status_code == 503, unready.text
            assert unready.json()["status"] == "unready"
            # Alive all the same: nothing for an orchestrator to restart.
            assert (await http.get("/healthz")).status_code == 200

            # A caller with a key: the key cannot be looked up, so nothing runs; a
            # 503 with the code and when to come back, as JSON, never a crash.
            for body, headers in (({"query": PROGRAMS}, viewer), (write, editor)):
                refused = await http.post("/graphql", json=body, headers=headers)
                assert refused.status_code == 503, refused.text
                assert refused.headers["retry-after"].isdigit()
                assert refused.headers["content-type"].startswith("application/json")
                (error,) = refused.json()["errors"]
                assert error["extensions"]["code"] == "BUSY"
                clean(refused.text)

            # An anonymous read gets as far as its resolver: the field's error, with the
            # same code and an id to quote.
            failed = await http.post("/graphql", json={"query": PROGRAMS})
            assert failed.status_code == 200
            body = failed.json()
            assert body["data"] is None
            (error,) = body["errors"]
            assert error["extensions"]["code"] == "BUSY"
            assert error["extensions"]["errorId"]
            clean(failed.text)

        # Back without restarting the service: the same process, ready, serving.
        assert (await wait_ready(http, server))["status"] == "ready"
        assert server.process.poll() is None
        for _ in range(2):  # every pooled connection was cut: each one is replaced
            answer = await http.post("/graphql", json={"query": PROGRAMS}, headers=viewer)
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"]["programs"]["totalCount"] >= 1
        written = await http.post("/graphql", json=write, headers=editor)
        payload = written.json()["data"]["createTransaction"]
        assert payload["errors"] == [] and payload["transaction"]["id"]


@dataclass
class Attempt:
    """One createTransaction request and what its client was told."""

    key: str  # its idempotency key, also written as the transaction's description
    outcome: str  # acknowledged | refused (nothing ran) | failed (in flight) | lost | other
    id: str | None = None  # the transaction's global ID, when acknowledged
    replayed: bool = False  # acknowledged as the first result of an earlier request
    told: str = ""


async def attempt(http: httpx.AsyncClient, live: LiveData, key: str) -> Attempt:
    """createTransaction with idempotency key `key`, classified by what came back."""
    body = {"query": CREATE_KEYED, "variables": {"input": transaction_input(live, key), "key": key}}
    headers = {"Authorization": f"Bearer {live.keys['editor']}"}
    try:
        response = await http.post("/graphql", json=body, headers=headers)
    except httpx.TransportError as exc:
        return Attempt(key, "lost", told=repr(exc))
    told = response.text
    try:
        answer = response.json()
    except ValueError:
        return Attempt(key, "other", told=f"{response.status_code} {told}")
    codes = [e.get("extensions", {}).get("code") for e in answer.get("errors") or []]
    payload = (answer.get("data") or {}).get("createTransaction")
    if response.status_code == 200 and payload and payload["errors"] == [] and not codes:
        return Attempt(key, "acknowledged", payload["transaction"]["id"], payload["replayed"], told)
    if response.status_code == 503 and codes == ["BUSY"] and "data" not in answer:
        return Attempt(key, "refused", told=told)
    if response.status_code == 200 and codes == ["BUSY"] and payload is None:
        return Attempt(key, "failed", told=told)
    return Attempt(key, "other", told=f"{response.status_code} {told}")


async def test_no_acknowledged_write_is_lost_and_retries_apply_once(
    cluster: Cluster, live: LiveData
) -> None:
    """Writers keep writing while the database is killed (`-m immediate`: no orderly
    shutdown) and started again. At the kill, each writer has a write in flight: they
    queue for the ledger's write lock, which the test holds."""
    server = server_of(live)
    writers = 3
    attempts: list[Attempt] = []
    stop = asyncio.Event()
    progress = asyncio.Condition()

    async def writer(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            attempts.append(await attempt(http, live, f"fault-{uuid.uuid4().hex}"))
            async with progress:
                progress.notify_all()
            await asyncio.sleep(0.01)

    def acknowledged() -> int:
        return sum(a.outcome == "acknowledged" for a in attempts)

    async def until(done: Callable[[], bool]) -> None:
        async with progress:
            await progress.wait_for(done)

    async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
        tasks = [asyncio.create_task(writer(http)) for _ in range(writers)]
        try:
            target = acknowledged() + 10
            await asyncio.wait_for(until(lambda: acknowledged() >= target), RECOVERY_SECONDS)
            holder = await asyncpg.connect(cluster.dsn)
            try:
                await holder.execute("BEGIN; UPDATE audit_chain_head SET id = id WHERE id = 1")
                waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                while True:
                    if await holder.fetchval(waiting) >= writers:
                        break
                    await asyncio.sleep(0.01)
                in_flight = len(attempts)
                async with outage(cluster, "immediate"):
                    # Each writer is told about its write in flight, then meets the outage.
                    await asyncio.wait_for(
                        until(lambda: len(attempts) >= in_flight + 2 * writers), RECOVERY_SECONDS
                    )
            finally:
                holder.terminate()
            await wait_ready(http, server)
            target = acknowledged() + 10
            await asyncio.wait_for(until(lambda: acknowledged() >= target), RECOVERY_SECONDS)
        finally:
            stop.set()
            await asyncio.gather(*tasks)

        outcomes = Counter(a.outcome for a in attempts)
        # The service answered every request (it never went away), each one clearly.
        assert not outcomes["other"], [a.told for a in attempts if a.outcome == "other"]
        assert not outcomes["lost"], [a.told for a in attempts if a.outcome == "lost"]
        # The writes in flight at the kill failed with BUSY; those sent while the
        # database was down were refused before anything ran.
        assert outcomes["failed"] >= writers, outcomes
        assert outcomes["refused"] >= writers, outcomes
        for a in attempts:
            if a.outcome in ("refused", "failed"):
                clean(a.told)

        # What the database holds: each request's transaction found by its key.
        async with live.sessions() as session:
            rows = (
                await session.execute(
                    select(m.Transaction.description, m.Transaction.id).where(
                        m.Transaction.description.like("fault-%")
                    )
                )
            ).all()
        found: dict[str, list[int]] = {}
        for description, pk in rows:
            found.setdefault(str(description), []).append(pk)
        for a in attempts:
            held = found.get(a.key, [])
            if a.outcome == "acknowledged":
                assert a.id is not None
                assert held == [decode_id_of(a.id, "Transaction")], a  # kept, once
            elif a.outcome == "refused":
                assert held == [], a  # nothing ran
            else:
                assert len(held) <= 1, a  # in flight: committed once or not at all

        # A client unsure of a write retries it with the same key: applied once.
        for a in attempts:
            if a.outcome == "acknowledged":
                continue
            retried = await attempt(http, live, a.key)
            assert retried.outcome == "acknowledged", retried
            assert retried.id is not None
            if found.get(a.key):  # it had committed: its first result, replayed
                assert retried.replayed
                assert [decode_id_of(retried.id, "Transaction")] == found[a.key]
            else:
                assert not retried.replayed
            again = await attempt(http, live, a.key)
            assert again.replayed and again.id == retried.id

    async with live.sessions() as session:
        keys = [a.key for a in attempts]
        counts = (
            await session.execute(
                select(m.Transaction.description, func.count())
                .where(m.Transaction.description.in_(keys))
                .group_by(m.Transaction.description)
            )
        ).all()
        assert {str(k): n for k, n in counts} == dict.fromkeys(keys, 1)
        # The audit trail came through the crash intact.
        assert (await verify(session)).intact
