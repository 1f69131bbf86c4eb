"""/graphql over HTTP and WebSocket, and who the caller of each is.

HTTP requests prove who they are with their `Authorization` header. WebSocket
connections (graphql-transport-ws) do it in the `connection_init` payload, as
browser clients cannot set headers on a WebSocket: `{"Authorization": "Bearer ..."}`
(the upgrade request's header is used when the payload has none). A credential that
does not prove anything, or a caller who may do nothing at all, is refused at
`connection_init` (close code 4403); nothing runs before that.

Over HTTP, GET runs queries only (a mutation is refused, 405), POST bodies must be
`application/json` (415 otherwise: a browser form cannot post one, so no cross-site
write), one operation per request (no batches), and the response's media type and
status follow the client's `Accept` (app/http/spec.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast, overload

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.http.parse_content_type import parse_content_type
from strawberry.http.websocket_origin import normalize_allowed_origins
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from app.auth.authenticate import AuthenticationFailed, Authenticator
from app.auth.principal import Principal, anonymous
from app.config import Settings
from app.db.session import SessionFactory
from app.errors import ErrorCode
from app.graphql.context import Context
from app.graphql.subscriptions.live import UNKNOWN, credential_ended, proved_again
from app.graphql.subscriptions.sharing import (
    OUTLET,
    DirectQueue,
    Outlet,
    Parked,
    Resume,
    SharedData,
)
from app.http.persisted import PersistedOperationError, PersistedOperations
from app.http.rate_limits import Exceeded, RateLimiter
from app.http.sockets import RawSocket, forget_upgrade, socket_of, text_frame
from app.http.spec import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    Refused,
    refusal,
    refusal_for,
    request_error_status,
    status_headers,
    wants_graphql_response,
)
from app.kit import spliced

AUTHORIZATION = "authorization"

# The scope entry through which the short way in (app/http/lean.py) hands the router the
# context it made for a request (or the exception making it raised).
MADE_CONTEXT = "pledge.context"


@dataclass
class OperationRequest:
    """What a client asks to run: its document (resolved from an id if it sent one),
    variables, operation name and extensions."""

    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


# The fields of an operation that have a type: each may be null, or of its type.
_FIELDS = (
    ("query", (str, type(None)), "a string"),
    ("operationName", (str, type(None)), "a string"),
    ("variables", (dict, type(None)), "an object"),
    ("extensions", (dict, type(None)), "an object"),
)


def operation_request(data: object, persisted: PersistedOperations) -> OperationRequest:
    """The checks every operation meets, whichever way it came: a POST body, a GET's
    parameters, a WebSocket `subscribe` payload (each within MAX_BODY_BYTES). Refused
    (BAD_REQUEST, or the persisted operations' codes) when it is not an object of the
    fields the GraphQL-over-HTTP specification names, of their types."""
    if not isinstance(data, dict):
        raise Refused(400, 'an operation is a JSON object: {"query": "..."}', ErrorCode.BAD_REQUEST)
    for name, wanted, kind in _FIELDS:
        if not isinstance(data.get(name), wanted):
            raise Refused(
                400, f"the operation's `{name}` must be {kind} or null", ErrorCode.BAD_REQUEST
            )
    try:
        query = persisted.resolve(data.get("query"), data.get("documentId"), data.get("extensions"))
    except PersistedOperationError as exc:
        raise Refused(400, exc.message, exc.code, **exc.extensions) from None
    if query is None:
        raise Refused(
            400,
            "no operation: send its `query`, or the `documentId` it is registered as",
            ErrorCode.BAD_REQUEST,
        )
    return OperationRequest(
        query, data.get("variables"), data.get("operationName"), data.get("extensions")
    )


def _error(exc: Refused) -> dict[str, Any]:
    return {"message": exc.reason, "extensions": {"code": exc.code.value, **exc.extensions}}


NOT_A_MESSAGE = "WebSocket message must be a JSON object"
NOT_AN_ID = "the message's `id` must be a string"


class _Operations:
    """What both WebSocket protocols share: a deadline on every send (a client that
    stops reading would otherwise hold what its operations hold, a partner's view for
    one, for as long as it likes; past it the connection is closed, 4408, and
    subscribers resume from their last cursor), and the checks an operation meets
    before it starts."""

    send_timeout: float = 10.0
    view: Any  # the PledgeRouter
    websocket: Any

    def started(self, running: int, payload: object) -> OperationRequest:
        """The operation a start message asks for, with `running` operations already on
        the connection: Refused past MAX_SUBSCRIPTIONS_PER_CONNECTION
        (TOO_MANY_OPERATIONS), or when the payload fails the checks of an HTTP request
        (`operation_request`)."""
        limit = self.view.settings.max_subscriptions_per_connection
        if running >= limit:
            raise Refused(
                400,
                f"this connection runs {running} operations, its limit "
                "(MAX_SUBSCRIPTIONS_PER_CONNECTION); complete one first",
                ErrorCode.TOO_MANY_OPERATIONS,
                limit=limit,
            )
        return operation_request(payload, self.view.persisted)

    async def send_message(self, message: Any) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                await super().send_message(message)  # type: ignore[misc]
        except TimeoutError:
            with suppress(Exception):
                await self.websocket.close(code=4408, reason="Client too slow to read")
            raise WebSocketDisconnected from None


def _as_payload(operation: OperationRequest) -> dict[str, Any]:
    # A persisted operation named by its id (`documentId`, or Apollo's
    # `extensions.persistedQuery`) runs as its registered text.
    return {
        "query": operation.query,
        "variables": operation.variables,
        "operationName": operation.operation_name,
        "extensions": operation.extensions,
    }


class TransportHandler(_Operations, BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with a deadline on every send. A message that is not an
    object, or whose `id` is not a string, closes the connection (4400), as the protocol
    has it. A `subscribe` payload meets the checks of an HTTP request: one that fails
    them gets an `error` message with its code, and the connection carries on. So does
    an operation past MAX_SUBSCRIPTIONS_PER_CONNECTION (TOO_MANY_OPERATIONS)."""

    async def handle(self) -> None:
        # Strawberry's loop, each message read in a call of its own: between messages
        # nothing keeps the last one (its text and its decoded objects) for as long as
        # the connection waits for the next (bench/README.md, issue 17).
        self.on_request_accepted()
        self._context = contextvars.copy_context()
        try:
            try:
                while self.websocket.ws.application_state != WebSocketState.DISCONNECTED:
                    await self.handle_message(await self._received())
            except NonTextMessageReceived:
                await self.handle_invalid_message("WebSocket message type must be text")
            except NonJsonMessageReceived:
                await self.handle_invalid_message("WebSocket message must be valid JSON")
        except (WebSocketDisconnected, WebSocketDisconnect):
            pass
        finally:
            await self.shutdown()

    async def _received(self) -> object:
        """The next message, decoded, as strawberry's adapter reads it (`iter_json`)."""
        try:
            text = await self.websocket.ws.receive_text()
        except KeyError as exc:
            raise NonTextMessageReceived from exc
        try:
            return self.view.decode_json(text)
        except json.JSONDecodeError as exc:
            raise NonJsonMessageReceived from exc

    async def handle_message(self, message: Any) -> None:
        # Typed as strawberry's messages, but read straight from the client's JSON.
        if not isinstance(message, dict):
            await self.handle_invalid_message(NOT_A_MESSAGE)
        elif "id" in message and not isinstance(message["id"], str):
            await self.handle_invalid_message(NOT_AN_ID)
        else:
            await super().handle_message(cast(Any, message))

    async def handle_connection_init(self, message: Any) -> None:
        # Accepted by now: the upgrade's request and response are of no more use.
        forget_upgrade(self.websocket.ws.scope)
        await super().handle_connection_init(message)
        timer = self.connection_init_timeout_task
        if timer is not None and self.connection_init_received:
            # Cancelled now that the connection is initialised: once it has ended it is
            # let go, rather than kept for the connection's life with its end (a
            # CancelledError whose traceback holds the task's frames).
            timer.add_done_callback(self._init_timer_done)

    def _init_timer_done(self, timer: asyncio.Task[None]) -> None:
        if self.connection_init_timeout_task is timer:
            self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: Any) -> None:
        # Strawberry's own checks come first (the connection acknowledged, an id not in
        # use: 4409), then the operation limit, then the request's own checks.
        if not self.connection_acknowledged or message["id"] in self.operations:
            await super().handle_subscribe(message)
            return
        try:
            operation = self.started(len(self.operations), message.get("payload"))
        except Refused as exc:
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [_error(exc)]}
            )
            return
        message["payload"] = _as_payload(operation)
        await super().handle_subscribe(message)

    # The direct path of a subscription's events (sharing.py `Transport`): messages
    # its group encoded, written with the ASGI send, under the same deadline.

    async def run_operation(self, operation: Any, resume: Resume | None = None) -> None:
        outlet = Outlet(operation, self, resume, self.view.settings.park_subscribers)
        OUTLET.set(outlet)
        try:
            await super().run_operation(operation)
        except Parked:
            pass  # its task ends here; the subscription runs on as its record
        finally:
            record = outlet.parked
            if record is not None and record.parked:
                self._keep(operation, record)

    def _keep(self, operation: Any, record: DirectQueue) -> None:
        """Keep a parked subscription's record in its task's place until it ends
        (`cleanup_operation`) or runs again (`resume`); or end it, when the client
        completed the operation (or the connection ended) while its task unwound."""
        running = self.operations.get(operation.id)
        if running is None or running is not operation:
            record.finish()
            return
        running.task = cast(Any, record)
        if record.principal is not None and self._rechecking is None:
            self._recheck_later()

    def resume(self, operation: Any, at: Resume) -> None:
        # Run in the connection's context, as its first run was (its request id in
        # the logs), not in that of the group's worker that revived it.
        context = self._context.copy() if self._context is not None else None
        task = asyncio.create_task(self.run_operation(operation, at), context=context)
        task.add_done_callback(self._task_done)
        if at.place is not None:  # a run that never took its place gives it back
            place = at.place
            task.add_done_callback(lambda _: place.give_back())
        operation.task = task

    # The credential of a connection whose parked subscriptions have one is proved
    # again every `subscription_recheck_seconds`, once for all of them, as each one's
    # task did while it ran (app/graphql/subscriptions/live.py): one whose caller it no
    # longer proves runs again to end with UNAUTHENTICATED.
    _rechecking: asyncio.TimerHandle | asyncio.Task[None] | None = None
    # The connection's own context (`handle`), for the runs `resume` starts.
    _context: contextvars.Context | None = None

    def _recheck_later(self) -> None:
        self._rechecking = asyncio.get_running_loop().call_later(
            self.view.settings.subscription_recheck_seconds, self._recheck_now
        )

    def _recheck_now(self) -> None:
        self._rechecking = asyncio.create_task(self._recheck())

    async def _recheck(self) -> None:
        try:
            principal = await proved_again(self.context)
        finally:
            self._rechecking = None
        watched = [record for record in self._parked() if record.principal is not None]
        for record in watched:
            if principal is not UNKNOWN and principal != record.principal:
                record.end(credential_ended())
        if any(record.parked for record in watched):
            self._recheck_later()

    def _parked(self) -> list[DirectQueue]:
        parked = []
        for operation in self.operations.values():
            record: object = operation.task
            if isinstance(record, DirectQueue):
                parked.append(record)
        return parked

    async def cleanup_operation(self, operation_id: str) -> None:
        operation = self.operations.get(operation_id)
        if operation is not None and isinstance(operation.task, DirectQueue):
            del self.operations[operation_id]
            operation.task.finish()  # parked: no task to cancel
            return
        await super().cleanup_operation(operation_id)

    async def shutdown(self) -> None:
        rechecking, self._rechecking = self._rechecking, None
        if rechecking is not None:
            rechecking.cancel()
        for operation_id, operation in list(self.operations.items()):
            if isinstance(operation.task, DirectQueue):
                await self.cleanup_operation(operation_id)
        await super().shutdown()

    def is_open(self, operation: Any) -> bool:
        return not operation.completed and self.operations.get(operation.id) is operation

    def send_text(self, text: str) -> Coroutine[Any, Any, None]:
        return cast(Coroutine[Any, Any, None], self.websocket.ws.send_text(text))

    def raw_socket(self) -> RawSocket | None:
        return socket_of(self.websocket.ws.scope)

    def framed(self, text: str) -> bytes:
        return text_frame(text)

    def encode(self, data: object) -> str:
        return cast(PledgeRouter, self.view)._plain_json(data)

    def too_slow(self) -> None:
        task = asyncio.ensure_future(
            self.websocket.close(code=4408, reason="Client too slow to read")
        )
        _closing.add(task)
        task.add_done_callback(_closing.discard)


# Closes under way (a task is kept until it is done).
_closing: set[asyncio.Future[Any]] = set()


class LegacyHandler(_Operations, BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol (WS_LEGACY_PROTOCOL), with the same deadline and
    checks: a message that is not an object of a string `type` (and, to start or stop
    an operation, a string `id`) closes the connection (4400); a `start` past the limit,
    or whose payload fails the checks of an HTTP request, gets an `error` message with
    its code."""

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.websocket.close(code=4400, reason=NOT_A_MESSAGE)
        elif message["type"] in ("start", "stop") and not isinstance(message.get("id"), str):
            await self.websocket.close(code=4400, reason=NOT_AN_ID)
        else:
            await super().handle_message(cast(Any, message))

    async def handle_start(self, message: Any) -> None:
        if not self.connection_acknowledged:
            await super().handle_start(message)  # 4401
            return
        # Strawberry replaces an operation started again with the same id.
        running = len(self.tasks) - (message["id"] in self.tasks)
        try:
            operation = self.started(running, message.get("payload"))
        except Refused as exc:
            error = {"id": message["id"], "type": "error", "payload": _error(exc)}
            await self.send_message(error)
            return
        message["payload"] = _as_payload(operation)
        await super().handle_start(message)


def _address(connection: HTTPConnection) -> str | None:
    client = connection.client  # made at each reading
    return client.host if client else None


MIN_SEQUENCE_HEADER = "x-min-sequence"


def min_sequence(request: HTTPConnection) -> int | None:
    """The trail sequence the caller wrote and must read (app/replicas/service.py);
    400 BAD_REQUEST when the header is not a sequence."""
    value = request.headers.get(MIN_SEQUENCE_HEADER)
    if value is None:
        return None
    value = value.strip()
    # A sequence is a BIGINT: at most 19 digits, so the check stays short.
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise Refused(
            400, "X-Min-Sequence must be a trail sequence (a whole number)", ErrorCode.BAD_REQUEST
        )
    return int(value)


def _rate_limited(exceeded: Exceeded) -> Refused:
    return Refused(
        429,
        exceeded.message,
        ErrorCode.RATE_LIMITED,
        headers=exceeded.headers,
        **exceeded.extensions,
    )


class PledgeRouter(GraphQLRouter[Context, None]):
    def __init__(
        self,
        schema: Any,
        settings: Settings,
        *,
        persisted: PersistedOperations | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.authenticator = Authenticator(settings)
        self.persisted = persisted or PersistedOperations({})
        self.limiter = limiter
        protocols = [GRAPHQL_TRANSPORT_WS_PROTOCOL]
        if settings.ws_legacy_protocol:
            protocols.append(GRAPHQL_WS_PROTOCOL)
        super().__init__(
            schema,
            context_getter=self.context_for,
            graphql_ide="graphiql" if settings.graphiql else None,
            # Queries only: a mutation over GET is refused (`execute_single`).
            allow_queries_via_get=True,
            subscription_protocols=protocols,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
        )
        # Strawberry's own checks, before any of ours: which pages may open a WebSocket
        # (same-origin pages and non-browser clients always may) and how many operations
        # one connection may run at once.
        self.allowed_origins = normalize_allowed_origins(settings.ws_allowed_origins)
        self.max_subscriptions_per_connection = settings.max_subscriptions_per_connection
        deadline = {"send_timeout": settings.ws_send_timeout_seconds}
        self.graphql_transport_ws_handler_class = type(
            "PledgeTransportHandler", (TransportHandler,), deadline
        )
        self.graphql_ws_handler_class = type("PledgeLegacyHandler", (LegacyHandler,), deadline)
        # GraphiQL as the app serves it, offline (app/pages/graphiql.py); else strawberry's.
        self.ide_page: Callable[[Request], Awaitable[HTMLResponse]] | None = None

    async def context_for(self, request: HTTPConnection) -> Context:
        header = request.headers.get("authorization")
        if request.scope["type"] == "websocket":
            # Who the caller is is settled at connection_init (`on_ws_connect`).
            state = request.app.state
            return Context(
                reads=state.session_factory,
                replica=getattr(state, "replica", None),
                settings=self.settings,
                principal=anonymous(anonymous_read=False),
                events=getattr(state, "events", None),
                credential=header,
                authenticator=self.authenticator,
                shared=True,
                limiter=self.limiter,
                allow_list=self.persisted,
            )
        # Made already by the short way in (app/http/lean.py), which handed the request
        # on: its outcome, not a second count against the rate limits.
        made = request.scope.pop(MADE_CONTEXT, None)
        if isinstance(made, Exception):
            raise made
        if isinstance(made, Context):
            return made
        known = self.authenticator.uncredentialed(header)
        context = await self.context_as(
            request,
            known
            if known is not None
            else lambda sessions: self.authenticator.principal(header, sessions),
        )
        context.credential = header
        return context

    async def context_as(
        self,
        request: HTTPConnection,
        prove: Callable[[SessionFactory], Awaitable[Principal]] | Principal,
    ) -> Context:
        """The context of an HTTP request whose caller `prove` finds: the header's, or
        a signed download link's (app/auth/links.py); or who it is, when that is known
        without reading anything (an anonymous caller: no deadline to keep)."""
        state = request.app.state
        sessions = state.session_factory
        events = getattr(state, "events", None)
        # Counted by address before the credential is checked, then by caller; over
        # either budget is a 429 (answered by the app's handler for Refused).
        if self.limiter is not None:
            exceeded = await self.limiter.check_address(_address(request))
            if exceeded is not None:
                raise _rate_limited(exceeded)
        # A bad credential raises AuthenticationFailed: answered 401, never anonymous.
        # Learning who calls reads the database before the execution limit starts: a
        # database that never answers fails it here (503 BUSY), rather than hang it.
        if isinstance(prove, Principal):
            principal = prove
        else:
            async with asyncio.timeout(self.settings.execution_timeout_seconds):
                principal = await prove(sessions)
        if self.limiter is not None:
            exceeded = await self.limiter.check_caller(principal)
            if exceeded is not None:
                raise _rate_limited(exceeded)
        return Context(
            reads=sessions,
            replica=getattr(state, "replica", None),
            min_sequence=min_sequence(request),
            settings=self.settings,
            principal=principal,
            events=events,
            authenticator=self.authenticator,
            allow_list=self.persisted,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        if self.limiter is not None and isinstance(context.request, WebSocket):
            exceeded = await self.limiter.check_address(_address(context.request))
            if exceeded is not None:
                await _close_rate_limited(context.request, exceeded)
        params = context.connection_params or {}
        given = [v for k, v in params.items() if isinstance(k, str) and k.lower() == AUTHORIZATION]
        if len(given) > 1 or (given and not isinstance(given[0], str)):
            raise ConnectionRejectionError(
                {
                    "code": ErrorCode.UNAUTHENTICATED.value,
                    "message": "give one Authorization, as a string",
                }
            )
        credential = given[0] if given else context.credential
        try:
            # A deadline, as over HTTP: a database that never answers closes the
            # connection (1013, BUSY), it does not hold it and a pooled connection.
            async with asyncio.timeout(self.settings.execution_timeout_seconds):
                principal = await self.authenticator.principal(credential, context.reads)
        except AuthenticationFailed as exc:
            raise ConnectionRejectionError(
                {"code": exc.code.value, "message": exc.message}
            ) from None
        if not principal.permissions:
            raise ConnectionRejectionError(
                {
                    "code": ErrorCode.UNAUTHENTICATED.value,
                    "message": "send an API key or token in the connection_init payload "
                    'as {"Authorization": "Bearer ..."}',
                }
            )
        if self.limiter is not None and isinstance(context.request, WebSocket):
            exceeded = await self.limiter.check_caller(principal)
            if exceeded is not None:
                await _close_rate_limited(context.request, exceeded)
        context.principal = principal
        context.credential = credential
        acknowledged: UnsetType = UNSET
        return acknowledged

    # --- HTTP: the GraphQL-over-HTTP rules (app/http/spec.py) ---

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        if self.ide_page is not None:
            return await self.ide_page(request)
        return await super().render_graphql_ide(request)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET naming a persisted operation runs it, whatever its Accept.
        params = request.query_params
        return (
            params.get("documentId") is None
            and params.get("extensions") is None
            and super().should_render_graphql_ide(request)
        )

    def encode_json(self, data: object) -> str | bytes:
        # An event whose answer a group of subscribers shares (SharedData): its data is
        # encoded once for the group; only the operation's id is each subscriber's own.
        if isinstance(data, dict) and len(data) == 3 and isinstance(data.get("id"), str):
            payload = data.get("payload")
            if isinstance(payload, dict) and len(payload) == 1:
                shared = payload.get("data")
                if isinstance(shared, SharedData) and data.get("type") in ("next", "data"):
                    return (
                        f'{{"id":{self._plain_json(data["id"])},"type":"{data["type"]}",'
                        f'"payload":{{"data":{shared.encoded(self._plain_json)}}}}}'
                    )
        return self._plain_json(data)

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        # strawberry's, with the body as bytes: orjson's bytes are what goes out.
        # Through `encode_json`'s text they were decoded into a str and encoded back by
        # the response: two copies of a large answer more, held at once beside it
        # (bench/README.md, report_memory.py). The same bytes either way.
        response = Response(
            self._json_bytes(response_data),
            media_type=JSON,
            status_code=sub_response.status_code or 200,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    def _json_bytes(self, data: object) -> bytes:
        """`_plain_json` as the response encodes it (UTF-8); a compiled answer's JSON
        from the database spliced in as it came (app/kit/spliced.py)."""
        try:
            return spliced.encode(data)
        except (orjson.JSONEncodeError, TypeError):
            return self._plain_json(data).encode()

    def _plain_json(self, data: object) -> str:
        # orjson: a large answer is encoded in a tenth of the time json.dumps takes, and
        # the event loop is held for all of it. It refuses what JSON cannot carry as
        # is (a lone surrogate echoed in an error message, an integer past 64 bits):
        # those few answers go through the json module, which escapes them.
        # Text, not bytes: strawberry sends bytes over a WebSocket as binary frames,
        # which GraphQL-over-WebSocket clients do not read.
        try:
            return orjson.dumps(data, default=spliced.fragment).decode()
        except (orjson.JSONEncodeError, TypeError):
            if not isinstance(data, dict):
                encoded = super().encode_json(data)
                return encoded.decode() if isinstance(encoded, bytes) else encoded
        # Member by member: `data` may hold a compiled answer's encoded JSON (orjson
        # fragments and `Spliced` text, app/graphql/compiled/run.py), which only orjson
        # writes, and is never what it refuses (text from the database, no integer past
        # 64 bits).
        members = []
        for key, value in data.items():
            try:
                text = orjson.dumps(value, default=spliced.fragment).decode()
            except (orjson.JSONEncodeError, TypeError):
                encoded = super().encode_json(value)
                text = encoded.decode() if isinstance(encoded, bytes) else encoded
            members.append(f"{json.dumps(key)}:{text}")
        return "{" + ",".join(members) + "}"

    def decode_json(self, data: str | bytes) -> object:
        # orjson first, as the short way in (app/http/lean.py) decodes, so that a body
        # answers alike whichever way it came (nesting orjson follows and json's
        # recursion does not, among others); then the json module, for what orjson
        # refuses and json reads (an integer past 64 bits, another UTF encoding, a lone
        # surrogate). Bytes in no JSON encoding, JSON nested deeper than the decoder can
        # follow, or a number of more digits than Python converts (ValueError) are as
        # unreadable as a syntax error: 400 BAD_REQUEST, not a crash.
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        try:
            return super().decode_json(data)
        except (ValueError, RecursionError):
            raise json.JSONDecodeError("unreadable JSON", "", 0) from None

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        body: object
        if request.method == "POST":
            body = self.parse_json(await request.get_body())
            if isinstance(body, list):  # a batch: refused (BATCHING_DISABLED)
                return await super().parse_http_body(request)
        else:
            body = self.parse_query_params(request.query_params)
        # The checks a WebSocket operation meets too; an operation may be sent by id
        # (`documentId`), or with its id beside its text, which must then agree.
        operation = operation_request(body, self.persisted)
        data = await super().parse_http_body(request)
        assert isinstance(data, GraphQLRequestData)
        data.query = operation.query
        return data

    @overload
    async def run(
        self, request: Request, context: Context = UNSET, root_value: None = UNSET
    ) -> Response: ...

    @overload
    async def run(
        self, request: WebSocket, context: Context = UNSET, root_value: None = UNSET
    ) -> WebSocket: ...

    async def run(
        self,
        request: Request | WebSocket,
        context: Context = UNSET,
        root_value: None = UNSET,
    ) -> Response | WebSocket:
        if isinstance(request, WebSocket):
            return await self.run_websocket(request, context)
        accept = request.headers.get("accept")
        if request.method == "POST":
            media_type = parse_content_type(request.headers.get("content-type", ""))[0]
            if media_type != JSON:
                return refusal(
                    415,
                    f"POST /graphql takes an {JSON} body, not {media_type or 'none'}",
                    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                    accept=accept,
                    headers={"Accept-Post": JSON},
                )
        try:
            response = await super().run(request, context, root_value)
        except HTTPException as exc:
            return self.refused(exc, request)
        return self.as_asked(request, response)

    def run_websocket(self, websocket: WebSocket, context: Context = UNSET) -> Awaitable[WebSocket]:
        """`run` for a WebSocket connection, handed to strawberry's view without a frame
        of this method kept for the connection's life (app/http/lean.py)."""
        return super().run(websocket, context, None)

    def as_asked(self, request: Request, response: Response) -> Response:
        """The response in the media type the client's `Accept` asks for: with
        `application/graphql-response+json`, its status says what happened."""
        if wants_graphql_response(request.headers.get("accept")) and response.media_type == JSON:
            status: int = getattr(request.state, "graphql_status", 200)
            response.status_code = status
            response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
            response.headers.update(
                status_headers(status, retry_after=self.settings.retry_after_seconds)
            )
        return response

    def refused(self, exc: HTTPException, request: Request) -> Response:
        """What `run` answers for a refusal strawberry's view raises (or ours)."""
        if exc.status_code == 404 and not self.graphql_ide:
            exc = Refused(
                404,
                "GraphiQL is off on this server (GRAPHIQL=false); send operations as "
                "GET ?query=... or POST",
                ErrorCode.NOT_FOUND,
            )
        return refusal_for(exc, request.headers.get("accept"))

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if wants_graphql_response(request.headers.get("accept")):
            # An operation that never began executing has no `data`, and a 4xx/5xx status.
            status = request_error_status(result)
            if status is not None:
                response.pop("data", None)
                request.state.graphql_status = status
        return response

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # Nothing reads this answer before it is encoded: it may come as JSON text.
        context.answer_as_json = True
        try:
            return await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        except HTTPException as exc:
            if request_adapter.method == "GET" and isinstance(
                exc.__cause__, InvalidOperationTypeError
            ):
                raise Refused(
                    405,
                    "GET runs queries only; send mutations with POST",
                    ErrorCode.METHOD_NOT_ALLOWED,
                    headers={"Allow": "POST"},
                ) from exc
            raise

    def _validate_batch_request(self, request_data: Any, protocol: Any) -> None:
        raise Refused(
            400,
            "batched requests (a JSON array of operations) are not accepted; "
            "send one operation per request",
            ErrorCode.BATCHING_DISABLED,
        )


async def _close_rate_limited(websocket: WebSocket, exceeded: Exceeded) -> None:
    """Closes a WebSocket over its budget (4429, with the limit and the wait in its
    reason) and ends its handler: nothing more runs on it."""
    reason = (
        f"{ErrorCode.RATE_LIMITED.value}: {exceeded.limit} ({exceeded.setting}); "
        f"retry in {exceeded.retry_after} s"
    )
    with suppress(Exception):
        await websocket.close(code=4429, reason=reason[:120])
    raise WebSocketDisconnected
