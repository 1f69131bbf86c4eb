"""Webhooks in /metrics: attempts by outcome, latency, each endpoint's status and depth."""

from __future__ import annotations

from datetime import timedelta

from app.db.types import utcnow
from app.observability.metrics import Metrics
from app.webhooks.metrics import WebhookMetrics
from app.webhooks.sender import Outcome


def test_attempts_latency_and_endpoints_are_exposed() -> None:
    metrics = Metrics()
    hooks = WebhookMetrics(metrics)
    done = utcnow()
    committed = (done - timedelta(seconds=0.2)).isoformat()
    hooks.attempted(Outcome(200, None, "", 0.01), committed, done)
    hooks.attempted(Outcome(500, None, "", 0.01), committed, done)
    hooks.attempted(Outcome(None, "ConnectError", None, 0.01), committed, done)
    hooks.endpoints_seen(
        [(1, "active", 90), (2, "paused", 40)],
        100,
    )
    text = metrics.render().decode()
    for line in (
        'pledge_ledger_webhook_attempts_total{outcome="delivered"} 1.0',
        'pledge_ledger_webhook_attempts_total{outcome="refused"} 1.0',
        'pledge_ledger_webhook_attempts_total{outcome="failed"} 1.0',
        "pledge_ledger_webhook_delivery_latency_seconds_count 1.0",
        'pledge_ledger_webhook_delivery_latency_seconds_bucket{le="0.25"} 1.0',
        'pledge_ledger_webhook_endpoint_active{endpoint="2"} 0.0',
        'pledge_ledger_webhook_queue_depth{endpoint="1"} 10.0',
        'pledge_ledger_webhook_queue_depth{endpoint="2"} 60.0',
        "pledge_ledger_webhook_endpoints_paused 1.0",
    ):
        assert line in text, line
