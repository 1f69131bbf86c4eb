"""/graphql over HTTP and WebSocket, and who the caller of each is.

HTTP requests prove who they are with their `Authorization` header. WebSocket
connections (graphql-transport-ws) do it in the `connection_init` payload, as
browser clients cannot set headers on a WebSocket: `{"Authorization": "Bearer ..."}`
(the upgrade request's header is used when the payload has none). A credential that
does not prove anything, or a caller who may do nothing at all, is refused at
`connection_init` (close code 4403); nothing runs before that.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import HTTPConnection
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from app.auth.authenticate import AuthenticationFailed, Authenticator
from app.auth.principal import anonymous
from app.config import Settings
from app.graphql.context import Context

AUTHORIZATION = "authorization"


class PledgeRouter(GraphQLRouter[Context, None]):
    def __init__(self, schema: Any, settings: Settings) -> None:
        self.settings = settings
        self.authenticator = Authenticator(settings)
        protocols = [GRAPHQL_TRANSPORT_WS_PROTOCOL]
        if settings.ws_legacy_protocol:
            protocols.append(GRAPHQL_WS_PROTOCOL)
        super().__init__(
            schema,
            context_getter=self.context_for,
            graphql_ide="graphiql" if settings.graphiql else None,
            subscription_protocols=protocols,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
        )
        # Strawberry's own checks, before any of ours: which pages may open a WebSocket
        # (same-origin pages and non-browser clients always may) and how many operations
        # one connection may run at once.
        self.allowed_origins = frozenset(settings.ws_allowed_origins)
        self.max_subscriptions_per_connection = settings.max_subscriptions_per_connection

    async def context_for(self, request: HTTPConnection) -> Context:
        sessions = request.app.state.session_factory
        header = request.headers.get("authorization")
        events = getattr(request.app.state, "events", None)
        if request.scope["type"] == "websocket":
            # Who the caller is is settled at connection_init (`on_ws_connect`).
            return Context(
                session_factory=sessions,
                settings=self.settings,
                principal=anonymous(anonymous_read=False),
                events=events,
                credential=header,
                authenticator=self.authenticator,
                shared=True,
            )
        # A bad credential raises AuthenticationFailed: answered 401, never anonymous.
        principal = await self.authenticator.principal(header, sessions)
        return Context(
            session_factory=sessions,
            settings=self.settings,
            principal=principal,
            events=events,
            credential=header,
            authenticator=self.authenticator,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params or {}
        given = [v for k, v in params.items() if isinstance(k, str) and k.lower() == AUTHORIZATION]
        if len(given) > 1 or (given and not isinstance(given[0], str)):
            raise ConnectionRejectionError(
                {"code": "UNAUTHENTICATED", "message": "give one Authorization, as a string"}
            )
        credential = given[0] if given else context.credential
        try:
            principal = await self.authenticator.principal(credential, context.session_factory)
        except AuthenticationFailed as exc:
            raise ConnectionRejectionError(
                {"code": exc.code.value, "message": exc.message}
            ) from None
        if not principal.permissions:
            raise ConnectionRejectionError(
                {
                    "code": "UNAUTHENTICATED",
                    "message": "send an API key or token in the connection_init payload "
                    'as {"Authorization": "Bearer ..."}',
                }
            )
        context.principal = principal
        context.credential = credential
        acknowledged: UnsetType = UNSET
        return acknowledged
