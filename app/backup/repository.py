"""The statements of a backup: the programmes' records, read whole.

Reads go through the session given, so on a view (asOf, a partner's scope) they see
what the view holds and nothing else."""

from __future__ import annotations

from collections.abc import Collection
from itertools import islice
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m

# Ids per IN list: far below every backend's limit on bound parameters.
BATCH = 5000


async def programs(session: AsyncSession, ref: str | None) -> list[m.Program]:
    """The programme `ref`, or every programme the session sees, by id."""
    query = select(m.Program).order_by(m.Program.id)
    if ref is not None:
        query = query.where(m.Program.ref == ref)
    return list(await session.scalars(query))


async def initiatives(session: AsyncSession, program_ids: Collection[int]) -> list[m.Initiative]:
    query = (
        select(m.Initiative)
        .where(m.Initiative.program_id.in_(program_ids))
        .order_by(m.Initiative.program_id, m.Initiative.position, m.Initiative.id)
    )
    return list(await session.scalars(query))


async def every(session: AsyncSession, model: type[Any]) -> list[Any]:
    """Every record of a kind shared by all programmes (organisations, sources, rates,
    groups), by id."""
    return list(await session.scalars(select(model).order_by(model.id)))


async def count_under(
    session: AsyncSession, model: type[Any], initiative_ids: Collection[int]
) -> int:
    found = 0
    for chunk in _chunks(initiative_ids):
        query = select(func.count()).where(model.initiative_id.in_(chunk))
        found += int(await session.scalar(query) or 0)
    return found


async def under(
    session: AsyncSession, model: type[Any], initiative_ids: Collection[int]
) -> list[Any]:
    """The records of `model` under these initiatives, by initiative and id (the order
    an import writes them back in)."""
    found: list[Any] = []
    for chunk in _chunks(initiative_ids):
        query = (
            select(model)
            .where(model.initiative_id.in_(chunk))
            .order_by(model.initiative_id, model.id)
        )
        found.extend(await session.scalars(query))
    return found


async def citations(session: AsyncSession) -> list[m.Citation]:
    """Every citation the session sees (a partner's view holds only those of its
    records and of the shared ones), by id."""
    return list(await session.scalars(select(m.Citation).order_by(m.Citation.id)))


def _chunks(values: Collection[int]) -> list[list[int]]:
    source = iter(sorted(values))
    chunks = []
    while chunk := list(islice(source, BATCH)):
        chunks.append(chunk)
    return chunks
