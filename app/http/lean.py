"""A short way in for the usual GraphQL request: POST /graphql with a JSON body.

Through FastAPI, such a request passed its exception and routing layers, the
dependency solver (for the context), strawberry's request adapters, its body parsed
twice, and a Response built and adjusted: about a third of the CPU the dashboard read
cost (bench/request_cpu.py). `LeanGraphQL`, a pure ASGI middleware inside every other
(request ids, metrics, CORS, body limits), takes such a request itself and calls the
very pieces the router calls, in the router's order: the context (`context_for`: rate
limits, who calls), the body's checks (`operation_request`), strawberry's execution
(`execute_single`: every schema extension, the compiled read path), the answer
(`process_result`, `create_response`, `as_asked`). Nothing is checked here that the
router does not check the same way.

Anything else — another path or method, another media type, a streaming `Accept`, a
body that is not one JSON object of the expected fields, a refusal before execution —
goes on to the router unchanged, the body handed over as read. When the context was
already made (or failed to be made), the router is given that outcome (`MADE_CONTEXT`)
rather than making it again: a request is counted against the rate limits once.
LEAN_GRAPHQL_HTTP=false sends every request through the router.

A WebSocket to /graphql takes a short way too (`LeanGraphQLSocket`): the router's
context for it (`context_for`) and its `run` (`run_websocket`), as the route calls them,
without the layers between (FastAPI's exception, exit-stack and routing layers, the route's
dependency solver and its two exit stacks, starlette's exception wrappers). Those
layers stay suspended for the connection's life, ~11 KB of frames, closures and scope
entries per connection (bench/README.md, issue 17). What they do for a WebSocket —
an exception raised to the app's handlers (the database away at connection_init:
closed 1013) — is done here only when something is raised. LEAN_GRAPHQL_WS=false
sends connections through the router.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Awaitable
from functools import lru_cache
from typing import Any

import orjson
from cross_web import HTTPException
from starlette._utils import get_route_path  # what starlette.routing matches on
from starlette.background import BackgroundTasks
from starlette.datastructures import Headers
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.types import ExecutionResult

from app.http.kept import KeptOperations
from app.http.router import MADE_CONTEXT, PledgeRouter, operation_request
from app.http.spec import JSON, Refused, wants_graphql_response
from app.observability.middleware import ROUTE_TEMPLATE

# Requests answered here in this process, and handed on to the router after the context
# was made ("handed on"); the others never came here.
SERVED: Counter[str] = Counter()


class _Post:
    """What strawberry's `execute_single` reads of its request adapter: the method."""

    method = "POST"


_POST = _Post()


class LeanGraphQL:
    def __init__(self, app: ASGIApp, router: PledgeRouter, path: str = "/graphql") -> None:
        self.app = app
        self.router = router
        self.path = path
        # Whether an `Accept` asks for a streamed answer, as strawberry's view reads it
        # (its first `Accept`): its content-type parser costs more than the rest of the
        # check, and clients send the same few values (bounded, as `_is_json`).
        self._streamed = lru_cache(maxsize=64)(
            lambda accept: router._get_stream_transport_from_headers({"accept": accept}) is not None
        )
        # Queries the compiled path answered whole, answered again with only the rules
        # that depend on the request (app/http/kept.py).
        schema = router.schema
        self.kept = (
            KeptOperations(schema, router.settings)
            if router.settings.kept_operations and getattr(schema, "cost_limiter", None)
            else None
        )

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Handed on or served without a frame of this layer in between.
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or get_route_path(scope) != self.path
        ):
            return self.app(scope, receive, send)
        headers = Headers(scope=scope)
        accept = headers.get("accept")
        if not _is_json(headers.get("content-type", "")) or self._streamed(accept or ""):
            return self.app(scope, receive, send)
        return self._serve(scope, receive, send, accept)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, accept: str | None) -> None:
        """`accept`: the request's (first) Accept, read once."""
        router = self.router
        # The messages read, replayed to the router in order when it is handed the
        # request (a deque: a body of many small pieces is handed on in linear time).
        received: deque[Message] = deque()

        async def replay() -> Message:
            if received:
                return received.popleft()
            return await receive()

        def onwards(made: object) -> Any:
            SERVED["handed on"] += 1
            scope[MADE_CONTEXT] = made
            return self.app(scope, replay, send)

        request = Request(scope, replay)
        # The router's order: who calls (and the rate limits) before the body is read.
        try:
            context = await router.context_for(request)
        except Exception as exc:
            await onwards(exc)
            return
        # Pieces joined once at the end: adding each to the last would copy the body
        # read so far at every piece, quadratic in its size (review of h15lean, 1).
        pieces: list[bytes] = []
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                await onwards(context)  # the client left: the router sees it
                return
            pieces.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(pieces)
        request_data = self._request_data(body)
        if request_data is None:
            await onwards(context)
            return
        received.clear()
        # The route's template, as the HTTP metrics name it.
        scope[ROUTE_TEMPLATE] = self.path
        context.request = request
        kept = self.kept
        result = await kept.answer(request_data, context) if kept is not None else None
        if result is not None:
            SERVED["kept"] += 1
            if not (result.errors or result.extensions) and not wants_graphql_response(accept):
                SERVED["answered"] += 1
                await _send_data(self.router, result.data, send)
                return
        # What FastAPI's dependencies hand strawberry's view: tasks to run once answered,
        # and a response whose status and headers the answer takes (none set: empty).
        # A kept operation's answer never reads them (no resolver runs).
        background = BackgroundTasks()
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        context.background_tasks = background
        context.response = sub_response
        if result is None:
            try:
                result = await router.execute_single(
                    request=request,
                    request_adapter=_POST,  # type: ignore[arg-type]
                    sub_response=sub_response,
                    context=context,
                    root_value=None,
                    request_data=request_data,
                )
            except HTTPException as exc:
                SERVED["answered"] += 1
                await router.refused(exc, request)(scope, replay, send)
                return
            if not isinstance(result, ExecutionResult):  # a stream: no Accept asked for one
                raise TypeError(f"unexpected result {type(result).__name__}")
            if kept is not None:
                kept.keep(request_data, context, result)
        data = await router.process_result(request, result)
        if result.errors:
            router._handle_errors(result.errors, data)  # strawberry's hook, as its view calls it
        response = router.as_asked(request, router.create_response(data, sub_response))
        SERVED["answered"] += 1
        await response(scope, replay, send)
        if background.tasks:
            await background()

    def _request_data(self, body: bytes) -> GraphQLRequestData | None:
        """The operation the body asks for, when it is one JSON object that meets the
        checks (`operation_request`); None for anything the router must answer. The
        router decodes orjson first too (`PledgeRouter.decode_json`): what orjson refuses
        (another encoding, an integer past 64 bits, a lone surrogate, nesting past its
        depth) goes to the router, which tries the json module on it."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        try:
            operation = operation_request(data, self.router.persisted)
        except Refused:
            return None
        return GraphQLRequestData(
            query=operation.query,
            variables=operation.variables,
            operation_name=operation.operation_name,
            extensions=operation.extensions,
            protocol="http",
        )


async def _send_data(router: PledgeRouter, data: object, send: Send) -> None:
    """The answer of an operation that ran with no error, as the router writes it when
    the client asks for no other media type (`process_result`, `create_response`,
    `as_asked`: `{"data": ...}`, 200, its length and JSON's media type), sent as the two
    messages starlette's Response sends, without building one."""
    body = router._json_bytes({"data": data})
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode()), _JSON_TYPE],
        }
    )
    await send({"type": "http.response.body", "body": body})


_JSON_TYPE = (b"content-type", JSON.encode())


@lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    """Whether a Content-Type is JSON's, as strawberry's view reads it: its parser
    (the email package's) costs more than the rest of the check, and clients send the
    same few values on every request. The cache is bounded, whatever they send."""
    return parse_content_type(content_type)[0] == JSON


class LeanGraphQLSocket:
    """WebSocket connections to `path`, handed to the router as its route hands them:
    the same context (`context_for`; strawberry's dependency would add the
    connection as its `request`, and a response and background tasks that no
    WebSocket operation uses, left None here) and the same `run` (`run_websocket`:
    origin check, subprotocol, the protocol's handler). What it raises meets the app's exception
    handlers, as from the route (`_handled`)."""

    def __init__(self, app: ASGIApp, router: PledgeRouter, path: str = "/graphql") -> None:
        self.app = app
        self.router = router
        self.path = path

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # The path as the router matches it: without the app's root_path (a mount,
        # uvicorn's --root-path). Anything else is handed on without a frame of this
        # layer in between.
        if scope["type"] != "websocket" or get_route_path(scope) != self.path:
            return self.app(scope, receive, send)
        return self._connect(scope, receive, send)

    async def _connect(self, scope: Scope, receive: Receive, send: Send) -> None:
        SERVED["websocket"] += 1
        websocket = WebSocket(scope, receive, send)
        try:
            context = await self.router.context_for(websocket)
            context.request = websocket
            await self.router.run_websocket(websocket, context)
        except Exception as exc:
            await _handled(exc, scope, receive, send)


async def _handled(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """`exc` raised through starlette's exception layer with the app's handlers, as
    FastAPI builds it (500 and Exception are the server error layer's, outside):
    handled as it would be from the route, else raised on."""
    handlers = getattr(scope.get("app"), "exception_handlers", {})
    layer = ExceptionMiddleware(
        _raiser(exc),
        handlers={k: v for k, v in handlers.items() if k not in (500, Exception)},
    )
    await layer(scope, receive, send)


def _raiser(exc: Exception) -> ASGIApp:
    async def raising(scope: Scope, receive: Receive, send: Send) -> None:
        raise exc

    return raising
