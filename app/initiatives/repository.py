"""Reading initiatives."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Initiative


async def by_code(session: AsyncSession, code: str) -> Initiative | None:
    """The initiative with this code (codes are unique); None when there is none."""
    return await session.scalar(select(Initiative).where(Initiative.code == code))
