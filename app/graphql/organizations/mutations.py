"""Mutations of organisations."""

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
from app.graphql.nodes import Organization
from app.models import Organization as Row
from app.models import OrganizationKind
from app.organizations import rules
from app.writes import crud

UNSET: Any = strawberry.UNSET


@strawberry.input(description="A new organisation.")
class CreateOrganizationInput:
    ref: str = strawberry.field(
        description="Stable reference, unique, at most 64 characters, e.g. an IATI "
        "organisation identifier such as `CN-USCC-91330100799655058B`."
    )
    name: str = strawberry.field(description="Its name; required, at most 200 characters.")
    kind: OrganizationKind = strawberry.field(description="What kind of organisation it is.")
    headquarters: str | None = strawberry.field(
        default=None, description="Where it is headquartered; at most 200 characters."
    )
    description: str | None = strawberry.field(
        default=None, description="A few words on it; at most 10,000 characters."
    )


@strawberry.input(description="Changes to an organisation; fields left out stay as they are.")
class UpdateOrganizationInput:
    id: strawberry.ID = strawberry.field(description="The organisation's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    ref: str | None = strawberry.field(default=UNSET, description="New reference; unique.")
    name: str | None = strawberry.field(default=UNSET, description="New name.")
    kind: OrganizationKind | None = strawberry.field(default=UNSET, description="New kind.")
    headquarters: str | None = strawberry.field(
        default=UNSET, description="New headquarters; null clears."
    )
    description: str | None = strawberry.field(
        default=UNSET, description="New description; null clears."
    )


@strawberry.type(description="The result of an organisation mutation.")
class OrganizationPayload(Payload):
    organization: Organization | None = strawberry.field(
        description="The organisation as written (as it was before, for an archive)."
    )


IDS = {"id": "Organization"}


@strawberry.type
class OrganizationMutations:
    @strawberry.mutation(
        description="Add an organisation (editor, admin). The ref must be new "
        "(ALREADY_EXISTS otherwise).",
        metadata=requires(Permission.WRITE),
    )
    async def create_organization(
        self,
        info: Info,
        input: Annotated[
            CreateOrganizationInput, strawberry.argument(description="The new organisation.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> OrganizationPayload:
        return await write(
            info,
            OrganizationPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.create(s, Row, values_of(input), rules.validate_organization),
        )

    @strawberry.mutation(
        description=f"Change an organisation (editor, admin). {UNCHANGED}",
        metadata=requires(Permission.WRITE),
    )
    async def update_organization(
        self,
        info: Info,
        input: Annotated[
            UpdateOrganizationInput,
            strawberry.argument(description="The organisation, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> OrganizationPayload:
        required = ("ref", "name", "kind")
        return await write(
            info,
            OrganizationPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.update(
                s, Row, values_of(input, ids=IDS, required=required), rules.validate_organization
            ),
        )

    @strawberry.mutation(
        description="Archive an organisation (editor, admin): refused (CONFLICT) while it "
        "sponsors a programme, takes part in an initiative, or provided or received a "
        "transaction; citations of it go with it. The audit trail keeps it.",
        metadata=requires(Permission.WRITE),
    )
    async def archive_organization(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> OrganizationPayload:
        return await write(
            info,
            OrganizationPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.archive(
                s, Row, values_of(input, ids=IDS), rules.guard_organization_archive
            ),
        )
