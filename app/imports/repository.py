"""The importer's reads: the stored records a document's keys name, in few statements."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Row, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m

# Keys per IN list: far below every backend's limit on bound parameters.
BATCH = 5000


def chunks(values: Collection[Any]) -> list[list[Any]]:
    """The values in lists of at most BATCH (one IN list each)."""
    source = iter(values)
    found = []
    while chunk := list(islice(source, BATCH)):
        found.append(chunk)
    return found


async def by_column(
    session: AsyncSession, model: type[Any], column: str, keys: Collection[Any]
) -> dict[Any, Any]:
    """The records whose `column` is one of `keys`, by that column (ORM objects)."""
    found: dict[Any, Any] = {}
    attribute = getattr(model, column)
    for chunk in chunks(keys):
        for record in await session.scalars(select(model).where(attribute.in_(chunk))):
            found[getattr(record, column)] = record
    return found


async def by_ids(session: AsyncSession, model: type[Any], ids: Collection[int]) -> dict[int, Any]:
    return await by_column(session, model, "id", ids)


async def rates(
    session: AsyncSession, keys: Collection[tuple[str, str, Any]]
) -> dict[tuple[str, str, Any], m.ExchangeRate]:
    found = {}
    key = tuple_(m.ExchangeRate.base, m.ExchangeRate.quote, m.ExchangeRate.rate_date)
    for chunk in chunks(keys):
        for rate in await session.scalars(select(m.ExchangeRate).where(key.in_(chunk))):
            found[(rate.base, rate.quote, rate.rate_date)] = rate
    return found


async def children(
    session: AsyncSession, model: type[Any], initiative_ids: Collection[int]
) -> list[Any]:
    """The records of `model` under these initiatives (ORM objects: few kinds, few rows)."""
    found: list[Any] = []
    for chunk in chunks(initiative_ids):
        found.extend(await session.scalars(select(model).where(model.initiative_id.in_(chunk))))
    return found


async def keyed_rows(
    session: AsyncSession,
    model: type[Any],
    columns: Sequence[str],
    initiative_ids: Collection[int],
) -> list[Row[Any]]:
    """(id, initiative_id, ref, *columns) of the records under these initiatives, as
    plain rows: a re-import compares many of them (app/imports/keys.py finds those
    without a ref by their id)."""
    selected = [model.id, model.initiative_id, model.ref, *(getattr(model, c) for c in columns)]
    found: list[Row[Any]] = []
    for chunk in chunks(initiative_ids):
        stmt = select(*selected).where(model.initiative_id.in_(chunk))
        found.extend((await session.execute(stmt)).all())
    return found


async def citations(
    session: AsyncSession, subjects: Collection[tuple[m.SubjectType, int]]
) -> list[m.Citation]:
    """The citations of these subjects."""
    by_type: dict[m.SubjectType, list[int]] = {}
    for subject_type, subject_id in subjects:
        by_type.setdefault(subject_type, []).append(subject_id)
    found: list[m.Citation] = []
    for subject_type, ids in by_type.items():
        for chunk in chunks(ids):
            found.extend(
                await session.scalars(
                    select(m.Citation).where(
                        m.Citation.subject_type == subject_type, m.Citation.subject_id.in_(chunk)
                    )
                )
            )
    return found
