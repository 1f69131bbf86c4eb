"""An IATI export of the ledger now, or as it stood at a moment."""

from __future__ import annotations

from datetime import datetime

from app.db.session import SessionFactory
from app.db.types import utcnow
from app.iati.export import Export, export_activities
from app.views.views import sessions_as_of


async def export_file(
    sessions: SessionFactory, *, program_ref: str | None, moment: datetime | None
) -> Export:
    """The file from `sessions` (the ledger, or a view of it). No transaction may be
    dated after the day the file describes: `moment`'s, or today's."""
    now = utcnow()
    as_of = moment or now
    async with sessions() as session:
        return await export_activities(
            session, program_ref=program_ref, today=as_of.date(), generated_at=now
        )


async def export_as_of(
    sessions: SessionFactory, *, program_ref: str | None, moment: datetime | None
) -> Export:
    """The file of the ledger as it stood at `moment` (None: now), for an operator:
    every initiative, no partner scope."""
    async with sessions_as_of(sessions, moment) as read:
        return await export_file(read, program_ref=program_ref, moment=moment)
