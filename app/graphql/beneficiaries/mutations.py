"""Mutations of beneficiary figures: targets, and reached figures with their approval."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from app.auth.roles import Permission
from app.beneficiaries import rules
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
from app.graphql.nodes import BeneficiaryFigure
from app.models import BeneficiaryFigure as Row
from app.models import FigureQualifier
from app.writes import crud

UNSET: Any = strawberry.UNSET

APPROVAL = (
    "A reached figure is submitted as a draft (editor, admin) and counts in reports only "
    "once an auditor or admin other than the submitter approves it."
)


@strawberry.input(description="A new beneficiary figure: an initiative's target for one group.")
class CreateBeneficiaryFigureInput:
    initiative_id: strawberry.ID = strawberry.field(description="The initiative's global ID.")
    group_id: strawberry.ID = strawberry.field(description="The beneficiary group's global ID.")
    unit: str = strawberry.field(
        description='What is counted, e.g. "people employed"; at most 100 characters. '
        "An initiative has one figure per group and unit."
    )
    target_value: Decimal | None = strawberry.field(
        default=None, description="The target; not negative, at most 4 decimals."
    )
    target_date: dt.date | None = strawberry.field(
        default=None, description="When the target is to be reached."
    )


@strawberry.input(
    description="Changes to a figure's target or unit; fields left out stay as they are. "
    "Reached figures change through submitReachedFigure."
)
class UpdateBeneficiaryFigureInput:
    id: strawberry.ID = strawberry.field(description="The figure's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    unit: str | None = strawberry.field(default=UNSET, description="New unit.")
    target_value: Decimal | None = strawberry.field(
        default=UNSET, description="New target; null clears."
    )
    target_date: dt.date | None = strawberry.field(
        default=UNSET, description="New target date; null clears."
    )


@strawberry.input(description=f"A reached figure for approval. {APPROVAL}")
class SubmitReachedFigureInput:
    figure_id: strawberry.ID = strawberry.field(description="The beneficiary figure's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    value: Decimal = strawberry.field(description="How many were reached; not negative.")
    as_of: dt.date = strawberry.field(description="The date it describes; not in the future.")
    qualifier: FigureQualifier = strawberry.field(
        default=FigureQualifier.EXACT,
        description='How the value relates to the truth, e.g. MORE_THAN for "more than 10,000".',
    )


@strawberry.input(description="The figure whose draft is decided, with the version you read.")
class DecideReachedFigureInput:
    id: strawberry.ID = strawberry.field(description="The beneficiary figure's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")


@strawberry.type(description="The result of a beneficiary figure mutation.")
class BeneficiaryFigurePayload(Payload):
    beneficiary_figure: BeneficiaryFigure | None = strawberry.field(
        description="The figure as written (as it was before, for an archive)."
    )


IDS = {
    "id": "BeneficiaryFigure",
    "figure_id": "BeneficiaryFigure",
    "initiative_id": "Initiative",
    "group_id": "BeneficiaryGroup",
}


@strawberry.type
class BeneficiaryMutations:
    @strawberry.mutation(
        description="Add a beneficiary figure with its target (editor, admin); one per "
        "initiative, group and unit (ALREADY_EXISTS otherwise).",
        metadata=requires(Permission.WRITE),
    )
    async def create_beneficiary_figure(
        self,
        info: Info,
        input: Annotated[
            CreateBeneficiaryFigureInput, strawberry.argument(description="The new figure.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryFigurePayload:
        return await write(
            info,
            BeneficiaryFigurePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.create(s, Row, values_of(input, ids=IDS), rules.validate_figure),
        )

    @strawberry.mutation(
        description=f"Change a figure's target or unit (editor, admin). {UNCHANGED}",
        metadata=requires(Permission.WRITE),
    )
    async def update_beneficiary_figure(
        self,
        info: Info,
        input: Annotated[
            UpdateBeneficiaryFigureInput,
            strawberry.argument(description="The figure, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryFigurePayload:
        return await write(
            info,
            BeneficiaryFigurePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.update(
                s, Row, values_of(input, ids=IDS, required=["unit"]), rules.validate_figure
            ),
        )

    @strawberry.mutation(
        description="Archive a beneficiary figure (editor, admin); the audit trail keeps it.",
        metadata=requires(Permission.WRITE),
    )
    async def archive_beneficiary_figure(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryFigurePayload:
        return await write(
            info,
            BeneficiaryFigurePayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.archive(s, Row, values_of(input, ids=IDS)),
        )

    @strawberry.mutation(
        description="Submit a reached figure as a draft (editor, admin); it replaces a draft "
        f"still pending. {APPROVAL}",
        metadata=requires(Permission.WRITE),
    )
    async def submit_reached_figure(
        self,
        info: Info,
        input: Annotated[
            SubmitReachedFigureInput,
            strawberry.argument(
                description="The figure, the version read, and the reached figure."
            ),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryFigurePayload:
        principal = info.context.principal
        return await write(
            info,
            BeneficiaryFigurePayload,
            input,
            idempotency_key,
            reason,
            lambda s: rules.submit(s, values_of(input, ids=IDS), principal),
        )

    @strawberry.mutation(
        description="Approve the pending draft (auditor, admin): it becomes the reached figure "
        "reports count. Not by its submitter (FORBIDDEN); no draft is VALIDATION.",
        metadata=requires(Permission.APPROVE),
    )
    async def approve_reached_figure(
        self,
        info: Info,
        input: Annotated[
            DecideReachedFigureInput,
            strawberry.argument(description="The figure and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryFigurePayload:
        principal = info.context.principal
        return await write(
            info,
            BeneficiaryFigurePayload,
            input,
            idempotency_key,
            reason,
            lambda s: rules.approve(s, values_of(input, ids=IDS), principal),
        )

    @strawberry.mutation(
        description="Reject the pending draft (auditor, admin): it is dropped, the approved "
        "figure stays. `reason` is required: it tells the submitter why.",
        metadata=requires(Permission.APPROVE),
    )
    async def reject_reached_figure(
        self,
        info: Info,
        input: Annotated[
            DecideReachedFigureInput,
            strawberry.argument(description="The figure and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryFigurePayload:
        return await write(
            info,
            BeneficiaryFigurePayload,
            input,
            idempotency_key,
            reason,
            lambda s: rules.reject(s, values_of(input, ids=IDS), reason),
        )
