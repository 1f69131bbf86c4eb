"""Mutations of milestones."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry

from app.auth.roles import Permission
from app.graphql.context import Info
from app.graphql.mutation import (
    UNCHANGED,
    ArchiveInput,
    IdempotencyKey,
    Payload,
    Reason,
    requires,
    values_of,
    write,
)
from app.graphql.nodes import Milestone
from app.milestones import rules
from app.models import Milestone as Row
from app.models import MilestoneStatus
from app.writes import crud

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


IDS = {"id": "Milestone", "initiative_id": "Initiative"}


@strawberry.type
class TimelineMutations:
    @strawberry.mutation(
        description=f"Add a milestone (editor, admin). {STATUS_RULE}",
        metadata=requires(Permission.WRITE),
    )
    async def create_milestone(
        self,
        info: Info,
        input: Annotated[
            CreateMilestoneInput, strawberry.argument(description="The new milestone.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> MilestonePayload:
        return await write(
            info,
            MilestonePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.create(s, Row, values_of(input, ids=IDS), rules.validate_milestone),
        )

    @strawberry.mutation(
        description=f"Change a milestone (editor, admin). {STATUS_RULE} {UNCHANGED}",
        metadata=requires(Permission.WRITE),
    )
    async def update_milestone(
        self,
        info: Info,
        input: Annotated[
            UpdateMilestoneInput,
            strawberry.argument(description="The milestone, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> MilestonePayload:
        required = ("title", "status")
        return await write(
            info,
            MilestonePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.update(
                s, Row, values_of(input, ids=IDS, required=required), rules.validate_milestone
            ),
        )

    @strawberry.mutation(
        description="Archive a milestone (editor, admin); the audit trail keeps it.",
        metadata=requires(Permission.WRITE),
    )
    async def archive_milestone(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> MilestonePayload:
        return await write(
            info,
            MilestonePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.archive(s, Row, values_of(input, ids=IDS)),
        )
