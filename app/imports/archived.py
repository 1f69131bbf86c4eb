"""Archived records whose keys a file names again.

An archive deletes the record; the trail keeps it (its `archive` entry holds the
record as it was). A file naming the key again (a budget line's, transaction's or
milestone's ref in its initiative) is a new record: it is created anew, with a new
id, and its trail starts with a create. That is what the file says, and an import
never restores: but whoever imports should see that the key is one someone archived
(a stale file brings back what was archived on purpose), so the row says so, in the
dry run first. The trail tells the whole story either way.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.imports import keys
from app.imports.repository import chunks
from app.imports.service import Importer


async def notes_for_new(
    run: Importer, model: type[Any], kind: str, new: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], str]:
    """Of the records about to be created, (initiative id, key) each, those whose key an
    archived record had, with the row's note. Only initiatives stored before the import
    can have archived records: a file of new ones costs no query."""
    wanted = {(initiative, key) for initiative, key in new if initiative in run.stored_initiatives}
    if not wanted:
        return {}
    found = await archived_keys(run.session, model, kind, {i for i, _ in wanted})
    return {where: note for where, note in found.items() if where in wanted}


async def archived_keys(
    session: AsyncSession, model: type[Any], kind: str, initiative_ids: Collection[int]
) -> dict[tuple[int, str], str]:
    """By (initiative, key in a file): the note for a new record of `model` whose key a
    record archived under that initiative had (its last archive, if several)."""
    found: dict[tuple[int, str], str] = {}
    entry = m.Change
    for chunk in chunks(initiative_ids):
        rows = await session.execute(
            select(entry.entity_id, entry.initiative_id, entry.before, entry.occurred_at)
            .add_columns(entry.actor_name)
            .where(
                entry.entity_type == model.__tablename__,
                entry.operation == "archive",
                entry.initiative_id.in_(chunk),
            )
            .order_by(entry.sequence)
        )
        for entity_id, initiative_id, before, occurred_at, actor in rows:
            ref = json.loads(before).get("ref") if before else None
            key = keys.file_key(kind, ref, int(entity_id))
            found[(int(initiative_id), key)] = (
                f"the key of a record archived {occurred_at:%Y-%m-%d %H:%M} UTC by {actor} "
                f"(id {entity_id}); created anew, with a new id"
            )
    return found
