"""The rules of initiatives.

An initiative's code is its published identifier (IATI's activity identifier plays
the same part): it is unique and never changes, so links and reloads keep working.
Dates follow IATI's activity dates: an end is not before its start, and actual dates
are facts, so none lies in the future. An initiative with records of its own is not
archived under them: they would vanish from reports unseen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ErrorCode
from app.kit.ids import MAX_KEY
from app.kit.text import Kind
from app.models import (
    BeneficiaryFigure,
    BeneficiaryShare,
    BudgetLine,
    Initiative,
    Milestone,
    Organization,
    Participation,
    Program,
    Transaction,
)
from app.writes import checks, crud
from app.writes.errors import FieldError, Problems, Rejected

MAX_CODE = 64
MAX_FOCUS_AREA = 100
MAX_REGION = 16

# What hangs off an initiative, as the conflict message names it.
DEPENDENTS: tuple[tuple[type[Any], str], ...] = (
    (BudgetLine, "budget line(s)"),
    (Transaction, "transaction(s)"),
    (Milestone, "milestone(s)"),
    (BeneficiaryFigure, "beneficiary figure(s)"),
    (BeneficiaryShare, "beneficiary share(s)"),
    (Participation, "participation(s)"),
)


async def validate_initiative(
    session: AsyncSession, problems: Problems, initiative: Initiative
) -> None:
    initiative.code = (
        checks.text(
            problems, initiative.code, "code", limit=MAX_CODE, required=True, kind=Kind.IDENTIFIER
        )
        or ""
    )
    if any(c.isspace() for c in initiative.code):
        problems.add("code", "a code has no spaces (it appears in links and files)")
    if initiative.position is None or not 0 < initiative.position <= MAX_KEY:
        problems.add("position", "must be a whole number above 0")
    initiative.title = (
        checks.text(
            problems,
            initiative.title,
            "title",
            limit=checks.MAX_TITLE,
            required=True,
            kind=Kind.NAME,
        )
        or ""
    )
    initiative.summary = checks.text(problems, initiative.summary, "summary")
    initiative.focus_area = checks.text(
        problems, initiative.focus_area, "focus_area", limit=MAX_FOCUS_AREA, kind=Kind.NAME
    )
    initiative.region = checks.text(
        problems, initiative.region, "region", limit=MAX_REGION, kind=Kind.IDENTIFIER
    )
    checks.ordered(
        problems,
        initiative.planned_start,
        initiative.planned_end,
        "planned_end",
        after="plannedStart",
    )
    checks.ordered(
        problems, initiative.actual_start, initiative.actual_end, "actual_end", after="actualStart"
    )
    checks.not_future(problems, initiative.actual_start, "actual_start")
    checks.not_future(problems, initiative.actual_end, "actual_end")
    await checks.existing(
        session, problems, Program, initiative.program_id, "program_id", "programme"
    )
    if initiative.code and await checks.exists_where(
        session, Initiative.code == initiative.code, Initiative.id != (initiative.id or -1)
    ):
        problems.add(
            "code", f"another initiative has the code {initiative.code!r}", ErrorCode.ALREADY_EXISTS
        )


async def update(session: AsyncSession, values: Mapping[str, Any]) -> Initiative:
    """The initiative changed as `values` say; its code stays as it is."""
    changes = dict(values)
    code = changes.pop("code", None)
    current = await crud.load_for_change(session, Initiative, changes["id"], changes["version"])
    keep_code(current, code)
    initiative: Initiative = await crud.update(session, Initiative, changes, validate_initiative)
    return initiative


def keep_code(initiative: Initiative, code: str | None) -> None:
    """A published code never changes: refuse any other code than the stored one."""
    if code is not None and code != initiative.code:
        raise Rejected(
            [
                FieldError(
                    "code",
                    ErrorCode.VALIDATION,
                    f"the code {initiative.code!r} is published and never changes; "
                    "create a new initiative for a new code",
                )
            ]
        )


async def dependents(session: AsyncSession, initiative_id: int) -> list[str]:
    """ "3 budget line(s)", ... for each kind of record the initiative still has."""
    found = []
    for model, label in DEPENDENTS:
        count = await session.scalar(
            select(func.count()).select_from(model).where(model.initiative_id == initiative_id)
        )
        if count:
            found.append(f"{count} {label}")
    return found


async def guard_initiative_archive(
    session: AsyncSession, problems: Problems, initiative: Initiative
) -> None:
    found = await dependents(session, initiative.id)
    if found:
        problems.add(
            "id",
            f"the initiative still has {', '.join(found)}; archive them first",
            ErrorCode.CONFLICT,
        )


async def validate_participation(
    session: AsyncSession, problems: Problems, participation: Participation
) -> None:
    """An organisation takes part in an initiative once in each role (IATI's
    OrganisationRole: funding, accountable, extending, implementing)."""
    initiative = await checks.existing(
        session, problems, Initiative, participation.initiative_id, "initiative_id", "initiative"
    )
    organization = await checks.existing(
        session,
        problems,
        Organization,
        participation.organization_id,
        "organization_id",
        "organisation",
    )
    if initiative is None or organization is None:
        return
    if await checks.exists_where(
        session,
        Participation.initiative_id == participation.initiative_id,
        Participation.organization_id == participation.organization_id,
        Participation.role == participation.role,
        Participation.id != (participation.id or -1),
    ):
        problems.add(
            "role",
            f"{organization.ref!r} takes part in this initiative as "
            f"{participation.role.value} already",
            ErrorCode.ALREADY_EXISTS,
        )
