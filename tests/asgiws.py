"""A graphql-transport-ws client of an ASGI app in this process: the app's connection
runs as a task on the test's loop (its engine's loop), and nothing listens on a port.

`stop_reading()` makes the app's sends wait, as a client that reads nothing does once
the socket's buffers are full; `read_again()` lets them through."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

PROTOCOL = "graphql-transport-ws"


def websocket_scope(subprotocols: list[str], address: str = "127.0.0.1") -> dict[str, Any]:
    """The ASGI scope of a WebSocket to /graphql asking for `subprotocols`."""
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "http_version": "1.1",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"sec-websocket-protocol", ", ".join(subprotocols).encode()),
        ],
        "client": (address, 40000),
        "server": ("test", 80),
        "subprotocols": subprotocols,
    }


class AsgiWebSocket:
    def __init__(self, app: Any, *, address: str = "127.0.0.1") -> None:
        self.app = app
        self.address = address
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reading = asyncio.Event()
        self._reading.set()
        # Sends the app has begun and not finished (waiting for the client to read).
        self.sending = 0
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._queues: dict[Any, asyncio.Queue[dict[str, Any]]] = {}
        self._reader = asyncio.Lock()
        self._blocked = asyncio.Event()

    async def open(self, authorization: str | None = None) -> AsgiWebSocket:
        scope = websocket_scope([PROTOCOL], self.address)
        await self._to_app.put({"type": "websocket.connect"})
        self._task = asyncio.create_task(self.app(scope, self._receive, self._send))
        accepted = await self._raw()
        assert accepted["type"] == "websocket.accept", accepted
        params = {"Authorization": authorization} if authorization else {}
        await self.send({"type": "connection_init", "payload": params})
        ack = await self.message()
        assert ack["type"] == "connection_ack", ack
        return self

    async def _receive(self) -> dict[str, Any]:
        return await self._to_app.get()

    async def _send(self, message: dict[str, Any]) -> None:
        self.sending += 1
        if not self._reading.is_set():
            self._blocked.set()
        try:
            await self._reading.wait()
        finally:
            self.sending -= 1
        await self._from_app.put(message)

    async def _raw(self, wait: float = 30) -> dict[str, Any]:
        return await asyncio.wait_for(self._from_app.get(), wait)

    async def send(self, message: dict[str, Any]) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def message(self, wait: float = 30) -> dict[str, Any]:
        raw = await self._raw(wait)
        assert raw["type"] == "websocket.send", raw
        message: dict[str, Any] = json.loads(raw["text"])
        return message

    async def message_for(self, id: str) -> dict[str, Any]:
        """The next message of operation `id` (others' are kept for them)."""
        queue = self._queues.setdefault(id, asyncio.Queue())
        while queue.empty():
            async with self._reader:
                if queue.empty():
                    message = await self.message()
                    self._queues.setdefault(message.get("id"), asyncio.Queue()).put_nowait(message)
        return queue.get_nowait()

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        id = str(next(self._ids))
        await self.send(
            {"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
        return id

    async def result(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The payload of a query's one result (`next`), or its errors (`error`)."""
        id = await self.subscribe(query, variables)
        message = await self.message_for(id)
        if message["type"] == "error":
            return {"errors": message["payload"]}
        assert message["type"] == "next", message
        payload: dict[str, Any] = message["payload"]
        done = await self.message_for(id)
        assert done == {"id": id, "type": "complete"}, done
        return payload

    def stop_reading(self) -> None:
        self._blocked.clear()
        self._reading.clear()

    async def until_blocked(self, wait: float = 30) -> None:
        """Until the app has begun a send the client does not read."""
        await asyncio.wait_for(self._blocked.wait(), wait)

    def read_again(self) -> None:
        self._reading.set()

    async def close(self) -> None:
        self.read_again()
        await self._to_app.put({"type": "websocket.disconnect", "code": 1000})
        if self._task is not None:
            await asyncio.wait_for(self._task, 30)
