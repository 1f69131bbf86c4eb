"""Create, update and archive one record, checking the whole new state first.

`values` are a write's values by attribute name; an update's and an archive's also
hold the record's `id` and the `version` the caller read. `validate(session, problems,
record)` sees the record as it would be written (new values applied, not yet
flushed); it adds every problem it finds. A record with problems is never flushed, so
nothing of it reaches the database or the trail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Citation, SubjectType
from app.writes.errors import Problems, not_found
from app.writes.service import check_version

Validate = Callable[[AsyncSession, Problems, Any], Awaitable[None]]


async def _no_rules(_session: AsyncSession, _problems: Problems, _record: Any) -> None:
    return None


async def create(
    session: AsyncSession,
    model: type[Any],
    values: Mapping[str, Any],
    validate: Validate = _no_rules,
) -> Any:
    record = model(**values)
    problems = Problems()
    await validate(session, problems, record)
    problems.raise_any()
    session.add(record)
    await session.flush()
    return record


def what(model: type[Any]) -> str:
    """A kind of record as messages name it: "budget line" for budget_lines."""
    return str(model.__tablename__).removesuffix("s").replace("_", " ")


async def load_for_change(
    session: AsyncSession, model: type[Any], pk: int, version: int, *, field: str = "id"
) -> Any:
    """The record to change, refusing a missing one (on `field`) and a stale version."""
    record = await session.get(model, pk) if pk > 0 else None
    if record is None:
        raise not_found(what(model), field)
    check_version(record, version, what(model))
    return record


async def update(
    session: AsyncSession,
    model: type[Any],
    values: Mapping[str, Any],
    validate: Validate = _no_rules,
) -> Any:
    changes = dict(values)
    record = await load_for_change(session, model, changes.pop("id"), changes.pop("version"))
    for key, value in changes.items():
        setattr(record, key, value)
    problems = Problems()
    await validate(session, problems, record)
    problems.raise_any()
    await session.flush()
    return record


async def archive(
    session: AsyncSession,
    model: type[Any],
    values: Mapping[str, Any],
    guard: Validate = _no_rules,
) -> Any:
    """Remove the record from the current state; the trail keeps it (operation archive)."""
    record = await load_for_change(session, model, values["id"], values["version"])
    problems = Problems()
    await guard(session, problems, record)
    problems.raise_any()
    for citation in await _citations_of(session, record):
        await session.delete(citation)  # evidence of a record goes with it (and stays in the trail)
    await session.delete(record)
    await session.flush()
    return record


async def _citations_of(session: AsyncSession, record: Any) -> list[Citation]:
    try:
        subject = SubjectType(record.__tablename__.removesuffix("s"))
    except ValueError:
        return []  # a kind of record citations cannot point at
    found = await session.scalars(
        select(Citation).where(Citation.subject_type == subject, Citation.subject_id == record.id)
    )
    return list(found)
