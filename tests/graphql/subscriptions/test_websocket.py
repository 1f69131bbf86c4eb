"""Live updates as an integration partner gets them: a real WebSocket client
(graphql-transport-ws) against real server processes.

On PostgreSQL two processes share the database and learn of each other's commits
through LISTEN/NOTIFY: writes go to process A, subscribers listen on process B. On
SQLite there is one process. The polls are slow (30 s) on PostgreSQL, so an event
that arrives in time came through the broker, not the poll; SQLite polls fast, as
the test's own direct writes reach the server only that way.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.audit.cursors import encode_cursor
from app.auth.keys import revoke_key
from app.kit.ids import encode_global_id
from tests import factories as f
from tests.graphql.subscriptions.common import CHANGES, connect
from tests.live import LiveData, Server, live_data, sequences, start_server
from tests.wsclient import Closed, LiveClient

REPORT = """
subscription($groupBy: [BudgetDimension!]!) {
  budgetSummaryUpdates(groupBy: $groupBy) {
    currency
    total { disbursed { amount } transactionCount }
  }
}"""

SETTINGS: dict[str, Any] = {
    "subscription_buffer": 5,
    "subscription_recheck_seconds": 1,
    "ws_init_timeout_seconds": 1,
    "max_subscriptions_per_connection": 3,
    "report_coalesce_seconds": 0.3,
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveData]:
    """The demo in a database of its own, with server A (writes) and B (subscribers)."""
    backend: str = request.param
    async for data in live_data(backend, tmp_path_factory.mktemp("live")):
        poll = 30 if backend == "postgresql" else 0.2
        count = 2 if backend == "postgresql" else 1
        try:
            for _ in range(count):
                data.servers.append(
                    await start_server(data.url, events_poll_seconds=poll, **SETTINGS)
                )
            yield data
        finally:
            for server in data.servers:
                server.stop()


def a(live: LiveData) -> Server:
    return live.servers[0]


def b(live: LiveData) -> Server:
    return live.servers[-1]


async def collect(subscription: Any, count: int, wait: float = 10) -> list[dict[str, Any]]:
    return [await subscription.data(wait) for _ in range(count)]


async def test_a_change_on_one_process_reaches_a_subscriber_on_another(live: LiveData) -> None:
    async with await connect(b(live), live.keys["viewer"]) as client:
        subscription = await client.subscribe(CHANGES)
        await asyncio.sleep(0.2)  # the subscription is set up before the write
        (created,) = await live.write(a(live))
        event = (await subscription.data())["changes"]
        assert event["entityType"] == "TRANSACTION"
        assert event["entityId"] == created
        assert event["operation"] == "CREATE"
        # The trail's names are for auditors; a viewer learns the role.
        assert event["actor"] == {"name": None, "role": "editor"}
        assert event["record"]["amount"] == "100.00"
        assert event["sequence"] == await live.last_sequence()
        assert event["cursor"] == encode_cursor(event["sequence"])
        await subscription.nothing(0.5)  # exactly once


# Clients that ask for permessage-deflate (browsers) are sent each message through
# ASGI, compressed; those that do not, the group's frames written to the socket.
COMPRESSION = pytest.mark.parametrize("compression", ["deflate", None])


@COMPRESSION
async def test_subscribers_of_one_group_are_sent_the_same_bytes_as_a_replay_is(
    live: LiveData, compression: str | None
) -> None:
    # Three operations of one group (same document, variables and visibility), two on
    # one connection: each event reaches each once, in order, as the same message but
    # for the operation's id, byte for byte what the log's replay of it sends.
    start = await live.last_sequence()
    async with (
        await connect(b(live), live.keys["viewer"], compression=compression) as one,
        await connect(b(live), live.keys["viewer"], compression=compression) as two,
    ):
        first = await one.subscribe(CHANGES)
        second = await one.subscribe(CHANGES)
        other = await two.subscribe(CHANGES)
        await asyncio.sleep(0.3)
        written = await live.write(a(live), 3)
        got = [await collect(s, 3) for s in (first, second, other)]
        assert got[0] == got[1] == got[2]
        assert [e["changes"]["entityId"] for e in got[0]] == written
        assert sequences(got[0]) == [start + 1, start + 2, start + 3]
        replay = await two.subscribe(CHANGES, {"after": encode_cursor(start)})
        assert await collect(replay, 3) == got[0]

        def as_one(frames: list[str], id: str) -> list[str]:
            return [f.replace(f'"id":"{id}"', '"id":"1"', 1) for f in frames]

        assert first.frames == other.frames == as_one(second.frames, "2")
        assert as_one(replay.frames, "2") == first.frames
        for subscription in (first, second, other):
            await subscription.nothing(0.3)


async def test_reconnecting_with_after_gets_exactly_the_changes_missed(live: LiveData) -> None:
    async with await connect(b(live), live.keys["viewer"]) as client:
        subscription = await client.subscribe(CHANGES)
        await asyncio.sleep(0.2)
        await live.write(a(live))
        cursor = (await subscription.data())["changes"]["cursor"]
    # Disconnected: three changes happen meanwhile.
    missed = await live.write(a(live), 3)
    async with await connect(b(live), live.keys["viewer"]) as client:
        subscription = await client.subscribe(CHANGES, {"after": cursor})
        replayed = await collect(subscription, 3)
        assert [e["changes"]["entityId"] for e in replayed] == missed
        # The seam: what comes next arrives live, once, right after the replay.
        (later,) = await live.write(a(live))
        event = (await subscription.data())["changes"]
        assert event["entityId"] == later
        assert event["sequence"] == sequences(replayed)[-1] + 1
        await subscription.nothing(0.5)


@COMPRESSION
async def test_a_full_buffer_ends_the_subscription_and_resuming_loses_nothing(
    live: LiveData, compression: str | None
) -> None:
    start = await live.last_sequence()
    async with await connect(b(live), live.keys["viewer"], compression=compression) as client:
        subscription = await client.subscribe(CHANGES)
        await asyncio.sleep(0.3)
        # One commit of twelve entries: more than the buffer (5) at once.
        await live.burst(12)
        received: list[dict[str, Any]] = []
        while True:
            message = await subscription.next()
            if message["type"] != "next" or "errors" in message["payload"]:
                break
            received.append(message["payload"]["data"])
        error = message["payload"]["errors"][0]
        assert error["extensions"]["code"] == "SUBSCRIPTION_OVERFLOW"
        cursor = error["extensions"]["cursor"]
        expected_cursor = encode_cursor(sequences(received)[-1] if received else start)
        assert cursor == expected_cursor
        assert (await subscription.next())["type"] == "complete"
        # Resume from the cursor the error gave: the rest, in order, once.
        resumed = await client.subscribe(CHANGES, {"after": cursor})
        rest = await collect(resumed, 12 - len(received))
        assert sequences(received) + sequences(rest) == list(range(start + 1, start + 13))
        await resumed.nothing(0.5)


async def test_a_partner_overflows_and_resumes_in_its_own_numbers(live: LiveData) -> None:
    async with await connect(b(live), live.keys["partner"]) as client:
        subscription = await client.subscribe(CHANGES)
        await asyncio.sleep(0.3)
        await live.burst(4, initiative=1)  # another initiative's: not counted
        own = await live.burst(12, initiative=0)  # more than the buffer (5) at once
        received: list[dict[str, Any]] = []
        while True:
            message = await subscription.next()
            if message["type"] != "next" or "errors" in message["payload"]:
                break
            received.append(message["payload"]["data"])
        error = message["payload"]["errors"][0]
        assert error["extensions"]["code"] == "SUBSCRIPTION_OVERFLOW"
        if received:
            assert error["extensions"]["cursor"] == received[-1]["changes"]["cursor"]
        assert (await subscription.next())["type"] == "complete"
        resumed = await client.subscribe(CHANGES, {"after": error["extensions"]["cursor"]})
        rest = await collect(resumed, 12 - len(received))
        events = [e["changes"] for e in received + rest]
        assert [e["entityId"] for e in events] == [encode_global_id("Transaction", i) for i in own]
        numbers = sequences(received + rest)
        assert numbers == list(range(numbers[0], numbers[0] + 12))
        await resumed.nothing(0.5)


@COMPRESSION
async def test_partners_receive_only_their_initiatives(
    live: LiveData, compression: str | None
) -> None:
    async with (
        await connect(b(live), live.keys["partner"], compression=compression) as partner,
        await connect(b(live), live.keys["viewer"], compression=compression) as viewer,
    ):
        theirs = await partner.subscribe(CHANGES)
        everything = await viewer.subscribe(CHANGES)
        await asyncio.sleep(0.2)
        (other,) = await live.write(a(live), initiative=1)
        (own,) = await live.write(a(live), initiative=0)
        assert [e["changes"]["entityId"] for e in await collect(everything, 2)] == [other, own]
        assert (await theirs.data())["changes"]["entityId"] == own
        await theirs.nothing(0.5)
        # Naming another initiative is refused, not silently empty.
        refused = await partner.subscribe(
            CHANGES, {"filter": {"initiativeIds": [live.initiatives[1]]}}
        )
        message = await refused.next()
        assert message["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_filters_choose_events(live: LiveData) -> None:
    async with await connect(b(live), live.keys["viewer"]) as client:
        budgets = await client.subscribe(CHANGES, {"filter": {"entityTypes": ["BUDGET_LINE"]}})
        second = await client.subscribe(
            CHANGES,
            {"filter": {"initiativeIds": [live.initiatives[1]], "operations": ["CREATE"]}},
        )
        await asyncio.sleep(0.2)
        await live.write(a(live), initiative=0)
        (created,) = await live.write(a(live), initiative=1)
        assert (await second.data())["changes"]["entityId"] == created
        await budgets.nothing(0.5)


async def test_live_budget_report_recomputes_once_per_burst(live: LiveData) -> None:
    async with await connect(b(live), live.keys["viewer"]) as client:
        report = await client.subscribe(REPORT, {"groupBy": []})
        first = (await report.data())["budgetSummaryUpdates"]["total"]
        await live.burst(4)
        second = (await report.data())["budgetSummaryUpdates"]["total"]
        assert second["transactionCount"] == first["transactionCount"] + 4
        before, after = first["disbursed"]["amount"], second["disbursed"]["amount"]
        assert float(after) - float(before) == pytest.approx(4.0)
        await report.nothing(1.0)  # one burst, one report


async def test_a_partners_live_report_moves_only_with_its_initiatives(live: LiveData) -> None:
    query = """query($ids: [ID!]) { budgetSummary(groupBy: [],
        filter: {initiative: {id: {in: $ids}}}) { total { transactionCount } } }"""
    async with await connect(b(live), live.keys["partner"]) as client:
        report = await client.subscribe(REPORT, {"groupBy": []})
        first = (await report.data())["budgetSummaryUpdates"]["total"]
        await live.write(a(live), initiative=1)
        await report.nothing(1.0)
        await live.write(a(live), initiative=0)
        second = (await report.data())["budgetSummaryUpdates"]["total"]
        assert second["transactionCount"] == first["transactionCount"] + 1
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{a(live).http}/graphql",
            json={"query": query, "variables": {"ids": live.initiatives[:1]}},
            headers={"Authorization": f"Bearer {live.keys['auditor']}"},
        )
    audited = response.json()["data"]["budgetSummary"]["total"]
    assert audited["transactionCount"] == second["transactionCount"]


async def test_resuming_past_the_end_of_the_log_is_refused(live: LiveData) -> None:
    async with await connect(b(live), live.keys["viewer"]) as client:
        ahead = encode_cursor(await live.last_sequence() + 1000)
        for after in (ahead, "not-a-cursor"):
            subscription = await client.subscribe(CHANGES, {"after": after})
            message = await subscription.next()
            errors = message["payload"]
            errors = errors["errors"] if isinstance(errors, dict) else errors
            assert errors[0]["extensions"]["code"] == "INVALID_CURSOR"


async def test_who_may_subscribe(live: LiveData) -> None:
    # A key that proves nothing, or no key where anonymous reading is off: refused at
    # connection_init, before anything runs.
    for key in ("pl_unknown", None):
        client = await connect(b(live), key, init=False)
        await client.send(
            {
                "type": "connection_init",
                "payload": {"Authorization": f"Bearer {key}"} if key else {},
            }
        )
        with pytest.raises(Closed) as closed:
            await (await client.subscribe(CHANGES)).next()
        assert closed.value.code == 4403
    # An editor may read but not subscribe.
    async with await connect(b(live), live.keys["editor"]) as client:
        message = await (await client.subscribe(CHANGES)).next()
        assert message["payload"][0]["extensions"]["code"] == "FORBIDDEN"
    # The upgrade request's header serves when the payload has none (non-browser clients).
    async with await LiveClient.connect(
        b(live).ws, headers={"Authorization": f"Bearer {live.keys['auditor']}"}
    ) as client:
        subscription = await client.subscribe(CHANGES)
        await asyncio.sleep(0.2)
        await live.write(a(live))
        assert (await subscription.data())["changes"]["operation"] == "CREATE"


async def test_a_revoked_key_ends_its_subscriptions(live: LiveData) -> None:
    async with live.sessions() as session, session.begin():
        secret = await f.api_key(session, "viewer", name="live-to-revoke")
    async with await connect(b(live), secret) as client:
        subscription = await client.subscribe(CHANGES)
        await asyncio.sleep(0.2)
        async with live.sessions() as session, session.begin():
            await revoke_key(session, "live-to-revoke")
        message = await subscription.next(wait=5)
        assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        # Nor does the open connection run anything else for it.
        query = await client.subscribe("{ programs { totalCount } }")
        refused = await query.next()
        errors = refused["payload"]
        errors = errors["errors"] if isinstance(errors, dict) else errors
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_subscription_over_the_cost_budget_never_starts(live: LiveData) -> None:
    costly = """subscription { budgetSummaryUpdates(groupBy: [INITIATIVE]) {
        groups { key { initiative { transactions(first: 100) { nodes { id } } } } } } }"""
    async with await connect(b(live), live.keys["viewer"]) as client:
        subscription = await client.subscribe(costly)
        message = await subscription.next()
        errors = message["payload"]
        errors = errors["errors"] if isinstance(errors, dict) else errors
        assert errors[0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


async def test_connection_limits(live: LiveData) -> None:
    # connection_init must come in time (1 s here): 4408.
    client = await LiveClient.connect(b(live).ws, init=False)
    assert (await client.ended(wait=5)).code == 4408
    # At most 3 operations at once per connection (here).
    async with await connect(b(live), live.keys["viewer"]) as client:
        for _ in range(3):
            await client.subscribe(CHANGES)
        message = await (await client.subscribe(CHANGES)).next()
        assert message["type"] == "error"
        assert "limit" in message["payload"][0]["message"]
    # A page of another origin may not open a WebSocket; the legacy protocol is off.
    with pytest.raises(Exception, match="403"):
        await LiveClient.connect(b(live).ws, headers={"Origin": "https://elsewhere.example"})
    client = await LiveClient.connect(b(live).ws, subprotocols=["graphql-ws"], init=False)
    assert (await client.ended()).code == 4406


async def test_each_operation_on_a_connection_reads_afresh(live: LiveData) -> None:
    """Operations on one connection share nothing: a second query sees new data."""
    query = (
        "query($id: ID!) { node(id: $id) { ... on Initiative { transactions { totalCount } } } }"
    )
    async with await connect(b(live), live.keys["viewer"]) as client:

        async def count() -> int:
            subscription = await client.subscribe(query, {"id": live.initiatives[2]})
            data = await subscription.data()
            return int(data["node"]["transactions"]["totalCount"])

        before = await count()
        await live.write(a(live), initiative=2)
        assert await count() == before + 1


@pytest.mark.postgres_only
async def test_subscribers_catch_up_after_the_database_connections_drop(live: LiveData) -> None:
    """Every connection the servers hold is cut (the LISTEN ones and the pools'), as a
    database restart would: the listeners reconnect and the hubs read what they missed."""
    async with await connect(b(live), live.keys["viewer"]) as client:
        subscription = await client.subscribe(CHANGES)
        await asyncio.sleep(0.2)
        async with live.sessions() as session:
            listeners = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'pledge-ledger-events'"
                )
            )
            assert listeners == len(live.servers)
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        # Written while the listeners are away: no NOTIFY reaches them.
        await live.burst(2)
        events = await collect(subscription, 2, wait=15)
        assert [e["changes"]["operation"] for e in events] == ["CREATE", "CREATE"]
        # And the servers still take writes and deliver them.
        (created,) = await live.write(a(live))
        assert (await subscription.data())["changes"]["entityId"] == created


@pytest.mark.postgres_only
async def test_uvicorn_workers_each_deliver_to_their_subscribers(live: LiveData) -> None:
    """`--workers 2`: connections land on either worker; every subscriber gets the event."""
    server = await start_server(live.url, workers=2, events_poll_seconds=30, **SETTINGS)
    try:
        clients = [await connect(server, live.keys["viewer"]) for _ in range(8)]
        subscriptions = [await client.subscribe(CHANGES) for client in clients]
        await asyncio.sleep(0.3)
        (created,) = await live.write(server)
        for subscription in subscriptions:
            assert (await subscription.data())["changes"]["entityId"] == created
        for client in clients:
            await client.close()
    finally:
        server.stop()


GUIDE = (Path(__file__).resolve().parents[3] / "docs" / "live-updates.md").read_text()


async def test_the_guides_subscriptions_run_as_printed(live: LiveData) -> None:
    examples = [
        q
        for q in re.findall(r"```graphql\n(.*?)```", GUIDE, re.S)
        if q.lstrip().startswith("subscription")
    ]
    assert len(examples) == 2
    async with await connect(b(live), live.keys["admin"]) as client:
        follow = await client.subscribe(examples[0])
        report = await client.subscribe(examples[1])
        summary = (await report.data())["budgetSummaryUpdates"]
        assert summary["groups"] and summary["total"]["spent"]["amount"]
        (created,) = await live.write(a(live))
        assert (await follow.data())["changes"]["entityId"] == created


async def test_everything_verifies_afterwards(live: LiveData) -> None:
    """No subscription wrote anything: the trail the tests made is intact."""
    from app.audit.service import verify

    async with live.sessions() as session:
        result = await verify(session)
    assert result.intact
