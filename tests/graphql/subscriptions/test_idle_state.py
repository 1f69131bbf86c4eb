"""What an idle subscriber keeps on the server (issue 17: memory per idle subscriber).

The app runs under uvicorn in this process (its default WebSocket protocol, as
production runs it), so the server side of each connection can be looked at: once a
`changes` subscription is live, the connection keeps none of what only its start
needed — the connection_init timer's task, the upgrade request's headers (uvicorn's
and the websockets parser's copy), the subscription executor's memos of plans, a
credential watchdog for a caller with no credential; a connection that compresses or
subscribes to nothing lets go of its upgrade headers too — and uvicorn's receive queue is
the small one (app/http/sockets.py `ReceiveQueue`); its events still arrive, each
once, in order, to the anonymous and to the keyed subscriber alike."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest
import uvicorn
from graphql import OperationType
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from app.config import Settings
from app.graphql.schema import Executor
from app.graphql.subscriptions.sharing import DirectQueue
from app.http.router import TransportHandler
from app.http.sockets import ReceiveQueue
from app.main import create_app
from tests.graphql.subscriptions.common import CHANGES
from tests.live import Server, free_port, live_data
from tests.wsclient import LiveClient


def _objects() -> list[object]:
    """The collector's objects, but a dead weak proxy (a client library leaves some),
    which raises ReferenceError on any isinstance check."""
    found = []
    for o in gc.get_objects():
        try:
            isinstance(o, type)
        except ReferenceError:
            continue
        found.append(o)
    return found


class _Local:
    """This process's server, as `LiveData.write` reaches it."""

    def __init__(self, http: str) -> None:
        self.http = http


async def _next_sequence(subscription: Any) -> int:
    data = await subscription.data(wait=15)
    return int(data["changes"]["sequence"])


async def test_an_idle_subscriber_keeps_only_what_its_events_need(
    settings: Settings, tmp_path: Path
) -> None:
    source = live_data("sqlite", tmp_path)
    data = await anext(source)
    port = free_port()
    app = create_app(settings.model_copy(update={"database_url": data.url}))
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    clients: list[LiveClient] = []
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn's Server has no event for it)
            await asyncio.sleep(0.05)
        url = f"ws://127.0.0.1:{port}/graphql"
        # No compression asked, so shared frames are written below ASGI (app/http/sockets.py).
        anonymous = await LiveClient.connect(url, compression=None)
        keyed = await LiveClient.connect(
            url, authorization=f"Bearer {data.keys['viewer']}", compression=None
        )
        # As a browser connects (permessage-deflate), subscribing to nothing.
        browser = await LiveClient.connect(url)
        clients = [anonymous, keyed, browser]
        subscriptions = [await client.subscribe(CHANGES) for client in (anonymous, keyed)]
        server_side = cast(Server, _Local(f"http://127.0.0.1:{port}"))
        await asyncio.sleep(0.5)  # both live
        await data.write(server_side)
        first = [await _next_sequence(s) for s in subscriptions]
        assert first[0] == first[1]
        await asyncio.sleep(0.2)
        gc.collect()

        # This server's (other tests of the session may have left theirs behind).
        hub = app.state.events
        handlers = [
            o for o in _objects() if isinstance(o, TransportHandler) and o.context.events is hub
        ]
        assert len(handlers) == 3
        assert all(h.connection_init_timeout_task is None for h in handlers)
        protocols = [
            o
            for o in _objects()
            if isinstance(o, WebSocketsSansIOProtocol) and o.server and o.server[1] == port
        ]
        assert len(protocols) == 3
        # The browser's connection compresses: its upgrade is let go all the same.
        assert sum(bool(protocol.conn.extensions) for protocol in protocols) == 1
        for protocol in protocols:
            assert protocol.request is None
            assert isinstance(protocol.queue, ReceiveQueue)
            assert protocol.response is None
            parsed = protocol.conn.parser.gi_frame.f_locals.get("request")
            assert parsed is None or len(parsed.headers) == 0
        roots = [
            o
            for o in _objects()
            if isinstance(o, Executor)
            and not o._per_event
            and o.operation.operation is OperationType.SUBSCRIPTION
            and getattr(o.context_value, "events", None) is hub
        ]
        assert len(roots) == 2
        assert all(r._initial_execution_plans is None for r in roots)
        assert all(r._stream_usages is None for r in roots)
        # Both subscriptions are parked (no task of their own: sharing.py `DirectQueue`):
        # no credential watchdog task, but the keyed one's connection re-checks it; nothing
        # to revoke for the other.
        watchdogs = [
            t
            for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", None) == "_recheck"
            and t.get_coro().cr_frame.f_locals["info"].context.events is hub  # type: ignore[union-attr]
        ]
        assert watchdogs == []
        parked = {
            h.context.credential is not None: [
                op for op in h.operations.values() if isinstance(op.task, DirectQueue)
            ]
            for h in handlers
            if h.operations
        }
        assert {keyed: len(ops) for keyed, ops in parked.items()} == {True: 1, False: 1}
        rechecking = {h.context.credential is not None: h._rechecking for h in handlers}
        assert isinstance(rechecking[True], asyncio.TimerHandle)
        assert rechecking[False] is None

        # Events go on arriving, each once, in order, through the trimmed state.
        await data.write(server_side, 3)
        for subscription in subscriptions:
            got = [await _next_sequence(subscription) for _ in range(3)]
            assert got == [first[0] + 1, first[0] + 2, first[0] + 3]
            await subscription.nothing(0.3)
        # A second operation on a connection whose start state is gone still runs.
        another = await anonymous.subscribe(CHANGES)
        await asyncio.sleep(0.3)
        await data.write(server_side)
        assert await _next_sequence(another) == first[0] + 4
        assert await _next_sequence(subscriptions[0]) == first[0] + 4
    finally:
        for client in clients:
            await client.close()
        server.should_exit = True
        await serving
        await source.aclose()


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "anonymous, parked"])
async def test_a_subscriber_that_stops_reading_gets_every_event_once_it_reads_again(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keyed: bool
) -> None:
    """uvicorn's flow control on the small writable flag (`Signal`, app/kit/flag.py):
    a client that stops reading fills the server's small buffers, uvicorn pauses the
    connection's writes and resumes them once the client reads again, and every event
    arrives once, in order. Anonymous, the subscription is parked once live (no task
    of its own: app/graphql/subscriptions/sharing.py `DirectQueue`): the paused socket
    runs it again from its last event, reading the rest from the log."""
    # given: a server whose connections buffer at most 4 KB each way
    seen: dict[str, list[str]] = {"pause": [], "resume": []}
    pause, resume, made = (
        WebSocketsSansIOProtocol.pause_writing,
        WebSocketsSansIOProtocol.resume_writing,
        WebSocketsSansIOProtocol.connection_made,
    )

    def paused(self: Any) -> None:
        seen["pause"].append(type(self.writable).__name__)
        pause(self)

    def resumed(self: Any) -> None:
        seen["resume"].append(type(self.writable).__name__)
        resume(self)

    def small(self: Any, transport: Any) -> None:
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        transport.set_write_buffer_limits(high=4096)
        made(self, transport)

    monkeypatch.setattr(WebSocketsSansIOProtocol, "pause_writing", paused)
    monkeypatch.setattr(WebSocketsSansIOProtocol, "resume_writing", resumed)
    monkeypatch.setattr(WebSocketsSansIOProtocol, "connection_made", small)
    source = live_data("sqlite", tmp_path)
    data = await anext(source)
    port = free_port()
    app = create_app(
        # What waits while the socket is paused stays in the subscriber's buffer: room
        # for all of it, so that the test sees flow control, not overflow.
        settings.model_copy(
            update={
                "database_url": data.url,
                "ws_send_timeout_seconds": 60.0,
                "subscription_buffer": 100_000,
            }
        )
    )
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    subscribed, go = threading.Event(), threading.Event()
    received: list[int] = []
    failed: list[BaseException] = []
    last: list[int] = []  # the last event's sequence, known once the burst is written

    def client() -> None:
        try:
            reading()
        except BaseException as error:  # seen by the test, not lost with the thread
            failed.append(error)

    def reading() -> None:
        # A blocking client in a thread, with a small receive buffer, that stops reading.
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with connect(
            f"ws://127.0.0.1:{port}/graphql",
            sock=sock,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            max_queue=1,
            # Uncompressed, the anonymous subscriber's events are written below ASGI.
            compression="deflate" if keyed else None,
        ) as ws:
            init = {"Authorization": f"Bearer {data.keys['viewer']}"} if keyed else {}
            ws.send(json.dumps({"type": "connection_init", "payload": init}))
            assert json.loads(ws.recv(timeout=15))["type"] == "connection_ack"
            subscribe = {"id": "1", "type": "subscribe", "payload": {"query": CHANGES}}
            ws.send(json.dumps(subscribe))
            subscribed.set()
            go.wait(30)
            time.sleep(3)  # not reading: the server's buffer fills
            try:
                while not received or received[-1] < last[0]:
                    message = json.loads(ws.recv(timeout=15))
                    assert message["type"] == "next", message
                    received.append(int(message["payload"]["data"]["changes"]["sequence"]))
            except TimeoutError:
                pass

    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn's Server has no event for it)
            await asyncio.sleep(0.05)
        reader = threading.Thread(target=client)
        reader.start()
        assert await asyncio.to_thread(subscribed.wait, 30)
        await asyncio.sleep(1)  # the subscription is live
        parked = [
            o
            for o in _objects()
            if isinstance(o, TransportHandler)
            and o.context.events is app.state.events
            and any(isinstance(op.task, DirectQueue) for op in o.operations.values())
        ]
        assert len(parked) == (0 if keyed else 1)
        first = await data.last_sequence()
        # when: 1,500 events while the client does not read, then it reads again
        await data.burst(1500)
        last.append(await data.last_sequence())
        go.set()
        await asyncio.to_thread(reader.join, 60)
        # then: uvicorn paused and resumed the connection on the small flag, and every
        # event arrived once, in order
        assert failed == []
        assert seen["pause"] and seen["resume"], seen
        assert set(seen["pause"] + seen["resume"]) == {"Signal"}
        assert received == list(range(first + 1, last[0] + 1))
    finally:
        go.set()
        server.should_exit = True
        await serving
        await source.aclose()
