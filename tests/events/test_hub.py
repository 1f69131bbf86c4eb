"""The hub in-process, on both databases: a subscription that starts while writers
commit, catching up from the log and then joining the live stream, receives every
entry exactly once, in order, whenever it joins."""

from __future__ import annotations

import asyncio

from app.config import Settings
from app.events.brokers import MemoryBroker
from app.events.hub import EventFilter, EventHub, EventQueue, Signal, last_sequence
from app.events.scopes import Scope
from tests import factories as f
from tests.conftest import Database

WRITES = 40


async def test_joining_the_live_stream_leaves_no_gap_and_no_duplicate(
    db: Database, settings: Settings
) -> None:
    settings = settings.model_copy(update={"events_poll_seconds": 0.05})
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
    start = await last_sequence(db.sessions)
    hub = EventHub(db.sessions, settings, broker=MemoryBroker())
    await hub.start()

    async def write() -> None:
        for _ in range(WRITES):
            async with db.sessions() as session, session.begin():
                await f.transaction(session, initiative)
            await asyncio.sleep(0.005)

    async def read(delay: float) -> list[int]:
        await asyncio.sleep(delay)
        queue = EventQueue(lambda _entry: True, capacity=10_000)
        seen: list[int] = []
        async with hub.subscription(queue):
            async for entry, ordinal in hub.follow(queue, EventFilter(), start, start):
                assert ordinal == entry.sequence  # the whole log counts every entry
                seen.append(int(entry.sequence))
                if entry.sequence >= start + WRITES:
                    return seen
        return seen

    try:
        readers = [asyncio.create_task(read(delay)) for delay in (0, 0.02, 0.05, 0.1, 0.2, 0.4)]
        await write()
        results = await asyncio.wait_for(asyncio.gather(*readers), 30)
    finally:
        await hub.close()
    expected = list(range(start + 1, start + WRITES + 1))
    for seen in results:
        assert seen == expected
    assert hub.open_subscriptions == 0


async def test_a_filtered_follower_gets_its_entries_only(db: Database, settings: Settings) -> None:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        mine, other = await f.initiative(session, program), await f.initiative(session, program)
    start = await last_sequence(db.sessions)
    hub = EventHub(db.sessions, settings, broker=MemoryBroker())
    await hub.start()
    try:
        # Written before the follower starts: it reads them from the log.
        async with db.sessions() as session, session.begin():
            await f.transaction(session, other)
            first = await f.transaction(session, mine)
        events = EventFilter(initiative_ids=frozenset({mine.id}))
        queue = EventQueue(events.matches, capacity=10)
        async with hub.subscription(queue):
            stream = hub.follow(queue, events, start, start)
            assert (await anext(stream))[0].entity_id == first.id
            # Written after: it arrives live.
            async with db.sessions() as session, session.begin():
                await f.transaction(session, other)
                second = await f.transaction(session, mine)
            entry, _ = await asyncio.wait_for(anext(stream), 10)
            assert (entry.entity_id, entry.initiative_id) == (second.id, mine.id)
            await stream.aclose()
    finally:
        await hub.close()


async def test_a_scoped_follower_counts_its_own_entries_across_the_seam(
    db: Database, settings: Settings
) -> None:
    """A partner's positions: its n-th entry is n, however many entries of others come
    between, from the log and live alike, whenever the follower joins; a filter within
    the scope skips entries, and the count goes on over them."""
    settings = settings.model_copy(update={"events_poll_seconds": 0.05})
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        mine, other = await f.initiative(session, program), await f.initiative(session, program)
    scope = Scope(frozenset({mine.id}))
    start = await last_sequence(db.sessions)
    before = await scope.ordinal_at(db.sessions, start)  # the initiative's own create
    assert before == 1
    # Every third write is its own, alternately a transaction and a milestone.
    kinds = [("transactions", "milestones")[n % 2] for n in range(len(range(0, WRITES, 3)))]
    hub = EventHub(db.sessions, settings, broker=MemoryBroker())
    await hub.start()

    async def write() -> None:
        for n in range(WRITES):
            async with db.sessions() as session, session.begin():
                if n % 3:
                    await f.transaction(session, other)
                elif kinds[n // 3] == "milestones":
                    await f.milestone(session, mine)
                else:
                    await f.transaction(session, mine)
            await asyncio.sleep(0.005)

    async def read(delay: float, events: EventFilter, count: int) -> list[tuple[str, int]]:
        await asyncio.sleep(delay)
        queue = EventQueue(events.matches, capacity=10_000, scope=scope)
        seen: list[tuple[str, int]] = []
        async with hub.subscription(queue):
            async for entry, ordinal in hub.follow(queue, events, start, before):
                seen.append((entry.entity_type, ordinal))
                if len(seen) == count:
                    break
        return seen

    own = EventFilter(initiative_ids=frozenset({mine.id}))
    milestones = EventFilter(
        initiative_ids=frozenset({mine.id}), entity_types=frozenset({"milestones"})
    )
    try:
        readers = [
            asyncio.create_task(read(delay, own, len(kinds))) for delay in (0, 0.05, 0.1, 0.4)
        ]
        readers += [
            asyncio.create_task(read(delay, milestones, kinds.count("milestones")))
            for delay in (0, 0.2)
        ]
        await write()
        results = await asyncio.wait_for(asyncio.gather(*readers), 30)
    finally:
        await hub.close()
    expected = [(kind, before + 1 + n) for n, kind in enumerate(kinds)]
    for seen in results[:4]:
        assert seen == expected
    for seen in results[4:]:
        assert seen == [event for event in expected if event[0] == "milestones"]
    # The same count in SQL, and no position past the scope's last entry.
    end = await last_sequence(db.sessions)
    assert await scope.ordinal_at(db.sessions, end) == before + len(kinds)
    assert await scope.sequence_at(db.sessions, before + len(kinds) + 1) is None
    last_own = await scope.sequence_at(db.sessions, before + len(kinds))
    assert last_own is not None and last_own <= end


async def test_a_subscribers_signal_wakes_every_waiter_and_stays_set_until_cleared() -> None:
    signal = Signal()
    assert not signal.is_set()
    waiters = [asyncio.create_task(signal.wait()) for _ in range(3)]
    cancelled = asyncio.create_task(signal.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    signal.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert cancelled.cancelled()
    assert signal.is_set() and await signal.wait()  # set: returns at once
    signal.clear()
    late = asyncio.create_task(signal.wait())
    await asyncio.sleep(0.01)
    assert not late.done()
    signal.set()
    assert await asyncio.wait_for(late, 1)
