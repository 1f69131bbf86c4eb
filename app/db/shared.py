"""One connection shared by the sessions of one operation.

A view (app/views/views.py) and the read snapshot of a live query each give an
operation one connection: every statement of the operation then reads the same state.
strawberry resolves fields concurrently while a connection runs one statement at a
time, so each session holds the connection's lock from `async with` to its end (the
only way the app opens sessions). This is the one place that rule lives.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.pool import AsyncAdaptedQueuePool, PoolProxiedConnection
from sqlalchemy.sql.base import Executable
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import AsyncAdaptedQueue

from app.db.session import (
    SQLITE_BUSY_TIMEOUT_MS,
    SessionFactory,
    any_thread,
    loop_reader,
    pool_waiters,
    promised,
    taken_at_once,
    usable_as_is,
)

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class ConnectionLost(ConnectionError):
    """A given connection (a view's) that SQLAlchemy has given up on: a statement was
    cancelled under it (an execution deadline, a client gone), or it was closed. It is
    never opened again: SQLAlchemy would reconnect on its next use, and a new connection
    holds none of the view's shadows, so a partner's query would read the real tables.
    The operation fails as one whose database went away (the caller may retry), and
    the view is retired (app/views/pool.py)."""


def lost(connection: AsyncConnection) -> bool:
    """Whether `connection` may not be used again without a new connection beneath it
    (which SQLAlchemy would open silently)."""
    return connection.closed or connection.invalidated


async def driver_of(connection: AsyncConnection) -> Any:
    """The driver's own connection beneath `connection`, never a new one (`lost`)."""
    if lost(connection):
        raise ConnectionLost("the connection was lost; it is not opened again")
    raw = await connection.get_raw_connection()
    assert raw.driver_connection is not None
    return raw.driver_connection


class SharedSession(AsyncSession):
    """A session on a `SharedConnection`: it holds the connection's lock for its life,
    and is bound to the connection only then (a snapshot's is opened by its first
    session)."""

    def __init__(self, *args: Any, shared: SharedConnection, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shared = shared
        # The isolation level to set back at the end, when this session reads without a
        # transaction on a connection that otherwise has one (`one_statement`).
        self._restore: tuple[AsyncConnection, Any] | None = None

    async def __aenter__(self) -> SharedSession:
        await self._shared.lock.acquire()
        try:
            connection = await self._shared.connect()
            if _ALONE.get() is self._shared:
                _ALONE.set(None)
                level = _outside_transactions(connection)
                if level is not None:
                    self._restore = connection, level
        except BaseException:
            self._shared.lock.release()
            raise
        self.bind = connection
        self.sync_session.bind = connection.sync_connection
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await super().__aexit__(*exc)
        finally:
            try:
                if self._restore is not None:
                    (connection, level), self._restore = self._restore, None
                    await _restore_isolation(connection, level)
            finally:
                self._shared.lock.release()


# The given connection (a view's, `SharedConnection(connection)`) whose next session
# in this task reads one statement only (`one_statement`).
_ALONE: ContextVar[SharedConnection | None] = ContextVar("one_statement_alone", default=None)


def _outside_transactions(connection: AsyncConnection) -> Any | None:
    """Make `connection`'s driver run statements in no transaction (PostgreSQL), and
    return the isolation level to set back; None when it is left as it is: another
    database (SQLite reads take no round trip to begin), a transaction already open, or
    an isolation level not set on the connection (nothing known to set back)."""
    sync = connection.sync_connection
    assert sync is not None
    level = sync.get_execution_options().get("isolation_level")
    if (
        connection.dialect.name != "postgresql"
        or connection.in_transaction()
        or not isinstance(level, str)
        or level == "AUTOCOMMIT"
    ):
        return None
    _set_isolation(connection, "AUTOCOMMIT")
    return level


async def _restore_isolation(connection: AsyncConnection, level: Any) -> None:
    """Set `connection` back to `level` after a read outside transactions. A lost
    connection is left as it is (reaching its driver would open a new one); one that
    cannot be set back is given up on (invalidated: `lost` from now on), never used
    at an unknown level. Nothing raised here replaces the session's own outcome (a
    cancellation must reach the execution deadline as one)."""
    if lost(connection):
        return
    try:
        _set_isolation(connection, level)
    except Exception:
        log.warning("a connection's isolation level was not set back", exc_info=True)
        await connection.invalidate()


def _autocommit(connection: AsyncConnection) -> None:
    """`connection.execution_options(isolation_level="AUTOCOMMIT")` on a connection in no
    transaction (just taken from the pool), called directly rather than in a greenlet
    of its own: nothing is awaited, so none is needed."""
    sync = connection.sync_connection
    assert sync is not None and not sync.in_transaction()
    sync.execution_options(isolation_level="AUTOCOMMIT")


def _set_isolation(connection: AsyncConnection, level: Any) -> None:
    """Set the driver's isolation level beneath SQLAlchemy, which keeps its own (as set
    by `execution_options`). With no transaction open the dialect's call sends nothing
    to the server and awaits nothing, so no other task runs between the change and the
    session noting it; SQLAlchemy's own call would also queue a reset for when the
    connection is given back, once per call, on a view's connection kept for hours."""
    sync = connection.sync_connection
    assert sync is not None
    dbapi_connection = sync.connection.dbapi_connection
    assert dbapi_connection is not None
    connection.dialect.set_isolation_level(dbapi_connection, level)


class SharedConnection:
    """A connection, given or opened on first use, and the sessions that share it.
    Sessions join the connection's transaction when it has one (a snapshot's) and
    leave it open; otherwise each begins and ends its own (a view's)."""

    def __init__(
        self,
        connection: AsyncConnection | None = None,
        *,
        opener: Callable[[], Awaitable[AsyncConnection]] | None = None,
        engine: AsyncEngine | None = None,
    ) -> None:
        assert (connection is None) != (opener is None)
        # The engine the opener takes its connection from (a snapshot's): a read of one
        # statement borrows a pooled connection of it for that statement alone
        # (`one_row`), without opening one for the sessions.
        self.engine = engine
        # A connection given, not opened here (a view's): kept open by its owner.
        self.given = connection is not None
        self._connection = connection
        self._opener = opener
        self._closed = False
        # Set before the connection opens by a reader that will run one statement only
        # (see `one_statement`).
        self.one_statement = False
        self.lock = asyncio.Lock()
        factory = async_sessionmaker(
            class_=SharedSession, expire_on_commit=False, autoflush=False, shared=self
        )
        self.sessions = cast(SessionFactory, factory)

    @property
    def opened(self) -> bool:
        return self._connection is not None

    async def connect(self) -> AsyncConnection:
        """The connection (opened now if need be); the caller holds the lock."""
        if self._closed:
            raise RuntimeError("the operation's connection is closed")
        if self.given and self._connection is not None and lost(self._connection):
            raise ConnectionLost("the view's connection was lost; it is not opened again")
        if self._connection is None:
            assert self._opener is not None
            self._connection = await self._opener()
        return self._connection

    async def renew(self) -> None:
        """Take back a promise of one statement (a reader that made it hands its
        operation to one that may run several): the connection opened for it is given
        back, and the next session opens a snapshot."""
        async with self.lock:
            if self.one_statement:
                self.one_statement = False
                if self._connection is not None:
                    await self._connection.close()
                    self._connection = None

    async def close(self) -> None:
        # A session may still be at work when the operation ends: a field's error ends
        # the operation and cancels the other fields, but not a data loader's batch they
        # were waiting on. Closing the connection under its statement would fail (or
        # break it); it closes once no session holds it.
        async with self.lock:
            self._closed = True
            if self._connection is not None:
                await self._connection.close()


async def begin_reading(connection: AsyncConnection) -> None:
    """Make the transaction just begun on `connection` read one committed state from its
    first read on. PostgreSQL does so by itself in REPEATABLE READ. pysqlite begins a
    transaction only before a write, so reads would each see the latest commit: BEGIN
    on the driver's own connection, as the driver would, so that the statement counters
    see data statements only."""
    if connection.dialect.name != "sqlite":
        return
    raw = await connection.get_raw_connection()
    cursor = await raw.driver_connection.execute("BEGIN")  # type: ignore[union-attr]
    await cursor.close()


def read_snapshot(engine: AsyncEngine) -> SharedConnection:
    """Sessions that all read one committed state of `engine`'s database, through one
    pooled connection taken at the first session and given back by `close` (rolled
    back). PostgreSQL: a REPEATABLE READ, READ ONLY transaction, whose snapshot is taken
    at its first statement. SQLite (WAL): a deferred transaction, whose first read fixes
    what the connection sees until it ends. An operation of one statement only
    (`one_statement`) reads on PostgreSQL without a transaction: a statement sees one
    committed state by itself, and BEGIN and ROLLBACK would be two round trips more."""

    async def opener() -> AsyncConnection:
        connection = await engine.connect()
        try:
            if connection.dialect.name == "postgresql" and snapshot.one_statement:
                # SQLAlchemy's own setting (its reset when the pool takes the connection
                # back included), without a greenlet: on a connection just taken from the
                # pool no transaction is open, so the dialect's call awaits nothing
                # (`_set_isolation`).
                _autocommit(connection)
            elif connection.dialect.name == "postgresql":
                connection = await connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
                # The driver sends BEGIN with the first statement.
                await connection.begin()
            else:
                await connection.begin()
                await begin_reading(connection)
            return connection
        except BaseException:
            await connection.close()
            raise

    snapshot = SharedConnection(opener=opener, engine=engine)
    return snapshot


async def read_alone(session: AsyncSession) -> None:
    """Make `session`, before its first statement, read outside any transaction on
    PostgreSQL: for a read of one statement (who an API key is, on every request of a
    keyed caller), which sees one committed state by itself, where BEGIN and ROLLBACK
    would be two round trips more. The level is SQLAlchemy's own setting of the
    connection, which the pool sets back when it takes the connection back. A session
    bound otherwise (a given connection), already in use, or on another database
    (SQLite reads begin nothing on the server) is left as it is."""
    bind = session.bind
    if (
        isinstance(bind, AsyncEngine)
        and bind.dialect.name == "postgresql"
        and not session.in_transaction()
    ):
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        # Each statement would commit by itself: the session is refused any write, so
        # that no later caller writes piecemeal through it (`_only_reads`, `_no_flush`).
        session.sync_session.info[_READ_ALONE] = True


class ReadAloneWrite(RuntimeError):
    """A write through a session made to read outside a transaction (`read_alone`)."""


# In a session's `info`: it was made to read alone. The guards below are listened for
# once, on every session, rather than on each such session (an instance's own
# listeners cost ~17 us to set up, on every request of a keyed caller).
_READ_ALONE = "read_alone"


@event.listens_for(Session, "do_orm_execute")
def _only_reads(state: ORMExecuteState) -> None:
    if state.session.info.get(_READ_ALONE) and not state.is_select:
        raise ReadAloneWrite("a session reading outside a transaction does not write")


@event.listens_for(Session, "before_flush")
def _no_flush(session: Session, _context: object, _instances: object) -> None:
    if session.info.get(_READ_ALONE) and (session.new or session.dirty or session.deleted):
        raise ReadAloneWrite("a session reading outside a transaction does not write")


def _shared(sessions: SessionFactory) -> SharedConnection | None:
    shared = getattr(sessions, "kw", {}).get("shared")
    return shared if isinstance(shared, SharedConnection) else None


def one_statement(sessions: SessionFactory) -> None:
    """Tell the connection behind `sessions` that the operation will run one statement
    only, in its next session. A snapshot not yet opened then opens without a
    transaction (`read_snapshot`). A view's connection, given and kept open with its
    own isolation level (app/views/views.py), runs this task's next session — one
    statement, a bounded read of no server-side cursor — without BEGIN and ROLLBACK on
    PostgreSQL, then takes its level back before any other session may use it: a view's
    shadows are committed, so one statement reads them as a transaction would. Its other
    sessions (a server-side cursor's, which needs a transaction) are as before. Any
    other factory (a test's) is left as it is."""
    shared = _shared(sessions)
    if shared is None:
        return
    if not shared.opened:
        shared.one_statement = True
    elif shared.given:
        _ALONE.set(shared)


async def any_statements(sessions: SessionFactory) -> None:
    """Undo `one_statement`: the operation may run several statements after all."""
    shared = _shared(sessions)
    if shared is not None:
        if _ALONE.get() is shared:
            _ALONE.set(None)
        await shared.renew()


class Repeated:
    """A statement run as it is, again and again (its bound values its own: a compiled
    read's statement, kept per plan and window), and what SQLAlchemy sent the driver for
    it: the text and parameters, learnt at its first run. `one_row` and `joined_rows`
    then hand those to the driver's connection itself: SQLAlchemy's session, connection
    and result around one statement cost several times what the driver's own statement
    does (bench/README.md, peers.py, peer_floor.py)."""

    __slots__ = ("in_thread_for", "overruns", "sent", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # The dialect's class, the SQL text and the parameters, in the driver's terms.
        self.sent: tuple[type[Dialect], str, Sequence[Any]] | None = None
        # SQLite (`_pooled_sqlite`): how many of its last runs on the event loop's
        # thread in a row were stopped past INLINE_SECONDS, and how many runs it is
        # still to make in the connection's own thread before it tries the loop again.
        self.overruns = 0
        self.in_thread_for = 0


async def one_row(sessions: SessionFactory, repeated: Repeated) -> Sequence[Any] | None:
    """The one row `repeated` reads through `sessions`; None unless on PostgreSQL or
    SQLite (which always reads it through a session).

    A snapshot not yet opened whose operation promised one statement (`one_statement`:
    a kept dashboard's read) takes no connection of its own for it: the statement runs
    on a pooled connection borrowed for it alone (`_pooled_row`; on SQLite, the event
    loop's own connection first, `_pooled_sqlite`), outside any transaction, and given
    back at once. Otherwise, on an operation's own connection
    (a snapshot's) that runs statements either outside any transaction (AUTOCOMMIT:
    `one_statement`) or in the transaction it began (the snapshot's REPEATABLE READ,
    READ ONLY), the statement goes straight to the asyncpg
    adapter SQLAlchemy itself executes through — which begins the connection's
    transaction first if it has not yet, with the same isolation and read-only mode,
    and finds the statement among those it prepared — holding the connection's lock as
    a session does. A failure goes to SQLAlchemy's own handler, as from its execution
    (its `DBAPIError`, the connection invalidated when the driver says it is lost); the
    engine's statement events are dispatched as for any statement (the counters see
    it). A view's connection, whose sessions each begin and end a transaction, takes
    the statement so only when this task promised one statement (`one_statement`): it
    runs outside any transaction, as such a session would, and the connection's level
    is set back before the lock is let go. Any other read of a view, an engine that
    logs its statements (`echo`), and the first run go through a session as any read
    does."""
    shared = _shared(sessions)
    if shared is not None and shared.engine is not None and _borrows(shared, repeated):
        row = await _pooled_row(shared, shared.engine, repeated)
        if row is not _NOT_HERE:
            RUNS["pool"] += 1
            return row  # type: ignore[return-value]
    if shared is not None and repeated.sent is not None:
        async with shared.lock:
            connection = await shared.connect()
            alone = _ALONE.get() is shared
            level = _outside_transactions(connection) if alone else None
            try:
                row = await _driver_row(connection, repeated.sent)
            finally:
                if level is not None:
                    await _restore_isolation(connection, level)
        if row is not _NOT_HERE:
            if alone:
                _ALONE.set(None)  # promised and kept here, not by a session
            RUNS["driver"] += 1
            return row  # type: ignore[return-value]
    RUNS["session"] += 1
    async with sessions() as session:
        connection = await session.connection()
        if connection.dialect.name not in ("postgresql", "sqlite"):
            return None
        result = await connection.execute(repeated.statement)
        context = result.context
        _learn(repeated, connection.dialect, context)
        return result.one()


def _learn(repeated: Repeated, dialect: Dialect, context: Any) -> None:
    """Keep what SQLAlchemy sent the driver for `repeated` at its first run (`context`:
    its execution context), for the driver's own connection to be sent it again."""
    if repeated.sent is None and isinstance(context.parameters[0], Sequence):
        repeated.sent = (type(dialect), context.statement, tuple(context.parameters[0]))


async def joined_rows(
    sessions: SessionFactory, repeated: Repeated, size: int
) -> list[bytes] | None:
    """The bytes of the first column of `repeated`'s rows through a session of
    `sessions`, read as a stream (ROWS_PER_FETCH at a time) and joined into pieces of
    about `size` bytes: the rows' bytes one after the other are the pieces'. The other
    columns are each row's place, which must rise from row to row (the database may not
    promise the rows' order). None when a row holds NULL or comes out of its place.

    On SQLite, a snapshot not yet opened whose operation promised one statement (a kept
    read's) reads outside it, on the event loop's own connection or on a pooled one
    borrowed for it alone (`_pooled_sqlite`)."""
    shared = _shared(sessions)
    if shared is not None and shared.engine is not None and _borrows(shared, repeated):
        joined = await _pooled_sqlite(
            shared, shared.engine, repeated, lambda cursor: _Joined(size).read(cursor)
        )
        if joined is not _NOT_HERE:
            RUNS["pool"] += 1
            return joined  # type: ignore[return-value]
    RUNS["session"] += 1
    joiner = _Joined(size)
    async with sessions() as session:
        result = await session.stream(repeated.statement)
        context = result._real_result.context  # type: ignore[attr-defined]
        _learn(repeated, context.dialect, context)
        async for rows in result.partitions(ROWS_PER_FETCH):
            if not joiner.add(rows):
                return None
    return joiner.pieces()


class _Joined:
    """`joined_rows`' pieces, as rows are added a batch at a time."""

    __slots__ = ("_held", "_joined", "_last", "_pending", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._joined: list[bytes] = []
        self._pending: list[bytes] = []
        self._held = 0
        self._last: tuple[Any, ...] | None = None

    def add(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Take `rows`; False when one holds NULL or comes out of its place."""
        for piece, *at in rows:
            place = tuple(at)
            if piece is None or (self._last is not None and not self._last < place):
                return False
            self._last = place
            self._pending.append(piece)
            self._held += len(piece)
            if self._held >= self._size:
                self._joined.append(b"".join(self._pending))
                self._pending, self._held = [], 0
        return True

    def pieces(self) -> list[bytes]:
        if self._pending:
            self._joined.append(b"".join(self._pending))
            self._pending, self._held = [], 0
        return self._joined

    def read(self, cursor: sqlite3.Cursor) -> list[bytes] | None:
        """Every row of `cursor`, ROWS_PER_FETCH at a time."""
        while rows := cursor.fetchmany(ROWS_PER_FETCH):
            if not self.add(rows):
                return None
        return self.pieces()


ROWS_PER_FETCH = 256
_NOT_HERE = object()
_STOPPED = object()
# How `one_row` and `joined_rows` ran their statements in this process: "pool" (outside
# the operation's snapshot, on a pooled connection borrowed for the statement alone, or
# on SQLite the event loop's own connection), "driver" (on the driver's connection of an
# operation's own) or "session".
RUNS: Counter[str] = Counter()
# How `_pooled_row` checked its connections out: "at once" (`taken_at_once`) or in a
# "greenlet", as SQLAlchemy does.
CHECKOUTS: Counter[str] = Counter()


async def _pooled_row(
    shared: SharedConnection, engine: AsyncEngine, repeated: Repeated
) -> Sequence[Any] | object:
    """The row of a snapshot's one statement on a connection borrowed from the pool for
    it alone, outside any transaction. SQLAlchemy's `Connection` (and the isolation
    level it sets and the pool sets back) is left out: the pool's own check-out (its
    events: the ping of an idle connection), the asyncpg adapter's statement with its
    prepared statements and its error translation, the pool's check-in (its reset).
    On SQLite, `_pooled_sqlite`.
    The engine's events, when it has any listener, and a failure are handled through a
    `Connection` made on the borrowed connection, as its execution would."""
    dialect = engine.dialect
    if dialect.driver == "aiosqlite":
        rows = await _pooled_sqlite(shared, engine, repeated, _all_rows)
        return rows if rows is _NOT_HERE else _the_row(rows)  # type: ignore[arg-type]
    assert repeated.sent is not None
    kind, text, parameters = repeated.sent
    if type(dialect) is not kind or dialect.driver != "asyncpg" or engine.echo:
        return _NOT_HERE
    sync_engine = engine.sync_engine
    async with shared.lock:
        fairy = _held(shared, sync_engine) or await _borrowed(shared, sync_engine)
        if fairy is None:
            return _NOT_HERE
        adapted: Any = fairy.dbapi_connection
        connection: Connection | None = None
        cursor: Any = None
        try:
            if not sync_engine._has_events:
                rows = await _fetched(adapted, dialect, text, parameters)
            else:  # a listener (a test's counter) sees a Connection and its cursor
                connection = Connection(sync_engine, connection=fairy)
                cursor = adapted.cursor()
                cursor._invalidate_schema_cache_asof = dialect._invalidate_schema_cache_asof  # type: ignore[attr-defined]
                connection.dispatch.before_cursor_execute(
                    connection, cursor, text, parameters, None, False
                )
                # No BEGIN: the adapter's own flag, set back before anything else runs.
                adapted.autocommit = True
                try:
                    await cursor._prepare_and_execute(text, parameters)
                finally:
                    adapted.autocommit = False
                connection.dispatch.after_cursor_execute(
                    connection, cursor, text, parameters, None, False
                )
                rows = cursor.fetchall()
        except BaseException as error:
            # As `_driver_row`: SQLAlchemy's handling, then the connection given back
            # (or, lost or left mid-statement, invalidated and closed).
            _forget_prepared(dialect, error)
            await greenlet_spawn(
                _failed, sync_engine, connection, fairy, error, text, parameters, cursor
            )
            raise
        if connection is not None:
            await greenlet_spawn(connection.close)
        elif _kept_as_is(fairy, adapted):
            if not _hold(sync_engine, fairy):
                fairy.close()
        else:
            await greenlet_spawn(fairy.close)
    return _the_row(rows)


# How many turns of the event loop a kept read lets a check-out that waited take the
# connection promised to it (`_borrowed`): it takes it at its next step; a cancelled one
# hands the promise on (asyncio wakes the next), so it is only bounded in case.
PROMISED_TURNS = 8

# PostgreSQL: how many connections of its pool an engine's event loop holds between
# kept reads (`_hold`), and for how long one may lie idle there before it goes back.
HELD_CONNECTIONS = 4
HELD_SECONDS = 0.05


class _Holder:
    """The connections of a pool the event loop `loop` holds between kept reads, each
    with the loop's time it came back; the latest last. `sweep`: the timer that gives
    back those idle HELD_SECONDS. The pool is known weakly: a disposed one goes, and
    the connections given back to it with it, as they would without a holder."""

    __slots__ = ("idle", "loop", "pool", "sweep")

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: Any) -> None:
        self.loop = loop
        self.pool = weakref.ref(pool)
        self.idle: list[tuple[PoolProxiedConnection, float]] = []
        self.sweep: asyncio.TimerHandle | None = None


# By engine: a disposed one's (a new pool) is dropped at its next kept read, its
# connections given back to the old pool then.
_HOLDERS: weakref.WeakKeyDictionary[Engine, _Holder] = weakref.WeakKeyDictionary()
# Connections given back in a greenlet (the pool closes one it does not keep), until done.
_GIVING_BACK: set[asyncio.Task[Any]] = set()


def _held(shared: SharedConnection, engine: Engine) -> PoolProxiedConnection | None:
    """A connection the event loop holds for `engine`'s kept reads (`_hold`), for a
    snapshot's one statement, the caller holding the snapshot's lock; None when it
    holds none fit to use, or a session opened the snapshot meanwhile.

    Checking a connection out of SQLAlchemy's pool and back in (its records, events,
    reset and queue) cost a tenth of a PostgreSQL dashboard's CPU (py-spy under
    autocannon, bench/README.md). A held connection skips both; it is used again only
    as the pool's check-out would hand it over as it is (`taken_at_once`): of the
    engine's pool (not one disposed of), valid, not invalidated by itself or with its
    pool, not due to be recycled, not closed by the server. It needs no ping: it lay
    idle HELD_SECONDS at most, far below IDLE_PING_SECONDS. While anyone waits for a
    connection of the pool (`pool_waiters`), every held one goes back to it first."""
    holder = _HOLDERS.get(engine)
    if holder is None or not holder.idle or not _unopened(shared):
        return None
    pool = engine.pool
    if holder.pool() is not pool:  # disposed of: its connections go back to the old one
        _HOLDERS.pop(engine, None)
        _give_back_all(holder)
        return None
    if holder.loop is not asyncio.get_running_loop():
        return None
    if pool_waiters(pool):
        _give_back_all(holder)
        return None
    while holder.idle:
        fairy, _since = holder.idle.pop()
        if _fit(fairy, pool):
            CHECKOUTS["held"] += 1
            return fairy
        _give_back(fairy)
    return None


def _fit(fairy: PoolProxiedConnection, pool: Any) -> bool:
    """Whether a held connection may be used again as it is, on `pool` (`_held`): as the
    pool's check-out would hand it over (`usable_as_is`), and not closed by the server
    (what the check-out's listener looks at)."""
    record: Any = getattr(fairy, "_connection_record", None)
    owner: Any = getattr(fairy, "_pool", None)
    if owner is not pool or not fairy.is_valid or record is None:
        return False
    if not usable_as_is(record, pool):
        return False
    return not fairy.dbapi_connection.driver_connection.is_closed()  # type: ignore[union-attr]


def _hold(engine: Engine, fairy: PoolProxiedConnection) -> bool:
    """After a kept read on `fairy` (valid, in no transaction): whether the event loop
    keeps it for the next (at most HELD_CONNECTIONS, each given back once idle
    HELD_SECONDS: a loop whose reads stop holds none for long). Never while anyone waits
    for a connection of the pool (`pool_waiters`), nor one of a pool the engine has
    since replaced (disposed of while the read ran). False: the caller gives it back
    now."""
    pool = engine.pool
    if getattr(fairy, "_pool", None) is not pool or pool_waiters(pool):
        return False
    loop = asyncio.get_running_loop()
    holder = _HOLDERS.get(engine)
    if holder is None or holder.pool() is not pool:
        if holder is not None:  # the engine's pool was disposed of: its own go back
            _give_back_all(holder)
        holder = _HOLDERS[engine] = _Holder(loop, pool)
    elif holder.loop is not loop:  # an engine used by two loops: the first holds
        return False
    if len(holder.idle) >= HELD_CONNECTIONS:
        return False
    holder.idle.append((fairy, loop.time()))
    if holder.sweep is None:
        holder.sweep = loop.call_later(HELD_SECONDS, _sweep, holder)
    return True


def _sweep(holder: _Holder) -> None:
    """Give back the connections idle for HELD_SECONDS; come again while any is held."""
    holder.sweep = None
    since = holder.loop.time() - HELD_SECONDS
    idle = [held for held in holder.idle if held[1] > since]
    for fairy, returned in holder.idle:
        if returned <= since:
            _give_back(fairy)
    holder.idle = idle
    if idle:
        holder.sweep = holder.loop.call_later(HELD_SECONDS, _sweep, holder)


def give_back_held(engine: Engine | AsyncEngine) -> None:
    """Every connection the event loop holds for `engine`'s kept reads given back to its
    pool (before the engine is disposed of: a held connection is checked out)."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    holder = _HOLDERS.pop(sync, None)
    if holder is not None:
        _give_back_all(holder)


def _give_back_all(holder: _Holder) -> None:
    """Every connection `holder` holds given back, its sweep stopped."""
    if holder.sweep is not None:
        holder.sweep.cancel()
        holder.sweep = None
    idle, holder.idle = holder.idle, []
    for fairy, _returned in idle:
        _give_back(fairy)


def held_connections(engine: Engine | AsyncEngine) -> int:
    """How many connections the event loop holds for `engine`'s kept reads: checked
    out of its pool, and given back once idle HELD_SECONDS (`_hold`)."""
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    holder = _HOLDERS.get(sync)
    return len(holder.idle) if holder is not None and holder.pool() is sync.pool else 0


def _give_back(fairy: PoolProxiedConnection) -> None:
    """A held connection back to its pool: at once when the pool takes it as it is,
    else in a greenlet (the pool closes, or resets, it)."""
    if _kept_as_is(fairy, fairy.dbapi_connection):
        fairy.close()
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop left to close it on: dropped, as the collector would
        return
    task = loop.create_task(greenlet_spawn(fairy.close))
    _GIVING_BACK.add(task)
    task.add_done_callback(_GIVING_BACK.discard)


def _borrows(shared: SharedConnection, repeated: Repeated) -> bool:
    """Whether `repeated` may run on a pooled connection borrowed for it alone: its
    text learnt, and a snapshot not yet opened whose operation promised one statement."""
    return repeated.sent is not None and shared.one_statement and not shared.opened


def _unopened(shared: SharedConnection) -> bool:
    """Whether a snapshot's one statement may still run outside it: no session opened
    it meanwhile. Raises once the operation closed it."""
    if shared._closed:
        raise RuntimeError("the operation's connection is closed")
    return not shared.opened


async def _borrowed(shared: SharedConnection, engine: Engine) -> PoolProxiedConnection | None:
    """A connection of `engine`'s pool for a snapshot's one statement, the caller holding
    the snapshot's lock; None when a session opened the snapshot meanwhile. Without a
    greenlet when the pool hands over an idle connection as it is; in one, as
    SQLAlchemy checks out, when it may wait, connect or ping."""
    if not _unopened(shared):
        return None
    # The next connection out promised to a check-out that waited for it: that one's
    # task takes it within a turn or two of the loop. Any check-out now, this one's
    # included, would take it first (asyncio's queue hands an item to whoever asks)
    # and send the waiter to the back of the line: kept reads sent back to back would
    # starve it (the readiness probe, a mutation's session).
    for _ in range(PROMISED_TURNS):
        if not promised(engine):
            break
        await asyncio.sleep(0)
        if not _unopened(shared):
            return None
    fairy = taken_at_once(engine)
    if fairy is None:
        CHECKOUTS["greenlet"] += 1
        return await greenlet_spawn(_checkout, engine)
    CHECKOUTS["at once"] += 1
    return fairy


def _the_row(rows: Sequence[Any]) -> Sequence[Any]:
    if len(rows) != 1:
        raise RuntimeError(f"one row expected, {len(rows)} read")
    return rows[0]  # type: ignore[no-any-return]


def _all_rows(cursor: sqlite3.Cursor) -> list[Any]:
    return cursor.fetchall()


async def _pooled_sqlite(
    shared: SharedConnection,
    engine: AsyncEngine,
    repeated: Repeated,
    read: Callable[[sqlite3.Cursor], _T],
) -> _T | object:
    """What `read` makes of the rows of a snapshot's one statement on SQLite, outside
    any transaction: one SELECT reads one committed state by itself (WAL), as one
    statement does on PostgreSQL (`_pooled_row`). On the event loop's own connection
    (`_loop_reader`) when it runs there, else on a connection borrowed from the pool for
    it alone: the pool's own check-out and check-in (with no ROLLBACK to send: nothing
    was begun).

    SQLite runs in this process, so where the statement runs is what costs:
    - On the event loop's thread, first: a small page takes tens of microseconds there,
      where a round trip to aiosqlite's thread for the connection costs a wake-up of
      each thread and several hand-overs of the GIL to and fro while the loop is busy
      (the dashboard at 8 connections: about 1,100 requests a second so, 2,600 here;
      bench/README.md). A progress handler stops it once it has run INLINE_SECONDS
      of CPU or INLINE_WALL_SECONDS by the clock, so the loop is held little longer
      than that (unless another thread holds the GIL: SQLite lets it go while it runs,
      and the handler must take it back to read the clock: 27 ms with a thread of
      Python running): its preparation aside
      (statements over INLINE_TEXT never run there), and one step of SQLite's (a sort
      of a large table's rows: 8 ms at 300k), a few times per statement.
    - Then in the connection's own thread; for its next INLINE_RETRY_RUNS runs too once
      it was stopped INLINE_OVERRUNS times in a row (a pause of the process, a
      collection of its garbage or a cold page cache may stop a small read once, and a
      table may grow or shrink: it tries the loop again after them): the statement run
      and its rows read in one call, where
      SQLAlchemy's session, connection and cursor go to that thread for each step
      (BEGIN, execute, each batch of rows, close, ROLLBACK). A statement still running
      when the task is cancelled (an execution deadline, a client gone) is
      interrupted.
    The engine's events, when it has any listener, and a failure are handled through
    a `Connection` made on the borrowed connection, as its execution would."""
    dialect = engine.dialect
    assert repeated.sent is not None
    kind, text, parameters = repeated.sent
    sync_engine = engine.sync_engine
    if (
        type(dialect) is not kind
        or dialect.driver != "aiosqlite"
        or engine.echo
        # A connection to itself alone, usable on this thread: a pooled file's (an
        # in-memory database's pool hands every check-out the same one, which its
        # thread may be using meanwhile).
        or type(sync_engine.pool) is not AsyncAdaptedQueuePool
        or not any_thread(engine)
    ):
        return _NOT_HERE
    async with shared.lock:
        if not _unopened(shared):
            return _NOT_HERE
        on_loop = _may_run_on_loop(repeated, text)
        if on_loop and not sync_engine._has_events:
            # The loop's own connection, outside the pool: no check-out, no check-in.
            out = _on_loops_own(engine, repeated, text, parameters, read)
            if out is _STOPPED:  # past the loop's time, or locked out: in its thread
                on_loop = False
            elif out is not _NOT_HERE:
                return out
        fairy = await _borrowed(shared, sync_engine)
        if fairy is None:
            return _NOT_HERE
        driver: Any = fairy.driver_connection  # aiosqlite's Connection
        connection: Connection | None = None
        try:
            if sync_engine._has_events:  # a listener (a test's counter): a Connection, no cursor
                connection = Connection(sync_engine, connection=fairy)
                connection.dispatch.before_cursor_execute(
                    connection, None, text, parameters, None, False
                )
            out = _NOT_HERE
            if on_loop:
                ran = _inline(driver._conn, text, parameters, read)
                if isinstance(ran, _Stop) and ran.midway:
                    # Its statement stays marked in use on this connection (`_let_go`):
                    # replaced at its next check-out, whatever happens now.
                    fairy.invalidate(soft=True)
                out = _counted(repeated, ran)
            if out is _NOT_HERE or out is _STOPPED:
                cancelled = threading.Event()
                try:
                    out = await driver._execute(
                        _in_thread, driver, text, parameters, read, cancelled
                    )
                except asyncio.CancelledError:
                    # Not begun yet: it never begins; running: stopped at its next step
                    # (`interrupt` alone is forgotten by a statement that starts after it)
                    cancelled.set()
                    driver._conn.interrupt()
                    raise
                SQLITE_RUNS["thread"] += 1
            if connection is not None:
                connection.dispatch.after_cursor_execute(
                    connection, None, text, parameters, None, False
                )
        except BaseException as error:
            if isinstance(error, sqlite3.Error) and fairy.is_valid:
                # A step that failed may leave its statement marked in use (`_let_go`).
                fairy.invalidate(soft=True)
            await greenlet_spawn(
                _failed, sync_engine, connection, fairy, error, text, parameters, None
            )
            raise
        if connection is not None:
            await greenlet_spawn(connection.close)
        elif fairy.is_valid and _pool_keeps(fairy):
            # Nothing to roll back: given back without the pool's ROLLBACK, a round
            # trip to the thread (SQLAlchemy's Connection does so after its own).
            fairy._close_special(transaction_reset=True)
        else:
            await greenlet_spawn(fairy.close)
    return out


def _may_run_on_loop(repeated: Repeated, text: str) -> bool:
    """Whether `repeated` may try the event loop's thread this time: not while it runs
    in its thread for a while (`INLINE_RETRY_RUNS`), nor with a text too long to be
    prepared there (`INLINE_TEXT`)."""
    if repeated.in_thread_for:
        repeated.in_thread_for -= 1
        return False
    if len(text) > INLINE_TEXT:  # its preparation alone would hold the loop
        SQLITE_RUNS["too long for the loop"] += 1
        return False
    return True


def _counted(repeated: Repeated, out: _T | object) -> _T | object:
    """What a run on the loop (`_inline`) gave, counted: its rows, or _STOPPED (past the
    loop's time, or locked out), after which `repeated` runs in its thread, for
    INLINE_RETRY_RUNS runs once stopped INLINE_OVERRUNS times in a row."""
    if isinstance(out, _Stop) and out.locked:
        SQLITE_RUNS["locked"] += 1
        return _STOPPED
    if isinstance(out, _Stop):
        SQLITE_RUNS["past the loop's time"] += 1
        repeated.overruns += 1
        if repeated.overruns >= INLINE_OVERRUNS:
            repeated.in_thread_for = INLINE_RETRY_RUNS
        return _STOPPED
    repeated.overruns = 0
    SQLITE_RUNS["loop"] += 1
    return out


def _on_loops_own(
    engine: AsyncEngine,
    repeated: Repeated,
    text: str,
    parameters: Sequence[Any],
    read: Callable[[sqlite3.Cursor], _T],
) -> _T | object:
    """`_inline` on the loop's own connection to `engine`'s database (`_loop_reader`):
    its rows, _STOPPED (counted, `_counted`), or _NOT_HERE when there is none for this
    thread, or the statement failed on it. A failure closes it (`_let_go`: made again
    at the next read), and the statement runs again on a pooled connection, where
    SQLAlchemy reports the failure as it reports any (or the statement succeeds
    there): so it is logged here only for debugging, as the pooled run logs it."""
    conn = _loop_reader(engine)
    if conn is None:
        return _NOT_HERE
    try:
        out = _inline(conn, text, parameters, read, waits=False)
    except Exception:
        log.debug("a read on the event loop's own SQLite connection failed", exc_info=True)
        _let_go(engine, conn)
        return _NOT_HERE
    if isinstance(out, _Stop) and out.midway:
        _let_go(engine, conn)  # its statement stopped while its rows were read
    return _counted(repeated, out)


def _let_go(engine: AsyncEngine, conn: sqlite3.Connection) -> None:
    """The loop's own connection to `engine`'s database closed; the next read makes
    another. After a failure, and after a statement stopped while its rows were read
    (by the progress handler, or locked out): Python's sqlite3 (3.11) keeps each
    statement it prepared, by its text, marked in use until a reset succeeds, and the
    reset after a failed step reports that failure, so the statement stays marked and
    every later run of the same text on that connection prepares it anew (the
    dashboard's: 142 µs a run instead of 52). A connection that ran one so is not used
    again. (A stop in its first step leaves nothing marked: `_Stop`.)"""
    _READERS.pop(engine.sync_engine, None)
    conn.close()


class _LoopReader:
    """The event loop's own connection to the database of an engine's `pool`
    (`loop_reader`), for the thread that made it alone; while it cannot be opened, how
    many reads to let pass before trying again."""

    __slots__ = ("conn", "pool", "thread", "wait")

    def __init__(self, thread: int, pool: Any) -> None:
        self.thread = thread
        self.pool = pool
        self.conn: sqlite3.Connection | None = None
        self.wait = 0


# By engine: one disposed of (a new pool) opens another at its next read, and the old
# one is closed then (on the thread that made it; else when it is collected).
_READERS: weakref.WeakKeyDictionary[Engine, _LoopReader] = weakref.WeakKeyDictionary()


def _loop_reader(engine: AsyncEngine) -> sqlite3.Connection | None:
    """The loop's own connection to `engine`'s database, opened by its first read
    (`loop_reader`): a statement run on the loop's thread holds it alone, for nothing
    else runs there meanwhile, so one serves every read, where borrowing one of the
    pool's costs its check-out and check-in each time (a seventh of the dashboard's
    CPU). Beside the pool's, it holds a page cache (2 MB at most) and its prepared
    statements.
    None on any other thread (an engine used by two loops), and while it cannot be
    opened (tried again after INLINE_RETRY_RUNS reads)."""
    sync_engine = engine.sync_engine
    pool = sync_engine.pool
    here = threading.get_ident()
    reader = _READERS.get(sync_engine)
    if reader is None or reader.pool is not pool:
        if reader is not None and reader.conn is not None and reader.thread == here:
            reader.conn.close()  # the engine's pool was disposed of
        reader = _READERS[sync_engine] = _LoopReader(here, pool)
    if reader.thread != here:
        return None
    if reader.conn is None:
        if reader.wait:
            reader.wait -= 1
            return None
        try:
            reader.conn = loop_reader(engine)
        except sqlite3.Error:
            log.warning("the event loop's own SQLite connection could not be opened", exc_info=True)
            reader.wait = INLINE_RETRY_RUNS
            return None
    return reader.conn


def _inline(
    conn: sqlite3.Connection,
    text: str,
    parameters: Sequence[Any],
    read: Callable[[sqlite3.Cursor], _T],
    *,
    waits: bool = True,
) -> _T | _Stop:
    """`_run` on this (the event loop's) thread, stopped by SQLite once it has run
    INLINE_SECONDS, or at once when another connection holds a lock it needs: then a
    `_Stop` saying which, and whether it came while the rows were read (the statement's
    rows are let go). The connection is this task's alone: the loop's own
    (`_loop_reader`), or a pooled one whose own thread is idle (the pool hands out none
    with a call pending: one cancelled mid-statement is invalidated, never given back),
    so the two threads never use it at once (`check_same_thread=False`,
    app/db/session.py). `waits`: the connection waits for locks (a pooled one), which it
    must not do here meanwhile."""
    started_cpu, started_wall = time.thread_time(), time.perf_counter()
    stopped = False

    def past_time() -> bool:
        """Whether to stop: by this thread's CPU time past INLINE_SECONDS (the statement's
        own cost: on a busy machine the thread may wait for a core meanwhile, whichever
        thread runs it), or by the clock past INLINE_WALL_SECONDS (what the loop waits,
        whatever the cause: the GIL held by another thread, a disk). The CPU time is read
        (a system call) only once the clock is past INLINE_SECONDS: it cannot be more."""
        nonlocal stopped
        wall = time.perf_counter() - started_wall
        if wall <= INLINE_SECONDS:
            return False
        stopped = wall > INLINE_WALL_SECONDS or time.thread_time() - started_cpu > INLINE_SECONDS
        return stopped

    # Never wait for a lock here (in WAL a read takes none, but a database in recovery
    # or held by a process in exclusive locking mode does): waiting, SQLite sleeps on
    # this thread, past any progress handler's reach.
    if waits:
        conn.execute("PRAGMA busy_timeout = 0")
    conn.set_progress_handler(past_time, INLINE_STEPS)
    midway = False
    try:
        cursor = _cursor(conn, text, parameters)
        midway = True
        return _read(cursor, read)
    except sqlite3.OperationalError as error:
        if stopped:
            return _PAST_TIME_MIDWAY if midway else _PAST_TIME
        # (Its extended code: SQLITE_BUSY_RECOVERY, say, for a database in recovery.)
        if getattr(error, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY:
            return _LOCKED_MIDWAY if midway else _LOCKED
        raise
    finally:
        conn.set_progress_handler(None, 0)
        if waits:
            conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


class _Stop:
    """Why a run on the loop gave up (`_inline`): another connection held a lock it
    needed (`locked`), or it was past its time; `midway`: while its rows were read,
    which leaves its statement marked in use on the connection (`_let_go`). A stop in
    the statement's first step leaves nothing so: the cursor let go resets it again."""

    __slots__ = ("locked", "midway")

    def __init__(self, *, locked: bool, midway: bool) -> None:
        self.locked = locked
        self.midway = midway


_PAST_TIME = _Stop(locked=False, midway=False)
_PAST_TIME_MIDWAY = _Stop(locked=False, midway=True)
_LOCKED = _Stop(locked=True, midway=False)
_LOCKED_MIDWAY = _Stop(locked=True, midway=True)


def _in_thread(
    driver: Any,
    text: str,
    parameters: Sequence[Any],
    read: Callable[[sqlite3.Cursor], _T],
    cancelled: threading.Event,
) -> _T:
    """`_run` in aiosqlite's thread for the connection, stopped once its task is
    `cancelled` (SQLite asks every THREAD_STEPS steps)."""
    conn: sqlite3.Connection = driver._conn
    if cancelled.is_set():
        raise sqlite3.OperationalError("interrupted: its task was cancelled")
    conn.set_progress_handler(cancelled.is_set, THREAD_STEPS)
    try:
        return _run(conn, text, parameters, read)
    finally:
        conn.set_progress_handler(None, 0)


def _run(
    conn: sqlite3.Connection,
    text: str,
    parameters: Sequence[Any],
    read: Callable[[sqlite3.Cursor], _T],
) -> _T:
    """`read` of the statement's cursor, closed after. The connection is in no
    transaction (the pool's check-in ended any; the loop's own begins none), so the
    statement reads by itself; a cursor left open would hold its read snapshot."""
    return _read(_cursor(conn, text, parameters), read)


def _cursor(conn: sqlite3.Connection, text: str, parameters: Sequence[Any]) -> sqlite3.Cursor:
    """The statement begun (its first step taken), on a connection in no transaction."""
    if conn.in_transaction:
        raise RuntimeError("a SQLite connection for a kept read was in a transaction")
    return conn.execute(text, parameters)


def _read(cursor: sqlite3.Cursor, read: Callable[[sqlite3.Cursor], _T]) -> _T:
    """`read` of the begun statement's cursor, closed after."""
    try:
        return read(cursor)
    finally:
        cursor.close()


# The longest a kept SQLite read runs on the event loop's thread (`_inline`), timed from
# its start: every other request waits meanwhile. SQLite asks whether to go on every
# INLINE_STEPS steps of its program (tens of microseconds); each question reads the
# clock, and the thread's CPU time (a system call) only once the clock is past
# INLINE_SECONDS. (Reading both at every question cost the dashboard ~5 µs of its ~205,
# bench/request_cpu.py on SQLite; the 100k flat list and auditor report, stopped on a
# new connection, hold the loop 1.0-1.1 ms, at most 1.6.)
INLINE_SECONDS = 0.001
INLINE_WALL_SECONDS = 0.005
INLINE_STEPS = 1_000
INLINE_OVERRUNS = 3
INLINE_RETRY_RUNS = 1_000
# A statement longer than this (characters of its text) always runs in its thread: SQLite
# prepares it before the progress handler can ask anything (a 220 KB statement of 20
# aliased lists took 41 ms), on each connection and again once evicted from its cache.
INLINE_TEXT = 16_384
# How often a statement in its thread asks whether its task was cancelled, which only
# a cancel that came before its first step needs (`interrupt` stops a running one): each
# question takes the GIL back from the loop (a scan slowed from 335 to 696 ms asking
# every 50,000 steps while the loop was busy), so seldom (some milliseconds).
THREAD_STEPS = 1_000_000
# Where `_pooled_sqlite` ran its statements in this process: on the event "loop"'s
# thread or in the connection's "thread", and how many it stopped on the loop "past the
# loop's time" or found "locked" there.
SQLITE_RUNS: Counter[str] = Counter()


def _pool_keeps(fairy: PoolProxiedConnection) -> bool:
    """Whether the pool takes `fairy` back into its queue (one past its size would be
    closed, which awaits)."""
    queue = getattr(getattr(fairy, "_pool", None), "_pool", None)
    return isinstance(queue, AsyncAdaptedQueue) and not queue.full()  # type: ignore[no-untyped-call]


async def _fetched(
    adapted: Any, dialect: Dialect, text: str, parameters: Sequence[Any]
) -> list[Any]:
    """The rows the asyncpg adapter's cursor reads for `text` outside any transaction
    (its `_prepare_and_execute` with `autocommit` on), without the cursor: the adapter's
    prepared statement, from its cache (prepared again once the dialect's schema cache
    was invalidated, `_forget_prepared`), fetched, and the driver's error translated
    as the adapter translates it. The connection is this task's alone (borrowed from
    the pool for the statement), so the cursor's lock on it has nothing to keep out."""
    try:
        prepared, _attributes = await adapted._prepare(
            text,
            dialect._invalidate_schema_cache_asof,  # type: ignore[attr-defined]
        )
        rows: list[Any] = await prepared.fetch(*parameters)
    except Exception as error:
        adapted._handle_exception(error)
        raise
    return rows


def _kept_as_is(fairy: PoolProxiedConnection, adapted: Any) -> bool:
    """Whether the pool takes `fairy` back with no round trip to the server, so without
    a greenlet: a valid connection in no transaction (its reset, a rollback, sends
    nothing) that the pool keeps (`_pool_keeps`)."""
    return fairy.is_valid and adapted._transaction is None and _pool_keeps(fairy)


def _checkout(engine: Engine) -> PoolProxiedConnection:
    """A connection of `engine`'s pool, its failure to connect as `Connection` reports
    it (in a greenlet: the pool may connect or ping)."""
    try:
        return engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as error:
        Connection._handle_dbapi_exception_noconnection(error, engine.dialect, engine)
        raise


def _failed(
    engine: Engine,
    connection: Connection | None,
    fairy: PoolProxiedConnection,
    error: BaseException,
    *statement: Any,
) -> None:
    """SQLAlchemy's handling of a statement that failed on `connection` (one made on
    `fairy`, the pooled connection it ran on, when there is none yet: `_handle`), then
    the connection given back (or, invalidated, closed)."""
    if connection is None:
        connection = Connection(engine, connection=fairy)
    try:
        _handle(connection, error, *statement)
    finally:
        connection.close()


async def _driver_row(
    connection: AsyncConnection, sent: tuple[type[Dialect], str, Sequence[Any]]
) -> Sequence[Any] | object:
    dialect = connection.dialect
    kind, text, parameters = sent
    if type(dialect) is not kind or dialect.driver != "asyncpg" or connection.engine.echo:
        return _NOT_HERE
    sync = connection.sync_connection
    assert sync is not None  # a connection in use
    # The pooled connection in use, as `get_raw_connection` gives it without a greenlet
    # when there is one (it would reconnect an invalidated connection: in a greenlet).
    fairy = sync._dbapi_connection or await connection.get_raw_connection()
    adapted: Any = fairy.dbapi_connection
    if not (adapted.autocommit or connection.in_transaction()):
        return _NOT_HERE
    dispatch = sync.dispatch
    cursor = adapted.cursor()
    cursor._invalidate_schema_cache_asof = dialect._invalidate_schema_cache_asof  # type: ignore[attr-defined]
    dispatch.before_cursor_execute(sync, cursor, text, parameters, None, False)
    try:
        await cursor._prepare_and_execute(text, parameters)
    except BaseException as error:  # the driver's error, as the adapter translates it
        # As SQLAlchemy handles a statement that failed or was cancelled: wrapped in its
        # DBAPIError, the connection (and the pool's older ones) invalidated when it is
        # lost or left mid-statement, and its prepared statements forgotten when they
        # no longer match the tables (`_forget_prepared`).
        _forget_prepared(dialect, error)
        await greenlet_spawn(_handle, sync, error, text, parameters, cursor)
        raise
    dispatch.after_cursor_execute(sync, cursor, text, parameters, None, False)
    rows = cursor.fetchall()
    if len(rows) != 1:
        raise RuntimeError(f"one row expected, {len(rows)} read")
    return rows[0]  # type: ignore[no-any-return]


def _handle(sync: Any, error: BaseException, *statement: Any) -> None:
    """SQLAlchemy's handling of a failed statement, which reads the exception being
    handled (a greenlet has its own)."""
    try:
        raise error
    except BaseException as raised:
        sync._handle_dbapi_exception(raised, *statement, None)


def _forget_prepared(dialect: Dialect, error: BaseException) -> None:
    """What SQLAlchemy's execution context for asyncpg does with a statement's failure
    (`handle_dbapi_exception`), which its handler skips without a context: when the
    server says a statement prepared earlier no longer matches its tables (another
    process changed them, say a migration during a deploy), every connection of the
    dialect prepares its statements afresh from then on. Without it the driver path
    kept sending the stale statement, and failed on every request after."""
    dbapi: Any = dialect.loaded_dbapi
    if isinstance(error, (dbapi.InvalidCachedStatementError, dbapi.InternalServerError)):
        dialect._invalidate_schema_cache()  # type: ignore[attr-defined]
