"""Request bodies and WebSocket messages: how large, and how slow, they may be.

MAX_BODY_BYTES bounds both, refused as they stream in, before anything reads them in
full; REQUEST_READ_TIMEOUT_SECONDS bounds how long a body may keep the app waiting.
The request's head has its deadline in `pledge-ledger serve` (app/http/server.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import ErrorCode
from app.http.spec import refusal
from app.kit.numbers import parse_natural


class _BodyRefused(Exception):
    pass


# In a request's scope, set by a server that has the request's whole body before the app
# reads it (`pledge-ledger serve`: app/http/server.py): reading it then waits for nothing,
# so no deadline is set for it.
BODY_ARRIVED = "pledge.body_arrived"


# The WebSocket close code for a message too big to process (RFC 6455).
MESSAGE_TOO_BIG = 1009


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` with 413: at once when Content-Length
    says so, else as soon as the chunks received pass it; the body is never read in
    full first. A body whose bytes keep the app waiting longer than `read_timeout`
    seconds in all is answered 408 (REQUEST_TIMEOUT): a client trickling its body holds
    a connection that long at most (the time the app takes before it reads is not the
    client's). WebSocket messages meet the size limit: a larger one closes its
    connection (1009, REQUEST_TOO_LARGE) before the app reads it, whatever server runs
    the app (`pledge-ledger serve` also has uvicorn refuse it as it arrives); and the
    reason of any close is made to fit its frame (`close_reason`). A pure ASGI
    middleware: nothing is buffered."""

    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A WebSocket's messages are checked by a small object in its receive and send,
        # and the app is handed on without a frame of this layer kept for the
        # connection's life (bench/README.md, issue 17).
        if scope["type"] == "websocket":
            limited = _LimitedSocket(receive, send, self.max_bytes)
            return self.app(scope, limited.receive, limited.send)
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        declared = _declared(scope)
        if scope.get(BODY_ARRIVED) and declared is not None and declared <= self.max_bytes:
            # The whole body is in the server, no larger than its Content-Length (the
            # server reads no more than that as this request's), which is within the
            # limit: nothing left to count or to wait for, so no layer in between.
            return self.app(scope, receive, send)
        return self._http(scope, receive, send, declared)

    async def _http(self, scope: Scope, receive: Receive, send: Send, declared: int | None) -> None:
        """`declared`: the request's Content-Length (`_declared`)."""
        headers = Headers(scope=scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send, self._too_large(headers))
            return
        received = 0
        waited = 0.0  # seconds spent waiting for the body's bytes
        started = refused = complete = False
        loop = asyncio.get_running_loop()

        async def refuse(response: Response) -> None:
            nonlocal refused
            if not started:
                # Answered here, then the app is stopped: whatever it sends after is
                # dropped, whatever it raises is ours.
                await self._refuse(scope, receive, send, response)
                refused = True
            raise _BodyRefused

        async def counting_receive() -> Message:
            nonlocal received, waited, complete
            if complete or self.read_timeout is None or scope.get(BODY_ARRIVED):
                message = await receive()
            else:
                began = loop.time()
                deadline = asyncio.timeout(self.read_timeout - waited)
                try:
                    async with deadline:
                        message = await receive()
                except TimeoutError:
                    if not deadline.expired():
                        raise
                    await refuse(self._too_slow(headers))
                waited += loop.time() - began
            if message["type"] != "http.request":
                complete = True  # the client left
                return message
            complete = not message.get("more_body", False)
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await refuse(self._too_large(headers))
            return message

        # A plain function handing on the server's awaitable: no coroutine of its own
        # per message.
        def watching_send(message: Message) -> Awaitable[None]:
            nonlocal started
            if refused:
                return _dropped()
            if message["type"] == "http.response.start":
                started = True
            return send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except Exception:
            # Middlewares between here and the body's reader may wrap our exception
            # (in an ExceptionGroup); once refused, anything raised is its echo.
            if not refused:
                raise

    def _too_large(self, headers: Headers) -> Response:
        return refusal(
            413,
            f"the request body is larger than {self.max_bytes} bytes (MAX_BODY_BYTES)",
            ErrorCode.REQUEST_TOO_LARGE,
            accept=headers.get("accept"),
            headers={"Connection": "close"},
            limit=self.max_bytes,
        )

    def _too_slow(self, headers: Headers) -> Response:
        return refusal(
            408,
            f"the request body did not arrive within {self.read_timeout:g} seconds "
            "(REQUEST_READ_TIMEOUT_SECONDS)",
            ErrorCode.REQUEST_TIMEOUT,
            accept=headers.get("accept"),
            headers={"Connection": "close"},
            limit=self.read_timeout,
        )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, response: Response) -> None:
        await response(scope, receive, send)


def _declared(scope: Scope) -> int | None:
    """The request's (first) Content-Length, when it is a number. (str.isdigit() is true
    of "²" too, which int() cannot read: plain digits only.)"""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return parse_natural(value.decode("latin-1"))
    return None


async def _dropped() -> None:
    """What the app sends once its request was refused: nothing."""


class _LimitedSocket:
    """A WebSocket's receive and send under the size limit: a message over `max_bytes`
    closes the connection (1009, REQUEST_TOO_LARGE) and reads to the app as the
    client's leaving; whatever the app sends after that is dropped."""

    __slots__ = ("_closed", "_receive", "_send", "max_bytes")

    def __init__(self, receive: Receive, send: Send, max_bytes: int) -> None:
        self._receive = receive
        self._send = send
        self.max_bytes = max_bytes
        self._closed = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "websocket.receive" and _message_too_large(message, self.max_bytes):
            too_large = ErrorCode.REQUEST_TOO_LARGE.value
            reason = f"{too_large}: a message is larger than {self.max_bytes} bytes"
            await self._send({"type": "websocket.close", "code": MESSAGE_TOO_BIG, "reason": reason})
            self._closed = True
            # The app reads that the client left, and ends the connection's operations.
            return {"type": "websocket.disconnect", "code": MESSAGE_TOO_BIG}
        return message

    async def send(self, message: Message) -> None:
        if self._closed:  # once closed here, whatever the app still sends is dropped
            return
        if message["type"] == "websocket.close" and message.get("reason"):
            message = {**message, "reason": close_reason(message["reason"])}
        await self._send(message)


def _message_too_large(message: Message, max_bytes: int) -> bool:
    """Whether a WebSocket message is over `max_bytes`, text counted in UTF-8 (encoded
    only when its length in characters leaves it in doubt)."""
    data = message.get("bytes")
    if data is not None:
        return len(data) > max_bytes
    text = message.get("text") or ""
    if len(text) > max_bytes:
        return True
    if 4 * len(text) <= max_bytes:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > max_bytes


# What a WebSocket close frame can carry of its reason, in UTF-8 (RFC 6455).
MAX_CLOSE_REASON_BYTES = 123


def close_reason(reason: str) -> str:
    """`reason` as a close frame can carry it: valid UTF-8 of at most 123 bytes. Reasons
    quote what clients sent (an unknown message type, an id in use); one too long, or
    with a lone surrogate, made the server fail to close, dropping the connection (1006)
    with a traceback."""
    encoded = reason.encode("utf-8", "replace")[:MAX_CLOSE_REASON_BYTES]
    return encoded.decode("utf-8", "ignore")
