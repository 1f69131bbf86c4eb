"""The ASGI application: GraphQL at /graphql, health probes beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.authenticate import AuthenticationFailed, failure_response
from app.config import Settings, get_settings
from app.db.migrate import current_revision, head_revision
from app.db.session import create_engine, create_session_factory
from app.events.hub import EventHub
from app.graphql.http import BodyLimitMiddleware
from app.graphql.reports.csv import csv_router
from app.graphql.reports.downloads import REPORTS
from app.graphql.router import PledgeRouter
from app.graphql.schema import build_schema
from app.observability import Metrics, observe


def create_app(settings: Settings | None = None, *, engine: AsyncEngine | None = None) -> FastAPI:
    """Build the app. With `engine` given (tests, embedding), the caller owns it."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = None
        if engine is None:
            own = create_engine(settings.database_url, echo=settings.sql_echo)
            app.state.engine = own
            app.state.session_factory = create_session_factory(own)
        # Live updates: this process's hub reads each new trail entry once for all its
        # subscribers (app/events/).
        hub = EventHub(app.state.session_factory, settings)
        await hub.start()
        app.state.events = hub
        try:
            yield
        finally:
            app.state.events = None
            await hub.close()
            if own is not None:
                await own.dispose()

    app = FastAPI(
        title="Pledge Ledger",
        description="GraphQL reporting service for large social-impact pledges.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    if engine is not None:
        app.state.engine = engine
        app.state.session_factory = create_session_factory(engine)

    @app.exception_handler(AuthenticationFailed)
    async def authentication_failed(_request: Request, exc: AuthenticationFailed) -> Response:
        return failure_response(exc)

    # Observability (app/observability/): this app's own metrics; None when disabled.
    metrics = Metrics() if settings.metrics_enabled else None
    schema = build_schema(settings, metrics=metrics)
    graphql = PledgeRouter(schema, settings)
    app.include_router(graphql, prefix="/graphql")
    # CSV downloads run through the same schema and context, so the same rules apply.
    app.include_router(csv_router(schema, graphql.context_for, REPORTS))

    @app.middleware("http")
    async def request_errors_as_graphql(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """A request strawberry cannot even read (bad JSON, a non-string query, ...)
        is answered in plain text; clients get a GraphQL error with a code instead."""
        response = await call_next(request)
        if (
            request.url.path.rstrip("/") == "/graphql"
            and 400 <= response.status_code < 500
            and response.headers.get("content-type", "").startswith("text/plain")
        ):
            body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
            message = body.decode("utf-8", "replace")[:500]
            return JSONResponse(
                {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]},
                status_code=response.status_code,
            )
        return response

    # --- HTTP limits (app/graphql/http.py): body size inside, CORS around it ---
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
            expose_headers=["Retry-After", "WWW-Authenticate"],
            max_age=600,
        )
    # --- end of HTTP limits ---

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        engine = request.app.state.engine
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            current = await current_revision(engine)
        except Exception as exc:  # any failure to reach the database means "not ready"
            return JSONResponse({"status": "unready", "reason": type(exc).__name__}, 503)
        head = head_revision()
        if current != head:
            return JSONResponse(
                {"status": "unready", "reason": "migrations", "current": current, "head": head},
                503,
            )
        return JSONResponse({"status": "ready", "revision": current})

    # Observability, last: request ids (and HTTP metrics) wrap every other layer.
    observe(app, settings, metrics)
    return app
