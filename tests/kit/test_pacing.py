"""Answers take turns on the event loop fairly (app/kit/pacing.py).

A large answer's pieces (pages turned into objects, slices of long lists) wait for
their turn once the loop has been held long; a small answer from another caller, or
another operation of the same caller, must not wait behind all of them. These tests
drive the pacer on the running loop with real tasks: the order in which pieces go is
what a victim's wait depends on (bench/victim.py measures the wait itself).
"""

from __future__ import annotations

import asyncio
import time

from app.kit.pacing import Pacer

SLICE = 0.005  # each turn gives answers 5 ms in all
WORK = 0.002  # what one piece costs: about two pieces fit in a turn


def spent(pacer: Pacer) -> Pacer:
    """The pacer as when the current turn has run long: every piece waits for a turn."""
    pacer.turn_began = -float("inf")
    return pacer


def queue(
    pacer: Pacer, done: list[str], label: str, caller: str, operation: int, pieces: int
) -> list[asyncio.Task[None]]:
    """Tasks for one operation's pieces: each waits for its turn, holds the loop for
    WORK, then records that it ran. They ask once the test awaits: every queue made
    before that asks in the same turn of the loop."""

    async def piece(i: int) -> None:
        await pacer.pause(SLICE, caller, operation)
        until = time.perf_counter() + WORK
        while time.perf_counter() < until:
            pass
        done.append(f"{label}{i}")

    return [asyncio.create_task(piece(i)) for i in range(pieces)]


async def test_a_small_answer_waits_one_piece_per_other_caller_not_behind_all_of_them() -> None:
    pacer, done = spent(Pacer()), list[str]()
    # given: a large answer's 300 pieces in line first, then a small one of another caller
    large = queue(pacer, done, "large", "key:attacker", 1, 300)
    small = queue(pacer, done, "small", "key:victim", 2, 1)
    # when: the loop turns until the small answer's piece has gone
    await asyncio.wait_for(asyncio.gather(*small), timeout=30)
    # then: it went in the first turn, beside one piece of the large answer, not after 300
    assert done.index("small0") <= 1, done[:5]
    await asyncio.gather(*large)
    assert len(done) == 301
    assert pacer.waiting == 0


async def test_one_callers_operations_take_turns_among_themselves() -> None:
    pacer, done = spent(Pacer()), list[str]()
    # given: one caller's large operation queued first, then a small one of the same caller
    large = queue(pacer, done, "large", "key:reader", 1, 100)
    small = queue(pacer, done, "small", "key:reader", 2, 1)
    await asyncio.gather(*small)
    # then: the caller's turns alternate between its operations
    assert done.index("small0") <= 1, done[:5]
    await asyncio.gather(*large)
    # and every piece of each operation went in the order it asked
    assert [d for d in done if d.startswith("large")] == [f"large{i}" for i in range(100)]


async def test_every_caller_with_work_waiting_gets_one_piece_per_turn() -> None:
    pacer, done = spent(Pacer()), list[str]()
    tasks = []
    for caller in ("a", "b", "c"):
        tasks += queue(pacer, done, caller, f"key:{caller}", ord(caller), 4)
    await asyncio.gather(*tasks)
    # round robin: a piece of each caller, then the next piece of each
    assert done == [f"{c}{i}" for i in range(4) for c in ("a", "b", "c")]


async def test_a_cancelled_answer_gives_its_turns_to_the_others() -> None:
    pacer, done = spent(Pacer()), list[str]()
    gone = queue(pacer, done, "gone", "key:a", 1, 50)
    kept = queue(pacer, done, "kept", "key:a", 2, 3)
    other = queue(pacer, done, "other", "key:b", 3, 3)
    await asyncio.sleep(0)  # every piece is waiting for its turn
    assert pacer.waiting == 56
    # when: the first operation is cancelled while its pieces wait (a timeout, a
    # closed connection)
    for task in gone:
        task.cancel()
    await asyncio.gather(*kept, *other)
    # then: its pieces never run, the others all do, and nothing is left waiting
    assert not [d for d in done if d.startswith("gone")]
    assert sorted(done) == ["kept0", "kept1", "kept2", "other0", "other1", "other2"]
    await asyncio.gather(*gone, return_exceptions=True)
    await asyncio.sleep(0)
    assert pacer.waiting == 0


async def test_answers_go_on_while_other_work_spends_every_turn() -> None:
    # given: a task that holds the loop longer than a turn's time each time it runs,
    # outside any answer (JSON encoding, another request's statements)
    pacer, done = spent(Pacer()), list[str]()
    stop = False

    async def busy() -> None:
        while not stop:
            until = time.perf_counter() + 1.5 * SLICE
            while time.perf_counter() < until:
                pass
            await asyncio.sleep(0)

    burner = asyncio.create_task(busy())
    try:
        # when: an answer of 20 pieces waits for its turns
        answer = queue(pacer, done, "piece", "key:a", 1, 20)
        await asyncio.wait_for(asyncio.gather(*answer), timeout=60)
    finally:
        stop = True
        await burner
    # then: it was built all the same, a piece or more per turn, in order
    assert done == [f"piece{i}" for i in range(20)]


async def test_pieces_woken_too_late_in_a_turn_keep_their_place() -> None:
    # Pieces woken in a turn whose time runs out wait again at the head of their line,
    # in their order, ahead of pieces that asked later.
    pacer, done = spent(Pacer()), list[str]()
    first = queue(pacer, done, "early", "key:a", 1, 10)
    await asyncio.sleep(0)
    later = queue(pacer, done, "late", "key:a", 1, 10)
    await asyncio.gather(*first, *later)
    assert done == [f"early{i}" for i in range(10)] + [f"late{i}" for i in range(10)]


async def test_a_piece_goes_on_at_once_while_the_turn_is_young() -> None:
    pacer = Pacer()
    pacer.turn_began = time.perf_counter()
    # when: an answer asks for its turn early in a turn
    task = asyncio.create_task(pacer.pause(60.0, "key:a", 1))
    await asyncio.sleep(0)
    # then: it did not wait for the loop to turn
    assert task.done()
    assert pacer.waiting == 0


async def test_pieces_that_fit_in_a_turn_run_in_the_same_turn() -> None:
    # Loaders batch the keys asked in one turn: pages that arrived together must still
    # be turned into objects together when the turn has time for them.
    pacer = spent(Pacer())
    turns: list[float] = []

    async def piece(i: int) -> None:
        await pacer.pause(60.0, f"key:{i % 3}", i % 5)
        turns.append(pacer.turn_began)

    await asyncio.gather(*(piece(i) for i in range(200)))
    assert len(turns) == 200
    assert len(set(turns)) == 1
