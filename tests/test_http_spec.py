"""/graphql over HTTP: the GraphQL-over-HTTP media type and status codes, what GET and
POST may carry, CORS, the body cap, introspection and hints, root fields, the execution
timeout, and BUSY as 503."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import strawberry
from sqlalchemy import func, select
from strawberry.extensions.validation_cache import _get_validate_cache

from app import models as m
from app.config import Settings
from app.errors import DomainError, ErrorCode
from app.graphql import query
from app.graphql.extensions.limits import CACHE_SIZE, ExecutionTimeout, _parse
from app.http.spec import wants_graphql_response
from app.kit.ids import encode_global_id
from app.views.pool import ViewPool
from app.writes import service
from tests import factories as f
from tests.conftest import Database, GraphQLClient

ClientWith = Callable[..., GraphQLClient]

SPEC = "application/graphql-response+json"
SPEC_ACCEPT = {"Accept": f"{SPEC}, application/json;q=0.9"}
PROGRAMS = "{ programs { totalCount } }"
CREATE = """
mutation($input: CreateSourceDocumentInput!) {
  createSourceDocument(input: $input) { sourceDocument { id } errors { code } }
}"""
NEW_SOURCE = {
    "ref": "csrf-1",
    "title": "A document",
    "url": "https://example.org/a",
    "publisher": "Example",
    "publishedOn": "2021-09-03",
    "language": "en",
    "category": "news-article",
}


async def post(
    client: GraphQLClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    accept: str = SPEC_ACCEPT["Accept"],
) -> httpx.Response:
    """The raw response to an operation; a spec client's unless `accept` says otherwise."""
    return await client.http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={**client.headers, "Accept": accept},
    )


async def source_documents(db: Database) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(m.SourceDocument)) or 0


async def editor(db: Database, client: GraphQLClient) -> GraphQLClient:
    async with db.sessions() as session, session.begin():
        return client.with_key(await f.api_key(session, "editor"))


# --- the media type and status codes -------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/*", False),
        (SPEC, True),
        (f"{SPEC}, application/json;q=0.9", True),
        (f"application/json, {SPEC}", True),
        (f"application/json, {SPEC};q=0.5", False),
        (f"{SPEC};q=0", False),
        (f"{SPEC.upper()}", True),
        (f"text/html, {SPEC};q=0.8, */*;q=0.1", True),
    ],
)
def test_which_clients_get_graphql_response_json(accept: str | None, wanted: bool) -> None:
    assert wants_graphql_response(accept) is wanted


async def test_a_client_that_asks_gets_graphql_response_json(
    db: Database, client: GraphQLClient
) -> None:
    # when
    response = await post(client, PROGRAMS)
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(SPEC)
    assert response.json() == {"data": {"programs": {"totalCount": 0}}}


@pytest.mark.parametrize(
    ("operation", "variables", "code"),
    [
        ("{ programs { totalCount ", None, "GRAPHQL_PARSE_FAILED"),
        ("{ programs { noSuchField } }", None, "GRAPHQL_VALIDATION_FAILED"),
        ("query($n: Int!) { initiatives(first: $n) { totalCount } }", {}, "BAD_USER_INPUT"),
        (
            "{ initiatives(first: 100) { nodes { budgetLines(first: 100) { nodes {"
            " transactions(first: 100) { nodes { type } } } } } } }",
            None,
            "QUERY_TOO_COSTLY",
        ),
        ("subscription { changes { cursor } }", None, "WEBSOCKET_REQUIRED"),
    ],
)
async def test_a_request_that_cannot_run_is_400_without_data(
    db: Database,
    client: GraphQLClient,
    operation: str,
    variables: dict[str, Any] | None,
    code: str,
) -> None:
    # when: spec clients, and legacy clients (no Accept, */*, application/json)
    spec = await post(client, operation, variables)
    request = client.http.build_request(
        "POST", "/graphql", json={"query": operation, "variables": variables}
    )
    del request.headers["accept"]
    legacy = [await client.http.send(request)] + [
        await post(client, operation, variables, accept=accept)
        for accept in ("*/*", "application/json")
    ]
    # then
    assert spec.status_code == 400
    assert spec.headers["content-type"].startswith(SPEC)
    body = spec.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code
    for response in legacy:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["data"] is None
        assert response.json()["errors"][0]["extensions"]["code"] == code


async def test_once_execution_began_errors_are_200_with_data(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        await f.program(session)
    # when: a field fails (a bad currency) while the others answer
    response = await post(
        client,
        '{ programs { totalCount } program { pledgedIn(currency: "RMB") { amount } } }',
    )
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["programs"] == {"totalCount": 1}
    assert body["errors"][0]["extensions"]["code"] == "INVALID_CURRENCY"


async def test_a_caller_who_may_not_read_is_401_for_spec_clients(
    db: Database, client_with: ClientWith
) -> None:
    # given: no anonymous reading, no credentials
    client = client_with(anonymous_read=False)
    # when
    spec = await post(client, PROGRAMS)
    legacy = await client.post(PROGRAMS)
    bad_key = await post(client.with_key("not-a-key"), PROGRAMS)
    # then
    assert spec.status_code == 401
    assert spec.headers["www-authenticate"].startswith("Bearer")
    assert "data" not in spec.json()
    assert spec.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert legacy.status_code == 200
    assert legacy.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # a credential that proves nothing stays 401 (app/auth/authenticate.py), in the
    # media type asked for
    assert bad_key.status_code == 401
    assert bad_key.headers["content-type"].startswith(SPEC)
    assert bad_key.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    legacy_bad_key = await client.with_key("not-a-key").post(PROGRAMS)
    assert legacy_bad_key.headers["content-type"].startswith("application/json")


@pytest.fixture
def busy_views(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every view slot is taken: asOf and partner reads are refused BUSY at once."""

    async def busy(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise DomainError("no view free; retry shortly", code=ErrorCode.BUSY)

    monkeypatch.setattr(ViewPool, "lease", busy)


async def test_busy_is_503_with_retry_after_for_spec_clients(
    db: Database, client: GraphQLClient, busy_views: None
) -> None:
    # given
    past = '{ programs(asOf: "2020-01-01T00:00:00Z") { totalCount } }'
    # when
    spec = await post(client, past)
    legacy = await client.post(past)
    # then
    assert spec.status_code == 503
    assert int(spec.headers["retry-after"]) == 5  # RETRY_AFTER_SECONDS' default
    assert spec.json()["errors"][0]["extensions"]["code"] == "BUSY"
    assert legacy.status_code == 200
    assert legacy.json()["errors"][0]["extensions"]["code"] == "BUSY"


async def test_a_busy_csv_download_is_503_with_retry_after(
    db: Database, client_with: ClientWith, busy_views: None
) -> None:
    # given: a service that asks for 42 s
    client = client_with(retry_after_seconds=42)
    async with db.sessions() as session, session.begin():
        auditor = await f.api_key(session, "auditor")
    # when
    response = await client.http.get(
        "/reports/budget-summary.csv",
        params={"groupBy": "INITIATIVE", "asOf": "2020-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {auditor}"},
    )
    # then
    assert response.status_code == 503
    assert response.headers["retry-after"] == "42"
    assert response.json()["errors"][0]["extensions"]["code"] == "BUSY"


# --- GET, POST and CORS ---------------------------------------------------------------


async def test_get_runs_queries(db: Database, client: GraphQLClient) -> None:
    response = await client.http.get("/graphql", params={"query": PROGRAMS})
    assert response.status_code == 200
    assert response.json() == {"data": {"programs": {"totalCount": 0}}}


async def test_get_never_runs_a_mutation(db: Database, client: GraphQLClient) -> None:
    # given: a caller who may write
    writer = await editor(db, client)
    # when: the mutation comes as a GET (a link, an <img>, a prefetch)
    response = await writer.http.get(
        "/graphql",
        params={"query": CREATE, "variables": json.dumps({"input": NEW_SOURCE})},
        headers=writer.headers,
    )
    # then
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert await source_documents(db) == 0
    # while the same mutation over POST writes
    assert (await writer.data(CREATE, {"input": NEW_SOURCE}))["createSourceDocument"][
        "errors"
    ] == []
    assert await source_documents(db) == 1


@pytest.mark.parametrize(
    "encoding",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None],
)
async def test_a_post_that_is_not_json_is_refused_415(
    db: Database, client: GraphQLClient, encoding: str | None
) -> None:
    # given: what a cross-site HTML form could send, with a writer's credential
    writer = await editor(db, client)
    body = json.dumps({"query": CREATE, "variables": {"input": NEW_SOURCE}})
    request: dict[str, Any] = {"headers": dict(writer.headers)}
    if encoding == "multipart/form-data":
        request["files"] = {"operations": (None, body)}
    elif encoding == "application/x-www-form-urlencoded":
        request["data"] = {"query": CREATE}
    else:
        request["content"] = body.encode()
        if encoding is not None:
            request["headers"]["Content-Type"] = encoding
    # when
    response = await writer.http.post("/graphql", **request)
    # then
    assert response.status_code == 415
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "application/json" in error["message"]
    assert await source_documents(db) == 0


async def test_other_methods_are_refused_405_in_the_graphql_shape(
    db: Database, client: GraphQLClient
) -> None:
    for method in ("PUT", "PATCH", "DELETE"):
        # when
        response = await client.http.request(
            method, "/graphql", json={"query": PROGRAMS}, headers=SPEC_ACCEPT
        )
        # then
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, POST"
        assert response.headers["content-type"].startswith(SPEC)
        assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_a_batch_is_refused_with_a_clear_400(db: Database, client: GraphQLClient) -> None:
    response = await client.http.post(
        "/graphql", json=[{"query": PROGRAMS}, {"query": PROGRAMS}], headers=SPEC_ACCEPT
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(SPEC)
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BATCHING_DISABLED"


async def test_no_cors_headers_unless_origins_are_set(
    db: Database, client: GraphQLClient, client_with: ClientWith
) -> None:
    # given
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    allowed = client_with(cors_origins=["https://app.example"])
    # when
    closed = await client.http.options("/graphql", headers=preflight)
    closed_get = await client.http.get(
        "/graphql", params={"query": PROGRAMS}, headers={"Origin": "https://app.example"}
    )
    opened = await allowed.http.options("/graphql", headers=preflight)
    opened_get = await allowed.http.get(
        "/graphql", params={"query": PROGRAMS}, headers={"Origin": "https://app.example"}
    )
    with_request_id = await allowed.http.options(
        "/graphql", headers={**preflight, "Access-Control-Request-Headers": "x-request-id"}
    )
    elsewhere = await allowed.http.options(
        "/graphql", headers={**preflight, "Origin": "https://evil.example"}
    )
    # then
    assert "access-control-allow-origin" not in closed.headers
    assert "access-control-allow-origin" not in closed_get.headers
    assert opened.status_code == 200
    assert opened.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in opened.headers["access-control-allow-methods"]
    assert opened_get.headers["access-control-allow-origin"] == "https://app.example"
    # a browser page may send its own request id, and read the one we answer with
    assert with_request_id.status_code == 200
    exposed = opened_get.headers["access-control-expose-headers"].lower()
    assert {"x-request-id", "retry-after"} <= {h.strip() for h in exposed.split(",")}
    assert "access-control-allow-origin" not in elsewhere.headers


def test_cors_origins_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("CORS_ORIGINS", '["https://c.example"]')
    assert Settings().cors_origins == ["https://c.example"]


# --- what the schema shows ------------------------------------------------------------


def test_production_defaults_show_nothing_of_the_schema() -> None:
    fields = Settings.model_fields
    assert fields["graphiql"].default is False
    assert fields["introspection"].default is False
    assert fields["field_suggestions"].default is False
    assert fields["cors_origins"].default_factory is not None
    assert fields["max_body_bytes"].default == 1_048_576
    assert fields["max_root_fields"].default == 20
    assert fields["execution_timeout_seconds"].default == 30


async def test_introspection_is_off_unless_asked(db: Database, client_with: ClientWith) -> None:
    # given
    closed, opened = client_with(introspection=False), client_with(introspection=True)
    schema_query = "{ __schema { queryType { name } } }"
    type_query = '{ __type(name: "Program") { name } }'
    # when
    refused = [await closed.error(q) for q in (schema_query, type_query)]
    typename = await closed.data("{ __typename }")
    answered = await opened.data(schema_query)
    spec = await post(closed, schema_query)
    # then
    for error in refused:
        assert error["extensions"]["code"] == "INTROSPECTION_DISABLED"
        assert "INTROSPECTION" in error["message"]
    assert typename == {"__typename": "Query"}
    assert answered == {"__schema": {"queryType": {"name": "Query"}}}
    assert spec.status_code == 400


@pytest.mark.parametrize(
    "operation",
    [
        "{ programs { totalCout } }",  # a field
        "{ programs(frist: 1) { totalCount } }",  # an argument
        "query($f: ProgramFiltr) { programs(filter: $f) { totalCount } }",  # a type
        "{ budgetSummary(groupBy: [INITIATVE]) { groupCount } }",  # an enum value
    ],
)
async def test_did_you_mean_hints_are_off_unless_asked(
    db: Database, client_with: ClientWith, operation: str
) -> None:
    # when
    hidden = await client_with(field_suggestions=False).error(operation)
    shown = await client_with(field_suggestions=True).error(operation)
    # then: the same error and code, without the hint
    assert "Did you mean" in shown["message"]
    assert "Did you mean" not in hidden["message"]
    assert shown["message"].startswith(hidden["message"])
    assert hidden["extensions"]["code"] == shown["extensions"]["code"]


async def test_graphiql_is_off_unless_asked(db: Database, client_with: ClientWith) -> None:
    # when
    closed = await client_with(graphiql=False).http.get("/graphql", headers={"Accept": "text/html"})
    opened = await client_with(graphiql=True).http.get("/graphql", headers={"Accept": "text/html"})
    # then
    assert closed.status_code == 404
    [error] = closed.json()["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "GRAPHIQL" in error["message"]
    assert opened.status_code == 200 and "graphiql" in opened.text.lower()


# --- the body cap ---------------------------------------------------------------------


async def test_a_body_over_the_cap_is_refused_413_before_it_runs(
    db: Database, client_with: ClientWith
) -> None:
    # given: a 4 KiB cap, and a body of 5 KiB (padding in a variable)
    client = client_with(max_body_bytes=4096)
    body = json.dumps(
        {"query": CREATE, "variables": {"input": NEW_SOURCE, "pad": "x" * 5000}}
    ).encode()
    # when
    response = await client.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json", **SPEC_ACCEPT}
    )
    small = await client.post(PROGRAMS)
    # then
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(SPEC)
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "REQUEST_TOO_LARGE", "limit": 4096}
    assert "MAX_BODY_BYTES" in error["message"]
    assert small.status_code == 200
    assert await source_documents(db) == 0


async def test_a_chunked_body_is_counted_as_it_arrives(
    db: Database, client_with: ClientWith
) -> None:
    # given: a body without Content-Length, sent in 1 KiB chunks, 100 KiB in all
    client = client_with(max_body_bytes=4096)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"query": "{ programs { totalCount } }", "pad": "'
        for _ in range(100):
            sent += 1
            yield b"x" * 1024
        yield b'"}'

    # when
    response = await client.http.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    # then: refused once past the cap, without reading the rest
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert sent < 10


async def test_a_body_that_trickles_in_is_answered_408_at_the_read_deadline(
    db: Database, client_with: ClientWith
) -> None:
    # given: a deadline of 0.5 s, and an editor's write whose body stops coming halfway,
    # then trickles in a byte every 0.2 s
    client = await editor(db, client_with(request_read_timeout_seconds=0.5))
    headers = {"Content-Type": "application/json", **client.headers}
    body = json.dumps({"query": CREATE, "variables": {"input": NEW_SOURCE}}).encode()
    half = len(body) // 2
    trickled = 0

    async def trickle() -> AsyncIterator[bytes]:
        nonlocal trickled
        yield body[:half]
        for at in range(half, len(body)):
            await asyncio.sleep(0.2)
            trickled += 1
            yield body[at : at + 1]

    async def promptly() -> AsyncIterator[bytes]:
        for at in range(0, len(body), 64):
            yield body[at : at + 64]

    # when
    response = await client.http.post(
        "/graphql", content=trickle(), headers={**headers, **SPEC_ACCEPT}
    )
    # then: refused at the deadline, not once the whole body came; nothing written
    assert response.status_code == 408
    assert response.headers["connection"] == "close"
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "REQUEST_TIMEOUT", "limit": 0.5}
    assert "REQUEST_READ_TIMEOUT_SECONDS" in error["message"]
    assert trickled < 10
    assert await source_documents(db) == 0
    # and the same body, in chunks that come promptly, is written
    written = await client.http.post("/graphql", content=promptly(), headers=headers)
    assert written.json()["data"]["createSourceDocument"]["errors"] == []
    assert await source_documents(db) == 1


# --- root fields, timeout, and the caches ---------------------------------------------


async def test_root_fields_are_limited(db: Database, client_with: ClientWith) -> None:
    # given: a limit of 3 root fields
    client = client_with(max_root_fields=3)
    three = "{ a: programs { totalCount } b: programs { totalCount } __typename }"
    four = "{ a: programs { totalCount } b: programs { totalCount } ...More }" + (
        " fragment More on Query { c: initiatives { totalCount } d: initiatives { totalCount } }"
    )
    # when
    fits = await client.data(three)
    error = await client.error(four)
    # then
    assert set(fits) == {"a", "b", "__typename"}
    assert error["extensions"] == {"code": "TOO_MANY_ROOT_FIELDS", "count": 4, "limit": 3}
    assert "MAX_ROOT_FIELDS" in error["message"]


async def test_an_operation_running_too_long_is_stopped(
    db: Database, client_with: ClientWith, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: loading a node takes 10 seconds; the timeout is 0.1
    async def slow(*args: Any) -> Any:
        await asyncio.sleep(10)

    monkeypatch.setattr(query, "load_node", slow)
    client = client_with(execution_timeout_seconds=0.1)
    operation = f'{{ node(id: "{encode_global_id("Program", 1)}") {{ id }} }}'
    # when
    started = time.monotonic()
    legacy = await client.execute(operation)
    spec = await post(client, operation)
    elapsed = time.monotonic() - started
    # then: stopped with its code and limit; execution had begun, so data stays (null)
    assert elapsed < 5
    for body in (legacy, spec.json()):
        [error] = body["errors"]
        assert error["extensions"] == {"code": "TIMEOUT", "limit": 0.1}
        assert "EXECUTION_TIMEOUT_SECONDS" in error["message"]
        assert body["data"] is None
    assert spec.status_code == 200
    # and the service goes on answering
    assert await client.data(PROGRAMS) == {"programs": {"totalCount": 0}}


async def test_a_mutation_stopped_by_the_timeout_writes_nothing(
    db: Database, client_with: ClientWith, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a write that stalls while it holds the ledger's write lock
    async with db.sessions() as session, session.begin():
        secret = await f.api_key(session, "editor")
    client = client_with(execution_timeout_seconds=0.2).with_key(secret)
    replay = service._replay

    async def stall(*args: Any) -> Any:
        await asyncio.sleep(10)

    monkeypatch.setattr(service, "_replay", stall)
    # when
    stopped = await client.execute(CREATE, {"input": NEW_SOURCE})
    monkeypatch.setattr(service, "_replay", replay)
    # then: stopped, nothing written, and the lock is free for the next write
    assert stopped["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert await source_documents(db) == 0
    created = await client.data(CREATE, {"input": NEW_SOURCE})
    assert created["createSourceDocument"]["errors"] == []
    assert await source_documents(db) == 1


async def test_the_timeout_leaves_subscriptions_alone() -> None:
    # given: a schema with a slow query and a subscription outliving the timeout
    @strawberry.type
    class Query:
        @strawberry.field
        async def slow(self) -> int:
            await asyncio.sleep(10)
            return 1

    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def ticks(self) -> AsyncGenerator[int, None]:
            for tick in range(3):
                await asyncio.sleep(0.05)
                yield tick

    schema = strawberry.Schema(
        query=Query, subscription=Subscription, extensions=[lambda: ExecutionTimeout(0.02)]
    )
    # when
    stopped = await schema.execute("{ slow }")
    stream = await schema.subscribe("subscription { ticks }")
    ticks = [result.data async for result in stream]
    # then
    assert stopped.errors and stopped.errors[0].extensions == {"code": "TIMEOUT", "limit": 0.02}
    assert ticks == [{"ticks": 0}, {"ticks": 1}, {"ticks": 2}]


async def test_every_rule_on_and_repeats_still_hit_the_caches(
    db: Database, client_with: ClientWith
) -> None:
    # given: the production defaults: no introspection, no hints, root fields capped,
    # a timeout, besides depth, aliases, tokens and cost
    client = client_with(introspection=False, field_suggestions=False, graphiql=False)
    operation = "query($n: Int) { a: initiatives(first: $n) { totalCount } __typename }"
    await client.data(operation, {"n": 1})
    validate: Any = _get_validate_cache(CACHE_SIZE)
    parsed, validated, misses = (
        _parse.cache_info().hits,
        validate.cache_info().hits,
        validate.cache_info().misses,
    )
    # when: the same operation three more times
    for n in (2, 3, 4):
        await client.data(operation, {"n": n})
    # then: neither parsed nor validated again
    assert _parse.cache_info().hits == parsed + 3
    assert validate.cache_info().hits == validated + 3
    assert validate.cache_info().misses == misses
