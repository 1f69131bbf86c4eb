"""The rules of milestones.

An actual date records that a milestone was reached, so the two go together: an
ACHIEVED milestone has its actual date, and only an ACHIEVED one has one. Planned
and forecast dates are plans and may lie anywhere; an actual date is a fact and is
not in the future.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.text import Kind
from app.models import Initiative, Milestone, MilestoneStatus
from app.writes import checks
from app.writes.errors import Problems

ACTUAL_DATE_RULE = (
    "an ACHIEVED milestone needs its actualDate, and only an ACHIEVED milestone has one"
)


async def validate_milestone(
    session: AsyncSession, problems: Problems, milestone: Milestone
) -> None:
    milestone.title = (
        checks.text(
            problems,
            milestone.title,
            "title",
            limit=checks.MAX_TITLE,
            required=True,
            kind=Kind.NAME,
        )
        or ""
    )
    milestone.description = checks.text(problems, milestone.description, "description")
    checks.not_future(problems, milestone.actual_date, "actual_date")
    achieved = milestone.status == MilestoneStatus.ACHIEVED
    if achieved and milestone.actual_date is None:
        problems.add("actual_date", f"is required: {ACTUAL_DATE_RULE}")
    if not achieved and milestone.actual_date is not None:
        problems.add(
            "actual_date",
            f"must be empty while the status is {milestone.status.name}: {ACTUAL_DATE_RULE}",
        )
    await checks.existing(
        session, problems, Initiative, milestone.initiative_id, "initiative_id", "initiative"
    )
