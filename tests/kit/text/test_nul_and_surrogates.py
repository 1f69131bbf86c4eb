"""NUL and lone surrogates ("\\ud800", which JSON can escape but no database, hash or
UTF-8 answer can take) are refused wherever a string enters: arguments, variables,
filters, mutation input, reasons, idempotency keys, persisted documents, CSV parameters
and WebSocket credentials and variables; with a code, never INTERNAL, and nothing is
written."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.http.manifests import INITIATIVES, manifest
from tests.kit.text.common import (
    CREATE_DOCUMENT,
    CREATE_MILESTONE,
    NUL,
    SURROGATE,
    body,
    document,
    first_initiative,
    send,
    trail_length,
)
from tests.live import LiveData, Server, live_data, start_server
from tests.wsclient import LiveClient

READS = [
    # (operation, variables, the field the error names)
    ("query($c: String!) { initiative(code: $c) { id } }", {"c": "CP-01" + NUL}, "$c"),
    ("query($c: String!) { initiative(code: $c) { id } }", {"c": "CP" + SURROGATE}, "$c"),
    ('{ initiative(code: "CP-01\\u0000") { id } }', {}, "code"),
    (
        "query($t: String!) { initiatives(filter: {title: {contains: $t}}) { totalCount } }",
        {"t": SURROGATE},
        "$t",
    ),
    (
        "query($f: InitiativeFilter) { initiatives(filter: $f) { totalCount } }",
        {"f": {"or": [{"code": {"eq": "CP-01"}}, {"code": {"in": ["CP-02", "x" + SURROGATE]}}]}},
        "$f.or.1.code.in.1",
    ),
    (
        "query($f: InitiativeFilter) { initiatives(filter: $f) { totalCount } }",
        {"f": {"title": {"startsWith": "a" + NUL}}},
        "$f.title.startsWith",
    ),
    ("query($id: ID!) { node(id: $id) { id } }", {"id": "SW5p" + SURROGATE}, "$id"),
    ("query($a: String) { initiatives(after: $a) { totalCount } }", {"a": SURROGATE}, "$a"),
]


@pytest.mark.parametrize(("query", "variables", "field"), READS)
async def test_nul_and_lone_surrogates_in_reads_are_invalid_arguments(
    demo: Database, client: GraphQLClient, query: str, variables: dict[str, Any], field: str
) -> None:
    # when
    answer = await send(client, query, variables)
    # then: a typed error naming where the string was, and nothing ran
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "INVALID_ARGUMENT", "field": field}, error
    assert answer["data"] is None


WRITES = [
    # (mutation, its variables apart from the input, the input's changes, field)
    (CREATE_DOCUMENT, {}, {"title": "A " + SURROGATE}, "$input.title"),
    (CREATE_DOCUMENT, {}, {"ref": "doc" + NUL}, "$input.ref"),
    (CREATE_DOCUMENT, {"reason": "because" + SURROGATE}, {}, "$reason"),
    (CREATE_DOCUMENT, {"reason": "because" + NUL}, {}, "$reason"),
    (CREATE_DOCUMENT, {"key": SURROGATE}, {}, "$key"),
    (CREATE_MILESTONE, {}, {"description": "line one" + NUL + "hidden"}, "$input.description"),
    (CREATE_MILESTONE, {"key": "k" + NUL}, {}, "$key"),
]


@pytest.mark.parametrize(("mutation", "arguments", "changes", "field"), WRITES)
async def test_nul_and_lone_surrogates_in_writes_are_refused_and_nothing_is_written(
    demo: Database,
    editor: GraphQLClient,
    mutation: str,
    arguments: dict[str, Any],
    changes: dict[str, Any],
    field: str,
) -> None:
    # given
    if mutation is CREATE_MILESTONE:
        given = {"initiativeId": await first_initiative(demo), "title": "T", "status": "PLANNED"}
    else:
        given = document()
    before = await trail_length(demo)
    # when
    answer = await send(editor, mutation, {"input": {**given, **changes}, **arguments})
    # then
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "INVALID_ARGUMENT", "field": field}, error
    assert await trail_length(demo) == before


async def test_an_object_key_no_string_may_hold_is_refused(
    demo: Database, editor: GraphQLClient
) -> None:
    answer = await send(editor, CREATE_DOCUMENT, {"input": {**document(), "x" + SURROGATE: 1}})
    [error] = answer["errors"]
    assert error["extensions"] == {"code": "INVALID_ARGUMENT", "field": "$input"}, error


async def test_a_csv_download_refuses_nul_and_lone_surrogates_in_its_parameters(
    demo: Database, client: GraphQLClient
) -> None:
    # given
    async with demo.sessions() as session, session.begin():
        secret = await f.api_key(session, "auditor", name="text-auditor")
    headers = {"Authorization": f"Bearer {secret}"}
    cases = [
        ({"groupBy": "INITIATIVE", "currency": "CNY" + NUL}, "$currency"),
        (
            {
                "groupBy": "INITIATIVE",
                "filter": json.dumps({"initiative": {"code": {"eq": SURROGATE}}}),
            },
            "$filter.initiative.code.eq",
        ),
    ]
    for params, field in cases:
        # when
        response = await client.http.get(
            "/reports/budget-summary.csv", params=params, headers=headers
        )
        # then
        assert response.status_code == 400, response.text
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "INVALID_ARGUMENT", "field": field}, error


async def test_a_document_with_a_lone_surrogate_is_a_bad_request_in_allow_list_mode(
    demo: Database, client_with: Any, tmp_path: Path
) -> None:
    # given: only registered documents run; a document is recognised by its SHA-256
    registered = manifest(tmp_path / "operations.json", INITIATIVES)
    client = client_with(persisted_operations_file=registered, persisted_operations_only=True)
    # when: a text that cannot be hashed (nor parsed)
    response = await client.http.post(
        "/graphql",
        content=body('{ initiative(code: "' + SURROGATE + '") { id } }'),
        headers={"Content-Type": "application/json", "Accept": "application/graphql-response+json"},
    )
    # then
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "surrogate" in error["message"]
    # and a document id holding one names no document (the id is 64 hex digits)
    response = await client.http.post(
        "/graphql",
        content=json.dumps({"documentId": "sha256:" + SURROGATE}),
        headers={"Content-Type": "application/json", "Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.fixture(params=["sqlite", "postgresql"])
async def server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[LiveData, Server]]:
    async for data in live_data(request.param, tmp_path):
        started = await start_server(data.url, events_poll_seconds=0.2)
        try:
            yield data, started
        finally:
            started.stop()


async def test_websocket_credentials_and_variables_no_string_may_hold_are_refused(
    server: tuple[LiveData, Server],
) -> None:
    data, live = server
    # A credential that cannot be a key or a token (it cannot even be hashed): refused
    # at connection_init, as any credential that proves nothing is.
    for credential in ("Bearer pl_" + SURROGATE, "Bearer pl_" + NUL, "Bearer pl_\u202e"):
        client = await LiveClient.connect(live.ws, init=False)
        await client.send({"type": "connection_init", "payload": {"Authorization": credential}})
        closed = await client.ended(wait=30)
        assert closed.code == 4403, closed
    # A subscription whose variables hold one: an error for that operation; the
    # connection goes on.
    query = """subscription($c: String!) {
      budgetSummaryUpdates(groupBy: [INITIATIVE], filter: {initiative: {code: {eq: $c}}}) {
        groupCount
      }
    }"""
    async with await LiveClient.connect(
        live.ws, authorization=f"Bearer {data.keys['viewer']}"
    ) as client:
        for code in ("CP-01" + NUL, "CP" + SURROGATE):
            message = await (await client.subscribe(query, {"c": code})).next()
            assert message["type"] == "error", message
            [error] = message["payload"]
            assert error["extensions"] == {"code": "INVALID_ARGUMENT", "field": "$c"}
        fine = await client.subscribe("{ programs { totalCount } }")
        assert (await fine.data())["programs"]["totalCount"] == 1
    async with httpx.AsyncClient(base_url=live.http) as http:
        assert (await http.get("/healthz")).status_code == 200
