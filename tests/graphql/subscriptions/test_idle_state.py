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
from pathlib import Path
from typing import Any, cast

import uvicorn
from graphql import OperationType
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from app.config import Settings
from app.graphql.schema import Executor
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
        watchdogs = [
            t
            for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", None) == "_recheck"
            and t.get_coro().cr_frame.f_locals["info"].context.events is hub  # type: ignore[union-attr]
        ]
        assert len(watchdogs) == 1  # the keyed subscriber's; nothing to revoke for the other

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
