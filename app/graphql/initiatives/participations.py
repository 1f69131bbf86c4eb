"""Mutations of participations: the organisations taking part in an initiative."""

from __future__ import annotations

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
from app.graphql.nodes import Participation
from app.initiatives import rules
from app.models import Participation as Row
from app.models import ParticipationRole
from app.writes import crud

UNSET: Any = strawberry.UNSET

ROLES = (
    "Roles are IATI's OrganisationRole code list: FUNDING (code 1), ACCOUNTABLE (2), "
    "EXTENDING (3), IMPLEMENTING (4)."
)


@strawberry.input(description=f"An organisation's role in an initiative. {ROLES}")
class CreateParticipationInput:
    initiative_id: strawberry.ID = strawberry.field(description="The initiative's global ID.")
    organization_id: strawberry.ID = strawberry.field(
        description="The global ID of the organisation taking part."
    )
    role: ParticipationRole = strawberry.field(
        description="Its role; an organisation holds each role in an initiative once."
    )


@strawberry.input(
    description="A new role for a participation; its initiative and organisation stay."
)
class UpdateParticipationInput:
    id: strawberry.ID = strawberry.field(description="The participation's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    role: ParticipationRole | None = strawberry.field(default=UNSET, description="New role.")


@strawberry.type(description="The result of a participation mutation.")
class ParticipationPayload(Payload):
    participation: Participation | None = strawberry.field(
        description="The participation as written (as it was before, for an archive)."
    )


IDS = {"id": "Participation", "initiative_id": "Initiative", "organization_id": "Organization"}


@strawberry.type
class ParticipationMutations:
    @strawberry.mutation(
        description="Record that an organisation takes part in an initiative, in one role "
        f"(editor, admin); the same role twice is ALREADY_EXISTS. {ROLES}",
        metadata=requires(Permission.WRITE),
    )
    async def create_participation(
        self,
        info: Info,
        input: Annotated[
            CreateParticipationInput, strawberry.argument(description="The new participation.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> ParticipationPayload:
        return await write(
            info,
            ParticipationPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.create(s, Row, values_of(input, ids=IDS), rules.validate_participation),
        )

    @strawberry.mutation(
        description=f"Change a participation's role (editor, admin). {UNCHANGED}",
        metadata=requires(Permission.WRITE),
    )
    async def update_participation(
        self,
        info: Info,
        input: Annotated[
            UpdateParticipationInput,
            strawberry.argument(description="The participation, the version read, and the role."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> ParticipationPayload:
        return await write(
            info,
            ParticipationPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.update(
                s, Row, values_of(input, ids=IDS, required=["role"]), rules.validate_participation
            ),
        )

    @strawberry.mutation(
        description="Archive a participation (editor, admin); the audit trail keeps it.",
        metadata=requires(Permission.WRITE),
    )
    async def archive_participation(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> ParticipationPayload:
        return await write(
            info,
            ParticipationPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.archive(s, Row, values_of(input, ids=IDS)),
        )
