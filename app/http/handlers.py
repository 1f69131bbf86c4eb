"""How the app answers what is raised before GraphQL runs: in the GraphQL shape, with
a code, over HTTP; with a close code over a WebSocket."""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import cast

from fastapi import FastAPI, Request
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler
from starlette.websockets import WebSocket

from app.auth.authenticate import AuthenticationFailed
from app.db.session import database_unreachable
from app.errors import ErrorCode
from app.graphql.extensions.errors import UNREACHABLE_BEFORE_MESSAGE
from app.http.spec import (
    Refused,
    code_for_status,
    media_type_for,
    refusal,
    refusal_for,
    status_headers,
)

log = logging.getLogger(__name__)


def answer_before_graphql(app: FastAPI, retry_after: int) -> None:
    """`app`'s handlers for what is raised before GraphQL runs: a credential that
    proves nothing, routing's own refusals, our refusals (rate limits), and the
    database away (`retry_after`: RETRY_AFTER_SECONDS)."""

    @app.exception_handler(AuthenticationFailed)
    async def authentication_failed(request: Request, exc: AuthenticationFailed) -> Response:
        return failure_response(exc, media_type_for(request.headers.get("accept")))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Routing's own refusals (an unknown path, PUT /graphql) in the GraphQL shape.
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and request.url.path.rstrip("/") == "/graphql":
            headers["Allow"] = "GET, POST"
        return refusal(
            exc.status_code,
            str(exc.detail),
            code_for_status(exc.status_code),
            accept=request.headers.get("accept"),
            headers=headers,
        )

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        # Refusals raised before GraphQL runs (rate limits, while working out who calls).
        return refusal_for(exc, request.headers.get("accept"))

    # The database away before GraphQL runs (learning who calls): 503 BUSY, not a crash.
    database_away = database_away_handler(retry_after)
    for kind in (OSError, DBAPIError):
        app.add_exception_handler(kind, database_away)


def failure_response(
    exc: AuthenticationFailed, media_type: str = "application/json"
) -> JSONResponse:
    """The answer to a credential that proves nothing, in the media type the client
    asked for (`application/graphql-response+json` or plain JSON)."""
    body = {"errors": [{"message": exc.message, "extensions": {"code": exc.code.value}}]}
    headers = {"WWW-Authenticate": f'Bearer error="{exc.error}"'} if exc.status == 401 else {}
    return JSONResponse(body, status_code=exc.status, headers=headers, media_type=media_type)


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
                await connection.close(
                    code=1013, reason=f"{ErrorCode.BUSY.value}: {UNREACHABLE_BEFORE_MESSAGE}"
                )
            return None
        return refusal(
            503,
            UNREACHABLE_BEFORE_MESSAGE,
            ErrorCode.BUSY,
            accept=connection.headers.get("accept"),
            headers=status_headers(503, retry_after=retry_after),
        )

    # One handler for both kinds of connection: Starlette picks it by the exception.
    return cast(ExceptionHandler, handle)
