"""Pure ASGI middleware (no BaseHTTPMiddleware: these cover WebSocket connections too,
and add no task of their own per request)."""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Awaitable, Mapping
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
# An incoming id is kept only if it is a plain token; anything else is replaced.
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

# Messages that carry a response's headers: HTTP, a WebSocket's acceptance, and the
# HTTP response that refuses a WebSocket.
_HEADED = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})

UNMATCHED_ROUTE = "unmatched"
OTHER_ROUTE = "other"


def request_id_from(scope: Scope) -> str:
    """The caller's `X-Request-ID` when it is a sane token, else a new one."""
    for key, value in scope.get("headers", ()):
        if key.lower() == _HEADER_KEY:
            given: str = value.decode("latin-1")
            if _SANE_ID.fullmatch(given):
                return given
            break
    return new_request_id()


def new_request_id() -> str:
    """A random id, spelled as `uuid.uuid4().hex` spells one (the version and variant
    bits set). One is made for nearly every request: its bits come from a generator of
    this module's own (seeded from the system, again in a forked process; no one
    else's `random.seed` repeats its ids), not from the system each time (`os.urandom`,
    a system call): an id correlates log lines and must never guard anything (it can be
    foretold from ids seen before)."""
    return (_IDS.getrandbits(128) & _UUID4_CLEARED | _UUID4_SET).to_bytes(16, "big").hex()


_IDS = random.Random()
os.register_at_fork(after_in_child=_IDS.seed)


# The bits `uuid.UUID(version=4)` sets: the version's (0100) and the variant's (10).
_UUID4_CLEARED = ~((0xF << 76) | (0x3 << 62))
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def current_request_id() -> str | None:
    """The id of the request being served, where there is one."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


class RequestIdMiddleware:
    """Gives every HTTP request and WebSocket connection an id: the caller's
    `X-Request-ID` (if it is a token of at most 128 letters, digits, `.`, `_`, `-`) or a
    new one. It is bound to the logging context for as long as the request runs (every
    log line made meanwhile carries `request_id`) and returned in `X-Request-ID`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        kind = scope["type"]
        if kind == "http":
            return self._http(scope, receive, send)
        if kind != "websocket":
            return self.app(scope, receive, send)
        # A WebSocket connection: no HTTP response to give if it crashes, so only the
        # id's binding waits for its end, in a small frame (bench/README.md, issue 17).
        request_id = request_id_from(scope)
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        return _unbound_after(tokens, self.app(scope, receive, _SendWithId(send, request_id)))

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_from(scope)
        header = (_HEADER_KEY, request_id.encode("latin-1"))
        started = False

        # A plain function handing on the server's awaitable (as each send of these
        # layers): no coroutine of its own per message.
        def send_with_id(message: Message) -> Awaitable[None]:
            nonlocal started
            if message["type"] in _HEADED:
                started = True
                message = _with_id(message, header)
            return send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # A crash: answer 500 with the id (the server error handler outside would
            # answer without it), and keep the id bound, so that the server's own log
            # of the crash, made in this request's task, carries it too.
            if not started:
                await _internal_error(send, header)
            raise
        structlog.contextvars.reset_contextvars(**tokens)


async def _unbound_after(tokens: Mapping[str, Any], connection: Awaitable[None]) -> None:
    """`connection` run, then the request id it was bound with unbound (kept bound if
    it crashes, for the server's log of the crash)."""
    await connection
    structlog.contextvars.reset_contextvars(**tokens)


class _SendWithId:
    """A WebSocket's send that gives its acceptance (or the HTTP response refusing it)
    the `X-Request-ID` header."""

    __slots__ = ("_send", "request_id")

    def __init__(self, send: Send, request_id: str) -> None:
        self._send = send
        self.request_id = request_id

    def __call__(self, message: Message) -> Awaitable[None]:
        if message["type"] in _HEADED:
            message = _with_id(message, (_HEADER_KEY, self.request_id.encode("latin-1")))
        return self._send(message)


def _with_id(message: Message, header: tuple[bytes, bytes]) -> Message:
    """`message` (one that carries a response's headers) with `header` as its only
    `X-Request-ID`."""
    kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _HEADER_KEY]
    return {**message, "headers": [*kept, header]}


async def _internal_error(send: Send, header: tuple[bytes, bytes]) -> None:
    body = b"Internal Server Error"
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("latin-1")),
                header,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class HttpMetricsMiddleware:
    """Counts HTTP requests by route template (`/reports/{name}.csv`, never the path a
    client made up), method and status, and times them."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # The series of each route, method and status, looked up once: prometheus'
        # `labels` checks and locks at every call. Bounded: routes are templates,
        # methods a fixed set, statuses three digits.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":  # handed on, no frame of this layer kept meanwhile
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 500  # unless a response starts
        started = time.perf_counter()

        def send_noting_status(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            return send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = _route_template(scope)
            method = self.metrics.method_label(str(scope.get("method", "")))
            key = (route, method, status)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = (
                    self.metrics.http_requests.labels(route, method, str(status)),
                    self.metrics.http_seconds.labels(route, method),
                )
            series[0].inc()
            series[1].observe(time.perf_counter() - started)


# The scope entry where a layer that answers a route without routing (app/http/lean.py)
# names its template.
ROUTE_TEMPLATE = "pledge.route_template"


def _route_template(scope: Scope) -> str:
    """The path template of the route that answered, `unmatched` when none did."""
    named = scope.get(ROUTE_TEMPLATE)
    if isinstance(named, str):
        return named
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    # A route of the app itself knows its full template. A route of an included router
    # (GraphQL's, under /graphql) knows only its own part in this FastAPI, which
    # matches included routers lazily and keeps the full one in its scope entry.
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    for candidate in (route, effective):
        path = getattr(candidate, "path", None)
        if isinstance(path, str) and path.startswith("/"):
            return path
    return OTHER_ROUTE
