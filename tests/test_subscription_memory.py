"""A long-running subscription's memory does not grow with the events it delivers.

graphql-core 3.3 shares one memo of collected subfields between a subscription and the
executor of each of its events, keyed by field lists built afresh per event: without
our executor (app/graphql/schema.py) every event left ~1-3 KB behind until the
subscription ended (bench/README.md measured 3.24 KB per delivery)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncGenerator

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


async def test_memory_per_delivered_event_stays_flat() -> None:
    # The baseline shows the growth is real here, so the check below can fail.
    grows = await kept_after(StrawberryGraphQLCoreExecutionContext, 2000) - await kept_after(
        StrawberryGraphQLCoreExecutionContext, 200
    )
    flat = await kept_after(Executor, 2000) - await kept_after(Executor, 200)
    assert grows > 1800 * 500, grows  # over 0.5 KB per event without the fix
    assert flat < 1800 * 50, flat  # under 50 bytes per event with it
