"""The HTTP surface: GraphiQL, health and readiness probes, and how bad queries fail."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from app.config import Settings
from app.db.migrate import head_revision
from app.engines import ledger_engine
from app.graphql.schema import build_schema
from app.http.router import PledgeRouter
from app.http.server import YOUNG_COLLECTION_THRESHOLD
from app.kit.spliced import Spliced
from app.main import create_app
from tests import factories
from tests.conftest import Database, GraphQLClient


@pytest.fixture
async def bare_http(settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a fresh SQLite file that no migration has touched."""
    engine = ledger_engine(f"sqlite+aiosqlite:///{tmp_path / 'unmigrated.db'}")
    try:
        async with _http(settings, engine) as http:
            yield http
    finally:
        await engine.dispose()


def _http(settings: Settings, engine: AsyncEngine) -> httpx.AsyncClient:
    app = create_app(settings, engine=engine)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_browsers_get_graphiql(client: GraphQLClient) -> None:
    response = await client.http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_healthz(client: GraphQLClient) -> None:
    response = await client.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_on_a_migrated_database(client: GraphQLClient) -> None:
    response = await client.http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "revision": head_revision()}


async def test_readyz_when_migrations_are_missing(bare_http: httpx.AsyncClient) -> None:
    response = await bare_http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unready",
        "reason": "migrations",
        "current": None,
        "head": head_revision(),
    }


async def test_readyz_when_the_database_cannot_be_opened(
    settings: Settings, tmp_path: Path
) -> None:
    engine = ledger_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    try:
        async with _http(settings, engine) as http:
            response = await http.get("/readyz")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unready"
    assert response.json()["reason"] == "OperationalError"


async def test_a_syntax_error_is_a_graphql_error(client: GraphQLClient) -> None:
    response = await client.http.post("/graphql", json={"query": "{ programs { totalCount "})
    assert response.status_code < 500
    body = response.json()
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["message"].startswith("Syntax Error")
    assert error["locations"]


async def test_an_unknown_field_is_a_validation_error(client: GraphQLClient) -> None:
    error = await client.error("{ programs { totalCount noSuchField } }")
    assert error["message"] == "Cannot query field 'noSuchField' on type 'ProgramConnection'."
    assert error["locations"] == [{"line": 1, "column": 25}]


async def test_an_unexpected_failure_is_masked_with_an_error_id(
    db: Database, client: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    # given: a table the service needs is gone, so its SQL fails unexpectedly
    async with db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE exchange_rates RENAME TO exchange_rates_gone"))
    try:
        # when
        error = await client.error("{ exchangeRates { totalCount } }")
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE exchange_rates_gone RENAME TO exchange_rates"))
    # then: the client learns nothing of the internals; the log has the detail by id
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL"
    error_id = error["extensions"]["errorId"]
    assert "exchange_rates" not in str(error)
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)


async def test_client_mistakes_are_not_logged_as_errors(
    db: Database, client: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        await factories.program(session)
    # when: a bad currency, a bad cursor and an unknown field
    await client.error('{ program { pledgedIn(currency: "RMB") { amount } } }')
    await client.error('{ initiatives(after: "nope") { totalCount } }')
    await client.error("{ nosuchfield }")
    # then: answers to the client, not incidents in the log
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"query": 5}', b'{"query": "{ program { name } }", "variables": [1]}'],
)
async def test_an_unreadable_request_gets_a_graphql_error_with_a_code(
    client: GraphQLClient, body: bytes
) -> None:
    response = await client.http.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"]


def test_every_answer_encodes_as_json_even_what_the_fast_encoder_refuses(
    settings: Settings,
) -> None:
    # Answers are encoded with orjson; what it refuses (a lone surrogate echoed from a
    # request, an integer past 64 bits) still goes out as JSON, escaped.
    router = PledgeRouter(build_schema(settings), settings)
    for data in (
        {"data": {"title": "乡村振兴", "n": 3, "ok": True, "none": None}},
        {"errors": [{"message": "bad \ud800 text"}]},
        {"data": {"n": 2**70}},
    ):
        encoded = router.encode_json(data)
        assert json.loads(encoded) == data
    # as text (a WebSocket sends bytes as binary frames), its characters as they are
    fast = router.encode_json({"t": "乡村振兴"})
    assert isinstance(fast, str)
    assert "乡村振兴" in fast


def test_a_response_body_holds_the_databases_json_as_it_came_and_lets_it_go(
    settings: Settings,
) -> None:
    # given: an answer holding a compiled list's JSON text from the database, and one
    # whose other member orjson refuses (a lone surrogate echoed in an error)
    router = PledgeRouter(build_schema(settings), settings)
    text = '{"nodes":[{"title":"乡村振兴 \\u0001"}]}'.encode()
    listed = Spliced(text)
    refused = Spliced(text)
    sub = Response()
    del sub.headers["content-length"]
    sub.status_code = None  # type: ignore[assignment]
    # when
    body = router.create_response({"data": {"initiatives": listed}}, sub).body
    errors = [{"message": "bad \ud800 text"}]
    fallback = router.create_response({"data": {"list": refused}, "errors": errors}, sub).body
    # then: the body is the bytes orjson writes around the text, as one bytes object,
    # and the text is let go (held once, in the body)
    assert isinstance(body, bytes)
    assert body == orjson.dumps({"data": {"initiatives": orjson.Fragment(text)}})
    with pytest.raises(RuntimeError):
        _ = listed.text
    # and what orjson refuses is still written, escaped as the json module writes it
    assert json.loads(fallback) == {"data": {"list": json.loads(text)}, "errors": errors}


def test_a_started_app_keeps_its_startup_objects_out_of_full_collections(
    tmp_path: Path,
) -> None:
    # A full collection walked every object of the process now and then (160 ms, one
    # request in the first few dozen); once started, they are frozen, and the young
    # generation is collected less often (a large report's objects were walked again
    # at every young collection). In a process of its own: freezing is once per process.
    url = f"sqlite+aiosqlite:///{tmp_path / 'frozen.db'}"
    script = """
import asyncio, gc
from app.config import Settings
from app.main import create_app

async def main():
    app = create_app(Settings(database_url=URL))
    before = gc.get_freeze_count()
    async with app.router.lifespan_context(app):
        print(before, gc.get_freeze_count(), gc.get_threshold()[0])

asyncio.run(main())
""".replace("URL", repr(url))
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True
    )
    assert (tmp_path / "frozen.db").exists()
    before, after, young = (int(n) for n in done.stdout.split())
    assert before == 0
    assert after > 10_000  # the modules, the schema and the tables' metadata
    assert young == YOUNG_COLLECTION_THRESHOLD > 700  # Python's default
