"""/graphql over HTTP, as the GraphQL-over-HTTP specification describes it.

A client whose `Accept` names `application/graphql-response+json` gets that media type
and status codes that say what happened: 200 once execution began (even if a field
failed), 400 for a request that cannot run (unreadable, unparsable, invalid, over a
limit), 401/403 for a caller who may not run it, 503 (with `Retry-After`) when the
service is busy. Without it (no `Accept`, `*/*`, `application/json`) the answer is
`application/json` and 200 whatever the errors, as before: the specification's legacy
behaviour, which existing clients rely on.

Whatever the media type, every refusal is a GraphQL-shaped body with a stable
`extensions.code`, and it names the limit (the setting) it met.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.types import ExecutionResult

from app.errors import ErrorCode
from app.kit.numbers import parse_natural

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

# Codes of refusals made over HTTP, before GraphQL runs.
BAD_REQUEST = "BAD_REQUEST"
NOT_FOUND = "NOT_FOUND"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
BATCHING_DISABLED = "BATCHING_DISABLED"

# graphql-response+json: the status of a result without data (execution never began),
# by the code of its first error; any other code is the client's mistake (400).
_REQUEST_ERROR_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "BUSY": 503, "INTERNAL": 500}
# Codes of errors that end an operation after execution began: its data stays (null).
_EXECUTION_ERRORS = frozenset({"TIMEOUT"})
_BY_STATUS = {
    400: BAD_REQUEST,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    413: REQUEST_TOO_LARGE,
    415: UNSUPPORTED_MEDIA_TYPE,
}


def _quality(accept: str, media_type: str) -> tuple[float, int]:
    """The quality `accept` gives `media_type`, and how specifically (2: by name,
    1: `type/*`, 0: `*/*`, -1: not at all)."""
    main = media_type.split("/", 1)[0]
    best = (0.0, -1)
    for part in accept.split(","):
        name, *params = (piece.strip() for piece in part.split(";"))
        name = name.lower()
        if name == media_type:
            specificity = 2
        elif name == f"{main}/*":
            specificity = 1
        elif name == "*/*":
            specificity = 0
        else:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if specificity > best[1]:
            best = (quality, specificity)
    return best


def wants_graphql_response(accept: str | None) -> bool:
    """Whether the client asked for `application/graphql-response+json` by name, and
    likes it at least as well as `application/json`."""
    if not accept:
        return False
    quality, specificity = _quality(accept, GRAPHQL_RESPONSE_JSON)
    return specificity == 2 and quality > 0 and quality >= _quality(accept, JSON)[0]


def media_type_for(accept: str | None) -> str:
    return GRAPHQL_RESPONSE_JSON if wants_graphql_response(accept) else JSON


def status_headers(status: int, *, retry_after: int | None = None) -> dict[str, str]:
    """What a refusal with this status must tell the client besides its body: how to
    authenticate (401), and when to come back (503: `retry_after`, RETRY_AFTER_SECONDS)."""
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if status == 503 and retry_after is not None:
        return {"Retry-After": str(retry_after)}
    return {}


def request_error_status(result: ExecutionResult) -> int | None:
    """The status of a result whose operation never began executing (parse and
    validation errors, limits, refusals): its `data` is left out of the response.
    None for a result of an execution, which keeps its `data` (even null) and is 200."""
    errors = result.errors
    if result.data is not None or not errors:
        return None
    if any(error.path for error in errors):
        return None  # a field failed and nulled its parents: execution ran
    codes = [(error.extensions or {}).get("code") for error in errors]
    if _EXECUTION_ERRORS.intersection(codes):
        return None
    return _REQUEST_ERROR_STATUS.get(str(codes[0]), 400)


class Refused(HTTPException):
    """A request refused before GraphQL runs, with its code and any headers."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(status, message)
        self.code = code
        self.headers = dict(headers or {})
        self.extensions = extensions


def refusal(
    status: int,
    message: str,
    code: str,
    *,
    accept: str | None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """A GraphQL-shaped error response (no `data`: nothing ran)."""
    body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=media_type_for(accept),
        headers={**status_headers(status), **(headers or {})},
    )


def code_for_status(status: int) -> str:
    return _BY_STATUS.get(status, BAD_REQUEST)


def refusal_for(exc: HTTPException, accept: str | None) -> Response:
    """Strawberry's plain-text refusals (and ours) as GraphQL-shaped errors."""
    if isinstance(exc, Refused):
        return refusal(
            exc.status_code,
            exc.reason,
            exc.code,
            accept=accept,
            headers=exc.headers,
            **exc.extensions,
        )
    return refusal(exc.status_code, exc.reason, code_for_status(exc.status_code), accept=accept)


class _BodyRefused(Exception):
    pass


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        # str.isdigit() is true of "²" too, which int() cannot read: plain digits only.
        declared = parse_natural(headers.get("content-length", ""))
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
            if complete or self.read_timeout is None:
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

        async def watching_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

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
            REQUEST_TOO_LARGE,
            accept=headers.get("accept"),
            headers={"Connection": "close"},
            limit=self.max_bytes,
        )

    def _too_slow(self, headers: Headers) -> Response:
        return refusal(
            408,
            f"the request body did not arrive within {self.read_timeout:g} seconds "
            "(REQUEST_READ_TIMEOUT_SECONDS)",
            ErrorCode.REQUEST_TIMEOUT.value,
            accept=headers.get("accept"),
            headers={"Connection": "close"},
            limit=self.read_timeout,
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        closed = False

        async def limited_receive() -> Message:
            nonlocal closed
            message = await receive()
            if message["type"] == "websocket.receive" and _message_too_large(
                message, self.max_bytes
            ):
                reason = f"{REQUEST_TOO_LARGE}: a message is larger than {self.max_bytes} bytes"
                await send({"type": "websocket.close", "code": MESSAGE_TOO_BIG, "reason": reason})
                closed = True
                # The app reads that the client left, and ends the connection's operations.
                return {"type": "websocket.disconnect", "code": MESSAGE_TOO_BIG}
            return message

        async def closed_send(message: Message) -> None:
            if closed:  # once closed here, whatever the app still sends is dropped
                return
            if message["type"] == "websocket.close" and message.get("reason"):
                message = {**message, "reason": close_reason(message["reason"])}
            await send(message)

        await self.app(scope, limited_receive, closed_send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, response: Response) -> None:
        await response(scope, receive, send)


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
