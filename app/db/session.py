"""Engines and session factories. The request boundary owns transactions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import URL, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from app.audit.recorder import ACTOR, REASON
from app.audit.recorder import install as install_recorder
from app.audit.records import Actor
from app.db.functions import SQLITE_LOWER, python_lower
from app.money.sql import SQLITE_CONVERT, sqlite_convert

SessionFactory = async_sessionmaker[AsyncSession]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_function(SQLITE_LOWER, 1, python_lower, deterministic=True)
    dbapi_connection.create_function(SQLITE_CONVERT, 4, sqlite_convert, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers proceed while a writer commits (the server reads concurrently).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str | URL, *, echo: bool = False, pooled: bool = True) -> AsyncEngine:
    """`pooled=False`: every connection is opened for its user and closed after, so
    nothing it leaves behind (temp tables, prepared statements) outlives it."""
    kwargs: dict[str, Any] = {"echo": echo}
    if not pooled:
        kwargs.update(poolclass=NullPool)
    elif str(url).startswith("postgresql"):
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def create_session_factory(engine: AsyncEngine, *, actor: Actor | None = None) -> SessionFactory:
    """Sessions on `engine`. Only sessions with an actor may write ledger data: every
    write appends to the audit trail in its transaction (app/audit/recorder.py)."""
    install_recorder()
    info = {ACTOR: actor, REASON: None} if actor is not None else {}
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)


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
