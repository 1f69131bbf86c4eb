"""Reading programmes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Program


async def first(session: AsyncSession) -> Program | None:
    """The programme with the lowest id (the demo has one); None when there is none."""
    return await session.scalar(select(Program).order_by(Program.id).limit(1))
