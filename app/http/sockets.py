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

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.frames import Frame, Opcode

try:  # uvicorn's default WebSocket protocol when websockets is installed
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.protocol import State
except ImportError:  # pragma: no cover - another server, or no websockets
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

RAW_SEND = "pledge.raw_send"


class RawSendMiddleware:
    """Keeps the server's own `send` of a WebSocket connection in its scope
    (`RAW_SEND`). Added last to the app, so that it runs first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


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
    # uvicorn keeps the upgrade's request and response (their headers: ~4 KB) for the
    # connection's life, and reads them only until the handshake is done. websockets'
    # parser keeps the request too (a local of its generator, for the connection's
    # life): its headers are emptied, the scope has its own copy.
    if protocol.request is not None:
        protocol.request.headers.clear()
    protocol.request = protocol.response = None  # type: ignore[assignment]
    return RawSocket(protocol)
