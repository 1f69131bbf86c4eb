"""Views: the ledger as of a past moment, or as a partner sees it, for one request.

A view is one connection of its own on which TEMP tables shadow every ledger table
(app/views/repository.py), filled with the view's rows. Every existing query —
lists, `node`, aggregates, figures, reports, CSV — then answers from the view
without knowing it. The connection never returns to a pool: closing it drops the
shadows, so they cannot leak into another request, and no statement prepared
against them is ever reused on the real tables.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.session import VIEW_CONNECTION, SessionFactory, unpooled_twin
from app.db.shared import SharedConnection
from app.models import audited_tables
from app.views import repository

# Smaller shadows are read whole faster than their indexes would be built.
INDEX_FROM = 1000

_VIEW_ENGINES: weakref.WeakKeyDictionary[Any, AsyncEngine] = weakref.WeakKeyDictionary()


def view_engine(engine: AsyncEngine) -> AsyncEngine:
    """An engine on `engine`'s database whose connections are not pooled (one per app)."""
    found = _VIEW_ENGINES.get(engine.sync_engine)
    if found is None:
        found = unpooled_twin(engine)
        _VIEW_ENGINES[engine.sync_engine] = found
    return found


@dataclass
class View:
    connection: AsyncConnection
    # None: the current state.
    sequence: int | None
    # None: every initiative.
    initiatives: frozenset[int] | None
    # Its sessions, each holding the connection from start to end (app/db/shared.py).
    shared: SharedConnection = field(init=False)
    # The schema of the real tables (the view's own search path no longer names it).
    schema: str = ""
    # What building the view took (for logs and benchmarks).
    rows: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        # Sessions end their own transactions (a rollback: they only read); the shadows
        # were committed when the view was built, so they stay.
        self.shared = SharedConnection(self.connection)

    @property
    def sessions(self) -> SessionFactory:
        return self.shared.sessions

    @property
    def lock(self) -> asyncio.Lock:
        return self.shared.lock

    async def close(self) -> None:
        await self.shared.close()


async def open_view(
    engine: AsyncEngine,
    *,
    moment: datetime | None = None,
    initiatives: frozenset[int] | None = None,
) -> View:
    """The ledger as it was at `moment` (None: now), limited to `initiatives` (None:
    all). The caller closes the view."""
    started = time.perf_counter()
    conn = await view_engine(engine).connect()
    conn.info[VIEW_CONNECTION] = True  # its connections are never pooled: the mark ends with it
    try:
        if conn.dialect.name == "postgresql":
            # The copies of a partner's view must all see one snapshot.
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            view = View(conn, None, initiatives)
            view.rows = await _fill(view, moment)
        view.seconds = time.perf_counter() - started
        return view
    except BaseException:
        await conn.close()
        raise


async def _fill(view: View, moment: datetime | None) -> int:
    """Create and fill the shadows; returns how many rows the view holds."""
    conn = view.connection
    schema = view.schema = await repository.real_schema(conn)
    tables: list[Table] = repository.scope_order(t.__table__ for t in audited_tables().values())
    for table in tables:
        await repository.create_shadow(conn, schema, table)
    rows: dict[str, int] = {}
    if moment is not None:
        view.sequence = await repository.sequence_at(conn, moment)
        for table in tables:
            rows[table.name] = await repository.fill_from_trail(conn, schema, table, view.sequence)
        if view.initiatives is not None:
            for table in tables:
                rows[table.name] -= await repository.apply_scope(conn, table, view.initiatives)
    else:
        for table in tables:
            rows[table.name] = await repository.copy_scoped(conn, schema, table, view.initiatives)
    for table in tables:
        if rows[table.name] >= INDEX_FROM:
            await repository.index_shadow(conn, table)
    # Last: filling reads the real trail.
    await repository.shadow_trail(conn, schema, view.sequence, view.initiatives)
    await repository.hide_real_tables(conn)
    return sum(rows.values())


@asynccontextmanager
async def sessions_as_of(
    sessions: SessionFactory, moment: datetime | None
) -> AsyncIterator[SessionFactory]:
    """`sessions` themselves for the live ledger (None), else those of a view of it as
    it stood at `moment`, closed at the block's end: an operator's export as of then."""
    if moment is None:
        yield sessions
        return
    view = await open_view(sessions.kw["bind"], moment=moment)
    try:
        yield view.sessions
    finally:
        await view.close()
