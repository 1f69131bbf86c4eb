"""The SQL that reads the trail: filtered pages, each record's history, the whole chain.

Every read pages by sequence (the primary key), so a page or a batch costs the same
near the start of a long trail as near its end, and nothing holds the whole trail.
Rows are plain Core rows with the `changes` columns (read-only, no identity map).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ChainHead, Change

# Entries per statement when walking the whole chain.
STREAM_BATCH = 5000

_COLUMNS = tuple(Change.__table__.columns)


@dataclass(frozen=True)
class EntryFilter:
    """Which entries a page holds; every condition given must hold (None: any)."""

    entity_types: tuple[str, ...] | None = None  # table names
    entity_id: int | None = None
    actor_name: str | None = None
    operations: tuple[str, ...] | None = None
    initiative_ids: tuple[int, ...] | None = None
    occurred_from: datetime | None = None  # inclusive
    occurred_before: datetime | None = None  # exclusive


def _conditions(where: EntryFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.entity_types is not None:
        conditions.append(Change.entity_type.in_(where.entity_types))
    if where.entity_id is not None:
        conditions.append(Change.entity_id == where.entity_id)
    if where.actor_name is not None:
        conditions.append(Change.actor_name == where.actor_name)
    if where.operations is not None:
        conditions.append(Change.operation.in_(where.operations))
    if where.initiative_ids is not None:
        conditions.append(Change.initiative_id.in_(where.initiative_ids))
    if where.occurred_from is not None:
        conditions.append(Change.occurred_at >= where.occurred_from)
    if where.occurred_before is not None:
        conditions.append(Change.occurred_at < where.occurred_before)
    return conditions


async def entries(
    session: AsyncSession,
    where: EntryFilter,
    *,
    after: int,
    limit: int,
    until: int | None = None,
) -> list[Any]:
    """Up to `limit` entries past sequence `after` (and not past `until`), in sequence
    order.

    Ask for one more than a page holds to learn whether another page follows.
    """
    bounds = [Change.sequence > after]
    if until is not None:
        bounds.append(Change.sequence <= until)
    stmt = (
        select(*_COLUMNS).where(*bounds, *_conditions(where)).order_by(Change.sequence).limit(limit)
    )
    return list((await session.execute(stmt)).all())


async def count(session: AsyncSession, where: EntryFilter, *, until: int | None = None) -> int:
    """How many entries match, in all (or up to sequence `until`)."""
    bounds = [Change.sequence <= until] if until is not None else []
    stmt = select(func.count()).select_from(Change).where(*bounds, *_conditions(where))
    return int(await session.scalar(stmt) or 0)


async def nth(session: AsyncSession, where: EntryFilter, n: int) -> int | None:
    """The sequence of the `n`-th matching entry (from 1); None when fewer match."""
    stmt = (
        select(Change.sequence)
        .where(*_conditions(where))
        .order_by(Change.sequence)
        .offset(n - 1)
        .limit(1)
    )
    found = await session.scalar(stmt)
    return int(found) if found is not None else None


async def last_sequence(session: AsyncSession) -> int:
    """The sequence of the trail's last entry (0: none yet)."""
    return int(await session.scalar(select(func.coalesce(func.max(Change.sequence), 0))) or 0)


async def history(
    session: AsyncSession, keys: Sequence[tuple[str, int]], *, limit: int
) -> dict[tuple[str, int], list[Any]]:
    """The first `limit` entries of each (table, id) record, oldest first; one statement.

    Each table's ids are matched together, so the (entity_type, entity_id, sequence)
    index serves every record of the batch.
    """
    found: dict[tuple[str, int], list[Any]] = {key: [] for key in keys}
    if not keys or limit <= 0:
        return found
    by_table: dict[str, set[int]] = {}
    for table, pk in keys:
        by_table.setdefault(table, set()).add(pk)
    matches = or_(
        *(
            and_(Change.entity_type == table, Change.entity_id.in_(sorted(ids)))
            for table, ids in by_table.items()
        )
    )
    position = func.row_number().over(
        partition_by=(Change.entity_type, Change.entity_id), order_by=Change.sequence
    )
    numbered = select(*_COLUMNS, position.label("_position")).where(matches).subquery()
    stmt = (
        select(*(numbered.c[c.key] for c in _COLUMNS))
        .where(numbered.c["_position"] <= limit)
        .order_by(numbered.c["sequence"])
    )
    for row in (await session.execute(stmt)).all():
        found[(row.entity_type, row.entity_id)].append(row)
    return found


async def stream_entries(
    session: AsyncSession, *, after: int = 0, batch: int = STREAM_BATCH
) -> AsyncIterator[list[Any]]:
    """Every entry past `after`, in sequence order, a batch per statement."""
    while True:
        rows = await entries(session, EntryFilter(), after=after, limit=batch)
        if not rows:
            return
        yield rows
        if len(rows) < batch:
            return
        after = rows[-1].sequence


async def chain_head(session: AsyncSession) -> tuple[int, str] | None:
    """Where the chain head says the trail ends: (last sequence, last hash)."""
    row = (
        await session.execute(
            select(ChainHead.last_sequence, ChainHead.last_hash).where(ChainHead.id == 1)
        )
    ).one_or_none()
    return (int(row.last_sequence), str(row.last_hash)) if row is not None else None
