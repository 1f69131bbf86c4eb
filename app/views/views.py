"""Views: the ledger as of a past moment, or as a partner sees it, for one request.

A view is one connection of its own on which TEMP tables shadow every ledger table
(app/views/repository.py), filled with the view's rows. Every existing query —
lists, `node`, aggregates, figures, reports, CSV — then answers from the view
without knowing it. The connection never returns to a pool: closing it drops the
shadows, so they cannot leak into another request, and no statement prepared
against them is ever reused on the real tables.

A partner's live view is kept for its later requests (app/views/pool.py) and brought
up to date from the trail rather than built again (`refresh_view`): every write to
ledger data appends, in its own transaction, one entry per record it changed
(app/audit/recorder.py), and writers append in commit order, so the entries after the
view's head name every record that may differ. Those records are dropped from the
shadows and copied again from the real tables under the same scope conditions a build
uses, together with the rows whose visibility reads a shadow that changed
(`repository.refresh_condition`): the view then holds what a build at that moment
would. Entries that cannot change what the partner sees — records of other
initiatives that its shadows do not hold (`repository.relevance_condition`) — are
passed over; when only such entries came, the view stands as it is. The trail is read
in one statement of its own, which also names the records changed (the copy names
them by id rather than reading the trail again), and the copy runs in a transaction
that first checks the trail still ends where it was read (every write to ledger data
moves its end): the copy then reads the moment the trail was read at; when a write
came in between, the trail is read again. On PostgreSQL the statement that reads the
trail copies too, in its own snapshot, when every entry since is of a table the view's
last refresh copied and none regroups (`repository.refresh_at_once_sql`): a partner
editing its own records pays one round trip per refresh, not two. When the view cannot
be shown current — the trail no longer has the view's head (a restore rewrote it), too
many entries passed to be cheaper than a build, or writers kept moving the trail's
end — it is built anew.
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
from app.db.shared import SharedConnection, lost
from app.db.sizes import analyze_statements
from app.models import audited_tables
from app.views import repository

# Smaller shadows are read whole faster than their indexes would be built.
INDEX_FROM = 1000

# Where the trail ends: (last sequence, its hash); None while it is empty.
Head = tuple[int, str] | None

# Beyond this many trail entries since its head, a kept view is built anew: a bulk write
# (an import, `generate`) is copied faster whole than record by record.
REFRESH_UP_TO = 2000

# A refresh whose copy finds the trail moved since it was read reads it again, this
# many times in all; then the view is built anew.
REFRESH_ATTEMPTS = 3

# The longest statement asyncpg keeps prepared on a connection (its default
# `max_cacheable_statement_size`, 15 KiB); a longer one is prepared again, a round trip,
# each time it runs.
CACHED_STATEMENT_CHARS = 15 * 1024

# The most tables the trail's read copies into (PostgreSQL sets up every copy it holds
# each time it runs, changed or not: ~70 µs a table): writes to more at once are
# copied by a script, as before.
AT_ONCE_TABLES = 2

# An indexed shadow's statistics are taken again (PostgreSQL) by the refresh after
# which the trail entries that changed it since they were taken exceed this share of
# its rows.
ANALYZE_AFTER = 0.1

_VIEW_ENGINES: weakref.WeakKeyDictionary[Any, AsyncEngine] = weakref.WeakKeyDictionary()


def view_engine(engine: AsyncEngine) -> AsyncEngine:
    """An engine on `engine`'s database whose connections are not pooled (one per app)."""
    found = _VIEW_ENGINES.get(engine.sync_engine)
    if found is None:
        found = unpooled_twin(engine)
        _VIEW_ENGINES[engine.sync_engine] = found
    return found


@dataclass(frozen=True)
class Deferral:
    """Tables a view as of a moment may shadow by the trail itself instead of a copy
    (`open_view`), for an operation known not to read them: `tables`, when the
    rollups' history holds the moment in each of `rollups` (the currencies of the
    operation's reports, which read the records otherwise)."""

    tables: frozenset[str]
    rollups: frozenset[str]


@dataclass(frozen=True)
class Shadow:
    """What a view knows of one of its shadows."""

    # About how many rows it holds: as built, then plus the records its refreshes saw
    # created and minus those archived (a record moved into or out of the partner's
    # initiatives is not counted: the figure decides only indexes and statistics).
    rows: int
    # Whether it has its indexes (`repository.index_statements`).
    indexed: bool = False
    # The trail entries that changed it since its statistics were taken (indexed ones).
    changed: int = 0


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
    # Its shadows, by table name.
    shadows: dict[str, Shadow] = field(default_factory=dict)
    # What its refreshes read the trail with (`repository.trail_since_sql`; on
    # PostgreSQL `refresh_at_once_sql`, which copies what it can too).
    trail_sql: str = ""
    # The tables its refreshes' read of the trail copies into (PostgreSQL), when the
    # writes since are to those only: those the last refresh that copied read again.
    copied: frozenset[str] = frozenset()
    # Its trail's read copying would be too long to stay prepared (many initiatives):
    # it reads only, for good.
    reads_only: bool = False
    # The tables shadowed by the trail itself rather than copied (`open_view`'s `defer`).
    deferred: frozenset[str] = frozenset()

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

    @property
    def lost(self) -> bool:
        """Whether its connection was given up on (a statement cancelled under it): the
        shadows are gone with it, and it is never read again (app/db/shared.py)."""
        return lost(self.connection)

    async def close(self) -> None:
        await self.shared.close()


async def open_view(
    engine: AsyncEngine,
    *,
    moment: datetime | None = None,
    initiatives: frozenset[int] | None = None,
    defer: Deferral | None = None,
) -> View:
    """The ledger as it was at `moment` (None: now), limited to `initiatives` (None:
    all). The caller closes the view.

    `defer`: tables the operation is not expected to read (a report from the rollups,
    a list of initiatives needs no transactions), shadowed as of a past moment by a
    TEMP VIEW of the trail instead of a copy (`repository.defer_from_trail`): the view
    builds in the time of the rest. A statement that reads one anyway still reads the
    moment's rows (never the real table's), but decodes them itself, once per row when
    it joins the table to itself: quadratic, so `defer` must name only tables the
    operation is known not to read (app/graphql/extensions/views.py `deferral_of`).
    Honoured for a view of every initiative as of a moment only."""
    started = time.perf_counter()
    conn = await view_engine(engine).connect()
    conn.info[VIEW_CONNECTION] = True  # its connections are never pooled: the mark ends with it
    try:
        if conn.dialect.name == "postgresql":
            # The copies of a partner's view must all see one snapshot.
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            view = View(conn, None, initiatives)
            view.rows = await _fill(view, moment, defer)
        view.seconds = time.perf_counter() - started
        return view
    except BaseException:
        await conn.close()
        raise


async def refresh_view(view: View, head: Head) -> Head | None:
    """Bring a live partner view that holds the ledger up to trail entry `head` up to
    the trail's end now, and return that end; None when it cannot be (it is left as it
    was: build a new one). No operation may be using the view."""
    assert view.sequence is None and view.initiatives is not None
    conn = view.connection
    since = head[0] if head is not None else 0
    tables = _tables()
    # On PostgreSQL the trail's read copies too, when the writes since are to the
    # tables the last refresh copied and regroup nothing (most writes: a title, an
    # amount, of the records a partner's programme edits): one round trip
    # (`repository.refresh_at_once_sql`).
    at_once = conn.dialect.name == "postgresql"
    if not view.trail_sql and at_once:
        sql = repository.refresh_at_once_sql(
            conn, view.schema, tables, view.initiatives, view.copied
        )
        if len(sql) > CACHED_STATEMENT_CHARS:
            # A partner of many initiatives: the copies would cost the read a prepare
            # (a round trip) each time; read only, from now on.
            view.copied = frozenset()
            view.reads_only = True
            sql = repository.refresh_at_once_sql(
                conn, view.schema, tables, view.initiatives, view.copied
            )
        view.trail_sql = sql
    elif not view.trail_sql:
        view.trail_sql = repository.trail_since_sql(conn, view.schema, tables, view.initiatives)
    async with view.lock:
        for _ in range(REFRESH_ATTEMPTS):
            if view.lost:
                return None
            applied = False
            if at_once:
                trail, applied = await repository.refresh_at_once(
                    conn, view.trail_sql, head, REFRESH_UP_TO
                )
            else:
                trail = await repository.trail_since(conn, view.trail_sql, since, REFRESH_UP_TO)
            if trail.head is None or trail.head[0] - since > REFRESH_UP_TO:
                return None
            if head is not None and trail.hash_at_head != head[1]:
                return None  # not the trail the view was built from (a restore rewrote it)
            if trail.head == head:
                return head
            copies, upkeep, shadows = _refresh_plan(view, tables, trail)
            if applied and (
                not set(trail.tables) <= view.copied
                or any(c.regrouped for c in trail.tables.values())
            ):
                return None  # copies the statement may not make: never read such a view
            if applied:
                # Copied by the read itself; what is left reads no snapshot (statistics).
                await repository.run_upkeep(conn, upkeep)
                view.shadows.update(shadows)
                return trail.head
            statements = copies + upkeep
            # Nothing the view holds changed (others' initiatives): it is current as it is.
            if not statements or await repository.run_at_head(
                conn, view.schema, trail.head, statements
            ):
                view.shadows.update(shadows)
                if at_once and copies and not view.reads_only:
                    # The next writes are expected where these were (if few tables).
                    expected = (
                        frozenset(trail.tables)
                        if len(trail.tables) <= AT_ONCE_TABLES
                        else frozenset()
                    )
                    if expected != view.copied:
                        view.copied = expected
                        view.trail_sql = ""
                return trail.head
            # A write came between the read of the trail and the copy: read it again.
    return None  # writers keep moving the head: a build reads one snapshot whatever they do


def _refresh_plan(
    view: View, tables: list[Table], trail: repository.TrailSince
) -> tuple[list[str], list[str], dict[str, Shadow]]:
    """The statements that bring `view` from its head to `trail.head`, and
    what its shadows are once they have run: the copies (each shadow's records that
    `trail` names read again: `repository.refresh_condition`), then the upkeep (an
    index on a shadow that has grown to `INDEX_FROM` rows, and new statistics
    (PostgreSQL) for an indexed one that `ANALYZE_AFTER` of its rows were changed in
    since they were taken)."""
    assert view.initiatives is not None
    conn = view.connection
    changed = {name: c.ids for name, c in trail.tables.items()}
    regrouped = frozenset(name for name, c in trail.tables.items() if c.regrouped)
    statements: list[str] = []
    for table in tables:
        rows = repository.refresh_condition(table, changed, regrouped)
        if rows is not None:
            statements += repository.refresh_rows(conn, view.schema, table, rows, view.initiatives)
    upkeep: list[str] = []
    shadows: dict[str, Shadow] = {}
    for table in tables:
        changes = trail.tables.get(table.name)
        if changes is None:
            continue
        old = view.shadows[table.name]
        shadow = Shadow(
            max(0, old.rows + changes.created - changes.archived),
            old.indexed,
            old.changed + changes.entries,
        )
        if not shadow.indexed and shadow.rows >= INDEX_FROM:
            upkeep += repository.index_statements(conn, table)
            shadow = Shadow(shadow.rows, indexed=True)
        elif shadow.indexed and shadow.changed > ANALYZE_AFTER * shadow.rows:
            analyze = analyze_statements(conn, table)
            if analyze:
                upkeep += analyze
                shadow = Shadow(shadow.rows, indexed=True)
        shadows[table.name] = shadow
    return statements, upkeep, shadows


def _tables() -> list[Table]:
    """The ledger's tables in the order their shadows are scoped (`scope_order`)."""
    return repository.scope_order(t.__table__ for t in audited_tables().values())


async def _fill(view: View, moment: datetime | None, defer: Deferral | None) -> int:
    """Create and fill the shadows; returns how many rows the view holds.

    On PostgreSQL in a fixed number of round trips whatever the tables: the reads that
    decide the statements (the schema, the moment's sequence, the rollups held), one
    script that creates, fills and scopes every shadow, one statement that counts their
    rows, and one script that indexes the large ones and ends the build
    (`repository.run_statements`). Every value in the scripts is a literal rendered by
    the repository (sequences and ids as integers, names from the models)."""
    conn = view.connection
    schema = view.schema = await repository.real_schema(conn)
    tables = _tables()
    # What fills or scopes each shadow, in order, with the table whose rows it adds
    # (+1) or removes (-1).
    build: list[tuple[str, str | None, int]] = []
    if moment is not None:
        view.sequence = await repository.sequence_at(conn, moment)
        deferrable: frozenset[str] = frozenset()
        if view.initiatives is None:
            # Reports read the rollups of the moment when their history holds it; only
            # then may the records they would read otherwise be left to the trail. (A
            # partner's view never defers: its scope reads its shadows.)
            held, statements = await repository.shadow_rollups(conn, schema, view.sequence)
            build += [(s, None, 0) for s in statements]
            if defer is not None and defer.rollups <= held:
                deferrable = defer.tables
        view.deferred = frozenset(t.name for t in tables if t.name in deferrable)
        for table in tables:
            if table.name in view.deferred:
                sql = repository.defer_from_trail(conn, schema, table, view.sequence)
                build.append((sql, None, 0))
                continue
            build.append((repository.create_shadow(conn, schema, table), None, 0))
            sql = repository.fill_from_trail(conn, schema, table, view.sequence)
            build.append((sql, table.name, 1))
        if view.initiatives is not None:
            for table in tables:
                scope = repository.apply_scope(conn, table, view.initiatives)
                if scope is not None:
                    build.append((scope, table.name, -1))
    else:
        for table in tables:
            build.append((repository.create_shadow(conn, schema, table), None, 0))
            sql = repository.copy_scoped(conn, schema, table, view.initiatives)
            build.append((sql, table.name, 1))
    shadowed = [t.name for t in tables if t.name not in view.deferred]
    changed = await repository.run_statements(conn, [sql for sql, _, _ in build])
    if conn.dialect.name == "postgresql":
        rows = await repository.count_rows(conn, shadowed)
    else:  # the rows each statement changed
        rows = dict.fromkeys(shadowed, 0)
        for (_, name, sign), count in zip(build, changed, strict=True):
            if name is not None:
                rows[name] += sign * count
    finish: list[str] = []
    for table in tables:
        if table.name in view.deferred:
            continue
        indexed = rows[table.name] >= INDEX_FROM
        if indexed:
            finish += repository.index_statements(conn, table)
        view.shadows[table.name] = Shadow(rows[table.name], indexed)
    if view.sequence is None and view.initiatives is not None:
        finish += repository.create_check_table()  # a live partner's view is refreshed
    # Last: filling reads the real trail.
    finish.append(repository.shadow_trail(conn, schema, view.sequence, view.initiatives))
    finish += repository.hide_real_tables(conn)
    await repository.run_statements(conn, finish)
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
