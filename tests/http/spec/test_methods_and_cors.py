"""What GET and POST may carry, other methods and batches refused, and CORS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.config import Settings
from tests.conftest import Database, GraphQLClient
from tests.http.spec.common import (
    CREATE,
    NEW_SOURCE,
    PROGRAMS,
    SPEC,
    SPEC_ACCEPT,
    ClientWith,
    editor,
    source_documents,
)


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
    with_min_sequence = await allowed.http.options(
        "/graphql", headers={**preflight, "Access-Control-Request-Headers": "x-min-sequence"}
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
    # and the sequence of its last write, to read it back (app/replicas/service.py)
    assert with_min_sequence.status_code == 200
    exposed = opened_get.headers["access-control-expose-headers"].lower()
    assert {"x-request-id", "retry-after"} <= {h.strip() for h in exposed.split(",")}
    assert "access-control-allow-origin" not in elsewhere.headers


def test_cors_origins_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("CORS_ORIGINS", '["https://c.example"]')
    assert Settings().cors_origins == ["https://c.example"]
