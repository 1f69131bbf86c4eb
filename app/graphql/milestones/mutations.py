"""Mutations of milestones."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.roles import Permission
from app.graphql.mutation import (
    UNCHANGED,
    ArchiveInput,
    IdempotencyKey,
    Payload,
    Reason,
    archive_record,
    errors_of,
    given,
    record_id,
    refuse_nulls,
    run,
)
from app.graphql.nodes import Milestone
from app.milestones import rules
from app.models import Milestone as MilestoneRow
from app.models import MilestoneStatus
from app.writes import crud
from app.writes.errors import Problems

UNSET: Any = strawberry.UNSET

STATUS_RULE = "An ACHIEVED milestone needs its actualDate, and only an ACHIEVED one may have one."


@strawberry.input(description=f"A new milestone of an initiative. {STATUS_RULE}")
class CreateMilestoneInput:
    initiative_id: strawberry.ID = strawberry.field(description="The initiative's global ID.")
    title: str = strawberry.field(description="A short title; required, at most 300 characters.")
    status: MilestoneStatus = strawberry.field(
        description=f"Where the milestone stands. {STATUS_RULE}"
    )
    description: str | None = strawberry.field(
        default=None, description="What the milestone means; at most 10,000 characters."
    )
    planned_date: dt.date | None = strawberry.field(
        default=None, description="When it was planned; null when no date is known yet."
    )
    forecast_date: dt.date | None = strawberry.field(
        default=None, description="When it is now expected."
    )
    actual_date: dt.date | None = strawberry.field(
        default=None,
        description=f"When it was reached; not in the future. {STATUS_RULE}",
    )


@strawberry.input(
    description=f"Changes to a milestone; fields left out stay as they are. {STATUS_RULE}"
)
class UpdateMilestoneInput:
    id: strawberry.ID = strawberry.field(description="The milestone's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    title: str | None = strawberry.field(default=UNSET, description="New title.")
    status: MilestoneStatus | None = strawberry.field(default=UNSET, description="New status.")
    description: str | None = strawberry.field(
        default=UNSET, description="New description; null clears."
    )
    planned_date: dt.date | None = strawberry.field(
        default=UNSET, description="New planned date; null clears."
    )
    forecast_date: dt.date | None = strawberry.field(
        default=UNSET, description="New forecast date; null clears."
    )
    actual_date: dt.date | None = strawberry.field(
        default=UNSET, description="New actual date; null clears (needed unless ACHIEVED)."
    )


@strawberry.type(description="The result of a milestone mutation.")
class MilestonePayload(Payload):
    milestone: Milestone | None = strawberry.field(
        description="The milestone as written (as it was before, for an archive)."
    )


def _values(i: Any) -> dict[str, Any]:
    return given(
        title=i.title,
        status=i.status,
        description=i.description,
        planned_date=i.planned_date,
        forecast_date=i.forecast_date,
        actual_date=i.actual_date,
    )


def _payload(outcome: Any) -> MilestonePayload:
    record = outcome.record
    return MilestonePayload(
        milestone=Milestone.from_row(record) if record is not None else None,
        errors=errors_of(outcome),
        replayed=outcome.replayed,
    )


@strawberry.type
class TimelineMutations:
    @strawberry.mutation(description=f"Add a milestone (editor, admin). {STATUS_RULE}")
    async def create_milestone(
        self,
        info: strawberry.Info,
        input: Annotated[
            CreateMilestoneInput, strawberry.argument(description="The new milestone.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> MilestonePayload:
        problems = Problems()
        values = {
            **_values(input),
            "initiative_id": record_id(
                problems, input.initiative_id, "Initiative", "initiative_id"
            ),
        }

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            return await crud.create(session, MilestoneRow, values, rules.validate_milestone)

        outcome = await run(
            info,
            "createMilestone",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description=f"Change a milestone (editor, admin). {STATUS_RULE} {UNCHANGED}"
    )
    async def update_milestone(
        self,
        info: strawberry.Info,
        input: Annotated[
            UpdateMilestoneInput,
            strawberry.argument(description="The milestone, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> MilestonePayload:
        problems = Problems()
        pk = record_id(problems, input.id, "Milestone", "id")
        values = _values(input)
        refuse_nulls(problems, values, {"title": "title", "status": "status"})

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            return await crud.update(
                session,
                MilestoneRow,
                pk,
                input.version,
                values,
                "milestone",
                rules.validate_milestone,
            )

        outcome = await run(
            info,
            "updateMilestone",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description="Archive a milestone (editor, admin); the audit trail keeps it."
    )
    async def archive_milestone(
        self,
        info: strawberry.Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> MilestonePayload:
        outcome = await archive_record(
            info,
            "archiveMilestone",
            input,
            MilestoneRow,
            "Milestone",
            "milestone",
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)
