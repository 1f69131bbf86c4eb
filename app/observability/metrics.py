"""Prometheus metrics of one app, in a registry of its own (never the global one: the
tests build many apps in one process, and each must count only its own requests).

What is measured, and where:
- GraphQL operations by name and type, their latency, and errors by `extensions.code`
  (`OperationMetricsExtension`, app/observability/operations.py);
- HTTP requests by route template, method and status (`HttpMetricsMiddleware`);
- read at each scrape: the database pool (connections checked out, pool size), the
  live-update subscriptions open in this process, and the read replica's reads by
  where they were served (app/replicas/service.py).

Label values are bounded, so that no client can make the series grow without end:
operation names are kept only when they are GraphQL names of at most
`MAX_NAME_LENGTH` characters, and only the first `MAX_OPERATION_NAMES` distinct ones;
any other name counts as `other`, an operation without a name as `anonymous`. Error
codes outside the known set count as `OTHER`; routes are templates, never paths.

Each process counts its own requests: behind `serve --workers N` a scrape reaches one
worker, so for metrics run one process per container and scale out by containers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from app.db.shared import HELD_SECONDS, held_connections
from app.errors import ErrorCode

PREFIX = "pledge_ledger"

MAX_NAME_LENGTH = 64
MAX_OPERATION_NAMES = 200
ANONYMOUS = "anonymous"
OTHER_NAME = "other"
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")

OTHER_CODE = "OTHER"

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Seconds; reports over a large ledger may take several.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, codes: type[StrEnum] = ErrorCode) -> None:
        """`codes`: every code an error can carry, ErrorCode (app/errors.py), the one
        list: a code added there is counted under its own name, with nothing to copy."""
        self.registry = CollectorRegistry()
        self.known_codes = frozenset(code.value for code in codes)
        self.operations = Counter(
            f"{PREFIX}_graphql_operations",
            "GraphQL operations started, by operation name and type.",
            ["operation", "type"],
            registry=self.registry,
        )
        self.operation_seconds = Histogram(
            f"{PREFIX}_graphql_operation_duration_seconds",
            "Time to answer a GraphQL query or mutation (subscriptions are not timed: "
            "they last as long as their client wants).",
            ["operation", "type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            f"{PREFIX}_graphql_errors",
            "Errors in GraphQL responses, by extensions.code.",
            ["code"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._names: set[str] = set()

    def operation_label(self, name: str) -> str:
        """`name` itself, while names stay few and short; else `other`."""
        if name in self._names:
            return name
        if (
            len(name) > MAX_NAME_LENGTH
            or not _GRAPHQL_NAME.fullmatch(name)
            or len(self._names) >= MAX_OPERATION_NAMES
        ):
            return OTHER_NAME
        self._names.add(name)
        return name

    def code_label(self, code: object) -> str:
        return code if isinstance(code, str) and code in self.known_codes else OTHER_CODE

    @staticmethod
    def method_label(method: str) -> str:
        return method if method in HTTP_METHODS else "OTHER"

    def watch(self, state: Any) -> None:
        """Read the pool and the subscriptions from `state` (the app's) at each scrape."""
        self.registry.register(_RuntimeCollector(state))

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class _RuntimeCollector:
    """Gauges read when scraped: the engine and the hub are set on the app's state at
    start-up (and the engine is swapped by tests), so they are looked up each time."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        checked_out = GaugeMetricFamily(
            f"{PREFIX}_db_pool_checked_out",
            "Database connections in use, taken from the pool (not those held idle).",
        )
        held = GaugeMetricFamily(
            f"{PREFIX}_db_pool_held",
            "Connections taken from the pool and held idle between kept reads: given "
            f"back once idle {HELD_SECONDS * 1000:g} ms, or at once to a check-out "
            "that waits.",
        )
        size = GaugeMetricFamily(
            f"{PREFIX}_db_pool_size",
            "Connections the pool keeps (more may be opened as overflow).",
        )
        engine = getattr(self.state, "engine", None)
        pool = getattr(engine, "pool", None)
        # QueuePool (PostgreSQL, SQLite files) counts both; other pool classes (NullPool,
        # StaticPool) keep nothing to count: their gauges have no sample.
        taken = getattr(pool, "checkedout", None)
        if callable(taken):
            idle = held_connections(engine) if engine is not None else 0
            checked_out.add_metric([], float(taken() - idle))
            held.add_metric([], float(idle))
        kept = getattr(pool, "size", None)
        if callable(kept):
            size.add_metric([], float(kept()))
        yield checked_out
        yield held
        yield size
        yield from _replica_metrics(getattr(self.state, "replica", None))
        hub = getattr(self.state, "events", None)
        yield GaugeMetricFamily(
            f"{PREFIX}_subscriptions_open",
            "Live-update subscriptions open in this process.",
            value=float(hub.open_subscriptions) if hub is not None else 0.0,
        )


def _replica_metrics(replica: Any) -> Iterable[Metric]:
    """The read replica's (app/replicas/service.py), when READ_REPLICA_URL is set."""
    if replica is None:
        return
    reads = CounterMetricFamily(
        f"{PREFIX}_replica_reads",
        "Read snapshots by where they were answered: the replica, or the primary when the "
        "replica had not replayed the X-Min-Sequence asked for in time.",
        labels=["served_by"],
    )
    for served_by, count in sorted(replica.reads.items()):
        reads.add_metric([served_by], float(count))
    yield reads
    yield CounterMetricFamily(
        f"{PREFIX}_replica_wait_seconds",
        "Time reads spent waiting for the replica to replay the sequence they asked for.",
        value=replica.waited_seconds,
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_replica_replayed_sequence",
        "The highest audit trail sequence the replica was last seen to have replayed "
        "(asked only when a read needs more than known).",
        value=float(replica.replayed),
    )
