"""A small graphql-transport-ws client over a real WebSocket (the `websockets` library),
for tests and benchmarks that talk to a real server."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

PROTOCOL = "graphql-transport-ws"


class Closed(Exception):
    """The server closed the connection; `code` and `reason` say why."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


class Subscription:
    """One operation's messages: `next` payloads, then `complete` (or an `error`)."""

    def __init__(self, client: LiveClient, id: str) -> None:
        self.client = client
        self.id = id
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # Every message of this operation as the server sent it (the frame's text).
        self.frames: list[str] = []

    async def next(self, wait: float = 10.0) -> dict[str, Any]:
        """The next message for this operation (type next, error or complete)."""
        message = await asyncio.wait_for(self.messages.get(), wait)
        if message["type"] == "closed":
            raise Closed(message["code"], message["reason"])
        return message

    async def data(self, wait: float = 10.0) -> dict[str, Any]:
        """The next result's data; AssertionError when it carries errors or ends."""
        message = await self.next(wait)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message["payload"]
        data: dict[str, Any] = message["payload"]["data"]
        return data

    async def nothing(self, wait: float) -> None:
        """Assert no message arrives within `wait` seconds."""
        try:
            message = await asyncio.wait_for(self.messages.get(), wait)
        except TimeoutError:
            return
        raise AssertionError(f"expected nothing, got {message}")

    async def stop(self) -> None:
        await self.client.send({"id": self.id, "type": "complete"})


class LiveClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ack: dict[str, Any] | None = None
        self._ids = itertools.count(1)
        self._subscriptions: dict[str, Subscription] = {}
        self._reader: asyncio.Task[None] | None = None
        self.closed: Closed | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        authorization: str | None = None,
        payload: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        subprotocols: list[str] | None = None,
        init: bool = True,
        compression: str | None = "deflate",
    ) -> LiveClient:
        # `compression`: what a browser asks for (permessage-deflate), or None, as the
        # benchmark's lean client: the server then writes shared frames below ASGI.
        ws = await connect(
            url,
            subprotocols=subprotocols or [PROTOCOL],  # type: ignore[list-item]
            additional_headers=headers,
            open_timeout=10,
            max_size=None,
            compression=compression,
        )
        client = cls(ws)
        if init:
            params = dict(payload or {})
            if authorization is not None:
                params["Authorization"] = authorization
            await client.send({"type": "connection_init", "payload": params})
            raw = await asyncio.wait_for(ws.recv(), 10)
            message = json.loads(raw)
            assert message["type"] == "connection_ack", message
            client.ack = message
        client._reader = asyncio.create_task(client._read())
        return client

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> Subscription:
        return await self.subscribe_with({"query": query, "variables": variables})

    async def subscribe_with(self, payload: Any) -> Subscription:
        """A subscribe message with this payload as it is (a persisted operation's id,
        or anything a client might send)."""
        id = str(next(self._ids))
        subscription = self._subscriptions[id] = Subscription(self, id)
        await self.send({"id": id, "type": "subscribe", "payload": payload})
        return subscription

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await self.send({"type": "pong"})
                    continue
                subscription = self._subscriptions.get(message.get("id", ""))
                if subscription is not None:
                    subscription.frames.append(raw)
                    subscription.messages.put_nowait(message)
        except Exception:
            pass
        finally:
            code, reason = self.ws.close_code, self.ws.close_reason or ""
            self.closed = Closed(code, reason)
            for subscription in self._subscriptions.values():
                subscription.messages.put_nowait({"type": "closed", "code": code, "reason": reason})

    async def ended(self, wait: float = 10.0) -> Closed:
        """Wait for the server to close the connection; how it did."""
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), wait)
        assert self.closed is not None
        return self.closed

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await self._reader

    async def __aenter__(self) -> LiveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
