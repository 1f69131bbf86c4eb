"""Mutations of initiatives."""

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
from app.graphql.nodes import Initiative
from app.initiatives import rules
from app.models import Initiative as Row
from app.models import InitiativeStatus
from app.writes import crud

UNSET: Any = strawberry.UNSET


@strawberry.input(description="A new initiative of a programme.")
class CreateInitiativeInput:
    program_id: strawberry.ID = strawberry.field(description="The programme's global ID.")
    code: str = strawberry.field(
        description="Stable identifier, unique, at most 64 characters without spaces; it is "
        "published and never changes afterwards."
    )
    position: int = strawberry.field(description="Its number in the programme; above 0.")
    title: str = strawberry.field(description="A short title; required, at most 300 characters.")
    status: InitiativeStatus = strawberry.field(description="IATI activity status.")
    summary: str | None = strawberry.field(
        default=None, description="What it does; at most 10,000 characters."
    )
    focus_area: str | None = strawberry.field(
        default=None, description="The programme's focus area; at most 100 characters."
    )
    region: str | None = strawberry.field(
        default=None, description="ISO 3166 code such as CN or CN-ZJ; at most 16 characters."
    )
    planned_start: dt.date | None = strawberry.field(default=None, description="Planned start.")
    planned_end: dt.date | None = strawberry.field(
        default=None, description="Planned end; not before plannedStart."
    )
    actual_start: dt.date | None = strawberry.field(
        default=None, description="Actual start; not in the future."
    )
    actual_end: dt.date | None = strawberry.field(
        default=None, description="Actual end; not before actualStart, not in the future."
    )


@strawberry.input(
    description="Changes to an initiative; fields left out stay as they are. The code never "
    "changes: giving another one is refused (VALIDATION)."
)
class UpdateInitiativeInput:
    id: strawberry.ID = strawberry.field(description="The initiative's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    code: str | None = strawberry.field(
        default=UNSET, description="Only the current code is accepted (it never changes)."
    )
    position: int | None = strawberry.field(default=UNSET, description="New position; above 0.")
    title: str | None = strawberry.field(default=UNSET, description="New title.")
    status: InitiativeStatus | None = strawberry.field(default=UNSET, description="New status.")
    summary: str | None = strawberry.field(default=UNSET, description="New summary; null clears.")
    focus_area: str | None = strawberry.field(
        default=UNSET, description="New focus area; null clears."
    )
    region: str | None = strawberry.field(default=UNSET, description="New region; null clears.")
    planned_start: dt.date | None = strawberry.field(
        default=UNSET, description="New planned start; null clears."
    )
    planned_end: dt.date | None = strawberry.field(
        default=UNSET, description="New planned end; null clears."
    )
    actual_start: dt.date | None = strawberry.field(
        default=UNSET, description="New actual start; null clears."
    )
    actual_end: dt.date | None = strawberry.field(
        default=UNSET, description="New actual end; null clears."
    )


@strawberry.type(description="The result of an initiative mutation.")
class InitiativePayload(Payload):
    initiative: Initiative | None = strawberry.field(
        description="The initiative as written (as it was before, for an archive)."
    )


IDS = {"id": "Initiative", "program_id": "Program"}


@strawberry.type
class InitiativeMutations:
    @strawberry.mutation(
        description="Add an initiative to a programme (editor, admin). The code must be new "
        "(ALREADY_EXISTS otherwise).",
        metadata=requires(Permission.WRITE),
    )
    async def create_initiative(
        self,
        info: Info,
        input: Annotated[
            CreateInitiativeInput, strawberry.argument(description="The new initiative.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> InitiativePayload:
        return await write(
            info,
            InitiativePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.create(s, Row, values_of(input, ids=IDS), rules.validate_initiative),
        )

    @strawberry.mutation(
        description=f"Change an initiative (editor, admin); its code stays. {UNCHANGED}",
        metadata=requires(Permission.WRITE),
    )
    async def update_initiative(
        self,
        info: Info,
        input: Annotated[
            UpdateInitiativeInput,
            strawberry.argument(description="The initiative, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> InitiativePayload:
        required = ("position", "title", "status")
        return await write(
            info,
            InitiativePayload,
            input,
            idempotency_key,
            reason,
            lambda s: rules.update(s, values_of(input, ids=IDS, required=required)),
        )

    @strawberry.mutation(
        description="Archive an initiative (editor, admin): refused (CONFLICT) while it has "
        "budget lines, transactions, milestones, beneficiary figures or shares, or "
        "participations; the audit trail keeps it.",
        metadata=requires(Permission.WRITE),
    )
    async def archive_initiative(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> InitiativePayload:
        return await write(
            info,
            InitiativePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.archive(
                s, Row, values_of(input, ids=IDS), rules.guard_initiative_archive
            ),
        )
