"""A baseline for rows the trail never saw: one `create` entry each, as they are now.

The trail began with the migration that created it; rows already in the database then
(a demo loaded before the upgrade, say) have no entries. Views "as of" a moment are
rebuilt from the trail, so without a baseline those rows would be missing from them,
and from `changes` and `history`. The baseline records each such row as created, by
the system, at the moment it runs: what happened to the row before that is unknown.

Rows are read a batch at a time, by id, so a table of millions never sits in memory.
Entries are written the way the recorder writes them (same state encoding, same hash
chain), under the chain lock, so they continue the chain with no gap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row, Table, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.audit.recorder import HEAD, Head, lock_chain
from app.audit.records import (
    SYSTEM_ROLE,
    Actor,
    audited_tables,
    canonical_json,
    initiative_of,
    state_from_row,
)
from app.db.base import Base
from app.models import Change

BASELINE_ACTOR = Actor("baseline", SYSTEM_ROLE)
BASELINE_REASON = "rows that existed before the audit trail began"
# Rows read (and entries written) per statement.
BATCH_ROWS = 5000


async def record_untracked(
    session: AsyncSession,
    *,
    actor: Actor = BASELINE_ACTOR,
    reason: str | None = BASELINE_REASON,
    batch: int = BATCH_ROWS,
) -> int:
    """Append a `create` entry for every audited row that has no entry yet; return how
    many. The caller commits. A second run finds every row tracked and writes nothing."""
    # First, before anything is read: another writer cannot add rows (or entries) while
    # this decides which rows lack them.
    await lock_chain(session)
    head: Head = session.info[HEAD]
    conn = await session.connection()
    now = head.clock()  # one moment for the whole baseline
    audited = audited_tables()
    written = 0
    # Parents before children, so a replay of the trail inserts them in order.
    for table in Base.metadata.sorted_tables:
        if table.name not in audited:
            continue
        async for rows in _untracked(conn, table, batch):
            entries = [
                head.link(
                    occurred_at=now,
                    actor_name=actor.name,
                    actor_role=actor.role,
                    entity_type=table.name,
                    entity_id=int(row.id),
                    initiative_id=initiative_of(_as_record(table, row)),
                    operation="create",
                    before=None,
                    after=canonical_json(state_from_row(table, row)),
                    reason=reason,
                )
                for row in rows
            ]
            await conn.execute(insert(Change), entries)
            written += len(entries)
    if written:
        await conn.execute(head.save())
    return written


async def _untracked(
    conn: AsyncConnection, table: Table, batch: int
) -> AsyncIterator[Sequence[Row[Any]]]:
    """The table's rows without an entry, in id order, `batch` at a time."""
    tracked = exists().where(Change.entity_type == table.name, Change.entity_id == table.c.id)
    after: int | None = None
    while True:
        query = select(table).where(~tracked).order_by(table.c.id).limit(batch)
        if after is not None:
            query = query.where(table.c.id > after)
        rows = (await conn.execute(query)).all()
        if not rows:
            return
        yield rows
        after = int(rows[-1].id)


def _as_record(table: Table, row: Row[Any]) -> Any:
    """The row as `initiative_of` reads a record: its columns as attributes."""
    return SimpleNamespace(__tablename__=table.name, **row._mapping)
