"""Persisted operations and the allow-list: clients send registered documents by their
hash, and with PERSISTED_OPERATIONS_ONLY nothing else runs (app/http/persisted.py)."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app import models as m
from app.cli import cli
from app.config import Settings
from app.graphql.reports.downloads import REPORTS
from app.http.persisted import ManifestError, document_hash
from app.kit.ids import encode_global_id
from app.main import create_app
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.http.manifests import INITIATIVES, manifest
from tests.live import CREATE, LiveData, live_data, start_server
from tests.wsclient import LiveClient

BY_CODE = "query One($code: String!) { initiative(code: $code) { code } }"
CHANGES = "subscription Changes($after: String) { changes(after: $after) { sequence } }"
AD_HOC = "{ initiatives(first: 1) { totalCount } }"
WRITE = """
mutation($input: CreateTransactionInput!) {
  createTransaction(input: $input) { transaction { id } errors { code } }
}"""
GRAPHQL_RESPONSE = "application/graphql-response+json"


def sha(text: str) -> str:
    return f"sha256:{document_hash(text)}"


@pytest.fixture
def registered(tmp_path: Path) -> Path:
    return manifest(tmp_path / "operations.json", INITIATIVES, BY_CODE, CHANGES)


@pytest.fixture
async def keys(demo: Database) -> dict[str, str]:
    async with demo.sessions() as session, session.begin():
        return {role: await f.api_key(session, role) for role in ("viewer", "auditor", "admin")}


def first_code(body: dict[str, Any]) -> str:
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def test_a_registered_operation_runs_by_its_id_in_every_form_clients_use(
    demo: Database, registered: Path, client_with: Callable[..., GraphQLClient]
) -> None:
    client = client_with(persisted_operations_file=registered)
    expected = await client.data(INITIATIVES)
    assert len(expected["initiatives"]["edges"]) == 3
    apollo = {"persistedQuery": {"version": 1, "sha256Hash": document_hash(INITIATIVES)}}
    answers = [
        await client.http.post("/graphql", json={"documentId": sha(INITIATIVES)}),
        await client.http.post("/graphql", json={"documentId": document_hash(INITIATIVES)}),
        await client.http.get("/graphql", params={"documentId": sha(INITIATIVES)}),
        await client.http.post("/graphql", json={"extensions": apollo}),
        await client.http.get("/graphql", params={"extensions": json.dumps(apollo)}),
    ]
    for response in answers:
        assert response.status_code == 200, response.text
        assert response.json() == {"data": expected}
    code = expected["initiatives"]["edges"][1]["node"]["code"]
    with_variables = await client.http.post(
        "/graphql", json={"documentId": sha(BY_CODE), "variables": {"code": code}}
    )
    assert with_variables.json() == {"data": {"initiative": {"code": code}}}


async def test_an_unknown_or_malformed_id_is_refused_with_a_code(
    db: Database, registered: Path, client_with: Callable[..., GraphQLClient]
) -> None:
    client = client_with(persisted_operations_file=registered)
    unknown = await client.http.post(
        "/graphql", json={"documentId": sha(AD_HOC)}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert unknown.status_code == 400
    body = unknown.json()
    assert "data" not in body
    assert first_code(body) == "PERSISTED_QUERY_NOT_FOUND"
    # Apollo's link looks for this word before it resends the document's text.
    assert "PersistedQueryNotFound" in body["errors"][0]["message"]
    for bad in ("sha256:xyz", "", 42, "md5:" + "0" * 32):
        response = await client.http.post("/graphql", json={"documentId": bad})
        assert first_code(response.json()) == "PERSISTED_QUERY_NOT_FOUND", bad


async def test_apollo_resends_text_with_its_hash_which_must_agree(
    demo: Database, registered: Path, client_with: Callable[..., GraphQLClient]
) -> None:
    client = client_with(persisted_operations_file=registered)
    hashed = {"persistedQuery": {"version": 1, "sha256Hash": document_hash(AD_HOC)}}
    agreed = await client.http.post("/graphql", json={"query": AD_HOC, "extensions": hashed})
    assert agreed.json()["data"]["initiatives"]["totalCount"] == 10
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": document_hash(INITIATIVES)}}
    refused = await client.http.post("/graphql", json={"query": AD_HOC, "extensions": wrong})
    assert first_code(refused.json()) == "PERSISTED_QUERY_MISMATCH"


async def test_allow_list_mode_runs_only_registered_documents(
    demo: Database,
    registered: Path,
    keys: dict[str, str],
    client_with: Callable[..., GraphQLClient],
) -> None:
    client = client_with(persisted_operations_file=registered, persisted_operations_only=True)
    # Registered: by id, or by its exact text.
    by_id = await client.http.post("/graphql", json={"documentId": sha(INITIATIVES)})
    assert len(by_id.json()["data"]["initiatives"]["edges"]) == 3
    assert (await client.data(INITIATIVES)) == by_id.json()["data"]
    # Anything else, even the same operation spelt differently, is refused unparsed.
    attempts = [
        {"query": AD_HOC},
        {"query": INITIATIVES.replace("first: 3", "first:3"), "operationName": "Initiatives"},
        {"query": "{ not graphql", "operationName": "not a name!"},
    ]
    for attempt in attempts:
        response = await client.http.post(
            "/graphql", json=attempt, headers={"accept": GRAPHQL_RESPONSE}
        )
        assert response.status_code == 400
        body = response.json()
        assert "data" not in body
        assert first_code(body) == "OPERATION_NOT_ALLOWED"
        assert "PERSISTED_OPERATIONS_ONLY" in body["errors"][0]["message"]


async def test_a_refused_request_keeps_nothing_of_itself(
    db: Database, registered: Path, client_with: Callable[..., GraphQLClient]
) -> None:
    """Refused documents are not parsed, and their operation names not kept: a client
    cannot fill the server's memory with refused requests."""
    client = client_with(persisted_operations_file=registered, persisted_operations_only=True)
    await client.http.post("/graphql", json={"query": AD_HOC, "operationName": "Warm"})
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for n in range(40):
            name = "N" * 100_000 + str(n)
            response = await client.http.post(
                "/graphql", json={"query": f"query {name} {{ x }}", "operationName": name}
            )
            assert first_code(response.json()) == "OPERATION_NOT_ALLOWED"
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 1_000_000, after - before  # 40 requests of 200 KB sent


async def test_the_csv_downloads_queries_are_not_registered_documents(
    demo: Database,
    registered: Path,
    keys: dict[str, str],
    client_with: Callable[..., GraphQLClient],
) -> None:
    client = client_with(persisted_operations_file=registered, persisted_operations_only=True)
    text = REPORTS["budget-summary"].query
    body = await client.with_key(keys["viewer"]).execute(text, {"groupBy": ["INITIATIVE"]})
    assert first_code(body) == "OPERATION_NOT_ALLOWED"


async def test_ids_are_read_in_either_case_and_must_agree_with_a_text_sent_beside(
    demo: Database, registered: Path, client_with: Callable[..., GraphQLClient]
) -> None:
    client = client_with(persisted_operations_file=registered)
    upper = await client.http.post("/graphql", json={"documentId": sha(INITIATIVES).upper()})
    assert len(upper.json()["data"]["initiatives"]["edges"]) == 3
    both = await client.http.post(
        "/graphql", json={"documentId": sha(INITIATIVES), "query": AD_HOC}
    )
    assert first_code(both.json()) == "PERSISTED_QUERY_MISMATCH"


async def test_an_unregistered_mutation_writes_nothing_in_allow_list_mode(
    demo: Database,
    registered: Path,
    keys: dict[str, str],
    client_with: Callable[..., GraphQLClient],
) -> None:
    client = client_with(persisted_operations_file=registered, persisted_operations_only=True)
    async with demo.sessions() as session:
        before = await session.scalar(select(func.count()).select_from(m.Change))
        initiative_id = await session.scalar(select(m.Initiative.id).limit(1))
    variables = {
        "input": {
            "initiativeId": encode_global_id("Initiative", initiative_id),
            "type": "DISBURSEMENT",
            "date": "2024-05-02",
            "amount": "1.00",
            "currency": "CNY",
        }
    }
    body = await client.with_key(keys["admin"]).execute(WRITE, variables)
    assert body["data"] is None
    assert first_code(body) == "OPERATION_NOT_ALLOWED"
    async with demo.sessions() as session:
        after = await session.scalar(select(func.count()).select_from(m.Change))
    assert after == before


async def test_exempt_roles_may_send_any_document(
    demo: Database,
    registered: Path,
    keys: dict[str, str],
    client_with: Callable[..., GraphQLClient],
) -> None:
    client = client_with(
        persisted_operations_file=registered,
        persisted_operations_only=True,
        persisted_operations_exempt_roles=["auditor"],
    )
    auditor = await client.with_key(keys["auditor"]).data(AD_HOC)
    assert auditor["initiatives"]["totalCount"] == 10
    viewer = await client.with_key(keys["viewer"]).execute(AD_HOC)
    assert first_code(viewer) == "OPERATION_NOT_ALLOWED"
    anonymous = await client.execute(AD_HOC)
    assert first_code(anonymous) == "OPERATION_NOT_ALLOWED"


async def test_csv_downloads_still_work_in_allow_list_mode(
    demo: Database,
    registered: Path,
    keys: dict[str, str],
    client_with: Callable[..., GraphQLClient],
) -> None:
    """The downloads' queries are the server's own, not a client's."""
    downloads = []
    for only in (True, False):
        client = client_with(persisted_operations_file=registered, persisted_operations_only=only)
        response = await client.http.get(
            "/reports/budget-summary.csv",
            params={"groupBy": "INITIATIVE"},
            headers={"Authorization": f"Bearer {keys['auditor']}"},
        )
        assert response.status_code == 200, response.text
        downloads.append(response.text)
    assert downloads[0] == downloads[1]
    assert downloads[0].startswith("\ufeffrow,initiative_code,")  # after the byte-order mark


async def test_a_manifest_that_cannot_be_trusted_stops_the_service_starting(
    database: Database, tmp_path: Path, settings: Settings
) -> None:
    wrong_id = tmp_path / "wrong-id.json"
    wrong_id.write_text(json.dumps({document_hash(AD_HOC): INITIATIVES}))
    stale = manifest(tmp_path / "stale.json", "{ initiatives { nonsense } }")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    odd_apollo = tmp_path / "apollo.json"
    odd_apollo.write_text(json.dumps({"format": "apollo", "operations": ["{ x }"]}))
    # Documents this server's own rules would refuse at every request.
    too_deep = manifest(tmp_path / "deep.json", INITIATIVES)
    introspecting = manifest(tmp_path / "schema.json", "{ __schema { types { name } } }")
    for path, words, overrides in (
        (wrong_id, "not the SHA-256", {}),
        (stale, "no longer valid", {}),
        (broken, "cannot read", {}),
        (odd_apollo, "an object with id and body", {}),
        (too_deep, "no longer valid", {"max_query_depth": 2}),
        (introspecting, "no longer valid", {"introspection": False}),
    ):
        with pytest.raises(ManifestError, match=words):
            create_app(
                settings.model_copy(update={"persisted_operations_file": path, **overrides}),
                engine=database.engine,
            )


def test_allow_list_mode_needs_a_manifest_and_known_roles() -> None:
    with pytest.raises(ValueError, match="PERSISTED_OPERATIONS_FILE"):
        Settings(persisted_operations_only=True)
    with pytest.raises(ValueError, match="unknown roles"):
        Settings(persisted_operations_exempt_roles="auditor,janitor")
    assert Settings(persisted_operations_exempt_roles="auditor, admin").model_dump()[
        "persisted_operations_exempt_roles"
    ] == ["auditor", "admin"]


def test_register_checks_documents_and_prints_their_ids(tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "initiatives.graphql"
    good.write_text(INITIATIVES)
    bad = tmp_path / "bad.graphql"
    bad.write_text("query { nonsense }")
    target = tmp_path / "manifest.json"
    refused = runner.invoke(cli, ["operations", "register", str(good), str(bad), "-m", str(target)])
    assert refused.exit_code == 1
    assert "bad.graphql" in refused.output and "nonsense" in refused.output
    assert not target.exists()
    added = runner.invoke(cli, ["operations", "register", str(good), "-m", str(target)])
    assert added.exit_code == 0, added.output
    assert f"{sha(INITIATIVES)}" in added.output
    assert json.loads(target.read_text()) == {document_hash(INITIATIVES): INITIATIVES}
    again = runner.invoke(cli, ["operations", "register", str(good), "-m", str(target)])
    assert "(known)" in again.output
    # The id is of the file's exact bytes: line endings included.
    windows = tmp_path / "windows.graphql"
    windows.write_bytes(b"query W {\r\n  initiatives(first: 1) { totalCount }\r\n}\r\n")
    runner.invoke(cli, ["operations", "register", str(windows), "-m", str(target)])
    assert document_hash(windows.read_bytes().decode()) in json.loads(target.read_text())


# --- Over WebSocket, against a real server ---


@pytest.fixture(scope="module")
async def allow_listed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveData]:
    """A server in allow-list mode; the tests' own write (CREATE) is registered too."""
    tmp = tmp_path_factory.mktemp("persisted")
    path = manifest(tmp / "operations.json", INITIATIVES, CHANGES, CREATE)
    async for data in live_data("sqlite", tmp):
        server = await start_server(
            data.url,
            persisted_operations_file=path,
            persisted_operations_only="true",
            events_poll_seconds=0.2,
        )
        data.servers.append(server)
        try:
            yield data
        finally:
            server.stop()


async def test_a_registered_subscription_runs_by_its_id_over_websocket(
    allow_listed: LiveData,
) -> None:
    server = allow_listed.servers[0]
    viewer = f"Bearer {allow_listed.keys['viewer']}"
    async with await LiveClient.connect(server.ws, authorization=viewer) as client:
        after = await allow_listed.last_sequence()
        subscription = await client.subscribe_with(
            {"documentId": sha(CHANGES), "variables": {"after": None}}
        )
        await subscription.nothing(0.3)  # subscribed, nothing new yet
        await allow_listed.write(server)  # itself a registered mutation, by its text
        event = await subscription.data()
        assert event["changes"]["sequence"] == after + 1


async def test_ad_hoc_and_unknown_subscriptions_are_refused_over_websocket(
    allow_listed: LiveData,
) -> None:
    server = allow_listed.servers[0]
    viewer = f"Bearer {allow_listed.keys['viewer']}"
    async with await LiveClient.connect(server.ws, authorization=viewer) as client:
        ad_hoc = await client.subscribe("subscription { changes { cursor } }")
        unknown = await client.subscribe_with({"documentId": sha(AD_HOC)})
        for subscription, code in (
            (ad_hoc, "OPERATION_NOT_ALLOWED"),
            (unknown, "PERSISTED_QUERY_NOT_FOUND"),
        ):
            message = await subscription.next()
            assert message["type"] == "error", message
            assert message["payload"][0]["extensions"]["code"] == code
        # A query that is not text, sent with an id, is refused, the connection kept.
        odd = await client.subscribe_with({"query": 5, "documentId": sha(INITIATIVES)})
        message = await odd.next()
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"]["code"] == "BAD_REQUEST"
        # The connection itself carries on: a registered query by id still runs.
        query = await client.subscribe_with({"documentId": sha(INITIATIVES)})
        assert len((await query.data())["initiatives"]["edges"]) == 3
