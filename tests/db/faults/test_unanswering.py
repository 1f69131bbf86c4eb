"""A database that takes connections but never answers, or freezes, is waited for only
as long as the engine's connect timeout: the service says unready and BUSY, then
recovers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.db.faults.common import DATABASE, PROGRAMS, Cluster, clean, wait_ready
from tests.live import LiveData, Server, start_server
from tests.wsclient import Closed, LiveClient

pytestmark = pytest.mark.postgres_only


async def test_a_database_that_never_answers_is_unready_not_a_hang() -> None:
    """A database host that takes connections and says nothing (a partition, a hung
    machine) is waited for as long as the engine's connect timeout, not a minute:
    /readyz answers unready and callers are told BUSY, as for a database that is down."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepted, never answered

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server = await start_server(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{DATABASE}")
    try:
        # Patience, as a probe's: half of asyncpg's own default connect timeout.
        async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
            headers = {"Authorization": "Bearer pl_any_key"}
            ready, answer = await asyncio.gather(
                http.get("/readyz"),
                http.post("/graphql", json={"query": PROGRAMS}, headers=headers),
            )
            assert (await http.get("/healthz")).status_code == 200
        assert ready.status_code == 503 and ready.json()["status"] == "unready"
        assert answer.status_code == 503, answer.text
        assert [e["extensions"]["code"] for e in answer.json()["errors"]] == ["BUSY"]
        clean(answer.text)
    finally:
        server.stop()
        listener.close()
        for writer in held:
            writer.close()


async def closed_at_init(server: Server, secret: str) -> Closed:
    """How the server closes a WebSocket whose connection_init carries this key."""
    client = await LiveClient.connect(server.ws, init=False)
    await client.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {secret}"}})
    return await client.ended(wait=30)


async def test_a_frozen_database_is_waited_for_within_limits_then_recovers(
    cluster: Cluster, live: LiveData
) -> None:
    """The database's processes frozen (a hung host, a stalled disk) with connections
    already open: every wait is bounded (/readyz by its deadline, learning who calls and
    running an operation by EXECUTION_TIMEOUT_SECONDS), and when the database thaws the
    same server answers again."""
    server = await start_server(live.url, execution_timeout_seconds=2, anonymous_read=True)
    headers = {"Authorization": f"Bearer {live.keys['viewer']}"}
    try:
        async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
            warm = await http.post("/graphql", json={"query": PROGRAMS}, headers=headers)
            assert warm.json()["data"]["programs"]["totalCount"] >= 1
            await asyncio.to_thread(cluster.signal_all, "STOP")
            try:
                ready, keyed, anonymous, socket = await asyncio.gather(
                    http.get("/readyz"),
                    http.post("/graphql", json={"query": PROGRAMS}, headers=headers),
                    http.post("/graphql", json={"query": PROGRAMS}),
                    closed_at_init(server, live.keys["viewer"]),
                )
                assert (await http.get("/healthz")).status_code == 200
            finally:
                await asyncio.to_thread(cluster.signal_all, "CONT")
            assert ready.status_code == 503 and ready.json()["status"] == "unready"
            # A WebSocket's credential could not be proved in time: try again later.
            assert socket.code == 1013 and socket.reason.startswith("BUSY"), socket
            # Learning who calls timed out: nothing ran, retry shortly.
            assert keyed.status_code == 503, keyed.text
            assert [e["extensions"]["code"] for e in keyed.json()["errors"]] == ["BUSY"]
            # No key to look up: the operation itself ran into its limit.
            codes = [e["extensions"]["code"] for e in anonymous.json()["errors"]]
            assert codes in (["TIMEOUT"], ["BUSY"]), anonymous.text
            for answer in (keyed, anonymous):
                clean(answer.text)
            await wait_ready(http, server)
            after = await http.post("/graphql", json={"query": PROGRAMS}, headers=headers)
            assert after.json() == warm.json()
    finally:
        server.stop()
