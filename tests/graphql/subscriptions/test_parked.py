"""Parked subscribers (app/graphql/subscriptions/sharing.py `DirectQueue`): once live, an
anonymous `changes` subscription over graphql-transport-ws, whose events its group
writes straight to its socket, keeps no task; what is left is a record among the
group's members. The app runs under uvicorn in this process, so the server side can
be looked at: the record holds the operation's place until the client completes it or
the connection ends (the hub's and the group's counts come back), an answer the group
cannot share runs the subscription again from its last event, and members that leave
while the group is writing an event get nothing more, the others everything once, in
order."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest
import structlog
import uvicorn
from sqlalchemy import select

from app import models as m
from app.auth.keys import revoke_key
from app.config import Settings
from app.events.hub import EventHub, Overflow
from app.graphql.subscriptions import changes
from app.graphql.subscriptions.sharing import DirectQueue, Group
from app.http.router import TransportHandler
from app.main import create_app
from tests import factories as f
from tests.graphql.subscriptions.common import CHANGES
from tests.live import LiveData, Server, free_port, live_data
from tests.wsclient import LiveClient, Subscription


class _Local:
    """This process's server, as `LiveData.write` reaches it."""

    def __init__(self, http: str) -> None:
        self.http = http


class _Served:
    def __init__(self, app: Any, port: int, data: LiveData) -> None:
        self.app = app
        self.url = f"ws://127.0.0.1:{port}/graphql"
        self.data = data
        self.server = cast(Server, _Local(f"http://127.0.0.1:{port}"))

    @property
    def hub(self) -> EventHub:
        hub: EventHub = self.app.state.events
        return hub

    def parked(self) -> list[DirectQueue]:
        """The parked records of this server's connections."""
        gc.collect()
        return [
            op.task
            for o in gc.get_objects()
            if isinstance(o, TransportHandler) and o.context.events is self.hub
            for op in o.operations.values()
            if isinstance(op.task, DirectQueue)
        ]

    def members(self) -> int:
        """The live members of this server's groups."""
        return sum(len(group.live) for group in self.hub.groups.values())

    async def connect(self) -> LiveClient:
        # Anonymous, uncompressed: events are written below ASGI, so subscribers park.
        return await LiveClient.connect(self.url, compression=None)

    async def write(self, count: int = 1) -> None:
        await self.data.write(self.server, count)


@pytest.fixture
async def served(settings: Settings, tmp_path: Path) -> AsyncIterator[_Served]:
    async with _serving(settings, tmp_path, subscription_recheck_seconds=1) as served:
        yield served


@asynccontextmanager
async def _serving(settings: Settings, tmp_path: Path, **overrides: Any) -> AsyncIterator[_Served]:
    source = live_data("sqlite", tmp_path)
    data = await anext(source)
    port = free_port()
    app = create_app(settings.model_copy(update={"database_url": data.url, **overrides}))
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn's Server has no event for it)
            await asyncio.sleep(0.05)
        served = _Served(app, port, data)
        # The app's webhook worker holds a place of its own once it has started: the
        # tests count the others'.
        await _until(lambda: served.hub.open_subscriptions == 1)
        yield served
    finally:
        server.should_exit = True
        await serving
        await source.aclose()


async def _sequences(subscription: Subscription, count: int) -> list[int]:
    return [int((await subscription.data(wait=15))["changes"]["sequence"]) for _ in range(count)]


async def _until(check: Any) -> None:
    async with asyncio.timeout(15):
        while not check():  # noqa: ASYNC110 (nothing to wait on but the server's state)
            await asyncio.sleep(0.02)


async def test_a_parked_subscription_holds_its_place_until_completed_or_disconnected(
    served: _Served,
) -> None:
    # given: two connections, three anonymous subscriptions of one group, all parked
    one, two = await served.connect(), await served.connect()
    try:
        a, b = await one.subscribe(CHANGES), await one.subscribe(CHANGES)
        c = await two.subscribe(CHANGES)
        await _until(lambda: len(served.parked()) == 3)
        base = served.hub.open_subscriptions - 3
        assert served.members() == 3
        assert len(served.hub.groups) == 1
        first = await served.data.last_sequence()
        await served.write(2)
        for subscription in (a, b, c):
            assert await _sequences(subscription, 2) == [first + 1, first + 2]

        # when: the client completes one (its place is let go, its id free again)
        await a.stop()
        await _until(lambda: served.hub.open_subscriptions == base + 2)
        assert served.members() == 2
        await served.write()
        assert await _sequences(b, 1) == [first + 3]
        assert await _sequences(c, 1) == [first + 3]
        await a.nothing(0.3)

        # when: a connection ends with two parked... one left, on the other connection
        await one.close()
        await _until(lambda: served.hub.open_subscriptions == base + 1)
        assert served.members() == 1
        await served.write()
        assert await _sequences(c, 1) == [first + 4]
    finally:
        await one.close()
        await two.close()
    # then: nothing is left of them
    await _until(lambda: served.hub.open_subscriptions == base)
    assert served.members() == 0
    assert served.hub.groups == {}
    assert served.parked() == []


async def test_an_answer_the_group_cannot_share_runs_each_member_again_from_its_last_event(
    served: _Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: two parked members of one group, and a group that cannot share the next
    # two answers (as when an answer has errors: each member must execute its own)
    clients = [await served.connect(), await served.connect()]
    try:
        subscriptions = [await client.subscribe(CHANGES) for client in clients]
        await _until(lambda: len(served.parked()) == 2)
        base = served.hub.open_subscriptions - 2
        _unshared(monkeypatch, 2)
        first = await served.data.last_sequence()
        # when: four events
        await served.write(4)
        # then: each member gets every one once, in order (the two it executed itself
        # read from the log), and parks again once it has caught up
        for subscription in subscriptions:
            assert await _sequences(subscription, 4) == [first + i for i in range(1, 5)]
            await subscription.nothing(0.3)
        await _until(lambda: len(served.parked()) == 2)
        assert served.hub.open_subscriptions == base + 2
        await served.write()
        for subscription in subscriptions:
            assert await _sequences(subscription, 1) == [first + 5]
    finally:
        for client in clients:
            await client.close()


async def test_members_that_leave_while_their_group_writes_get_nothing_more(
    served: _Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given: three parked members of one group on three connections, and a group whose
    # next answer waits until the test lets it go
    clients = [await served.connect() for _ in range(3)]
    stays, completes, disconnects = [await client.subscribe(CHANGES) for client in clients]
    await _until(lambda: len(served.parked()) == 3)
    base = served.hub.open_subscriptions - 3
    held = asyncio.Event()
    answering = asyncio.Event()
    answer = Group._answer

    async def waiting(self: Group, batch: Any) -> str | None:
        answering.set()
        await held.wait()
        return await answer(self, batch)

    monkeypatch.setattr(Group, "_answer", waiting)
    first = await served.data.last_sequence()
    try:
        with caplog.at_level(logging.WARNING):
            # when: an event is being answered for all three, one member completes its
            # operation and another's connection ends
            await served.write()
            await asyncio.wait_for(answering.wait(), 15)
            await completes.stop()
            await clients[2].close()
            await _until(lambda: served.hub.open_subscriptions == base + 1)
            held.set()
            await served.write()
            # then: the one that stays gets both, once, in order; the one that completed
            # nothing more; nothing went wrong on the server
            assert await _sequences(stays, 2) == [first + 1, first + 2]
            await completes.nothing(0.3)
            assert disconnects.frames == []  # it left before the first was written
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
        assert served.members() == 1
    finally:
        held.set()
        for client in clients:
            await client.close()
    await _until(lambda: served.hub.open_subscriptions == base)
    assert served.hub.groups == {}


async def test_a_parked_subscription_whose_key_is_revoked_ends_as_a_running_one_does(
    served: _Served,
) -> None:
    # given: a key's parked subscription, its connection re-checking the key every second
    async with served.data.sessions() as session, session.begin():
        secret = await f.api_key(session, "viewer", name="parked-to-revoke")
    client = await LiveClient.connect(
        served.url, authorization=f"Bearer {secret}", compression=None
    )
    try:
        subscription = await client.subscribe(CHANGES)
        await _until(lambda: len(served.parked()) == 1)
        first = await served.data.last_sequence()
        await served.write()
        assert await _sequences(subscription, 1) == [first + 1]
        # when: the key is revoked
        async with served.data.sessions() as session, session.begin():
            await revoke_key(session, "parked-to-revoke")
        # then: the subscription ends with UNAUTHENTICATED within a re-check, as one
        # that runs does (test_websocket.py), and lets go of its place
        message = await subscription.next(wait=5)
        assert message["type"] == "next"
        assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await subscription.next())["type"] == "complete"
        await _until(lambda: served.parked() == [] and served.members() == 0)
    finally:
        await client.close()


def _unshared(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """The group's next `count` answers not shared: each member runs its own again."""
    left = count
    answer = Group._answer

    async def refusing(self: Group, batch: Any) -> str | None:
        nonlocal left
        if left:
            left -= 1
            return None
        return await answer(self, batch)

    monkeypatch.setattr(Group, "_answer", refusing)


async def test_a_subscription_run_again_keeps_its_place_at_the_servers_limit(
    served: _Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: two parked subscriptions, and the server at its limit with them
    clients = [await served.connect(), await served.connect()]
    try:
        subscriptions = [await client.subscribe(CHANGES) for client in clients]
        await _until(lambda: len(served.parked()) == 2)
        limit = served.hub.open_subscriptions
        monkeypatch.setattr(
            served.hub,
            "settings",
            served.hub.settings.model_copy(update={"max_subscriptions": limit}),
        )
        # counted as the server counts when each new run starts
        counted: list[int] = []
        resume = TransportHandler.resume

        def resuming(self: TransportHandler, operation: Any, at: Any) -> None:
            counted.append(served.hub.open_subscriptions)
            resume(self, operation, at)

        monkeypatch.setattr(TransportHandler, "resume", resuming)
        _unshared(monkeypatch, 1)
        first = await served.data.last_sequence()
        # when: both run again (an answer their group cannot share), then another event
        await served.write(2)
        # then: they never let go of their places (no one else could take one and end
        # them BUSY), get every event once, in order, and park again
        for subscription in subscriptions:
            assert await _sequences(subscription, 2) == [first + 1, first + 2]
        assert counted == [limit, limit]
        await _until(lambda: len(served.parked()) == 2)
        assert served.hub.open_subscriptions == limit
        # and the limit holds for a newcomer
        newcomer = await (await served.connect()).subscribe(CHANGES)
        refused = await newcomer.next(wait=5)
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "BUSY"
    finally:
        for client in clients:
            await client.close()
    # and no place is left held once they end
    await _until(lambda: served.hub.open_subscriptions == limit - 2)


async def test_a_place_held_for_a_run_that_never_takes_it_is_given_back(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a key's parked subscription (its connection re-checking the key hourly)
    async with _serving(settings, tmp_path, subscription_recheck_seconds=3600) as served:
        async with served.data.sessions() as session, session.begin():
            secret = await f.api_key(session, "viewer", name="revoked-while-parked")
        client = await LiveClient.connect(
            served.url, authorization=f"Bearer {secret}", compression=None
        )
        try:
            subscription = await client.subscribe(CHANGES)
            await _until(lambda: len(served.parked()) == 1)
            base = served.hub.open_subscriptions - 1
            # when: its key is revoked and it runs again (an answer its group cannot
            # share): the new run is refused before it subscribes
            async with served.data.sessions() as session, session.begin():
                await revoke_key(session, "revoked-while-parked")
            _unshared(monkeypatch, 1)
            await served.write()
            # then: it ends UNAUTHENTICATED, and the place held for it is given back
            message = await subscription.next(wait=10)
            # (refused before it runs, as a new subscription under that key would be)
            assert message["type"] == "error"
            assert message["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            await _until(lambda: served.hub.open_subscriptions == base)
            assert served.parked() == []
        finally:
            await client.close()


async def _partner(served: _Served) -> LiveClient:
    """A connection with the demo partner's key (one initiative), uncompressed."""
    return await LiveClient.connect(
        served.url, authorization=f"Bearer {served.data.keys['partner']}", compression=None
    )


async def _widen_partner_key(served: _Served) -> None:
    """The demo partner's key given a second initiative."""
    async with served.data.sessions() as session, session.begin():
        key = (await session.scalars(select(m.ApiKey).where(m.ApiKey.name == "live-partner"))).one()
        initiative = (
            await session.scalars(select(m.Initiative.id).order_by(m.Initiative.id))
        ).all()[1]
        session.add(m.ApiKeyInitiative(api_key_id=key.id, initiative_id=initiative))


async def test_a_parked_partner_run_again_under_a_changed_key_ends_unauthenticated(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a partner's parked subscription, its connection re-checking the key only
    # hourly, so that running again is the first to see the key change
    async with _serving(settings, tmp_path, subscription_recheck_seconds=3600) as served:
        client = await _partner(served)
        try:
            subscription = await client.subscribe(CHANGES)
            await _until(lambda: len(served.parked()) == 1)
            # when: the key is given a second initiative, then the subscription runs
            # again (an answer its group cannot share)
            await served.data.write(served.server, 2, initiative=1)  # not in its scope
            await _widen_partner_key(served)
            _unshared(monkeypatch, 1)
            await served.write()
            # then: it ends with UNAUTHENTICATED, as a running one's re-check ends it,
            # and sends nothing of the initiative it was not given when it began
            message = await subscription.next(wait=10)
            assert message["type"] == "next"
            assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            assert (await subscription.next())["type"] == "complete"
            await _until(lambda: served.parked() == [] and served.members() == 0)
        finally:
            await client.close()


async def test_a_run_again_logs_under_its_connections_request_id(
    served: _Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the request id each run of a subscription sees
    seen: list[tuple[bool, object]] = []
    point = changes.resume_point

    def spying() -> Any:
        at = point()
        seen.append((at is not None, structlog.contextvars.get_contextvars().get("request_id")))
        return at

    monkeypatch.setattr(changes, "resume_point", spying)
    client = await served.connect()
    try:
        subscription = await client.subscribe(CHANGES)
        await _until(lambda: len(served.parked()) == 1)
        _unshared(monkeypatch, 1)
        first = await served.data.last_sequence()
        # when: it runs again
        await served.write()
        assert await _sequences(subscription, 1) == [first + 1]
        # then: the new run has the connection's id, as the first had
        assert [again for again, _ in seen] == [False, True]
        assert seen[0][1] is not None and seen[1][1] == seen[0][1]
    finally:
        await client.close()


async def test_a_parked_partner_ended_by_overflow_gets_a_cursor_it_can_resume_from(
    settings: Settings, tmp_path: Path
) -> None:
    # given: a partner's connection, proved for one initiative, whose key is given a
    # second before it subscribes (so the subscription runs in the wider scope), parked
    async with _serving(settings, tmp_path, subscription_recheck_seconds=3600) as served:
        client = await _partner(served)
        try:
            await _widen_partner_key(served)
            subscription = await client.subscribe(CHANGES)
            await _until(lambda: len(served.parked()) == 1)
            # when: it falls more than its buffer behind while parked
            served.parked()[0].end(Overflow())
            # then: it ends with SUBSCRIPTION_OVERFLOW and a cursor that resumes it
            message = await subscription.next(wait=10)
            error = message["payload"]["errors"][0]
            assert error["extensions"]["code"] == "SUBSCRIPTION_OVERFLOW"
            again = await client.subscribe(CHANGES, {"after": error["extensions"]["cursor"]})
            await served.data.write(served.server, 1, initiative=1)
            event = await again.next(wait=10)
            assert event["type"] == "next" and "errors" not in event["payload"], event
        finally:
            await client.close()
