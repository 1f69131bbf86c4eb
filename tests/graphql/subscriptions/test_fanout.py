"""Fan-out: an event's selection runs once per group of subscribers who would get the
same answer (app/graphql/subscriptions/sharing.py), and never across callers who may
see different things. In-process, on both databases, with the real schema and hub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from app.auth.principal import Principal, anonymous
from app.auth.roles import Role
from app.config import Settings
from app.events.brokers import MemoryBroker
from app.events.hub import EventHub
from app.graphql.context import Context
from app.graphql.schema import Executor, build_schema
from tests import factories as f
from tests.conftest import Database
from tests.graphql.subscriptions.common import CHANGES

WRITES = 3  # to the first initiative, then one to the second


class SocketContext(Context):
    """A WebSocket connection's context without the socket: the transport is not what
    is tested here (test_websocket.py and the bench run the real one)."""

    @property
    def over_websocket(self) -> bool:
        return True


def keyed(name: str, role: Role) -> Principal:
    return Principal(name, role, via="api-key")


def partner(name: str, initiative_id: int) -> Principal:
    return Principal(name, Role.PARTNER, frozenset({initiative_id}), via="api-key")


async def test_one_execution_per_event_and_group_and_none_shared_across_visibility(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings.model_copy(update={"events_poll_seconds": 0.05, "anonymous_read": True})
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        first = await f.initiative(session, program)
        second = await f.initiative(session, program)
    executions = 0
    execute = Executor._execute_operation

    def counted(self: Executor, serially: bool | None) -> Any:
        nonlocal executions
        executions += 1
        return execute(self, serially)

    monkeypatch.setattr(Executor, "_execute_operation", counted)
    schema = build_schema(settings)
    hub = EventHub(db.sessions, settings, broker=MemoryBroker())
    await hub.start()
    callers = {
        **{f"anonymous-{i}": anonymous(anonymous_read=True) for i in range(5)},
        # Two keys of one role: the same visibility, so one group.
        **{f"viewer-{i}": keyed(f"viewer-{i}", Role.VIEWER) for i in range(3)},
        **{f"auditor-{i}": keyed(f"auditor-{i}", Role.AUDITOR) for i in range(2)},
        "partner-first": partner("partner-first", first.id),
        "partner-second": partner("partner-second", second.id),
    }
    expected = {name: WRITES + 1 for name in callers}
    expected["partner-first"], expected["partner-second"] = WRITES, 1

    async def receive(name: str, principal: Principal) -> list[Any]:
        context = SocketContext(
            reads=db.sessions, settings=settings, principal=principal, events=hub
        )
        stream = await schema.subscribe(CHANGES, context_value=context)
        assert isinstance(stream, AsyncGenerator)
        received = []
        async for result in stream:
            assert result.errors is None, result.errors
            received.append(result.data)
            if len(received) == expected[name]:
                break
        await stream.aclose()
        return received

    try:
        readers = {name: asyncio.create_task(receive(name, p)) for name, p in callers.items()}
        async with asyncio.timeout(20):
            while hub.live_subscribers < len(callers):  # noqa: ASYNC110 (the hub has no event)
                await asyncio.sleep(0.01)
        for initiative in [first] * WRITES + [second]:
            async with db.sessions() as session, session.begin():
                await f.transaction(session, initiative)
        async with asyncio.timeout(30):
            got = {name: await reader for name, reader in readers.items()}
    finally:
        await hub.close()

    # Per event: anonymous, viewers, auditors and the one partner whose initiative it is.
    assert executions == (WRITES + 1) * 4
    groups = [
        [f"anonymous-{i}" for i in range(5)],
        [f"viewer-{i}" for i in range(3)],
        [f"auditor-{i}" for i in range(2)],
    ]
    for group in groups:
        events = got[group[0]]
        sequences = [event["changes"]["sequence"] for event in events]
        assert sequences == sorted(set(sequences)) and len(sequences) == WRITES + 1
        for name in group[1:]:
            # The very same answer, in the same order: executed once for the group.
            assert all(a is b for a, b in zip(got[name], events, strict=True))
    # Each sees what it may: the trail's actor only with the audit permission.
    assert got["auditor-0"][0]["changes"]["actor"]["name"] is not None
    assert got["viewer-0"][0]["changes"]["actor"]["name"] is None
    assert got["anonymous-0"][0]["changes"]["actor"]["name"] is None
    for one, other in (("viewer-0", "auditor-0"), ("anonymous-0", "viewer-0")):
        assert all(a is not b for a, b in zip(got[one], got[other], strict=True))
    # Partners: their own changes, numbered in their own streams, shared with no one.
    # (each initiative's own creation is the first change of its stream).
    assert [e["changes"]["sequence"] for e in got["partner-first"]] == [2, 3, 4]
    assert [e["changes"]["sequence"] for e in got["partner-second"]] == [2]
    whole = {e["changes"]["entityId"] for e in got["anonymous-0"]}
    first_ids = {e["changes"]["entityId"] for e in got["partner-first"]}
    second_ids = {e["changes"]["entityId"] for e in got["partner-second"]}
    assert first_ids | second_ids == whole and not first_ids & second_ids
