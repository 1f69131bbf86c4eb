"""How the app answers what is raised before GraphQL runs: in the GraphQL shape, with
a code, over HTTP; with a close code over a WebSocket."""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import cast

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ExceptionHandler
from starlette.websockets import WebSocket

from app.db.session import database_unreachable
from app.errors import ErrorCode
from app.graphql.errors import UNREACHABLE_BEFORE_MESSAGE
from app.http.spec import refusal, status_headers

log = logging.getLogger(__name__)


def database_away_handler(retry_after: int) -> ExceptionHandler:
    """The app's handler for database errors raised before GraphQL runs (learning who
    calls, over HTTP or at a WebSocket's connection_init). When the database is away:
    over HTTP a 503 BUSY with `Retry-After`, a WebSocket closed with 1013 (try again
    later); nothing ran, the client may retry. Anything else is raised on, a crash."""

    async def handle(connection: HTTPConnection, exc: Exception) -> Response | None:
        if not database_unreachable(exc):
            raise exc
        log.warning("database unreachable before the operation ran: %r", exc)
        if isinstance(connection, WebSocket):
            with suppress(Exception):  # the client may have gone already
                await connection.close(code=1013, reason=f"BUSY: {UNREACHABLE_BEFORE_MESSAGE}")
            return None
        return refusal(
            503,
            UNREACHABLE_BEFORE_MESSAGE,
            ErrorCode.BUSY.value,
            accept=connection.headers.get("accept"),
            headers=status_headers(503, retry_after=retry_after),
        )

    # One handler for both kinds of connection: Starlette picks it by the exception.
    return cast(ExceptionHandler, handle)
