"""Every SQL statement about beneficiary shares read for the API."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import BeneficiaryShare


async def shares_of(
    session: AsyncSession, initiative_ids: Sequence[int]
) -> dict[int, list[BeneficiaryShare]]:
    """The shares of each initiative, by group id: one statement for them all."""
    stmt = (
        select(BeneficiaryShare)
        .where(BeneficiaryShare.initiative_id.in_(initiative_ids))
        .order_by(BeneficiaryShare.initiative_id, BeneficiaryShare.group_id)
    )
    found: dict[int, list[BeneficiaryShare]] = defaultdict(list)
    for share in await session.scalars(stmt):
        found[share.initiative_id].append(share)
    return found
