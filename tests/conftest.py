"""Fixtures: every database test runs on SQLite and on PostgreSQL, both real.

A backend that cannot be reached is skipped with its reason, except in CI
(`CI=true`), where that is a failure. Each run creates its own PostgreSQL
database and drops it afterwards, so concurrent runs never collide.
"""

from __future__ import annotations

import gc
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.guards import create_guards, drop_guards
from app.audit.records import Actor
from app.config import Settings
from app.db.base import Base
from app.db.migrate import upgrade
from app.db.session import SessionFactory
from app.demo.loader import load_demo
from app.engines import ledger_engine, ledger_sessions
from app.main import create_app
from app.models import GENESIS_HASH, ChainHead
from app.reports.budget import rollups

# Rows the tests set up directly are changes too; they are made by this actor.
TEST_ACTOR = Actor("test-setup", "system")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# A server DSN (any database on it); the tests create their own databases beside it.
# The webhook signing secrets' key of the tests (a Fernet key; the processes tests
# start are given it too).
WEBHOOK_SECRET_KEY = "dGVzdHMtd2ViaG9vay1zZWNyZXQta2V5LTMyYnl0ZXM="
POSTGRES_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def unreachable(backend: str, reason: str) -> None:
    message = f"{backend} is not reachable: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: every backend is required)", pytrace=False)
    pytest.skip(message)


async def _admin_connection() -> asyncpg.Connection:
    return await asyncpg.connect(POSTGRES_DSN, timeout=5)


async def create_postgres_database(prefix: str = "pledge_test") -> str:
    """Create a fresh, uniquely named database; return its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        admin = await _admin_connection()
    except (OSError, asyncpg.PostgresError) as exc:
        unreachable("PostgreSQL", f"{POSTGRES_DSN}: {exc}")
    try:
        # An ICU locale, as production databases often have: text order that depended
        # on the database's collation would differ here from SQLite, and tests would see.
        try:
            await admin.execute(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        except asyncpg.PostgresError:  # a server built without ICU
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = POSTGRES_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


async def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = await _admin_connection()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@dataclass
class Database:
    backend: str
    url: str
    engine: AsyncEngine
    sessions: SessionFactory


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", params=BACKENDS)
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """A migrated database per backend, shared by the session's tests."""
    backend: str = request.param
    if backend == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = await create_postgres_database()
    engine = ledger_engine(url)
    rollups.install()  # as the app and the command line do
    try:
        await upgrade(engine)
        yield Database(backend, url, engine, ledger_sessions(engine, actor=TEST_ACTOR))
    finally:
        await engine.dispose()
        if backend == "postgresql":
            await drop_postgres_database(url)


async def empty_tables(engine: AsyncEngine, *, restart_ids: bool = True) -> None:
    """Every table emptied, its ids counting from 1 again (unless not `restart_ids`),
    and the trail reset to its start; the append-only guards are lifted for that and put
    back, as an operator resetting a database would.

    DELETE, not TRUNCATE: for the few rows a test leaves, it takes ~8 ms on PostgreSQL
    where TRUNCATE takes ~140 ms, and the suite empties the tables after every test."""
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name != "audit_chain_head"]
    async with engine.begin() as conn:
        await conn.run_sync(drop_guards)
        for table in tables:
            await conn.execute(table.delete())
        if engine.dialect.name == "postgresql" and restart_ids:
            # SQLite numbers from the highest id left; PostgreSQL's sequences go on.
            await conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence(name, 'id'), 1, false) "
                    "FROM unnest(CAST(:names AS text[])) AS name "
                    "WHERE pg_get_serial_sequence(name, 'id') IS NOT NULL"
                ),
                {"names": [t.name for t in tables if "id" in t.c]},
            )
        await conn.execute(
            update(ChainHead).values(last_sequence=0, last_hash=GENESIS_HASH, last_occurred_at=None)
        )
        await conn.run_sync(create_guards)


@pytest.fixture
async def db(database: Database) -> AsyncIterator[Database]:
    """The backend's database, emptied after the test."""
    try:
        yield database
    finally:
        await _emptied(database)


async def _emptied(database: Database) -> None:
    """`empty_tables`, once more if a SQLite file was still locked: a connection a
    cancelled task left unreturned (say, a webhook worker's, closed mid-statement)
    keeps its write lock until the garbage collector closes it, and the next test on
    this worker would otherwise start on this one's rows. Said as a warning, since a
    leaked connection is worth knowing of."""
    try:
        await empty_tables(database.engine)
    except OperationalError as exc:
        if database.backend != "sqlite" or "locked" not in str(exc):
            raise
        warnings.warn(f"the SQLite file was still locked after the test: {exc}", stacklevel=1)
        gc.collect()
        await empty_tables(database.engine)


@pytest.fixture
async def demo(db: Database) -> Database:
    """The backend's database with the demo pledge loaded (emptied after the test)."""
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    return db


@pytest.fixture
def settings() -> Settings:
    return Settings(
        database_url="sqlite+aiosqlite:///unused.db",
        default_page_size=20,
        max_page_size=100,
        anonymous_read=True,
        # As `make serve` has them: some tests introspect, one opens GraphiQL. Their
        # production defaults (off) are tested in tests/http/spec/.
        graphiql=True,
        introspection=True,
        # Tests make thousands of requests from one address; rate limits have their own
        # tests (tests/http/test_rate_limits.py), with their production defaults.
        rate_limit_per_address="",
        rate_limit_per_key="",
        # The row counts the work estimate reads (app/graphql/extensions/work.py) are kept for the
        # whole test: a statement count never depends on when they were last read.
        table_rows_seconds=3600,
        # Answers take turns on the loop once it has been held this long
        # (app/kit/pacing.py); loader batches then split by turn. A second, so that
        # statement counts never depend on how busy the machine is; pacing has its own
        # tests (tests/kit/test_pacing.py, tests/graphql/extensions/test_work.py) with
        # shorter turns.
        answer_slice_seconds=1.0,
        # Webhook signing secrets are sealed under it (on PostgreSQL nothing else would
        # seal them; on SQLite a key file would be made beside `unused.db`).
        webhook_secret_key=SecretStr(WEBHOOK_SECRET_KEY),
    )


@pytest.fixture
async def client(db: Database, settings: Settings) -> AsyncIterator[GraphQLClient]:
    app = create_app(settings.model_copy(update={"database_url": db.url}), engine=db.engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield GraphQLClient(http)


@pytest.fixture
async def client_with(
    db: Database, settings: Settings
) -> AsyncIterator[Callable[..., GraphQLClient]]:
    """Builds clients of apps with other settings: `client_with(anonymous_read=False)`."""
    opened: list[httpx.AsyncClient] = []

    def build(**overrides: Any) -> GraphQLClient:
        app = create_app(
            settings.model_copy(update={"database_url": db.url, **overrides}), engine=db.engine
        )
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        opened.append(http)
        return GraphQLClient(http)

    try:
        yield build
    finally:
        for http in opened:
            await http.aclose()


class GraphQLClient:
    """Posts operations to /graphql the way a frontend would."""

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
        self.http = http
        self.headers = headers or {}

    def with_key(self, secret: str | None) -> GraphQLClient:
        """The same client sending `Authorization: Bearer <secret>` (None: no header)."""
        headers = {k: v for k, v in self.headers.items() if k != "Authorization"}
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        return GraphQLClient(self.http, headers)

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        """The raw response, whatever its status."""
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=self.headers
        )

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data of an operation that must succeed."""
        body = await self.execute(query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first error of an operation that must fail."""
        body = await self.execute(query, variables)
        assert body.get("errors"), body
        error: dict[str, Any] = body["errors"][0]
        return error


async def read_row_counts(client: GraphQLClient) -> None:
    """Have the app read the tables' row counts (once per TABLE_ROWS_SECONDS), so that
    the statements counted after this are the request's own."""
    await client.data("{ program { allocated { amount } } }")


async def autocommit_connections(db: Database) -> int:
    """How many of the pool's idle connections would run their next statement outside
    a transaction: every one of them, held at once, looked at on the driver's side."""
    async with AsyncExitStack() as held:
        connections = [
            await held.enter_async_context(db.engine.connect())
            for _ in range(db.engine.pool.checkedin())  # type: ignore[attr-defined]
        ]
        raws = [await connection.get_raw_connection() for connection in connections]
        return sum(1 for raw in raws if raw.dbapi_connection.autocommit)  # type: ignore[union-attr]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`postgres_only` tests run for the PostgreSQL parameter only (LISTEN/NOTIFY, say),
    `sqlite_only` ones for the SQLite parameter only (how SQLite holds a value): their
    other instances are not collected at all, rather than skipped."""

    def runs(item: pytest.Item) -> bool:
        params = getattr(getattr(item, "callspec", None), "params", {}).values()
        if item.get_closest_marker("postgres_only") is not None:
            return "sqlite" not in params
        if item.get_closest_marker("sqlite_only") is not None:
            return "postgresql" not in params
        return True

    items[:] = [item for item in items if runs(item)]
