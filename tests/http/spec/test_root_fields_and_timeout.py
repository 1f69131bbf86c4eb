"""Root fields are limited, an operation running past EXECUTION_TIMEOUT_SECONDS is
stopped (a write with it, writing nothing), subscriptions are left alone, and repeats
still hit the caches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

import pytest
import strawberry
from strawberry.extensions.validation_cache import _get_validate_cache

from app.graphql import query
from app.graphql.extensions.limits import CACHE_SIZE, ExecutionTimeout, cached_parse
from app.kit.ids import encode_global_id
from app.writes import service
from tests import factories as f
from tests.conftest import Database
from tests.http.spec.common import CREATE, NEW_SOURCE, PROGRAMS, ClientWith, post, source_documents


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
    # and both are counted by their code, as every other error is
    metrics = (await client.http.get("/metrics")).text
    assert 'pledge_ledger_graphql_errors_total{code="TIMEOUT"} 2.0' in metrics
    # and the service goes on answering
    assert await client.data(PROGRAMS) == {"programs": {"totalCount": 0}}


async def test_a_mutation_stopped_by_the_timeout_writes_nothing(
    db: Database, client_with: ClientWith, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a write that stalls while it holds the ledger's write lock
    async with db.sessions() as session, session.begin():
        secret = await f.api_key(session, "editor")
    client = client_with(execution_timeout_seconds=1.0).with_key(secret)

    async def stall(session: Any) -> None:
        await asyncio.sleep(10)

    monkeypatch.setattr(service, "lock_held_hook", stall)
    # when
    stopped = await client.execute(CREATE, {"input": NEW_SOURCE})
    monkeypatch.setattr(service, "lock_held_hook", None)
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
    # a timeout, besides depth, aliases, tokens and cost; every operation through
    # strawberry's execution (a kept one is not parsed again at all: test_kept.py)
    client = client_with(
        introspection=False, field_suggestions=False, graphiql=False, kept_operations=False
    )
    operation = "query($n: Int) { a: initiatives(first: $n) { totalCount } __typename }"
    await client.data(operation, {"n": 1})
    validate: Any = _get_validate_cache(CACHE_SIZE)
    parsed, misses = cached_parse.cache_info().hits, validate.cache_info().misses
    # when: the same operation three more times
    for n in (2, 3, 4):
        await client.data(operation, {"n": n})
    # then: neither parsed nor validated again (what validation found is kept by the
    # document, in front of strawberry's cache: app/graphql/extensions/limits.py)
    assert cached_parse.cache_info().hits == parsed + 3
    assert validate.cache_info().misses == misses
