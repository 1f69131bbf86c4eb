"""The transport on an app: everything `create_app` adds for clients to reach the
schema, in one call."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.config import Settings
from app.graphql.reports.downloads import REPORTS
from app.http.backup import backup_router
from app.http.bodies import BodyLimitMiddleware
from app.http.browser import BrowserCaller
from app.http.csv import csv_router
from app.http.handlers import answer_before_graphql
from app.http.iati import iati_router
from app.http.imports import imports_router
from app.http.lean import LeanGraphQL, LeanGraphQLSocket
from app.http.persisted import PersistedOperations
from app.http.rate_limits import RateLimiter
from app.http.router import PledgeRouter


@dataclass
class Transport:
    """What the transport holds open for its app: the rate limits' storage (Redis);
    and who a browser's request is (its header, else its session cookie), for the pages."""

    limiter: RateLimiter
    browser: BrowserCaller

    async def close(self) -> None:
        await self.limiter.close()


def add_transport(app: FastAPI, schema: strawberry.Schema, settings: Settings) -> Transport:
    """/graphql over HTTP and WebSocket on `app`, the CSV and IATI downloads, imports, the
    answers to what is raised before GraphQL runs, the limits on request bodies, and CORS. Raises
    ManifestError when a registered document does not validate against `schema`."""
    # Registered documents (and, with PERSISTED_OPERATIONS_ONLY, the allow-list),
    # checked against this very schema.
    persisted = PersistedOperations.from_settings(settings, schema)
    limiter = RateLimiter(settings)
    graphql = PledgeRouter(schema, settings, persisted=persisted, limiter=limiter)
    app.include_router(graphql, prefix="/graphql")
    # CSV downloads run through the same schema and context, so the same rules apply;
    # a browser signed in on the pages (app/pages/) opens them with its session cookie.
    browser = BrowserCaller(graphql, settings)
    app.include_router(csv_router(schema, browser, graphql.context_as, REPORTS, settings))
    # The IATI file: the same caller, permission and views as the CSV downloads.
    app.include_router(iati_router(schema, browser))
    app.include_router(backup_router(schema, browser))
    # Imports of whole programmes (app/imports/), by the same callers' keys.
    app.include_router(imports_router(graphql.context_for, settings))
    answer_before_graphql(app, settings.retry_after_seconds)

    # The short way in for POST /graphql (app/http/lean.py), inside every other layer.
    if settings.lean_graphql_http:
        app.add_middleware(LeanGraphQL, router=graphql)
    # ... and for WebSocket connections to /graphql.
    if settings.lean_graphql_ws:
        app.add_middleware(LeanGraphQLSocket, router=graphql)
    # --- HTTP limits (app/http/bodies.py): body size and deadline inside, CORS around ---
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        read_timeout=settings.request_read_timeout_seconds,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Accept",
                "X-Request-ID",
                "X-Min-Sequence",
            ],
            expose_headers=["Retry-After", "WWW-Authenticate", "X-Request-ID"],
            max_age=600,
        )
    # --- end of HTTP limits ---
    return Transport(limiter, browser)
