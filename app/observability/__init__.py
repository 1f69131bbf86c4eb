"""Observability: structured logs with a request id, and Prometheus metrics.

- logs.py: the log format (JSON lines or text), for every logger in the process;
- middleware.py: the request id of each HTTP request and WebSocket, HTTP metrics;
- metrics.py: the app's own metrics registry, the pool and subscription gauges;
- operations.py: the schema extension that counts and times GraphQL operations.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import SecretStr

from app.config import Settings
from app.errors import ErrorCode
from app.observability.metrics import Metrics
from app.observability.middleware import HttpMetricsMiddleware, RequestIdMiddleware

__all__ = ["Metrics", "observe"]


def observe(app: FastAPI, settings: Settings, metrics: Metrics | None) -> None:
    """Request ids on `app`, and with `metrics` (METRICS_ENABLED) HTTP metrics and
    `/metrics`. Call it last in `create_app`: middleware added last runs first, so
    everything else runs with the request id bound."""
    if metrics is not None:
        metrics.watch(app.state)
        app.add_api_route(
            "/metrics",
            _metrics_endpoint(metrics, settings.metrics_token),
            methods=["GET"],
            include_in_schema=False,
        )
        app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)


def _metrics_endpoint(
    metrics: Metrics, token: SecretStr | None
) -> Callable[[Request], Awaitable[Response]]:
    expected = token.get_secret_value().encode() if token is not None else b""

    async def scrape(request: Request) -> Response:
        """Prometheus scrapes this. Serve it on an internal network only, or set
        METRICS_TOKEN: scrapers then send `Authorization: Bearer <token>`."""
        if expected and not _bearer_is(request.headers.get("authorization"), expected):
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": "send the METRICS_TOKEN as `Authorization: Bearer ...`",
                            "extensions": {"code": ErrorCode.UNAUTHENTICATED.value},
                        }
                    ]
                },
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return scrape


def _bearer_is(header: str | None, expected: bytes) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)
