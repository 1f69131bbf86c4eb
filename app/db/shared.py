"""One connection shared by the sessions of one operation.

A view (app/views/views.py) and the read snapshot of a live query each give an
operation one connection: every statement of the operation then reads the same state.
strawberry resolves fields concurrently while a connection runs one statement at a
time, so each session holds the connection's lock from `async with` to its end (the
only way the app opens sessions). This is the one place that rule lives.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.base import Executable
from sqlalchemy.util import greenlet_spawn

from app.db.session import SessionFactory


class SharedSession(AsyncSession):
    """A session on a `SharedConnection`: it holds the connection's lock for its life,
    and is bound to the connection only then (a snapshot's is opened by its first
    session)."""

    def __init__(self, *args: Any, shared: SharedConnection, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shared = shared

    async def __aenter__(self) -> SharedSession:
        await self._shared.lock.acquire()
        try:
            connection = await self._shared.connect()
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
            self._shared.lock.release()


class SharedConnection:
    """A connection, given or opened on first use, and the sessions that share it.
    Sessions join the connection's transaction when it has one (a snapshot's) and
    leave it open; otherwise each begins and ends its own (a view's)."""

    def __init__(
        self,
        connection: AsyncConnection | None = None,
        *,
        opener: Callable[[], Awaitable[AsyncConnection]] | None = None,
    ) -> None:
        assert (connection is None) != (opener is None)
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
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
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

    snapshot = SharedConnection(opener=opener)
    return snapshot


def _shared(sessions: SessionFactory) -> SharedConnection | None:
    shared = getattr(sessions, "kw", {}).get("shared")
    return shared if isinstance(shared, SharedConnection) else None


def one_statement(sessions: SessionFactory) -> None:
    """Tell the snapshot behind `sessions`, before its first session, that the
    operation will run one statement only. Any other factory (a view's, a test's) is
    left as it is."""
    shared = _shared(sessions)
    if shared is not None and not shared.opened:
        shared.one_statement = True


async def any_statements(sessions: SessionFactory) -> None:
    """Undo `one_statement`: the operation may run several statements after all."""
    shared = _shared(sessions)
    if shared is not None:
        await shared.renew()


class Repeated:
    """A statement run as it is, again and again (its bound values its own: a compiled
    read's statement, kept per plan and window), and what SQLAlchemy sent the driver for
    it: the text and parameters, learnt at its first run on PostgreSQL. `one_row` then
    hands those to the driver's connection itself: SQLAlchemy's session, connection and
    result around one round trip cost several times what asyncpg's own statement does
    (bench/README.md, peers.py)."""

    __slots__ = ("sent", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # The dialect's class, the SQL text and the parameters, in the driver's terms.
        self.sent: tuple[type[Dialect], str, Sequence[Any]] | None = None


async def one_row(sessions: SessionFactory, repeated: Repeated) -> Sequence[Any] | None:
    """The one row `repeated` reads through `sessions`; None unless on PostgreSQL.

    On an operation's own connection (a snapshot's) that runs statements either outside
    any transaction (AUTOCOMMIT: `one_statement`) or in the transaction it began (the
    snapshot's REPEATABLE READ, READ ONLY), the statement goes straight to the asyncpg
    adapter SQLAlchemy itself executes through — which begins the connection's
    transaction first if it has not yet, with the same isolation and read-only mode,
    and finds the statement among those it prepared — holding the connection's lock as
    a session does. A failure goes to SQLAlchemy's own handler, as from its execution
    (its `DBAPIError`, the connection invalidated when the driver says it is lost); the
    engine's statement events are dispatched as for any statement (the counters see
    it). Any other connection (a view's, whose sessions each begin and end a
    transaction), an engine that logs its statements (`echo`), and the first run go
    through a session as any read does."""
    shared = _shared(sessions)
    if shared is not None and repeated.sent is not None:
        async with shared.lock:
            connection = await shared.connect()
            row = await _driver_row(connection, repeated.sent)
        if row is not _NOT_HERE:
            RUNS["driver"] += 1
            return row  # type: ignore[return-value]
    RUNS["session"] += 1
    async with sessions() as session:
        connection = await session.connection()
        if connection.dialect.name != "postgresql":
            return None
        result = await connection.execute(repeated.statement)
        context = result.context
        if repeated.sent is None and isinstance(context.parameters[0], Sequence):
            sent = context.statement, tuple(context.parameters[0])
            repeated.sent = (type(connection.dialect), *sent)
        return result.one()


_NOT_HERE = object()
# How `one_row` ran its statements in this process: "driver" (on the driver's
# connection) or "session".
RUNS: Counter[str] = Counter()


async def _driver_row(
    connection: AsyncConnection, sent: tuple[type[Dialect], str, Sequence[Any]]
) -> Sequence[Any] | object:
    dialect = connection.dialect
    kind, text, parameters = sent
    if type(dialect) is not kind or dialect.driver != "asyncpg" or connection.engine.echo:
        return _NOT_HERE
    fairy = await connection.get_raw_connection()
    adapted: Any = fairy.dbapi_connection
    if not (adapted.autocommit or connection.in_transaction()):
        return _NOT_HERE
    sync = connection.sync_connection
    assert sync is not None  # a connection in use
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
