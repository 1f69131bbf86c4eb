"""Every SQL statement about citations."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Citation, SubjectType


async def estimated_subjects(
    session: AsyncSession, subjects: Sequence[tuple[SubjectType, int]]
) -> set[tuple[SubjectType, int]]:
    """Those of the subjects that at least one citation flags as an estimate."""
    if not subjects:
        return set()
    stmt = (
        select(Citation.subject_type, Citation.subject_id)
        .where(
            Citation.is_estimate.is_(True),
            or_(
                *(
                    and_(Citation.subject_type == kind, Citation.subject_id == pk)
                    for kind, pk in set(subjects)
                )
            ),
        )
        .distinct()
    )
    return {(kind, pk) for kind, pk in (await session.execute(stmt)).all()}
