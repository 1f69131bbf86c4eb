"""Mutations of beneficiary groups, and of the shares of initiatives' money each gets."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import strawberry

from app.auth.roles import Permission
from app.beneficiaries import groups as rules
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
from app.graphql.nodes import BeneficiaryGroup, BeneficiaryShare
from app.models import BeneficiaryGroup as GroupRow
from app.models import BeneficiaryShare as ShareRow
from app.writes import crud

UNSET: Any = strawberry.UNSET


@strawberry.input(description="A new beneficiary group.")
class CreateBeneficiaryGroupInput:
    code: str = strawberry.field(
        description="Stable code, unique, at most 64 characters, e.g. `rural-residents`."
    )
    name: str = strawberry.field(description="Its name; required, at most 200 characters.")
    description: str | None = strawberry.field(
        default=None, description="Who belongs to it; at most 10,000 characters."
    )


@strawberry.input(description="Changes to a beneficiary group; fields left out stay as they are.")
class UpdateBeneficiaryGroupInput:
    id: strawberry.ID = strawberry.field(description="The group's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    code: str | None = strawberry.field(default=UNSET, description="New code; unique.")
    name: str | None = strawberry.field(default=UNSET, description="New name.")
    description: str | None = strawberry.field(
        default=UNSET, description="New description; null clears."
    )


@strawberry.type(description="The result of a beneficiary group mutation.")
class BeneficiaryGroupPayload(Payload):
    beneficiary_group: BeneficiaryGroup | None = strawberry.field(
        description="The group as written (as it was before, for an archive)."
    )


SHARES = (
    "An initiative has one share per group, and its shares add up to at most 100 "
    "(VALIDATION otherwise)."
)


@strawberry.input(description=f"A new share of an initiative's money for a group. {SHARES}")
class CreateBeneficiaryShareInput:
    initiative_id: strawberry.ID = strawberry.field(description="The initiative's global ID.")
    group_id: strawberry.ID = strawberry.field(description="The beneficiary group's global ID.")
    percentage: Decimal = strawberry.field(
        description="Above 0, at most 100, at most 4 decimals (33.3333)."
    )


@strawberry.input(
    description="A new percentage for a share; its initiative and group stay (archive it "
    "and create another to move it)."
)
class UpdateBeneficiaryShareInput:
    id: strawberry.ID = strawberry.field(description="The share's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    percentage: Decimal | None = strawberry.field(
        default=UNSET, description="New percentage: above 0, at most 100, at most 4 decimals."
    )


@strawberry.type(description="The result of a beneficiary share mutation.")
class BeneficiarySharePayload(Payload):
    beneficiary_share: BeneficiaryShare | None = strawberry.field(
        description="The share as written (as it was before, for an archive)."
    )


GROUP_IDS = {"id": "BeneficiaryGroup"}
SHARE_IDS = {
    "id": "BeneficiaryShare",
    "initiative_id": "Initiative",
    "group_id": "BeneficiaryGroup",
}


@strawberry.type
class BeneficiaryGroupMutations:
    @strawberry.mutation(
        description="Add a beneficiary group (editor, admin). The code must be new "
        "(ALREADY_EXISTS otherwise).",
        metadata=requires(Permission.WRITE),
    )
    async def create_beneficiary_group(
        self,
        info: Info,
        input: Annotated[
            CreateBeneficiaryGroupInput, strawberry.argument(description="The new group.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryGroupPayload:
        return await write(
            info,
            BeneficiaryGroupPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.create(s, GroupRow, values_of(input), rules.validate_group),
        )

    @strawberry.mutation(
        description=f"Change a beneficiary group (editor, admin). {UNCHANGED}",
        metadata=requires(Permission.WRITE),
    )
    async def update_beneficiary_group(
        self,
        info: Info,
        input: Annotated[
            UpdateBeneficiaryGroupInput,
            strawberry.argument(description="The group, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryGroupPayload:
        required = ("code", "name")
        return await write(
            info,
            BeneficiaryGroupPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.update(
                s,
                GroupRow,
                values_of(input, ids=GROUP_IDS, required=required),
                rules.validate_group,
            ),
        )

    @strawberry.mutation(
        description="Archive a beneficiary group (editor, admin): refused (CONFLICT) while "
        "beneficiary figures or shares count it; citations of it go with it. The audit "
        "trail keeps it.",
        metadata=requires(Permission.WRITE),
    )
    async def archive_beneficiary_group(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryGroupPayload:
        return await write(
            info,
            BeneficiaryGroupPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.archive(
                s, GroupRow, values_of(input, ids=GROUP_IDS), rules.guard_group_archive
            ),
        )

    @strawberry.mutation(
        description=f"Give a beneficiary group a share of an initiative's money (editor, "
        f"admin). {SHARES}",
        metadata=requires(Permission.WRITE),
    )
    async def create_beneficiary_share(
        self,
        info: Info,
        input: Annotated[
            CreateBeneficiaryShareInput, strawberry.argument(description="The new share.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiarySharePayload:
        return await write(
            info,
            BeneficiarySharePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.create(
                s, ShareRow, values_of(input, ids=SHARE_IDS), rules.validate_share
            ),
        )

    @strawberry.mutation(
        description=f"Change a share's percentage (editor, admin). {SHARES} {UNCHANGED}",
        metadata=requires(Permission.WRITE),
    )
    async def update_beneficiary_share(
        self,
        info: Info,
        input: Annotated[
            UpdateBeneficiaryShareInput,
            strawberry.argument(description="The share, the version read, and the change."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiarySharePayload:
        return await write(
            info,
            BeneficiarySharePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.update(
                s,
                ShareRow,
                values_of(input, ids=SHARE_IDS, required=["percentage"]),
                rules.validate_share,
            ),
        )

    @strawberry.mutation(
        description="Archive a beneficiary share (editor, admin): the money it covered is "
        "then assigned to no group. The audit trail keeps it.",
        metadata=requires(Permission.WRITE),
    )
    async def archive_beneficiary_share(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiarySharePayload:
        return await write(
            info,
            BeneficiarySharePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.archive(s, ShareRow, values_of(input, ids=SHARE_IDS)),
        )
