"""Engines and session factories. The request boundary owns transactions."""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, make_url
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import (
    AsyncAdaptedQueuePool,
    ConnectionPoolEntry,
    NullPool,
    PoolProxiedConnection,
)
from sqlalchemy.util.queue import AsyncAdaptedQueue

from app.db.functions import SQLITE_BASE64URL, SQLITE_LOWER, python_base64url, python_lower

SessionFactory = async_sessionmaker[AsyncSession]

# How long opening a PostgreSQL connection may take. A database that takes the TCP
# connection and never answers (a network partition, a hung host) would otherwise hold
# each caller, /readyz included, for asyncpg's default of 60 s.
CONNECT_TIMEOUT_SECONDS = 5.0
# `Connection.info` key marking a view's connection (app/views/views.py), on which TEMP
# tables shadow the ledger's: what is derived from the real tables and not shadowed
# (app/reports/budget/rollups.py) must not be read there.
VIEW_CONNECTION = "ledger.view"
# On a view as of a moment the rollups' history holds, the trail sequence whose rollups
# its shadows of them show (app/views/repository.py `shadow_rollups`): reports may read
# them there.
ROLLUP_HISTORY = "ledger.view.rollups"
# Each live query holds one pooled connection while it runs (its read snapshot,
# app/db/shared.py): this many are kept, and as many again opened when all are busy;
# a query finding none waits for one, within its execution limit.
POOL_SIZE = 10
POOL_OVERFLOW = 10
# A pooled PostgreSQL connection back in the pool for longer than this is pinged (one
# round trip) before it is used again; one given back sooner is used as it is.
IDLE_PING_SECONDS = 10.0


@dataclass(frozen=True)
class SqliteFunction:
    """A function SQL calls on SQLite, registered on each of its connections (PostgreSQL
    has its own in the database)."""

    name: str
    arity: int
    function: Callable[..., Any]


# Every engine's SQLite functions, for the engines built on the same database later.
_FUNCTIONS: weakref.WeakKeyDictionary[Engine, tuple[SqliteFunction, ...]] = (
    weakref.WeakKeyDictionary()
)


# How long a SQLite statement waits for another connection's lock before it fails
# ("database is locked"); a read on the event loop's thread waits for none
# (app/db/shared.py `_inline`).
SQLITE_BUSY_TIMEOUT_MS = 5000


def _sqlite_setup(functions: Sequence[SqliteFunction]) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function(SQLITE_LOWER, 1, python_lower, deterministic=True)
        dbapi_connection.create_function(SQLITE_BASE64URL, 1, python_base64url, deterministic=True)
        for f in functions:
            dbapi_connection.create_function(f.name, f.arity, f.function, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL lets readers proceed while a writer commits (the server reads concurrently).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    return on_connect


_RETURNED_AT = "pledge_returned_at"
# Set while `taken_at_once` checks out a connection it found in no need of a ping.
_AT_ONCE = "pledge_at_once"
# Set on a connection given back while check-outs waited: the first of them takes it.
_PROMISED = "pledge_promised"


def _check_on_checkout(dialect: Dialect) -> Callable[[Any, ConnectionPoolEntry, Any], None]:
    """What replaces SQLAlchemy's pre-ping, which spent three round trips (BEGIN, an
    empty statement, ROLLBACK) on every checkout, a third of a small query's. A
    connection the server has closed (a restart, a shutdown, a terminated backend: the
    driver has seen its socket close) is never handed out; nor one idle for longer than
    IDLE_PING_SECONDS that does not answer a ping (a connection dropped silently on the
    way, which only a round trip finds). Either way every connection opened before is
    replaced too, as the pre-ping did: a server that went away took them all."""

    def on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        record.info.pop(_PROMISED, None)  # taken: by the check-out it was kept for, or not
        driver = dbapi_connection.driver_connection
        if driver.is_closed():
            raise InvalidatePoolError("the server closed the connection")
        # Taken at once (`taken_at_once`), found in no need of a ping a moment ago: the
        # clock moved on since, never the connection's state.
        if record.info.pop(_AT_ONCE, False) or not _idle_long(record):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise InvalidatePoolError("the connection did not answer a ping") from error
            raise

    on_checkout.awaits_nothing = _awaits_nothing  # type: ignore[attr-defined]
    return on_checkout


def _idle_long(record: ConnectionPoolEntry) -> bool:
    """Whether `record`'s connection was back in the pool for longer than
    IDLE_PING_SECONDS, so that its check-out pings it (one just opened is not)."""
    returned = record.info.get(_RETURNED_AT)
    return returned is not None and time.monotonic() - returned >= IDLE_PING_SECONDS


def _awaits_nothing(dbapi_connection: Any, record: ConnectionPoolEntry) -> bool:
    """Whether `_check_on_checkout`'s listener hands the connection over with no round
    trip: the server has not closed it, and it needs no ping."""
    return not dbapi_connection.driver_connection.is_closed() and not _idle_long(record)


def taken_at_once(engine: Engine) -> PoolProxiedConnection | None:
    """A connection of `engine`'s pool checked out with nothing awaited, so without
    the greenlet SQLAlchemy's check-out otherwise runs in (its pool may wait for a
    connection, open one, or ping one); None when that cannot be promised, and the
    caller checks one out the usual way. Promised when the pool (an
    AsyncAdaptedQueuePool without pre-ping) holds an idle connection, the next its
    queue hands out, that its check-out takes as it is: open, neither invalidated
    (by itself or with the whole pool) nor due to be recycled, and whose every
    check-out listener says it awaits nothing for it (`_check_on_checkout`'s: not
    closed by the server, no ping due). SQLAlchemy's own check-out then takes it, with
    its events, so everything else (its reset and check-in, invalidation) is as for any
    connection of the pool."""
    pool: Any = engine.pool
    if type(pool) is not AsyncAdaptedQueuePool or pool._pre_ping:
        return None
    queue: Any = pool._pool
    if queue.empty():  # the pool would open a connection, or wait for one
        return None
    record = _next_out(queue)
    if record.info.get(_PROMISED):  # a check-out that waited for it takes it next
        return None
    dbapi_connection = record.dbapi_connection
    if not usable_as_is(record, pool):
        return None  # reconnected at check-out
    for listener in pool.dispatch.checkout:
        awaits_nothing = getattr(listener, "awaits_nothing", None)
        if awaits_nothing is None or not awaits_nothing(dbapi_connection, record):
            return None
    record.info[_AT_ONCE] = True
    try:
        fairy: PoolProxiedConnection = pool.connect()
    finally:
        record.info.pop(_AT_ONCE, None)
    return fairy


def usable_as_is(record: Any, pool: Any) -> bool:
    """Whether `pool`'s check-out would hand over `record`'s connection as it is: open,
    not invalidated (by itself or with the whole pool), not due to be recycled."""
    return not (
        record.dbapi_connection is None
        or record._is_hard_or_soft_invalidated()
        or (pool._recycle > -1 and time.time() - record.starttime > pool._recycle)
    )


def _next_out(queue: Any) -> Any:
    """The record the pool's (non-empty) queue hands out next: asyncio.Queue's own deque,
    taken from as SQLAlchemy's queue takes."""
    waiting = queue._queue._queue
    return waiting[-1] if queue.use_lifo else waiting[0]


def promised(engine: Engine) -> bool:
    """Whether the connection `engine`'s pool hands out next is promised to a check-out
    that waited for it (`_note_checkin`): taking it first would send that check-out to
    the back of the line, again and again while reads keep coming."""
    pool: Any = engine.pool
    if type(pool) is not AsyncAdaptedQueuePool:
        return False
    queue: Any = pool._pool
    return not queue.empty() and bool(_next_out(queue).info.get(_PROMISED))


def pool_waiters(pool: Any) -> bool:
    """Whether a check-out waits for a connection of `pool` (an AsyncAdaptedQueuePool's
    queue has getters): the next connection back is theirs."""
    queue = getattr(pool, "_pool", None)
    if not isinstance(queue, AsyncAdaptedQueue):
        return False
    return any(not getter.done() for getter in queue._queue._getters)  # type: ignore[attr-defined]


def _note_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_RETURNED_AT] = time.monotonic()
    # Going back (this runs before) to a pool that check-outs wait for: asyncio's queue
    # wakes the first, which takes it only when its task next runs, and is no longer
    # among the queue's getters meanwhile. Until a check-out takes it, it is theirs.
    if pool_waiters(record._ConnectionRecord__pool):  # type: ignore[attr-defined]
        record.info[_PROMISED] = True


def create_engine(
    url: str | URL,
    *,
    echo: bool = False,
    pooled: bool = True,
    sqlite_functions: Sequence[SqliteFunction] = (),
) -> AsyncEngine:
    """An engine on `url`. `pooled=False`: every connection is opened for its user and
    closed after, so nothing it leaves behind (temp tables, prepared statements) outlives
    it. `sqlite_functions`: what the domains' SQL calls on SQLite (app/engines.py gives
    them; this layer knows none but its own)."""
    kwargs: dict[str, Any] = {"echo": echo}
    if not pooled:
        kwargs.update(poolclass=NullPool)
    elif str(url).startswith("postgresql"):
        kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
    elif sqlite_file(url) is not None:
        # SQLAlchemy's default for a file (5 + 10) would hold fewer concurrent queries.
        kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
    if make_url(url).get_driver_name() == "asyncpg":
        kwargs.update(connect_args={"timeout": CONNECT_TIMEOUT_SECONDS})
    elif sqlite_file(url) is not None and pooled:
        # aiosqlite makes each connection in a thread of its own, and uses it there; a
        # kept read runs its one statement on the event loop's thread instead, while it
        # holds the connection and that thread is idle (app/db/shared.py `_inline`).
        # Not for an in-memory database, whose one connection is everyone's.
        kwargs.update(connect_args={"check_same_thread": False})
    engine = create_async_engine(url, **kwargs)
    if "check_same_thread" in kwargs.get("connect_args", {}):
        _ANY_THREAD.add(engine.sync_engine)
    _FUNCTIONS[engine.sync_engine] = tuple(sqlite_functions)
    if pooled and engine.dialect.name == "postgresql":
        pool = engine.sync_engine.pool
        event.listen(pool, "checkout", _check_on_checkout(engine.dialect))
        event.listen(pool, "checkin", _note_checkin)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_setup(sqlite_functions))
    return engine


def loop_reader(engine: AsyncEngine) -> sqlite3.Connection:
    """A connection to `engine`'s SQLite file outside its pool, for the statements the
    event loop's thread runs itself (app/db/shared.py `_inline`): opened with the
    URL's arguments and `_sqlite_setup`'s functions and settings, as the pool opens one
    (not SQLAlchemy's own REGEXP, which no compiled read uses: a statement that fails
    here runs again on a pooled connection), then reading only and never waiting for a
    lock (waiting, SQLite would sleep on the loop's thread). Raises sqlite3.Error when
    it cannot be opened so."""
    sync_engine = engine.sync_engine
    args, options = engine.dialect.create_connect_args(sync_engine.url)
    opened: Any = sqlite3.connect
    conn: sqlite3.Connection = opened(
        *args, **{**options, "timeout": 0, "check_same_thread": False}
    )
    try:
        _sqlite_setup(_FUNCTIONS.get(sync_engine, ()))(conn, None)
        conn.execute("PRAGMA busy_timeout = 0")
        conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def any_thread(engine: AsyncEngine) -> bool:
    """Whether `engine`'s SQLite connections may be used by another thread than the one
    that made them, by whoever holds one (a pooled file's)."""
    return engine.sync_engine in _ANY_THREAD


_ANY_THREAD: weakref.WeakSet[Engine] = weakref.WeakSet()


def unpooled_twin(engine: AsyncEngine) -> AsyncEngine:
    """A new engine on `engine`'s database, set up as it is (its SQLite functions), whose
    connections are not pooled."""
    return create_engine(
        engine.url,
        echo=bool(engine.echo),
        pooled=False,
        sqlite_functions=_FUNCTIONS.get(engine.sync_engine, ()),
    )


def create_session_factory(
    engine: AsyncEngine, *, info: Mapping[str, Any] | None = None
) -> SessionFactory:
    """Sessions on `engine`, each starting with `info` in its `session.info` (what the
    layers above keep there: who writes, app/engines.py)."""
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, info=dict(info or {})
    )


# SQLSTATEs of a server that is away: class 08 (connection exception), and a server
# shutting down (57P01 admin, 57P02 crash) or not yet accepting connections (57P03).
_AWAY_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
_AWAY_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT}
    | {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
)


def database_error(exc: BaseException) -> bool:
    """Whether `exc` came from the database or the driver (a statement that failed, a
    connection lost), rather than from the code around it."""
    return isinstance(exc, DBAPIError) or database_unreachable(exc)


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (down, restarting, the
    connection cut), rather than that a statement failed. Such a failure is passing:
    the caller may retry; whether a write in flight committed is unknown."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        # TimeoutError: asyncpg's, when the server took no connection in time (no other
        # TimeoutError reaches a request's error handling: the execution limit's own
        # ends as a TIMEOUT error first).
        if isinstance(current, ConnectionError | TimeoutError | socket.gaierror):
            return True
        if isinstance(current, OSError) and current.errno in _AWAY_ERRNOS:
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _AWAY_SQLSTATES):
            return True
        # SQLAlchemy's error wraps the driver's, which may wrap the socket's.
        wrapped = current.orig if isinstance(current, DBAPIError) else None
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    return False


# SQLSTATEs of a server that answers but will not let us in: no such database (3D000),
# a refused login (28000, 28P01), no connection slot left (53300).
_REFUSED_SQLSTATES = frozenset({"3D000", "28000", "28P01", "53300"})
# What SQLite says when it cannot open a file as a database.
_SQLITE_CANNOT_OPEN = ("unable to open database file", "file is not a database")


def sqlite_file(url: str | URL) -> Path | None:
    """The absolute path of the SQLite file `url` names; None for another database or
    an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(os.path.abspath(name))


def describe_database(url: str | URL) -> str:
    """The database `url` names, for people and logs: a SQLite file's absolute path, or
    the URL with its password masked."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        return f"SQLite file {path}" if path is not None else f"SQLite {parsed.database}"
    return parsed.render_as_string(hide_password=True)


def cannot_open(exc: BaseException) -> str | None:
    """Why the database cannot be used at all, in one line, when `exc` says so: it
    cannot be reached, does not exist, refuses the login, or is no database. None
    for any other failure (a statement's, a bug's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        sqlstate = getattr(current, "sqlstate", None)
        if sqlstate in _REFUSED_SQLSTATES:
            return _first_line(current)
        if isinstance(current, sqlite3.DatabaseError) and str(current) in _SQLITE_CANNOT_OPEN:
            return str(current)
        if isinstance(current, socket.gaierror):
            return f"host not found ({_first_line(current)})"
        if isinstance(current, TimeoutError):
            return f"no answer within {CONNECT_TIMEOUT_SECONDS:g} s"
        if isinstance(current, ConnectionRefusedError):
            return f"connection refused ({_first_line(current)})"
        wrapped = current.orig if isinstance(current, DBAPIError) else None
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    if database_unreachable(exc):
        return f"the connection failed ({_first_line(exc)})"
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class StatementCounter:
    """Counts SQL statements sent through an engine (used by tests and benchmarks)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine: Engine = engine.sync_engine
        self.statements: list[str] = []

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)

    def __enter__(self) -> StatementCounter:
        event.listen(self._engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._on_execute)

    @property
    def count(self) -> int:
        return len(self.statements)
