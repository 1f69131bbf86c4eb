"""The GraphQL-over-HTTP media type and status codes: 400 without data for what cannot run,
200 with data once execution began, 401 for a caller who may not read, BUSY as 503."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import DomainError, ErrorCode
from app.http.spec import wants_graphql_response
from app.views.pool import ViewPool
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.http.spec.common import PROGRAMS, SPEC, ClientWith, post


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
