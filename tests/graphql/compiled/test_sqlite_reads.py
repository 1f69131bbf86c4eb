"""SQLite's side of a kept read (app/db/shared.py `_pooled_sqlite`, issue 15): from
the second request on, its one statement runs alone, on the event loop's thread (and
its own connection) while it is quick, in a pooled connection's thread once it is not;
nothing else is sent, the loop is never held by a long statement, and one that
outlasts the execution limit is interrupted."""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import literal, select, text

from app.db import shared
from app.db.session import (
    SQLITE_BUSY_TIMEOUT_MS,
    StatementCounter,
    any_thread,
    create_engine,
    unpooled_twin,
)
from app.db.shared import (
    CHECKOUTS,
    RUNS,
    SQLITE_RUNS,
    Repeated,
    one_row,
    one_statement,
    read_snapshot,
)
from tests.conftest import Database, GraphQLClient
from tests.graphql.compiled.test_driver import DASHBOARD, SLOW, _last_kept, _seed

pytestmark = pytest.mark.sqlite_only


def _idle_connections(engine: Any) -> list[Any]:
    """The sqlite3 connections idle in `engine`'s pool."""
    waiting = engine.sync_engine.pool._pool._queue._queue
    return [record.dbapi_connection.driver_connection._conn for record in waiting]


def _worker_threads() -> int:
    """aiosqlite's threads alive in this process, one per open connection."""
    return sum("_connection_worker_thread" in t.name for t in threading.enumerate())


async def _kept_dashboard(
    db: Database, fresh_app: tuple[GraphQLClient, Any]
) -> tuple[GraphQLClient, Any, Any]:
    """The fresh app's client and engine, and its answer to the dashboard, asked once
    (the compiled path learns its statement) on seeded data."""
    await _seed(db)
    client, engine = fresh_app
    good = await client.post(DASHBOARD)
    assert good.status_code == 200 and "errors" not in good.json(), good.text
    return client, engine, good


async def _pool_holds_one(engine: Any) -> None:
    """A connection opened in `engine`'s pool and left idle there, for a kept read's
    statement to borrow when it runs in its thread: the loop's own connection reads it
    otherwise, so the pool may hold none yet."""
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
    assert engine.pool.checkedin() >= 1


async def _timed_out_endless(client: GraphQLClient) -> Any:
    """The dashboard asked once more with its kept statement swapped for one that never
    ends by itself (SLOW): the answer, once its connection, given up on, is closed and
    its thread has ended. A statement left running would hold the request (giving up
    on its connection waits for it) and its thread for good: the request fails after
    10 s instead, and what it left running is interrupted. The pool holds an idle
    connection (`_pool_holds_one`): the one the statement's thread run borrows."""
    kept = _last_kept()
    assert kept.sent is not None
    learnt = kept.sent
    kept.sent = (learnt[0], SLOW["sqlite"], ())
    threads = _worker_threads()
    try:
        response = await asyncio.wait_for(client.post(DASHBOARD), 10)
        for _ in range(100):
            if _worker_threads() < threads:
                break
            await asyncio.sleep(0.05)
        assert _worker_threads() < threads
        return response
    finally:
        kept.sent = learnt
        if _worker_threads() >= threads:  # unstick what a failure left running
            for found in gc.get_objects():
                if isinstance(found, aiosqlite.Connection) and found._connection is not None:
                    found._connection.interrupt()


async def test_a_kept_read_runs_its_statement_alone_on_the_loop(
    db: Database,
    fresh_app: tuple[GraphQLClient, Any],
    client_with: Callable[..., GraphQLClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: the dashboard answered twice (the first learns what SQLAlchemy sends); no
    # cap by the clock (a loaded test machine may pause the thread past it)
    monkeypatch.setattr(shared, "INLINE_WALL_SECONDS", 60.0)
    await _seed(db)
    client, engine = fresh_app
    reference = await client_with(compiled_reads=False).post(DASHBOARD)
    for _ in range(2):
        assert (await client.post(DASHBOARD)).text == reference.text
    assert not engine.sync_engine._has_events
    own = shared._loop_reader(engine)
    assert own is not None
    await _pool_holds_one(engine)
    sent: list[str] = []
    pooled: list[str] = []
    own.set_trace_callback(sent.append)
    for conn in _idle_connections(engine):
        conn.set_trace_callback(pooled.append)
    runs, where, checkouts = Counter(RUNS), Counter(SQLITE_RUNS), Counter(CHECKOUTS)
    idle = engine.pool.checkedin()
    # when
    got = await client.post(DASHBOARD)
    # then: the same bytes; the statement alone, on the loop's own connection (which
    # never waits for a lock, reads only, and is left in no transaction): no pooled
    # connection taken, nothing else sent
    assert (got.status_code, got.text) == (200, reference.text)
    assert (RUNS - runs) == Counter(pool=1)
    assert (SQLITE_RUNS - where) == Counter(loop=1)
    assert (CHECKOUTS - checkouts) == Counter()
    kept = _last_kept()
    assert kept.sent is not None
    # (SQLite traces a statement with its values in place of its parameters)
    assert len(sent) == 1 and sent[0].startswith(kept.sent[1][:40]), sent
    assert pooled == []
    assert (engine.pool.checkedout(), engine.pool.checkedin()) == (0, idle)
    assert not own.in_transaction
    assert own.execute("PRAGMA busy_timeout").fetchone() == (0,)
    assert own.execute("PRAGMA query_only").fetchone() == (1,)
    own.set_trace_callback(None)
    # and a statement listener sees it as any statement: run on a pooled connection
    # (on the loop too, with no wait for a lock there), given back in no transaction
    with StatementCounter(engine) as counter:
        again = await client.post(DASHBOARD)
    assert again.text == reference.text
    assert counter.statements == [kept.sent[1]]
    busy = f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"
    assert len(pooled) == 3 and pooled[1].startswith(kept.sent[1][:40]), pooled
    assert (pooled[0], pooled[2]) == ("PRAGMA busy_timeout = 0", busy)
    assert engine.pool.checkedout() == 0
    assert not any(conn.in_transaction for conn in _idle_connections(engine))


async def test_a_statement_past_the_loops_time_is_interrupted_in_its_thread_at_the_deadline(
    db: Database, fresh_app: tuple[GraphQLClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the dashboard kept, its statement then one that never ends by itself
    client, engine, good = await _kept_dashboard(db, fresh_app)
    await _pool_holds_one(engine)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    # (the thread's own question for a cancel never comes: `interrupt` alone stops it)
    monkeypatch.setattr(shared, "THREAD_STEPS", 2**31 - 1)
    ticker = asyncio.create_task(tick())
    where = Counter(SQLITE_RUNS)
    try:
        # when
        response = await _timed_out_endless(client)
    finally:
        ticker.cancel()
    # then: TIMEOUT, as any read past the limit; stopped on the loop after a moment,
    # then run in the connection's thread while the loop went on (the ticker turned
    # through the half second), and interrupted there (its thread ended)
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "TIMEOUT"
    assert (SQLITE_RUNS - where) == Counter({"past the loop's time": 1})
    assert ticks >= 50, ticks
    # the next requests are answered, from the pool's other connections
    for _ in range(3):
        again = await client.post(DASHBOARD)
        assert (again.status_code, again.text) == (200, good.text)
    assert engine.pool.checkedout() == 0


async def test_a_read_stopped_on_the_loop_three_times_in_a_row_runs_in_its_thread_a_while(
    db: Database, fresh_app: tuple[GraphQLClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the dashboard kept; after three stops in a row, two runs in the thread
    client, _engine, good = await _kept_dashboard(db, fresh_app)
    monkeypatch.setattr(shared, "INLINE_RETRY_RUNS", 2)

    def past_time(stopped: bool) -> None:
        """Every run on the loop stopped at SQLite's second question (or none)."""
        monkeypatch.setattr(shared, "INLINE_SECONDS", -1.0 if stopped else 1.0)
        monkeypatch.setattr(shared, "INLINE_WALL_SECONDS", -1.0 if stopped else 1.0)
        monkeypatch.setattr(shared, "INLINE_STEPS", 1)

    async def asked(times: int) -> Counter[str]:
        where = Counter(SQLITE_RUNS)
        for _ in range(times):
            response = await client.post(DASHBOARD)
            assert (response.status_code, response.text) == (200, good.text)
        return SQLITE_RUNS - where

    # when: stopped twice, then in time once: each stopped run answered in the thread,
    # and a run in time starts the count again
    past_time(True)
    assert await asked(2) == Counter({"past the loop's time": 2, "thread": 2})
    past_time(False)
    assert await asked(1) == Counter(loop=1)
    # when: stopped three times in a row
    past_time(True)
    assert await asked(3) == Counter({"past the loop's time": 3, "thread": 3})
    # then: the next two runs straight to the thread, even were they in time
    past_time(False)
    assert await asked(2) == Counter(thread=2)
    # then the loop is tried again: stopped once more, two more runs in the thread
    past_time(True)
    assert await asked(1) == Counter({"past the loop's time": 1, "thread": 1})
    assert await asked(2) == Counter(thread=2)
    # and once in time there, it stays on the loop
    past_time(False)
    assert await asked(3) == Counter(loop=3)


def test_a_read_on_the_loop_never_waits_for_a_lock(tmp_path: Path) -> None:
    """In WAL a read takes no lock, but a database in recovery or held by a process in
    exclusive locking mode keeps readers out: on the loop's thread the read gives up at
    once (and runs in its thread, which may wait), rather than sleeping there through
    SQLite's busy timeout with every other request waiting behind it."""
    # given: a database whose file another connection holds exclusively (a rollback
    # journal, where an exclusive lock keeps readers out), and a reader that would wait
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    reader = sqlite3.connect(path)
    try:
        holder.execute("CREATE TABLE t (x INTEGER)")
        holder.execute("INSERT INTO t VALUES (1)")
        reader.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        holder.execute("BEGIN EXCLUSIVE")
        # when
        started = time.monotonic()
        try:
            out = shared._inline(reader, "SELECT x FROM t", (), list)
        finally:
            holder.execute("ROLLBACK")
        waited = time.monotonic() - started
        # then: given up without waiting out the busy timeout, which is set back
        assert out is shared._LOCKED
        assert waited < SQLITE_BUSY_TIMEOUT_MS / 1000 / 2
        assert reader.execute("PRAGMA busy_timeout").fetchone() == (SQLITE_BUSY_TIMEOUT_MS,)
        # and once the lock is let go, read on the loop
        assert shared._inline(reader, "SELECT x FROM t", (), list) == [(1,)]
    finally:
        reader.close()
        holder.close()


async def test_a_read_cancelled_before_its_statement_began_never_begins_it(
    db: Database, fresh_app: tuple[GraphQLClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`interrupt` is forgotten by a statement that starts after it: a read whose
    deadline passes while it waits for the connection's thread must not start."""
    # given: the dashboard kept, its statement then one that never ends by itself, run
    # in the connection's thread; every idle connection's thread busy for a second
    client, engine, _good = await _kept_dashboard(db, fresh_app)
    await _pool_holds_one(engine)
    monkeypatch.setattr(shared, "INLINE_TEXT", 0)
    for record in engine.sync_engine.pool._pool._queue._queue:
        record.dbapi_connection.driver_connection._tx.put_nowait((None, lambda: time.sleep(1)))
    begun: list[str] = []
    run = shared._run

    def noted(*args: Any) -> Any:
        begun.append(args[1])
        return run(*args)

    monkeypatch.setattr(shared, "_run", noted)
    # when: the deadline (0.5 s) passes before the thread reaches the statement
    response = await _timed_out_endless(client)
    assert SLOW["sqlite"] not in begun
    # then: TIMEOUT, and the statement never ran: its connection, given up on, closed
    # once the thread was free, and the thread ended
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "TIMEOUT"


async def test_a_long_statement_and_reads_past_the_pools_size_run_in_their_threads(
    db: Database, fresh_app: tuple[GraphQLClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement whose text is long runs in its thread (SQLite prepares it before any
    question could stop it on the loop); more such reads at once than the pool keeps
    take its overflow connections, which are closed, not kept, when given back."""
    # given: the dashboard kept; its text counted as too long for the loop
    client, engine, good = await _kept_dashboard(db, fresh_app)
    monkeypatch.setattr(shared, "INLINE_TEXT", 10)
    kept_size = engine.sync_engine.pool.size()
    where = Counter(SQLITE_RUNS)
    threads, idle = _worker_threads(), engine.pool.checkedin()
    # when: twice the pool's size at once
    answers = await asyncio.gather(*(client.post(DASHBOARD) for _ in range(2 * kept_size)))
    # then: every one answered, in the thread
    assert {(a.status_code, a.text) for a in answers} == {(200, good.text)}
    assert (SQLITE_RUNS - where) == Counter(
        {"too long for the loop": 2 * kept_size, "thread": 2 * kept_size}
    )
    # and the pool keeps its size, every connection back: the overflow ones closed,
    # their threads ended (a thread per connection the pool holds now, beside the
    # process's others)
    assert engine.pool.checkedout() == 0
    assert engine.pool.checkedin() <= kept_size
    expected = threads + engine.pool.checkedin() - idle
    for _ in range(100):
        if _worker_threads() <= expected:
            break
        await asyncio.sleep(0.05)
    assert _worker_threads() == expected


async def test_an_in_memory_database_reads_through_its_session(tmp_path: Path) -> None:
    """An in-memory database's pool hands every check-out the same connection, which its
    thread may be using: none is read on the loop's thread, nor opened for it."""
    memory = create_engine("sqlite+aiosqlite://")
    on_file = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'file.db'}")
    unpooled = unpooled_twin(on_file)
    try:
        assert (any_thread(memory), any_thread(on_file), any_thread(unpooled)) == (
            False,
            True,
            False,
        )
        counted = Repeated(select(literal(1)))
        runs = Counter(RUNS)
        for _ in range(2):
            snapshot = read_snapshot(memory)
            one_statement(snapshot.sessions)
            try:
                assert await one_row(snapshot.sessions, counted) == (1,)
            finally:
                await snapshot.close()
        assert (RUNS - runs) == Counter(session=2)
    finally:
        for engine in (memory, on_file, unpooled):
            await engine.dispose()


def test_a_pooled_connection_in_a_transaction_is_refused(tmp_path: Path) -> None:
    """The statement reads by itself, outside any transaction: a connection handed out
    in one (never, after the pool's check-in) would read that transaction's state."""
    conn = sqlite3.connect(tmp_path / "open.db", isolation_level=None)
    try:
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(RuntimeError, match="in a transaction"):
            shared._run(conn, "SELECT x FROM t", (), list)
    finally:
        conn.close()


def test_a_read_on_the_loop_is_stopped_by_the_clock_too(tmp_path: Path) -> None:
    """CPU time is the statement's own cost, but the loop waits whatever the cause (the
    GIL held by another thread, a disk): a run that waits more than INLINE_WALL_SECONDS
    by the clock is stopped though it spent little CPU, at SQLite's first question."""
    conn = sqlite3.connect(tmp_path / "slow.db")
    # a step that waits 2 ms without using the CPU, a thousand times
    conn.create_function("nap", 0, lambda: time.sleep(0.002) or 1)
    waits = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) "
        "SELECT sum(nap()) FROM c"
    )
    try:
        started = time.monotonic()
        out = shared._inline(conn, waits, (), list)
        waited = time.monotonic() - started
        assert out is shared._PAST_TIME  # in its first step: no row read yet
        assert waited < 1  # stopped long before its 2 s
    finally:
        conn.close()


async def test_a_cancel_between_its_check_and_its_first_step_stops_the_statement(
    db: Database, fresh_app: tuple[GraphQLClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel that lands after the thread looked at the flag but before the statement's
    first step: `interrupt` is forgotten by the statement that starts after it, so the
    progress handler, asking the flag, stops it."""
    # given: the dashboard kept, its statement then one that never ends by itself, run
    # in the connection's thread after a pause there of a second (past the deadline)
    client, engine, _good = await _kept_dashboard(db, fresh_app)
    await _pool_holds_one(engine)
    monkeypatch.setattr(shared, "INLINE_TEXT", 0)
    monkeypatch.setattr(shared, "THREAD_STEPS", 1_000)
    run = shared._run

    def paused(*args: Any) -> Any:
        time.sleep(1)
        return run(*args)

    monkeypatch.setattr(shared, "_run", paused)
    # when
    response = await _timed_out_endless(client)
    # then: TIMEOUT, and the statement stopped at its first question: its connection,
    # given up on, closed and its thread ended
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "TIMEOUT"


async def test_the_loops_own_connection_reads_every_commit_and_is_the_loops_alone(
    db: Database, fresh_app: tuple[GraphQLClient, Any]
) -> None:
    """The loop's own connection stays open between reads: each read still sees the
    latest commit (a statement outside a transaction reads by itself), it is never
    used by another thread, and an engine disposed of opens a new one."""
    # given: the dashboard kept, read on the loop's own connection
    await _seed(db)
    client, engine = fresh_app
    first = await client.post(DASHBOARD)
    assert first.status_code == 200 and "errors" not in first.json(), first.text
    where = Counter(SQLITE_RUNS)
    assert (await client.post(DASHBOARD)).text == first.text
    assert (SQLITE_RUNS - where) == Counter(loop=1)  # read on the loop's own first
    own = shared._loop_reader(engine)
    assert own is not None
    # when: a title changes, committed on another connection
    node = first.json()["data"]["initiatives"]["nodes"][0]
    async with db.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE initiatives SET title = 'Renamed' WHERE code = :code"),
            {"code": node["code"]},
        )
    where = Counter(SQLITE_RUNS)
    after = await client.post(DASHBOARD)
    # then: read on the loop, with the new title
    assert (SQLITE_RUNS - where) == Counter(loop=1)
    assert after.json()["data"]["initiatives"]["nodes"][0] == {**node, "title": "Renamed"}
    assert shared._loop_reader(engine) is own
    # and another thread never gets it
    assert await asyncio.to_thread(shared._loop_reader, engine) is None
    # and once the engine is disposed of, its new pool reads on a connection of its
    # own, and the old one is closed
    await engine.dispose()
    again = await client.post(DASHBOARD)
    assert again.text == after.text
    renewed = shared._loop_reader(engine)
    assert renewed is not None and renewed is not own
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        own.execute("SELECT 1")


async def test_a_failure_on_the_loops_own_connection_falls_back_to_the_pool(
    db: Database,
    fresh_app: tuple[GraphQLClient, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A connection of the loop's own that fails (closed under it, say) is let go, the
    read answered from a pooled one, and a new one made at the next read; one that
    cannot be opened is tried again only after INLINE_RETRY_RUNS reads."""
    # given: the dashboard kept, and the loop's own connection closed under it
    monkeypatch.setattr(shared, "INLINE_WALL_SECONDS", 60.0)
    client, engine, good = await _kept_dashboard(db, fresh_app)
    broken = shared._loop_reader(engine)
    assert broken is not None
    broken.close()
    checkouts, where = Counter(CHECKOUTS), Counter(SQLITE_RUNS)
    # when
    got = await client.post(DASHBOARD)
    # then: the same answer, on the loop from a pooled connection; a new one next
    assert (got.status_code, got.text) == (200, good.text)
    assert (SQLITE_RUNS - where) == Counter(loop=1)
    assert sum((CHECKOUTS - checkouts).values()) == 1
    mended = shared._loop_reader(engine)
    assert mended is not None and mended is not broken
    # when: the kept statement fails (swapped for one that cannot run)
    kept = _last_kept()
    assert kept.sent is not None
    learnt = kept.sent
    kept.sent = (learnt[0], "SELECT no_such_function()", ())
    try:
        with caplog.at_level(logging.WARNING):
            failed = await client.post(DASHBOARD)
    finally:
        kept.sent = learnt
    # then: the error as any statement's, from its run on a pooled connection; the
    # loop's connection let go without a warning of its own
    [error] = failed.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL"
    assert [r.name for r in caplog.records] == ["app.graphql"]  # the error, once
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        mended.execute("SELECT 1")
    assert (await client.post(DASHBOARD)).text == good.text
    # given: a new engine whose loop connection cannot be opened
    await engine.dispose()
    opened = 0

    def refused(engine: Any) -> sqlite3.Connection:
        nonlocal opened
        opened += 1
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(shared, "loop_reader", refused)
    monkeypatch.setattr(shared, "INLINE_RETRY_RUNS", 2)
    # when: four reads
    answers = [await client.post(DASHBOARD) for _ in range(4)]
    # then: every one answered (from the pool); opening tried at the first and fourth
    assert {(a.status_code, a.text) for a in answers} == {(200, good.text)}
    assert opened == 2


def _preparations(conn: sqlite3.Connection) -> list[int]:
    """A list that grows each time `conn` prepares a statement (by one per SELECT in
    it): SQLite asks the authorizer while it prepares one, never while it runs one
    already prepared."""
    prepared: list[int] = []

    def note(action: int, *_args: Any) -> int:
        if action == sqlite3.SQLITE_SELECT:
            prepared.append(action)
        return sqlite3.SQLITE_OK

    conn.set_authorizer(note)
    return prepared


# Many rows, the first at once: a stop lands while they are fetched.
_MANY_ROWS = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) "
    "SELECT x FROM c"
)


async def test_a_statement_stopped_midway_leaves_no_connection_preparing_it_again(
    db: Database, fresh_app: tuple[GraphQLClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python's sqlite3 keeps a statement it prepared marked in use when its reset
    reports a failed step (a stop by the progress handler while its rows are fetched):
    every later run of the same text on that connection would prepare it anew. The
    loop's own connection is let go after such a stop (not after one in the first step,
    which leaves nothing marked), and a pooled connection that ran one is replaced at
    its next check-out."""
    _client, engine, _good = await _kept_dashboard(db, fresh_app)
    own = shared._loop_reader(engine)
    assert own is not None
    repeated = Repeated(select(literal(1)))

    def run() -> object:
        return shared._on_loops_own(engine, repeated, _MANY_ROWS, (), shared._all_rows)

    # when: a run stopped on the loop's own connection, midway through its rows
    monkeypatch.setattr(shared, "INLINE_SECONDS", -1.0)
    monkeypatch.setattr(shared, "INLINE_WALL_SECONDS", -1.0)
    assert run() is shared._STOPPED
    # then: that connection is closed, and the next read runs on a new one, where the
    # statement, once prepared, is not prepared again
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        own.execute("SELECT 1")
    monkeypatch.setattr(shared, "INLINE_SECONDS", 60.0)
    monkeypatch.setattr(shared, "INLINE_WALL_SECONDS", 60.0)
    rows = run()
    assert isinstance(rows, list) and len(rows) == 20000
    renewed = shared._loop_reader(engine)
    assert renewed is not None and renewed is not own
    prepared = _preparations(renewed)
    run()  # prepared again once: setting an authorizer expires every statement
    assert prepared
    prepared.clear()
    assert run() == rows
    assert prepared == []
    # and a run stopped in its first step (a count: no row before the end) keeps it
    monkeypatch.setattr(shared, "INLINE_SECONDS", -1.0)
    monkeypatch.setattr(shared, "INLINE_WALL_SECONDS", -1.0)
    counted = "SELECT count(*) FROM (" + _MANY_ROWS + ")"
    assert shared._on_loops_own(engine, repeated, counted, (), shared._all_rows) is (
        shared._STOPPED
    )
    assert shared._loop_reader(engine) is renewed
    renewed.execute("SELECT 1")  # open
    # when: with a statement listener (its statement then borrows a pooled connection),
    # a run stopped on the loop while its rows are read, then run in that connection's
    # thread
    await _pool_holds_one(engine)
    idle = _idle_connections(engine)
    assert len(idle) == 1
    monkeypatch.setattr(shared, "INLINE_SECONDS", -1.0)
    monkeypatch.setattr(shared, "INLINE_WALL_SECONDS", -1.0)
    where = Counter(SQLITE_RUNS)
    snapshot = read_snapshot(engine)
    one_statement(snapshot.sessions)
    repeated.sent = (type(engine.dialect), _MANY_ROWS, ())
    try:
        with StatementCounter(engine):
            got = await shared._pooled_sqlite(snapshot, engine, repeated, shared._all_rows)
    finally:
        await snapshot.close()
    assert got == rows
    assert (SQLITE_RUNS - where) == Counter({"past the loop's time": 1, "thread": 1})
    # then: that connection is given back, to be replaced at its next check-out
    assert engine.pool.checkedout() == 0
    await _pool_holds_one(engine)
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        idle[0].execute("SELECT 1")
