"""Observability: request ids, JSON logs that carry them, and /metrics."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import random
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import opentelemetry.trace
import pytest
import structlog
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import text

from app.config import Settings
from app.events.brokers import MemoryBroker
from app.events.hub import EventHub, EventQueue
from app.main import create_app
from app.observability.logs import formatter
from app.observability.metrics import MAX_OPERATION_NAMES, Metrics
from app.observability.middleware import (
    RequestIdMiddleware,
    current_request_id,
    new_request_id,
)
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.live import ROOT, free_port

HEX_ID = re.compile(r"[0-9a-f]{32}")


# -- request ids ----------------------------------------------------------------------


async def test_a_request_id_is_made_echoed_or_replaced(client: GraphQLClient) -> None:
    made = (await client.http.get("/healthz")).headers["X-Request-ID"]
    assert HEX_ID.fullmatch(made)
    # spelled as a random (version 4) UUID's hex, as ids made by uuid4 were
    made_ids = [new_request_id() for _ in range(200)]
    assert all(uuid.UUID(hex=made_id).hex == made_id for made_id in made_ids)
    assert {uuid.UUID(hex=made_id).version for made_id in made_ids} == {4}
    assert {uuid.UUID(hex=made_id).variant for made_id in made_ids} == {uuid.RFC_4122}
    assert len(set(made_ids)) == 200
    assert (await client.http.get("/healthz")).headers["X-Request-ID"] != made

    echoed = await client.http.get("/healthz", headers={"X-Request-ID": "edge-7f.3_a"})
    assert echoed.headers["X-Request-ID"] == "edge-7f.3_a"
    graphql = await client.http.post(
        "/graphql", json={"query": "{ programs { totalCount } }"}, headers={"X-Request-ID": "q-1"}
    )
    assert graphql.headers["X-Request-ID"] == "q-1"

    # Not a plain token, or too long: replaced, never reflected.
    for bad in ("two words", "a" * 129, "x\u00e9", "<script>"):
        response = await client.http.get("/healthz", headers={"X-Request-ID": bad.encode()})
        assert HEX_ID.fullmatch(response.headers["X-Request-ID"]), bad
    assert (await client.http.get("/healthz", headers={"X-Request-ID": "a" * 128})).headers[
        "X-Request-ID"
    ] == "a" * 128


def test_a_forked_worker_makes_ids_of_its_own() -> None:
    """Ids come from the random module, not the system: a process forked from another
    (a worker of a preloading server) must not make the ids its parent makes."""
    # given
    reading, writing = os.pipe()
    # when: the parent and its child each make their next ids
    child = os.fork()
    if child == 0:  # the child
        os.write(writing, "".join(new_request_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    with os.fdopen(reading, "rb") as made:
        childs = made.read().decode()
    parents = "".join(new_request_id() for _ in range(3))
    # then
    assert len(childs) == len(parents) == 96
    assert childs != parents


def test_seeding_the_random_module_does_not_repeat_ids() -> None:
    """Whoever seeds the random module (a property-based test does, per example) leaves
    the ids alone: they come from a generator of their own."""
    made = set()
    for _ in range(5):
        random.seed(1)
        made.add(new_request_id())
    assert len(made) == 5


async def test_a_websocket_gets_a_request_id_for_its_whole_connection() -> None:
    seen: list[str | None] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(current_request_id())
        await send({"type": "websocket.accept", "subprotocol": "graphql-transport-ws"})

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "headers": [(b"x-request-id", b"ws-1")]}
    await RequestIdMiddleware(app)(scope, receive, send)
    assert seen == ["ws-1"]
    assert (b"x-request-id", b"ws-1") in sent[0]["headers"]
    assert sent[0]["subprotocol"] == "graphql-transport-ws"
    assert current_request_id() is None  # unbound once the connection ends


async def test_a_crash_is_answered_500_with_its_request_id(
    settings: Settings, db: Database
) -> None:
    app = create_app(settings.model_copy(update={"database_url": db.url}), engine=db.engine)

    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.get("/boom", headers={"X-Request-ID": "crash-1"})
            assert response.status_code == 500
            assert response.headers["X-Request-ID"] == "crash-1"
            metrics = samples((await http.get("/metrics")).text)
    finally:
        # Left bound on purpose (the server logs the crash in the request's own task).
        structlog.contextvars.unbind_contextvars("request_id")
    assert metrics[("pledge_ledger_http_requests_total", route("/boom", "GET", "500"))] == 1


@pytest.mark.parametrize("enabled", [False, True])
async def test_fastapi_looks_for_an_opentelemetry_provider_only_when_asked(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    """FastAPI's own OpenTelemetry hooks look the process's providers up at every
    request: only with OPENTELEMETRY=true (the app's metrics and logs are its own)."""
    looked: list[str] = []
    real = opentelemetry.trace.get_tracer_provider

    def noted() -> Any:
        looked.append("tracer")
        return real()

    monkeypatch.setattr(opentelemetry.trace, "get_tracer_provider", noted)
    app = create_app(
        settings.model_copy(update={"database_url": db.url, "opentelemetry": enabled}),
        engine=db.engine,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for _ in range(3):
            assert (await http.get("/healthz")).status_code == 200
    assert (len(looked) >= 3) is enabled


# -- logs -----------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the root handler writes in the JSON format, during the test."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter("json"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_a_log_line_in_a_request_is_json_with_its_request_id(
    db: Database, client: GraphQLClient, json_log: io.StringIO
) -> None:
    # given: a table the service needs is gone, so its SQL fails unexpectedly
    async with db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE exchange_rates RENAME TO exchange_rates_gone"))
    try:
        response = await client.http.post(
            "/graphql",
            json={"query": "{ exchangeRates { totalCount } }"},
            headers={"X-Request-ID": "trace-42"},
        )
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE exchange_rates_gone RENAME TO exchange_rates"))
    logging.getLogger("app.test").warning("after the request")

    error_id = response.json()["errors"][0]["extensions"]["errorId"]
    logged = lines(json_log)
    [line] = [x for x in logged if x["logger"] == "app.graphql"]
    assert line["request_id"] == "trace-42"
    assert line["level"] == "error"
    assert error_id in line["event"]
    assert "Traceback" in line["exception"] and "exchange_rates" in line["exception"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", line["timestamp"])
    assert list(line)[:5] == ["timestamp", "level", "logger", "event", "request_id"]
    [after] = [x for x in logged if x["logger"] == "app.test"]
    assert "request_id" not in after


def test_the_text_format_is_for_people() -> None:
    record = logging.LogRecord("app.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    with structlog.contextvars.bound_contextvars(request_id="r-9"):
        line = formatter("text").format(record)
    assert "hello you" in line and "request_id=r-9" in line and "app.x" in line
    with pytest.raises(ValueError):
        json.loads(line)


def test_every_logger_in_a_served_process_writes_json() -> None:
    program = """
import logging, structlog
from app.observability.logs import configure_logging
configure_logging("INFO", "json")
logging.getLogger("uvicorn.access").info('%s - "%s %s"', "127.0.0.1:1", "GET", "/healthz")
logging.getLogger("uvicorn.error").info("Started server process")
logging.getLogger("app.events.hub").warning("a warning")
structlog.get_logger("app.example").info("with fields", count=3)
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("app.graphql").exception("failed")
print("stdout stays clean")
"""
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "stdout stays clean\n"
    logged = [json.loads(line) for line in done.stderr.splitlines()]
    assert [x["logger"] for x in logged] == [
        "uvicorn.access",
        "uvicorn.error",
        "app.events.hub",
        "app.example",
        "app.graphql",
    ]
    assert logged[0]["event"] == '127.0.0.1:1 - "GET /healthz"'
    assert logged[3]["count"] == 3
    assert "ZeroDivisionError" in logged[4]["exception"]


async def test_pledge_ledger_serve_logs_json_with_request_ids(tmp_path: Path) -> None:
    """The real command: uvicorn's own lines (access log included) come out as JSON,
    and the access line of a request carries its id."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
    }
    stderr = tmp_path / "stderr.log"
    command = [sys.executable, "-c", "from app.cli import main; main()", "serve"]
    with stderr.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *command, "--port", str(port), cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    response = await http.get(
                        f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "e2e-1"}
                    )
                    break
                except httpx.TransportError:
                    assert process.returncode is None, stderr.read_text()
                    await asyncio.sleep(0.1)
            else:
                pytest.fail(f"the server did not start:\n{stderr.read_text()}")
        assert response.headers["X-Request-ID"] == "e2e-1"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)
    logged = [json.loads(line) for line in stderr.read_text().splitlines()]
    assert {"uvicorn.error", "uvicorn.access"} <= {x["logger"] for x in logged}
    [access] = [x for x in logged if x["logger"] == "uvicorn.access"]
    assert access["request_id"] == "e2e-1" and "/healthz" in access["event"]
    # and it said at start which database it serves, and that the file was not there
    started = [x for x in logged if x["logger"] == "app.main"]
    assert started[0]["event"] == f"database: SQLite file {tmp_path / 'serve.db'}"
    assert started[1]["level"] == "warning"
    assert started[1]["event"].startswith(f"there is no database at {tmp_path / 'serve.db'}")


# -- metrics --------------------------------------------------------------------------

Labels = tuple[tuple[str, str], ...]


def samples(exposition: str) -> dict[tuple[str, Labels], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def labels(**values: str) -> Labels:
    return tuple(sorted(values.items()))


def route(path: str, method: str, status: str) -> Labels:
    return labels(route=path, method=method, status=status)


def operation(name: str, kind: str = "query") -> Labels:
    return labels(operation=name, type=kind)


@pytest.fixture
async def served(
    db: Database, settings: Settings
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app where anonymous callers may not read, and its HTTP client."""
    app = create_app(
        settings.model_copy(update={"database_url": db.url, "anonymous_read": False}),
        engine=db.engine,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield app, http


async def test_metrics_count_operations_errors_and_http_requests(
    db: Database, served: tuple[FastAPI, httpx.AsyncClient]
) -> None:
    _app, http = served
    async with db.sessions() as session, session.begin():
        key = await f.api_key(session, "viewer")
    viewer = GraphQLClient(http, {"Authorization": f"Bearer {key}"})
    anonymous = GraphQLClient(http)

    await viewer.data("query Programs { programs { totalCount } }")
    await viewer.data("query Programs { programs { totalCount } }")
    await viewer.data("{ initiatives { totalCount } }")
    await viewer.data("query " + "Long" * 20 + " { programs { totalCount } }")
    refused = await anonymous.error("query Programs { programs { totalCount } }")
    assert refused["extensions"]["code"] == "UNAUTHENTICATED"
    bad = await viewer.error("query Rates { exchangeRates(first: 100000) { totalCount } }")
    await viewer.error("query Typo { programs { nope } }")

    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)

    operations = "pledge_ledger_graphql_operations_total"
    assert got[(operations, operation("Programs"))] == 3  # the refused one too
    assert got[(operations, operation("anonymous"))] == 1
    assert got[(operations, operation("other"))] == 1  # the over-long name
    assert got[(operations, operation("Rates"))] == 1
    # latency: a histogram per operation, every answer in the +Inf bucket
    histogram = "pledge_ledger_graphql_operation_duration_seconds"
    assert got[(f"{histogram}_count", operation("Programs"))] == 3
    assert got[(f"{histogram}_bucket", (("le", "+Inf"), *operation("Programs")))] == 3
    buckets = [
        k for k in got if k[0] == f"{histogram}_bucket" and ("operation", "Programs") in k[1]
    ]
    assert len(buckets) > 5
    assert got[(f"{histogram}_sum", operation("Programs"))] > 0

    errors = "pledge_ledger_graphql_errors_total"
    assert got[(errors, labels(code="UNAUTHENTICATED"))] == 1
    assert got[(errors, labels(code=bad["extensions"]["code"]))] == 1
    assert got[(errors, labels(code="GRAPHQL_VALIDATION_FAILED"))] == 1

    assert got[("pledge_ledger_http_requests_total", route("/graphql", "POST", "200"))] == 7
    assert (
        "pledge_ledger_http_request_duration_seconds_count",
        labels(route="/graphql", method="POST"),
    ) in got
    assert got[("pledge_ledger_db_pool_size", ())] > 0
    assert got[("pledge_ledger_db_pool_checked_out", ())] >= 0
    assert got[("pledge_ledger_subscriptions_open", ())] == 0

    await http.get("/no/such/path")
    got = samples((await http.get("/metrics")).text)
    assert got[("pledge_ledger_http_requests_total", route("unmatched", "GET", "404"))] == 1
    assert got[("pledge_ledger_http_requests_total", route("/metrics", "GET", "200"))] == 1


async def test_the_open_subscriptions_gauge_reads_the_hub(
    db: Database, settings: Settings, served: tuple[FastAPI, httpx.AsyncClient]
) -> None:
    app, http = served
    hub = EventHub(db.sessions, settings, broker=MemoryBroker())
    await hub.start()
    app.state.events = hub
    try:
        async with hub.subscription(EventQueue(lambda _entry: True, capacity=10)):
            got = samples((await http.get("/metrics")).text)
            assert got[("pledge_ledger_subscriptions_open", ())] == 1
        got = samples((await http.get("/metrics")).text)
        assert got[("pledge_ledger_subscriptions_open", ())] == 0
    finally:
        await hub.close()


async def test_operation_names_and_codes_are_bounded() -> None:
    metrics = Metrics()
    assert metrics.operation_label("a" * 64) == "a" * 64
    assert metrics.operation_label("a" * 65) == "other"
    assert metrics.operation_label("not-a-name") == "other"
    for n in range(MAX_OPERATION_NAMES):
        metrics.operation_label(f"Op{n}")
    assert metrics.operation_label("OneTooMany") == "other"
    assert metrics.operation_label("Op0") == "Op0"  # names already seen keep their label
    assert metrics.code_label("UNAUTHENTICATED") == "UNAUTHENTICATED"
    assert metrics.code_label("QUERY_TOO_COSTLY") == "QUERY_TOO_COSTLY"
    assert metrics.code_label("MADE_UP") == "OTHER"
    assert metrics.code_label(None) == "OTHER"


async def test_metrics_need_the_token_when_one_is_set(
    client_with: Any,
) -> None:
    http = client_with(metrics_token=SecretStr("scrape-secret")).http
    assert (await http.get("/metrics")).status_code == 401
    wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    right = await http.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert right.status_code == 200
    assert "pledge_ledger_http_requests_total" in right.text


async def test_metrics_can_be_turned_off(client_with: Any) -> None:
    http = client_with(metrics_enabled=False).http
    assert (await http.get("/metrics")).status_code == 404
    # the request id stays
    assert HEX_ID.fullmatch((await http.get("/healthz")).headers["X-Request-ID"])
