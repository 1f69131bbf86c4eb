"""The ASGI application: the schema (app/graphql/) behind its transport (app/http/) at
/graphql, health probes beside it."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings, get_settings
from app.db.migrate import current_revision, head_revision
from app.db.session import describe_database, sqlite_file
from app.db.shared import give_back_held
from app.engines import ledger_engine, ledger_sessions
from app.events.hub import EventHub
from app.graphql.schema import build_schema
from app.http.server import freeze_startup_heap, return_large_blocks_to_the_system
from app.http.sockets import RawSendMiddleware
from app.http.transport import add_transport
from app.observability import Metrics, observe
from app.pages.routes import add_pages
from app.replicas.service import ReadReplica
from app.reports.budget import rollups
from app.webhooks.metrics import WebhookMetrics
from app.webhooks.secrets import can_seal

# FastAPI's own OpenTelemetry hooks, all off (OPENTELEMETRY=false).
_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

# /readyz answers "unready" rather than wait longer than this for the database.
READY_TIMEOUT_SECONDS = 5.0

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, engine: AsyncEngine | None = None) -> FastAPI:
    """Build the app. With `engine` given (tests, embedding), the caller owns it."""
    # Every write of the app keeps the budget rollups in its transaction.
    rollups.install()
    settings = settings or get_settings()
    own_link_secret = settings.download_link_secret is None
    if own_link_secret:
        # Links this process signs work on this process only (Settings explains).
        made = SecretStr(secrets.token_urlsafe(32))
        settings = settings.model_copy(update={"download_link_secret": made})
    # Large request bodies and WebSocket messages give their memory back once freed.
    return_large_blocks_to_the_system()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Which database this process serves, so that a wrong DATABASE_URL (or a
        # relative SQLite path started from another directory) shows at once.
        log.info("database: %s", describe_database(settings.database_url))
        path = sqlite_file(settings.database_url)
        if path is not None and not path.exists():
            log.warning(
                "there is no database at %s: SQLite creates it empty; run "
                "`pledge-ledger db upgrade`, or point DATABASE_URL at the one to use",
                path,
            )
        if own_link_secret:
            log.info(
                "DOWNLOAD_LINK_SECRET is unset: download links are signed with a secret "
                "made for this process, and work on this process only"
            )
        if not can_seal(settings):
            log.warning(
                "WEBHOOK_SECRET_KEY is unset: webhook signing secrets are only ever stored "
                "encrypted, so no webhook endpoint can be registered or rotated on this "
                "database until it is set (docs/webhooks.md, Secrets)"
            )
        own = None
        if engine is None:
            # Built the one way that adds what the domains need of it (app/engines.py).
            own = ledger_engine(settings.database_url, echo=settings.sql_echo)
            app.state.engine = own
            app.state.session_factory = ledger_sessions(own)
        # Queries' reads on a replica (app/replicas/): the primary keeps the rest.
        replica = None
        if settings.read_replica_url is not None:
            log.info("read replica: %s", describe_database(settings.read_replica_url))
            replica = ReadReplica(
                ledger_engine(settings.read_replica_url, echo=settings.sql_echo),
                settings.replica_wait_seconds,
            )
        app.state.replica = replica
        # Live updates: this process's hub reads each new trail entry once for all its
        # subscribers (app/events/).
        hub = EventHub(app.state.session_factory, settings)
        await hub.start()
        app.state.events = hub
        # Webhooks (app/webhooks/): this process shares the deliveries with the others.
        worker = None
        if settings.webhook_worker:
            from app.webhooks.worker import WebhookWorker

            worker = WebhookWorker(
                app.state.session_factory, settings, schema, hub, webhook_metrics
            )
            await worker.start()
        app.state.webhooks = worker
        freeze_startup_heap()
        try:
            yield
        finally:
            if worker is not None:
                await worker.close()
            app.state.events = None
            await hub.close()
            # Partners' kept views hold connections of their own; the rate limits' Redis
            # client holds its pool.
            await schema.close()
            await transport.close()
            # Connections the loop held between kept reads, back to their pool first.
            give_back_held(app.state.engine)
            app.state.replica = None
            if replica is not None:
                await replica.close()
            if own is not None:
                await own.dispose()

    app = FastAPI(
        title="Pledge Ledger",
        description="GraphQL reporting service for large social-impact pledges.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # Off: FastAPI looks for an OpenTelemetry provider at every request otherwise.
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
    )
    if engine is not None:
        app.state.engine = engine
        app.state.session_factory = ledger_sessions(engine)

    # Observability (app/observability/): this app's own metrics; None when disabled.
    metrics = Metrics() if settings.metrics_enabled else None
    webhook_metrics = WebhookMetrics(metrics) if metrics is not None else None
    schema = build_schema(settings, metrics=metrics)
    # Its views (app/views/pool.py) are the app's: closed at shutdown, seen by tests.
    app.state.schema = schema
    # The transport (app/http/): /graphql over HTTP and WebSocket, the CSV downloads,
    # refusals in the GraphQL shape, limits on request bodies, CORS.
    transport = add_transport(app, schema, settings)
    # Pages for people under / (app/pages/): the same operations, read as the caller.
    add_pages(app, schema, settings, transport.browser)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        engine = request.app.state.engine
        try:
            # A database that takes connections and never answers is as good as down:
            # the probe answers within its deadline, whatever the database does.
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
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
    # Outermost of all: the server's own WebSocket `send`, for frames a group of
    # subscribers shares (app/http/sockets.py).
    app.add_middleware(RawSendMiddleware)
    return app
