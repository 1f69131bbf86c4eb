"""The direct path of `changes` (app/graphql/subscriptions/sharing.py `DirectQueue`):
a group's answer is written to each member's socket; a member whose socket is slow
gets its later events through its own buffer, in order, without holding up the others;
past its buffer it ends with SUBSCRIPTION_OVERFLOW. In-process, on both databases,
with the real schema and hub; the socket is a stand-in whose send can be held."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.auth.principal import anonymous
from app.config import Settings
from app.events.brokers import MemoryBroker
from app.events.hub import EventHub
from app.events.scopes import WHOLE_LOG
from app.graphql.schema import Executor, build_schema
from app.graphql.subscriptions.changes import encode_event_cursor
from app.graphql.subscriptions.sharing import OUTLET, Outlet
from app.http.sockets import text_frame
from tests import factories as f
from tests.conftest import Database
from tests.graphql.subscriptions.common import CHANGES
from tests.graphql.subscriptions.test_fanout import SocketContext


@dataclass
class Operation:
    id: str
    completed: bool = False


@dataclass
class Socket:
    """What a member's client received, as sent: text messages (the direct path:
    WebSocket frames written to the connection, or a message through the ASGI send
    while it does not take writes) and results its own generator passed on (the
    strawberry path), in order."""

    received: list[dict[str, Any]] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    # While set, a send waits for it (a client not reading: the socket's buffer full).
    held: asyncio.Future[None] | None = None
    send_timeout: float = 60.0
    closed_slow: bool = False
    writes: int = 0

    def is_open(self, operation: Any) -> bool:
        return not operation.completed

    def send_text(self, text: str) -> Coroutine[Any, Any, None]:
        async def send() -> None:
            if self.held is not None:
                await self.held
            self.frames.append(text)
            self.received.append(json.loads(text))

        return send()

    def encode(self, data: object) -> str:
        return orjson.dumps(data).decode()

    # The connection written to below ASGI: it takes writes unless held.

    def raw_socket(self) -> Socket:
        return self

    def framed(self, text: str) -> bytes:
        return text_frame(text)

    def ready(self) -> bool:
        return self.held is None

    def gone(self) -> bool:
        return False

    def write(self, frame: bytes) -> None:
        self.writes += 1
        while frame:  # one or more unmasked text frames, as a client reads them
            assert frame[0] == 0x81
            size, start = frame[1], 2
            if size == 126:
                size, start = int.from_bytes(frame[2:4], "big"), 4
            elif size == 127:
                size, start = int.from_bytes(frame[2:10], "big"), 10
            text = frame[start : start + size].decode()
            self.frames.append(text)
            self.received.append(json.loads(text))
            frame = frame[start + size :]

    def too_slow(self) -> None:
        self.closed_slow = True


def sequences(socket: Socket) -> list[int]:
    return [m["payload"]["data"]["changes"]["sequence"] for m in socket.received]


async def test_a_group_is_executed_once_written_alike_and_a_slow_member_waits_alone(
    db: Database, settings: Settings, monkeypatch: Any
) -> None:
    settings = settings.model_copy(
        update={"events_poll_seconds": 0.05, "anonymous_read": True, "subscription_buffer": 4}
    )
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiative = await f.initiative(session, program)
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
    sockets = {name: Socket() for name in ("a", "b", "slow")}
    ids = {"a": "1", "b": "7", "slow": "1"}

    async def member(name: str) -> list[Any]:
        """One operation on its own socket: what its generator yields is sent as the
        transport would (the results of events it handles itself, or its error)."""
        socket, operation = sockets[name], Operation(ids[name])
        OUTLET.set(Outlet(operation, socket))
        context = SocketContext(
            reads=db.sessions,
            settings=settings,
            principal=anonymous(anonymous_read=True),
            events=hub,
        )
        stream = await schema.subscribe(CHANGES, context_value=context)
        assert isinstance(stream, AsyncGenerator)
        errors: list[Any] = []
        async for result in stream:
            if result.errors:
                errors.extend(result.errors)
                operation.completed = True
                break
            socket.received.append({"id": operation.id, "payload": {"data": result.data}})
        await stream.aclose()
        return errors

    async def write(count: int) -> None:
        for _ in range(count):
            async with db.sessions() as session, session.begin():
                await f.transaction(session, initiative)

    async def burst(count: int) -> None:  # one commit: the hub reads them together
        async with db.sessions() as session, session.begin():
            for _ in range(count):
                await f.transaction(session, initiative)

    async def until(check: Any) -> None:
        async with asyncio.timeout(20):
            while not check():  # noqa: ASYNC110 (nothing to wait on but the sockets)
                await asyncio.sleep(0.01)

    try:
        tasks = {name: asyncio.create_task(member(name)) for name in sockets}
        await until(lambda: hub.live_subscribers == len(sockets))
        start = hub.high_water
        assert start is not None

        # Two events: every member gets each once, in order, by the direct path.
        await write(2)
        await until(lambda: all(len(s.received) == 2 for s in sockets.values()))
        for socket in sockets.values():
            assert sequences(socket) == [start + 1, start + 2]
            assert len(socket.frames) == 2  # written by the group, not by its generator
            assert 1 <= socket.writes <= 2  # below ASGI: one write per burst of events
        # One execution per event for the group; the same bytes but for the id.
        assert executions == 2
        assert sockets["a"].frames == sockets["slow"].frames
        assert [t.replace('"id":"7"', '"id":"1"', 1) for t in sockets["b"].frames] == (
            sockets["a"].frames
        )

        # A burst (three entries of one commit): each executed once, and written to
        # each member in one write, in order.
        writes = {name: socket.writes for name, socket in sockets.items()}
        await burst(3)
        await until(lambda: all(len(s.received) == 5 for s in sockets.values()))
        assert executions == 5
        for name, socket in sockets.items():
            assert sequences(socket) == list(range(start + 1, start + 6))
            assert socket.writes == writes[name] + 1

        # The slow member's socket stops taking messages: the others carry on.
        slow = sockets["slow"]
        slow.held = asyncio.get_running_loop().create_future()
        await write(3)
        await until(lambda: len(sockets["a"].received) == 8 and len(sockets["b"].received) == 8)
        assert sequences(sockets["a"]) == list(range(start + 1, start + 9))
        assert len(slow.received) == 5  # one send waiting, two events in its buffer
        # Taking again: the held send, then its buffer, in order, once each.
        slow.held.set_result(None)
        slow.held = None
        await until(lambda: len(slow.received) == 8)
        assert sequences(slow) == list(range(start + 1, start + 9))

        # Past its buffer (4 events) a member that does not read is ended, with the
        # cursor of the last event it was sent; the others are not held up.
        slow.held = asyncio.get_running_loop().create_future()
        await write(7)
        await until(lambda: len(sockets["a"].received) == 15 and tasks["slow"].done())
        (error,) = await tasks["slow"]
        assert error.extensions["code"] == "SUBSCRIPTION_OVERFLOW"
        assert sequences(sockets["b"]) == list(range(start + 1, start + 16))
        assert not slow.closed_slow
        slow.held.set_result(None)
        await asyncio.sleep(0.05)
        delivered = sequences(slow)
        assert delivered == list(range(start + 1, start + 1 + len(delivered)))
        assert error.extensions["cursor"] == encode_event_cursor(WHOLE_LOG, delivered[-1])
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        await hub.close()
    assert not hub.groups  # the group went with its last member
