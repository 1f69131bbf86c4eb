"""A WebSocket message written as one frame straight to its connection, below ASGI.

A subscription event that thousands of subscribers share is the same frame for each of
them (app/graphql/subscriptions/sharing.py): through ASGI each copy walks the app's
`send` wrappers and uvicorn's framing, ~30 µs of Python per subscriber beside the one
write. Here the frame is built once and written to each connection's transport as it is.

It is done only where that is what uvicorn would write: its WebSocket protocol of
websockets (sans-I/O), reached through the `send` the server handed the app
(`RawSendMiddleware`, outermost, keeps it in the scope), with no extension negotiated
(permessage-deflate compresses each message per connection), the handshake done, no
close sent or received, and the socket taking writes (not paused by flow control).
Otherwise, or under any other server (the test client, wsproto), `socket_of` is None
or `RawSocket.ready` False, and the message goes through ASGI as before.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.frames import Frame, Opcode

from app.kit.flag import Signal

try:  # uvicorn's default WebSocket protocol when websockets is installed
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.protocol import State
except ImportError:  # pragma: no cover - another server, or no websockets
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

RAW_SEND = "pledge.raw_send"


class RawSendMiddleware:
    """Keeps the server's own `send` of a WebSocket connection in its scope
    (`RAW_SEND`), and gives uvicorn's connection a smaller receive queue
    (`ReceiveQueue`) and writable flag (`Signal`). Added last to the app, so that it
    runs first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # The app is handed on without a frame of this layer kept for the request's
        # or connection's life.
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
            _smaller_state(getattr(send, "__self__", None))
        return self.app(scope, receive, send)


class ReceiveQueue:
    """What uvicorn's WebSocket protocol uses of its `asyncio.Queue` (`put_nowait`,
    `get`, `empty`), in a few hundred bytes: an `asyncio.Queue` keeps three deques
    (~1.9 KB) for the connection's life, though it mostly holds nothing and has one
    reader waiting. Items in order; a waiting reader woken per item, as asyncio's."""

    __slots__ = ("_items", "_waiters")

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._items: deque[Any] | None = deque(items) or None
        self._waiters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)
                return

    async def get(self) -> Any:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                # Woken, then cancelled: the item it was woken for goes to the next.
                if waiter.done() and not waiter.cancelled() and self._items:
                    self._wake_after(waiter)
                raise
            finally:
                self._waiters.remove(waiter)
                if not self._waiters:
                    self._waiters = None
        items = self._items
        item = items.popleft()
        if not items:
            self._items = None  # an empty deque is ~600 bytes
        return item

    def _wake_after(self, woken: asyncio.Future[None]) -> None:
        for waiter in self._waiters or ():
            if waiter is not woken and not waiter.done():
                waiter.set_result(None)
                return


def _smaller_state(protocol: Any) -> None:
    """Swap uvicorn's receive queue for a `ReceiveQueue`, before the app reads from it
    (nobody waits on it yet; what it holds, the connect message, moves over), and its
    `writable` event (set, clear, is_set and wait are all uvicorn uses) for a `Signal`
    in the same state: an `asyncio.Event` keeps an empty deque (~700 bytes) for the
    connection's life. Each only while nobody waits on it."""
    if WebSocketsSansIOProtocol is None or not isinstance(protocol, WebSocketsSansIOProtocol):
        return  # pragma: no cover - another server
    queue = protocol.queue
    if type(queue) is asyncio.Queue and not getattr(queue, "_getters", None):
        items = []
        while not queue.empty():
            items.append(queue.get_nowait())
        protocol.queue = ReceiveQueue(items)  # type: ignore[assignment]
    writable = protocol.writable
    if type(writable) is asyncio.Event and not getattr(writable, "_waiters", None):
        flag = Signal()
        if writable.is_set():
            flag.set()
        protocol.writable = flag  # type: ignore[assignment]


def text_frame(text: str) -> bytes:
    """`text` as one unmasked WebSocket text frame (FIN set), as a server sends it:
    framed by the websockets library, which uvicorn's protocol frames with too."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class RawSocket:
    """One connection's uvicorn protocol, written to directly."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    def ready(self) -> bool:
        """Whether a frame written now goes out as uvicorn would send it."""
        protocol = self._protocol
        return (
            protocol.writable.is_set()
            and not protocol.close_sent
            and not protocol.disconnected
            and protocol.conn.state is State.OPEN
            and not protocol.transport.is_closing()
        )

    def gone(self) -> bool:
        """Whether the connection is closing or closed (the transport's end of it: its
        handler ends its operations when it reads so)."""
        protocol = self._protocol
        return bool(protocol.close_sent or protocol.disconnected or protocol.transport.is_closing())

    def write(self, frame: bytes) -> None:
        self._protocol.transport.write(frame)


def socket_of(scope: Scope) -> RawSocket | None:
    """The connection of a WebSocket scope, when frames may be written to it directly."""
    if WebSocketsSansIOProtocol is None:  # pragma: no cover
        return None
    protocol = getattr(scope.get(RAW_SEND), "__self__", None)
    if (
        not isinstance(protocol, WebSocketsSansIOProtocol)
        or not protocol.handshake_complete
        or protocol.initial_response is not None
        or protocol.conn.extensions
    ):
        return None
    forget_upgrade(scope)
    return RawSocket(protocol)


def forget_upgrade(scope: Scope) -> None:
    """Let go of a WebSocket connection's upgrade request and response once its
    handshake is done (whatever its extensions): uvicorn keeps them (their headers:
    ~4 KB) for the connection's life and reads them only until then; websockets' parser
    keeps the request too (a local of its generator), so its headers are emptied. The
    scope has its own copy of the request's headers."""
    if WebSocketsSansIOProtocol is None:  # pragma: no cover
        return
    protocol = getattr(scope.get(RAW_SEND), "__self__", None)
    if (
        not isinstance(protocol, WebSocketsSansIOProtocol)
        or not protocol.handshake_complete
        or protocol.initial_response is not None
    ):
        return
    if protocol.request is not None:
        protocol.request.headers.clear()
    protocol.request = protocol.response = None  # type: ignore[assignment]
