"""The rules of beneficiary groups, and of the shares of an initiative's money each
group is meant to get.

A group has a unique code and a name. A share is a percentage of one initiative's
money for one group, above 0 and at most 100 with at most 4 decimals; an initiative
has one share per group, and its shares add up to at most 100 (IATI's sector
percentages; what is left is money for no group in particular). Every write takes
the chain lock first (app/writes/service.py), so two writers never both see room
for their share: the sum is checked against what is committed. A group still
counted by figures or shares stays.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ErrorCode
from app.kit.text import Kind
from app.models import BeneficiaryFigure, BeneficiaryGroup, BeneficiaryShare, Initiative
from app.models._columns import PERCENTAGE
from app.writes import checks
from app.writes.errors import Problems

MAX_CODE = 64
MAX_NAME = 200
WHOLE = Decimal(100)


async def validate_group(
    session: AsyncSession, problems: Problems, group: BeneficiaryGroup
) -> None:
    group.code = (
        checks.text(
            problems, group.code, "code", limit=MAX_CODE, required=True, kind=Kind.IDENTIFIER
        )
        or ""
    )
    group.name = (
        checks.text(problems, group.name, "name", limit=MAX_NAME, required=True, kind=Kind.NAME)
        or ""
    )
    group.description = checks.text(problems, group.description, "description")
    if group.code and await checks.exists_where(
        session, BeneficiaryGroup.code == group.code, BeneficiaryGroup.id != (group.id or -1)
    ):
        problems.add(
            "code",
            f"another beneficiary group has the code {group.code!r}",
            ErrorCode.ALREADY_EXISTS,
        )


async def guard_group_archive(
    session: AsyncSession, problems: Problems, group: BeneficiaryGroup
) -> None:
    found = []
    for model, label in (
        (BeneficiaryFigure, "beneficiary figure(s)"),
        (BeneficiaryShare, "share(s)"),
    ):
        count = await session.scalar(
            select(func.count()).select_from(model).where(model.group_id == group.id)
        )
        if count:
            found.append(f"{count} {label}")
    if found:
        problems.add(
            "id",
            f"{' and '.join(found)} count this group; archive them first",
            ErrorCode.CONFLICT,
        )


def percentage(problems: Problems, value: Decimal) -> Decimal:
    """A share: above 0, at most 100, held exactly (at most 4 decimals)."""
    try:
        value = PERCENTAGE.check(value)
    except ValueError:
        problems.add("percentage", f"{value} is not a percentage of at most 4 decimals")
        return value
    if not 0 < value <= WHOLE:
        problems.add("percentage", "must be above 0 and at most 100")
    return value


async def validate_share(
    session: AsyncSession, problems: Problems, share: BeneficiaryShare
) -> None:
    share.percentage = percentage(problems, share.percentage)
    initiative = await checks.existing(
        session, problems, Initiative, share.initiative_id, "initiative_id", "initiative"
    )
    group = await checks.existing(
        session, problems, BeneficiaryGroup, share.group_id, "group_id", "beneficiary group"
    )
    if initiative is None or group is None:
        return
    others = (
        BeneficiaryShare.initiative_id == share.initiative_id,
        BeneficiaryShare.id != (share.id or -1),
    )
    if await checks.exists_where(session, *others, BeneficiaryShare.group_id == share.group_id):
        problems.add(
            "group_id",
            f"the initiative has a share for {group.code!r} already; update that one",
            ErrorCode.ALREADY_EXISTS,
        )
        return
    if problems.errors:
        return
    # The sum keeps the column's type, so it reads back exact on both backends.
    summed = await session.scalar(select(func.sum(BeneficiaryShare.percentage)).where(*others))
    taken = Decimal(summed or 0)
    if taken + share.percentage > WHOLE:
        problems.add(
            "percentage",
            f"the initiative's other shares come to {taken} %; this one may be at most "
            f"{WHOLE - taken} % (an initiative's shares add up to at most 100)",
        )
