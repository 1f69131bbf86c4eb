"""Rate limits per client address and per caller (app/http/rate_limits.py): a client
over its budget gets 429 RATE_LIMITED with Retry-After, and nothing runs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select

from app import models as m
from app.config import Settings
from app.http.rate_limits import RateLimiter
from app.kit.addresses import address_key
from app.kit.ids import encode_global_id
from app.main import create_app
from tests import factories as f
from tests.conftest import Database, unreachable
from tests.live import LiveData, live_data, start_server
from tests.wsclient import Closed, LiveClient

QUERY = "{ initiatives(first: 1) { totalCount } }"
WRITE = """
mutation($input: CreateTransactionInput!) {
  createTransaction(input: $input) { transaction { id } errors { code } }
}"""
REDIS_URL = "redis://127.0.0.1:6379/0"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def a_new_address() -> str:
    """An address no other test (or earlier run, in a shared Redis) has used."""
    value = uuid.uuid4().int
    return f"10.{value % 250}.{(value >> 8) % 250}.{(value >> 16) % 250 + 1}"


@pytest.fixture
async def keys(demo: Database) -> dict[str, str]:
    async with demo.sessions() as session, session.begin():
        return {
            "viewer": await f.api_key(session, "viewer", name=f"viewer-{uuid.uuid4().hex[:8]}"),
            "other": await f.api_key(session, "viewer", name=f"other-{uuid.uuid4().hex[:8]}"),
            "editor": await f.api_key(session, "editor", name=f"editor-{uuid.uuid4().hex[:8]}"),
        }


@pytest.fixture
async def apps(db: Database, settings: Settings) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """Clients of apps with these settings, from an address of the test's choosing."""
    opened: list[httpx.AsyncClient] = []

    def build(address: str, **overrides: Any) -> httpx.AsyncClient:
        app = create_app(
            settings.model_copy(update={"database_url": db.url, **overrides}), engine=db.engine
        )
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        http = httpx.AsyncClient(transport=transport, base_url="http://test")
        opened.append(http)
        return http

    try:
        yield build
    finally:
        for http in opened:
            await http.aclose()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def query(http: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await http.post("/graphql", json={"query": QUERY}, headers=headers)


def assert_limited(response: httpx.Response, setting: str) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    body: dict[str, Any] = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["setting"] == setting
    assert setting in error["message"]
    assert error["extensions"]["retryAfter"] == int(response.headers["retry-after"])
    return error


async def test_an_address_over_its_budget_gets_429_with_retry_after(
    demo: Database, apps: Callable[..., httpx.AsyncClient]
) -> None:
    address = a_new_address()
    http = apps(address, rate_limit_per_address="3/minute")
    for _ in range(3):
        response = await query(http)
        assert response.status_code == 200
        assert response.json()["data"]["initiatives"]["totalCount"] == 10
    error = assert_limited(await query(http), "RATE_LIMIT_PER_ADDRESS")
    assert error["extensions"]["limit"] == "3/minute"
    # Its media type follows the client's Accept, as every refusal's does.
    spec = await query(http, accept=GRAPHQL_RESPONSE)
    assert spec.status_code == 429
    assert spec.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    # Another address has a budget of its own.
    other = apps(a_new_address(), rate_limit_per_address="3/minute")
    assert (await query(other)).status_code == 200


async def test_guessing_keys_spends_the_address_budget(
    demo: Database, keys: dict[str, str], apps: Callable[..., httpx.AsyncClient]
) -> None:
    """Requests are counted by address before their credential is checked."""
    http = apps(a_new_address(), rate_limit_per_address="3/minute")
    for attempt in range(3):
        wrong = await query(http, **bearer(f"pl_not-a-key-{attempt}"))
        assert wrong.status_code == 401
    assert_limited(await query(http, **bearer(keys["viewer"])), "RATE_LIMIT_PER_ADDRESS")


async def test_each_key_has_its_own_budget(
    demo: Database, keys: dict[str, str], apps: Callable[..., httpx.AsyncClient]
) -> None:
    http = apps(a_new_address(), rate_limit_per_key="2/minute", rate_limit_per_address="")
    assert (await query(http, **bearer(keys["viewer"]))).status_code == 200
    assert (await query(http, **bearer(keys["viewer"]))).status_code == 200
    error = assert_limited(await query(http, **bearer(keys["viewer"])), "RATE_LIMIT_PER_KEY")
    assert "this caller" in error["message"]
    # Another key, and anonymous callers (counted by address only), are not affected.
    assert (await query(http, **bearer(keys["other"]))).status_code == 200
    assert (await query(http)).status_code == 200


async def test_a_refused_request_spends_none_of_the_other_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a clock of the test's own (windows are aligned to the epoch, and a real run
    could straddle a window's edge, where a sliding window's estimate is loosest)."""
    now = [1_800_000_030.5]  # the middle of a minute, and of a second
    monkeypatch.setattr(time, "time", lambda: now[0])
    limiter = RateLimiter(Settings(rate_limit_per_address="2/minute;1/second"))
    address = a_new_address()
    assert await limiter.check_address(address) is None
    for _ in range(3):  # refused by the second's window, not counted in the minute's
        refused = await limiter.check_address(address)
        assert refused is not None and refused.limit == "1/second"
    now[0] += 2.0
    assert await limiter.check_address(address) is None  # the minute's 2nd
    now[0] += 2.0
    refused = await limiter.check_address(address)
    assert refused is not None and refused.limit == "2/minute"
    assert refused.setting == "RATE_LIMIT_PER_ADDRESS"


async def test_an_ipv6_client_is_counted_by_its_64(
    demo: Database, settings: Settings, db: Database
) -> None:
    app = create_app(
        settings.model_copy(update={"database_url": db.url, "rate_limit_per_address": "2/minute"}),
        engine=db.engine,
    )
    prefix = f"2001:db8:{uuid.uuid4().int % 65536:x}:1::"

    async def from_address(address: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return (await query(http)).status_code

    assert await from_address(prefix + "1") == 200
    assert await from_address(prefix + "2") == 200
    assert await from_address(prefix + "3") == 429  # the same /64
    assert await from_address(prefix.replace(":1::", ":2::") + "1") == 200
    assert address_key("::ffff:10.1.2.3") == "10.1.2.3"
    assert address_key("10.1.2.3") == "10.1.2.3"


async def test_in_memory_counts_are_swept_now_and_then_not_at_every_request() -> None:
    """Sweeping every count at each request made a request's cost grow with the number
    of clients seen lately; sweeps now come at most every few seconds."""
    limiter = RateLimiter(Settings(rate_limit_per_address="100/minute"))
    sweeps = 0
    sweep = limiter.storage._MemoryStorage__expire_events  # type: ignore[union-attr]

    async def counted() -> None:
        nonlocal sweeps
        sweeps += 1
        await sweep()

    limiter.storage._MemoryStorage__expire_events = counted  # type: ignore[union-attr]
    for n in range(2000):
        assert await limiter.check_address(f"10.9.{n // 250}.{n % 250}") is None
        await asyncio.sleep(0)  # a sweep started runs, and ends, between requests
    assert sweeps == 1


async def test_a_refused_write_writes_nothing(
    demo: Database, keys: dict[str, str], apps: Callable[..., httpx.AsyncClient]
) -> None:
    http = apps(a_new_address(), rate_limit_per_key="1/minute", rate_limit_per_address="")
    async with demo.sessions() as session:
        initiative = await session.scalar(select(m.Initiative.id).limit(1))
    variables = {
        "input": {
            "initiativeId": encode_global_id("Initiative", initiative),
            "type": "DISBURSEMENT",
            "date": "2024-05-02",
            "amount": "1.00",
            "currency": "CNY",
        }
    }
    body = {"query": WRITE, "variables": variables}
    written = await http.post("/graphql", json=body, headers=bearer(keys["editor"]))
    assert written.json()["data"]["createTransaction"]["errors"] == []
    async with demo.sessions() as session:
        before = await session.scalar(select(func.count()).select_from(m.Change))
    refused = await http.post("/graphql", json=body, headers=bearer(keys["editor"]))
    assert_limited(refused, "RATE_LIMIT_PER_KEY")
    async with demo.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.Change)) == before


async def test_csv_downloads_count_too(
    demo: Database, keys: dict[str, str], apps: Callable[..., httpx.AsyncClient]
) -> None:
    http = apps(a_new_address(), rate_limit_per_address="1/minute")
    auditor_free = await http.get("/reports/budget-summary.csv", params={"groupBy": "INITIATIVE"})
    assert auditor_free.status_code in (200, 401)  # counted, whatever the answer
    assert_limited(
        await http.get("/reports/budget-summary.csv", params={"groupBy": "INITIATIVE"}),
        "RATE_LIMIT_PER_ADDRESS",
    )


# --- Shared by every process through Redis ---


@pytest.fixture
async def redis_url() -> str:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        unreachable("Redis", f"{REDIS_URL}: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL


async def test_processes_share_budgets_through_redis(
    demo: Database, keys: dict[str, str], redis_url: str, apps: Callable[..., httpx.AsyncClient]
) -> None:
    """Two apps (as two processes would) on one Redis: an address has one budget, and a
    key has one wherever it calls from."""
    # A URL as redis-py reads it (no port) is one the limits accept too.
    shared = {"rate_limit_storage": "redis", "redis_url": redis_url.replace(":6379", "")}
    address = a_new_address()
    by_address = {**shared, "rate_limit_per_address": "4/minute", "rate_limit_per_key": ""}
    first, second = apps(address, **by_address), apps(address, **by_address)
    statuses = [(await query(http)).status_code for http in (first, second, first, second)]
    assert statuses == [200, 200, 200, 200]
    assert_limited(await query(first), "RATE_LIMIT_PER_ADDRESS")
    assert_limited(await query(second), "RATE_LIMIT_PER_ADDRESS")

    by_key = {**shared, "rate_limit_per_address": "", "rate_limit_per_key": "2/minute"}
    here, there = apps(a_new_address(), **by_key), apps(a_new_address(), **by_key)
    assert (await query(here, **bearer(keys["viewer"]))).status_code == 200
    assert (await query(there, **bearer(keys["viewer"]))).status_code == 200
    assert_limited(await query(here, **bearer(keys["viewer"])), "RATE_LIMIT_PER_KEY")
    assert_limited(await query(there, **bearer(keys["viewer"])), "RATE_LIMIT_PER_KEY")


async def test_concurrent_requests_cannot_slip_past_a_shared_limit(redis_url: str) -> None:
    """Many requests at once from one client, on Redis: exactly the budget gets
    through, and a burst larger than the connection pool neither errs nor lapses the
    limits (each waits its turn)."""
    limiter = RateLimiter(
        Settings(
            redis_url=redis_url, rate_limit_storage="redis", rate_limit_per_address="10/minute"
        )
    )
    try:
        address = a_new_address()
        answers = await asyncio.gather(*(limiter.check_address(address) for _ in range(150)))
        assert sum(answer is None for answer in answers) == 10
        assert all(a.setting == "RATE_LIMIT_PER_ADDRESS" for a in answers if a is not None)
        later = await limiter.check_address(address)
        assert later is not None  # still enforced: the burst did not look like an outage
    finally:
        await limiter.close()


async def test_an_unreachable_redis_lets_requests_through(
    demo: Database, apps: Callable[..., httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis outage must not take the service down with it: limits lapse, loudly."""
    http = apps(
        a_new_address(),
        rate_limit_per_address="1/minute",
        rate_limit_storage="redis",
        redis_url="redis://127.0.0.1:1/0",
    )
    for _ in range(3):
        assert (await query(http)).status_code == 200
    assert any("rate limits not enforced" in r.getMessage() for r in caplog.records)


async def test_a_hung_redis_lets_requests_through(
    demo: Database, apps: Callable[..., httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis that takes connections and never answers: requests pass, the failure is
    logged once, and the storage is left alone for a while rather than asked (and
    waited for) at every request."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        http = apps(
            a_new_address(),
            rate_limit_per_address="1/minute",
            rate_limit_storage="redis",
            redis_url=f"redis://127.0.0.1:{port}/0",
        )
        for _ in range(5):
            assert (await query(http)).status_code == 200
        warnings = [r for r in caplog.records if "rate limits not enforced" in r.getMessage()]
        assert len(warnings) == 1
        assert len(held) == 1  # asked once; the next requests did not wait on it again
    finally:
        listener.close()
        for writer in held:
            writer.close()


def test_a_limit_that_is_not_one_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="not a rate limit"):
        Settings(rate_limit_per_key="lots")
    with pytest.raises(ValueError, match="REDIS_URL"):
        Settings(rate_limit_storage="redis")
    assert Settings(redis_url=REDIS_URL).rate_limit_backend == "redis"
    assert Settings().rate_limit_backend == "memory"


# --- WebSockets, against a real server ---


@pytest.fixture(scope="module")
async def limited(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveData]:
    async for data in live_data("sqlite", tmp_path_factory.mktemp("limited")):
        server = await start_server(
            data.url, rate_limit_per_address="4/minute", rate_limit_per_key="3/minute"
        )
        data.servers.append(server)
        try:
            yield data
        finally:
            server.stop()


async def closed_at_init(url: str, secret: str) -> Closed:
    client = await LiveClient.connect(url, init=False)
    await client.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {secret}"}})
    return await client.ended()


async def test_websocket_connections_and_operations_are_counted(limited: LiveData) -> None:
    """A connection counts once by address and once by caller; each operation on it
    counts by its caller. Over budget, an operation gets RATE_LIMITED, and a new
    connection is closed with 4429 naming the limit."""
    url = limited.servers[0].ws
    viewer, editor = limited.keys["viewer"], limited.keys["editor"]
    async with await LiveClient.connect(url, authorization=f"Bearer {viewer}") as client:
        for _ in range(2):  # the key's 2nd and 3rd requests: its budget is spent
            subscription = await client.subscribe(QUERY)
            assert (await subscription.data())["initiatives"]["totalCount"] == 10
        refused = await (await client.subscribe(QUERY)).next()
        assert refused["type"] == "error", refused
        [error] = refused["payload"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["setting"] == "RATE_LIMIT_PER_KEY"
    closed = await closed_at_init(url, viewer)  # the address's 2nd; the key is over
    assert (closed.code, closed.reason.split(":")[0]) == (4429, "RATE_LIMITED")
    assert "RATE_LIMIT_PER_KEY" in closed.reason
    async with await LiveClient.connect(url, authorization=f"Bearer {editor}") as other:
        assert other.ack is not None  # the address's 3rd; another key's budget
    async with await LiveClient.connect(url, authorization=f"Bearer {editor}"):
        pass  # the address's 4th
    closed = await closed_at_init(url, editor)
    assert closed.code == 4429
    assert "RATE_LIMIT_PER_ADDRESS" in closed.reason


@pytest.fixture(scope="module")
async def open_to_all(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveData]:
    async for data in live_data("sqlite", tmp_path_factory.mktemp("open")):
        server = await start_server(
            data.url, anonymous_read="true", rate_limit_per_address="3/minute"
        )
        data.servers.append(server)
        try:
            yield data
        finally:
            server.stop()


async def test_anonymous_websocket_operations_are_counted_by_address(
    open_to_all: LiveData,
) -> None:
    url = open_to_all.servers[0].ws
    async with await LiveClient.connect(url) as client:  # the address's 1st
        for _ in range(2):  # 2nd and 3rd
            subscription = await client.subscribe(QUERY)
            assert (await subscription.data())["initiatives"]["totalCount"] == 10
        refused = await (await client.subscribe(QUERY)).next()
        assert refused["type"] == "error", refused
        assert refused["payload"][0]["extensions"]["setting"] == "RATE_LIMIT_PER_ADDRESS"
