"""Mutations of beneficiary figures: targets, and reached figures with their approval."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.roles import Permission
from app.beneficiaries import rules
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
from app.graphql.nodes import BeneficiaryFigure
from app.models import BeneficiaryFigure as FigureRow
from app.models import FigureQualifier
from app.writes import crud
from app.writes.errors import Problems, not_found
from app.writes.service import check_version

UNSET: Any = strawberry.UNSET
WHAT = "beneficiary figure"

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


def _values(i: Any) -> dict[str, Any]:
    return given(unit=i.unit, target_value=i.target_value, target_date=i.target_date)


def _payload(outcome: Any) -> BeneficiaryFigurePayload:
    record = outcome.record
    return BeneficiaryFigurePayload(
        beneficiary_figure=BeneficiaryFigure.from_row(record) if record is not None else None,
        errors=errors_of(outcome),
        replayed=outcome.replayed,
    )


async def _figure(session: AsyncSession, pk: int, version: int, field: str) -> FigureRow:
    figure = await session.get(FigureRow, pk) if pk > 0 else None
    if figure is None:
        raise not_found(WHAT, field)
    check_version(figure, version, WHAT)
    return figure


@strawberry.type
class BeneficiaryMutations:
    @strawberry.mutation(
        description="Add a beneficiary figure with its target (editor, admin); one per "
        "initiative, group and unit (ALREADY_EXISTS otherwise)."
    )
    async def create_beneficiary_figure(
        self,
        info: strawberry.Info,
        input: Annotated[
            CreateBeneficiaryFigureInput, strawberry.argument(description="The new figure.")
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryFigurePayload:
        problems = Problems()
        values = {
            **_values(input),
            "initiative_id": record_id(
                problems, input.initiative_id, "Initiative", "initiative_id"
            ),
            "group_id": record_id(problems, input.group_id, "BeneficiaryGroup", "group_id"),
        }

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            return await crud.create(session, FigureRow, values, rules.validate_figure)

        outcome = await run(
            info,
            "createBeneficiaryFigure",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description=f"Change a figure's target or unit (editor, admin). {UNCHANGED}"
    )
    async def update_beneficiary_figure(
        self,
        info: strawberry.Info,
        input: Annotated[
            UpdateBeneficiaryFigureInput,
            strawberry.argument(description="The figure, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryFigurePayload:
        problems = Problems()
        pk = record_id(problems, input.id, "BeneficiaryFigure", "id")
        values = _values(input)
        refuse_nulls(problems, values, {"unit": "unit"})

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            return await crud.update(
                session, FigureRow, pk, input.version, values, WHAT, rules.validate_figure
            )

        outcome = await run(
            info,
            "updateBeneficiaryFigure",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description="Archive a beneficiary figure (editor, admin); the audit trail keeps it."
    )
    async def archive_beneficiary_figure(
        self,
        info: strawberry.Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryFigurePayload:
        outcome = await archive_record(
            info,
            "archiveBeneficiaryFigure",
            input,
            FigureRow,
            "BeneficiaryFigure",
            WHAT,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description="Submit a reached figure as a draft (editor, admin); it replaces a draft "
        f"still pending. {APPROVAL}"
    )
    async def submit_reached_figure(
        self,
        info: strawberry.Info,
        input: Annotated[
            SubmitReachedFigureInput,
            strawberry.argument(
                description="The figure, the version read, and the reached figure."
            ),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryFigurePayload:
        problems = Problems()
        pk = record_id(problems, input.figure_id, "BeneficiaryFigure", "figure_id")
        draft = rules.check_draft(problems, rules.Draft(input.value, input.qualifier, input.as_of))
        principal = info.context.principal

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            figure = await _figure(session, pk, input.version, "figure_id")
            rules.submit(figure, draft, principal)
            await session.flush()
            return figure

        outcome = await run(
            info,
            "submitReachedFigure",
            Permission.WRITE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description="Approve the pending draft (auditor, admin): it becomes the reached figure "
        "reports count. Not by its submitter (FORBIDDEN); no draft is VALIDATION."
    )
    async def approve_reached_figure(
        self,
        info: strawberry.Info,
        input: Annotated[
            DecideReachedFigureInput,
            strawberry.argument(description="The figure and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryFigurePayload:
        problems = Problems()
        pk = record_id(problems, input.id, "BeneficiaryFigure", "id")
        principal = info.context.principal

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            figure = await _figure(session, pk, input.version, "id")
            rules.approve(session, figure, principal)
            await session.flush()
            return figure

        outcome = await run(
            info,
            "approveReachedFigure",
            Permission.APPROVE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)

    @strawberry.mutation(
        description="Reject the pending draft (auditor, admin): it is dropped, the approved "
        "figure stays. `reason` is required: it tells the submitter why."
    )
    async def reject_reached_figure(
        self,
        info: strawberry.Info,
        input: Annotated[
            DecideReachedFigureInput,
            strawberry.argument(description="The figure and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> BeneficiaryFigurePayload:
        problems = Problems()
        pk = record_id(problems, input.id, "BeneficiaryFigure", "id")

        async def work(session: AsyncSession) -> Any:
            problems.raise_any()
            figure = await _figure(session, pk, input.version, "id")
            rules.reject(session, figure, reason)
            await session.flush()
            return figure

        outcome = await run(
            info,
            "rejectReachedFigure",
            Permission.APPROVE,
            input,
            work,
            idempotency_key=idempotency_key,
            reason=reason,
        )
        return _payload(outcome)
