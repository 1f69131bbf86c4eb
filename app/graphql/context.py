"""Per-operation context: a session factory (never a shared session), the caller,
settings, loaders, and the process's live-update hub."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import strawberry
from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import BaseContext

from app.auth.principal import Principal, anonymous
from app.config import Settings
from app.db.session import SessionFactory, database_unreachable
from app.errors import ErrorCode
from app.graphql.extensions.allow_list import AllowList
from app.graphql.extensions.errors import UNREACHABLE_BEFORE_MESSAGE
from app.graphql.loaders import DataLoaders
from app.kit.addresses import address_key
from app.kit.pacing import pacer

if TYPE_CHECKING:
    from app.auth.authenticate import Authenticator
    from app.events.hub import EventHub
    from app.replicas.service import ReadReplica


class Overrun(Protocol):
    """A budget that ran out: what the client is told, and the limit's details."""

    @property
    def message(self) -> str: ...

    @property
    def extensions(self) -> dict[str, object]: ...


class OperationLimiter(Protocol):
    """What a WebSocket's operations are counted against: the transport's rate limits
    (app/http/rate_limits.py)."""

    async def check_operation(
        self, principal: Principal, address: str | None
    ) -> Overrun | None: ...


@dataclass
class Context(BaseContext):
    # Where reads go: the engine's sessions, or a view's when the operation reads as of
    # a moment or as a partner sees the ledger (app/graphql/extensions/views.py).
    reads: SessionFactory
    settings: Settings
    # Who is calling; set from the request's credentials (app/auth).
    principal: Principal
    # Where queries' live snapshots are taken when READ_REPLICA_URL is set, and the
    # trail sequence the caller must see (`X-Min-Sequence`): app/replicas/service.py.
    replica: ReadReplica | None = None
    min_sequence: int | None = None
    # The process's live-update hub (app/events/); None where none runs.
    events: EventHub | None = None
    # What proved who the caller is (the `Authorization` value), and who checks it:
    # long-lived WebSocket connections check it again now and then.
    credential: str | None = None
    authenticator: Authenticator | None = None
    # A WebSocket connection's context, shared by all its operations: each operation
    # runs on its own copy (`OperationContextExtension`), with loaders of its own.
    shared: bool = False
    # The `connection_init` payload of a WebSocket connection (strawberry sets it).
    connection_params: dict[str, Any] | None = None
    # The app's rate limits: a WebSocket's operations are counted against its caller.
    limiter: OperationLimiter | None = None
    # Set when the operation may not run at all (over a rate limit); the read gate
    # (app/graphql/extensions/permissions.py) answers with it.
    refusal: GraphQLError | None = None
    # PERSISTED_OPERATIONS_ONLY: the documents that may run, from the manifest the
    # transport loaded (app/http/persisted.py).
    allow_list: AllowList | None = None
    # The operation is the server's own query (a CSV download's), not a client's
    # document: the allow-list (PERSISTED_OPERATIONS_ONLY) does not apply to it.
    server_document: bool = False
    # The answer goes out as JSON text and nothing reads it before: the compiled path
    # may hand its lists over as encoded JSON (orjson fragments) instead of objects.
    answer_as_json: bool = False
    # A parked subscription run again by the server (app/graphql/subscriptions/
    # sharing.py `DirectQueue.revive`), not a new operation of the client's: not
    # counted again against its rate limits or in the operation metrics.
    resumed: bool = False
    # The compiled plan that answered the operation (app/graphql/compiled/executor.py),
    # whole, with no reference executor: what may keep it (app/http/kept.py) reads it.
    answered_by: Any = field(default=None, init=False, repr=False)
    # Built on first use (`loaders`): a WebSocket connection's shared context, and a
    # subscription like `changes`, never use any (~8 KB per subscriber saved).
    _loaders: DataLoaders | None = field(default=None, init=False, repr=False)
    # Whom this operation's turns on the event loop count against (`wait_turn`).
    _caller: str | None = field(default=None, init=False, repr=False)
    # The engine's own sessions: mutations write through these, even when reads are
    # answered from a view (as of a moment, or a partner's initiatives).
    writes: SessionFactory = field(init=False)

    def __post_init__(self) -> None:
        super().__init__()
        self.writes = self.reads

    @property
    def loaders(self) -> DataLoaders:
        """This operation's DataLoaders, on its current sessions (a view's, if any)."""
        if self._loaders is None:
            self._loaders = DataLoaders(self.reads, pause=self.wait_turn)
        return self._loaders

    @loaders.setter
    def loaders(self, loaders: DataLoaders) -> None:
        self._loaders = loaders

    async def wait_turn(self) -> None:
        """Once the event loop has been held long, wait for this operation's fair turn
        before the next piece of its answer (app/kit/pacing.py)."""
        if self._caller is None:
            # Asked on the first wait, once the operation's principal is known (a
            # WebSocket operation's copy is re-authenticated before it runs).
            self._caller = caller_of(self)
        await pacer().pause(self.settings.answer_slice_seconds, self._caller, id(self))

    @property
    def over_websocket(self) -> bool:
        return isinstance(self.request, WebSocket)

    def for_operation(self) -> Context:
        """A copy for one operation of a shared context: fresh loaders, its own
        sessions to point at a view, the same caller."""
        copy = dataclasses.replace(self, shared=False)
        copy.request = self.request
        copy.response = self.response
        copy.background_tasks = self.background_tasks
        return copy


# What every resolver is handed: `info.context` is a Context (no root value is used).
Info = strawberry.Info[Context, None]


def caller_of(context: Any) -> str:
    """Whom a caller's shares (views, heavy operations) are counted against: an API key
    or a token's subject, or an anonymous caller's address (an IPv6 address's /64, as
    the rate limits count them)."""
    principal = getattr(context, "principal", None)
    if principal is not None and principal.role is not None:
        return f"{principal.via}:{principal.name}"
    client = getattr(getattr(context, "request", None), "client", None)
    return f"anonymous:{address_key(client.host if client is not None else 'unknown')}"


class OperationContextExtension(SchemaExtension):
    """Gives each operation on a WebSocket connection a context of its own. Without it,
    the connection's operations would share loaders (a second query would answer from
    the first one's cache) and a view opened for one would serve the others. List it
    first: the other extensions and the resolvers then see the copy."""

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and context.shared:
            copy = context.for_operation()
            from app.graphql.subscriptions.sharing import resume_point  # (an import cycle)

            resumed = resume_point()
            copy.resumed = resumed is not None
            # A connection lives long: its credential is proved again for every
            # operation, so a revoked key or an expired token stops at the next one. (Not
            # for a parked subscription run again only to end with what ended it, its
            # credential no longer valid: it runs nothing before.)
            if resumed is None or resumed.error is None:
                try:
                    copy.principal = await _reauthenticated(context)
                except Exception as exc:
                    if not database_unreachable(exc):
                        raise
                    # Not proved again, as the database is away: the operation does not
                    # run (the read gate says so), and the client may retry it shortly.
                    copy.refusal = GraphQLError(
                        UNREACHABLE_BEFORE_MESSAGE, extensions={"code": ErrorCode.BUSY.value}
                    )
            self.execution_context.context = copy
            if copy.limiter is not None and not copy.resumed:
                client = getattr(copy.request, "client", None)
                address = client.host if client is not None else None
                exceeded = await copy.limiter.check_operation(copy.principal, address)
                if exceeded is not None:
                    # Reported by the read gate, as every refusal before execution is.
                    copy.refusal = GraphQLError(
                        exceeded.message,
                        extensions={"code": ErrorCode.RATE_LIMITED.value, **exceeded.extensions},
                    )
        yield


async def _reauthenticated(context: Context) -> Principal:
    from app.auth.authenticate import AuthenticationFailed

    if context.credential is None or context.authenticator is None:
        return context.principal  # anonymous: nothing that could be revoked
    try:
        # A deadline: a database that never answers is "away" (BUSY), not a hang.
        async with asyncio.timeout(context.settings.execution_timeout_seconds):
            return await context.authenticator.principal(context.credential, context.writes)
    except AuthenticationFailed:
        return anonymous(anonymous_read=False)  # may do nothing: every operation is refused


@dataclass
class ServerStreamContext(Context):
    """The context of a subscription the server runs for itself as a caller (a webhook
    endpoint's `changes`): a long-lived stream like a WebSocket's, so the transport
    rule that keeps subscriptions off plain HTTP lets it run."""

    @property
    def over_websocket(self) -> bool:
        return True
