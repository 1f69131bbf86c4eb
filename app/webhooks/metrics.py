"""Webhooks in /metrics: attempts by outcome, commit-to-delivery latency, and each
endpoint's status and queue depth (trail entries past its position: an upper bound
for an endpoint whose filter or key's scope skips some)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from app.observability.metrics import PREFIX, Metrics

if TYPE_CHECKING:
    from app.webhooks.sender import Outcome

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Endpoints shown one by one; past that only the totals (the series stay bounded).
MAX_LISTED = 500


class WebhookMetrics:
    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.attempts = Counter(
            f"{PREFIX}_webhook_attempts",
            "Webhook requests made, by outcome: delivered (2xx), refused (another "
            "status) or failed (no answer, or the address was refused).",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_webhook_delivery_latency_seconds",
            "From a change's commit to its delivery's acceptance by the endpoint.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._snapshot: list[tuple[int, str, int]] = []
        registry.register(_EndpointCollector(self))

    def attempted(self, outcome: Outcome, occurred_at: object, done: datetime) -> None:
        if outcome.ok:
            self.attempts.labels("delivered").inc()
            if isinstance(occurred_at, str):
                committed = datetime.fromisoformat(occurred_at)
                self.latency.observe(max(0.0, (done - committed).total_seconds()))
        elif outcome.status_code is not None:
            self.attempts.labels("refused").inc()
        else:
            self.attempts.labels("failed").inc()

    def endpoints_seen(
        self, endpoints: Sequence[tuple[int, str, int]], high_water: int | None
    ) -> None:
        """Each endpoint's (id, status, position), as the worker last read them."""
        top = high_water or 0
        self._snapshot = [(id_, status, max(0, top - at)) for id_, status, at in endpoints]


class _EndpointCollector:
    def __init__(self, owner: WebhookMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterable[Metric]:
        status = GaugeMetricFamily(
            f"{PREFIX}_webhook_endpoint_active",
            "1 for an active webhook endpoint, 0 for a paused one.",
            labels=["endpoint"],
        )
        depth = GaugeMetricFamily(
            f"{PREFIX}_webhook_queue_depth",
            "Trail entries past the endpoint's position (at most this many to deliver).",
            labels=["endpoint"],
        )
        paused = GaugeMetricFamily(
            f"{PREFIX}_webhook_endpoints_paused", "Webhook endpoints paused."
        )
        snapshot = self.owner._snapshot
        for endpoint_id, state, behind in snapshot[:MAX_LISTED]:
            status.add_metric([str(endpoint_id)], 1.0 if state == "active" else 0.0)
            depth.add_metric([str(endpoint_id)], float(behind))
        paused.add_metric([], float(sum(1 for _, state, _ in snapshot if state != "active")))
        yield status
        yield depth
        yield paused
