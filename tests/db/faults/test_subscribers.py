"""Subscribers keep going across a restart of the database and resume from their last
cursor without a gap."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed

from app.events.brokers import APPLICATION
from tests.db.faults.common import (
    CHANGES,
    RECOVERY_SECONDS,
    Cluster,
    clean,
    outage,
    server_of,
    wait_ready,
)
from tests.live import LiveData, sequences
from tests.wsclient import LiveClient

pytestmark = pytest.mark.postgres_only


async def listening(live: LiveData) -> int:
    """How many events listeners (LISTEN connections of servers) the database has."""
    async with live.sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": APPLICATION},
        )
    return int(count or 0)


async def test_subscribers_keep_going_across_a_restart_and_resume_without_a_gap(
    cluster: Cluster, live: LiveData
) -> None:
    server = server_of(live)
    viewer = f"Bearer {live.keys['viewer']}"
    async with await LiveClient.connect(server.ws, authorization=viewer) as client:
        follower = await client.subscribe(CHANGES)
        await asyncio.sleep(0.2)  # subscribed before the writes
        written = await live.write(server, 2)
        seen = [(await follower.data())["changes"] for _ in written]
        assert [e["entityId"] for e in seen] == written
        cursor, start = seen[-1]["cursor"], seen[-1]["sequence"]
        # Acknowledged just before the restart: delivered before it or after it.
        (acknowledged_before,) = await live.write(server)

        received: list[dict[str, Any]] = []
        async with outage(cluster, "fast"):
            # The subscription stays open. Its credential is re-checked every second
            # here: a re-check that cannot reach the database proves nothing either way.
            with suppress(TimeoutError):
                while True:
                    received.append(await follower.data(wait=2.5))
            # A new operation on the open connection is refused, clearly; the
            # connection and its subscription stay.
            refused = await (await client.subscribe(CHANGES)).next()
            assert refused["type"] == "error", refused
            assert [e["extensions"]["code"] for e in refused["payload"]] == ["BUSY"]
            clean(str(refused))
            # A new connection is closed with 1013, "try again later".
            with pytest.raises(ConnectionClosed) as closed:
                await LiveClient.connect(server.ws, authorization=viewer)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1013
            assert closed.value.rcvd.reason.startswith("BUSY")

        async with httpx.AsyncClient(timeout=10) as http:
            await wait_ready(http, server)
        # The events listener connected again (the hub polls only every 30 s here):
        for _ in range(int(RECOVERY_SECONDS * 10)):
            if await listening(live) == 1:
                break
            await asyncio.sleep(0.1)
        assert await listening(live) == 1, server.output()
        # Written beside the service: only the listener tells it.
        await live.burst(2)
        end = await live.last_sequence()
        while not received or received[-1]["changes"]["sequence"] < end:
            received.append(await follower.data(wait=RECOVERY_SECONDS))
        (acknowledged_after,) = await live.write(server)
        received.append(await follower.data())
        end = await live.last_sequence()

        # Everything since the last event seen before the restart, once, in order.
        assert sequences(received) == list(range(start + 1, end + 1))
        ids = [e["changes"]["entityId"] for e in received]
        assert ids[0] == acknowledged_before and ids[-1] == acknowledged_after
        await follower.nothing(0.5)

    # A client that was away resumes from the last cursor it had: the same, no gap.
    async with await LiveClient.connect(server.ws, authorization=viewer) as client:
        resumed = await client.subscribe(CHANGES, {"after": cursor})
        replayed = [await resumed.data() for _ in range(end - start)]
        assert replayed == received
        await resumed.nothing(0.5)
