"""A long-running subscription's memory does not grow with the events it delivers.

graphql-core 3.3 shares one memo of collected subfields between a subscription and the
executor of each of its events, keyed by field lists built afresh per event: without
our executor (app/graphql/schema.py) every event left ~1-3 KB behind until the
subscription ended (bench/README.md measured 3.24 KB per delivery).

The measurement runs in a fresh interpreter: inside the test session, tracemalloc also
traced every other test's leftovers and the check took two minutes instead of seconds."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncGenerator
from pathlib import Path

import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.graphql.schema import Executor


@strawberry.type
class Actor:
    name: str
    role: str


@strawberry.type
class Event:
    sequence: int
    actor: Actor
    fields: list[str]


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def events(self, count: int) -> AsyncGenerator[Event, None]:
        for sequence in range(count):
            yield Event(sequence=sequence, actor=Actor(name="a", role="b"), fields=["x", "y"])


DOCUMENT = "subscription($n: Int!) { events(count: $n) { sequence actor { name role } fields } }"


async def kept_after(executor: type[StrawberryGraphQLCoreExecutionContext], events: int) -> int:
    """Bytes still allocated while a subscription is open, after it delivered `events`."""
    schema = strawberry.Schema(
        query=Query, subscription=Subscription, execution_context_class=executor
    )
    gc.collect()
    tracemalloc.start()
    try:
        stream = await schema.subscribe(DOCUMENT, variable_values={"n": events + 1})
        assert not isinstance(stream, strawberry.types.ExecutionResult)
        delivered = 0
        async for result in stream:
            assert result.errors is None
            delivered += 1
            if delivered == events:
                break
        gc.collect()
        kept, _peak = tracemalloc.get_traced_memory()
        await stream.aclose()
        return kept
    finally:
        tracemalloc.stop()


async def measure() -> dict[str, int]:
    """Growth between 200 and 2,000 delivered events, without our executor and with it."""
    return {
        "grows": await kept_after(StrawberryGraphQLCoreExecutionContext, 2000)
        - await kept_after(StrawberryGraphQLCoreExecutionContext, 200),
        "flat": await kept_after(Executor, 2000) - await kept_after(Executor, 200),
    }


def test_memory_per_delivered_event_stays_flat() -> None:
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-m", "tests.graphql.subscriptions.test_memory"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    figures = json.loads(done.stdout)
    # The baseline shows the growth is real here, so the check below can fail.
    assert figures["grows"] > 1800 * 500, figures  # over 0.5 KB per event without the fix
    assert figures["flat"] < 1800 * 50, figures  # under 50 bytes per event with it


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure())))
