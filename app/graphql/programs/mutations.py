"""Mutations of programmes: the pledges themselves."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
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
from app.graphql.nodes import Program
from app.models import Program as Row
from app.programs import rules
from app.writes import crud

UNSET: Any = strawberry.UNSET


@strawberry.input(description="A new programme: a pledge, who made it, and who governs it.")
class CreateProgramInput:
    ref: str = strawberry.field(
        description="Stable reference, unique, at most 64 characters, e.g. "
        "`common-prosperity-2021`."
    )
    name: str = strawberry.field(description="Its name; required, at most 300 characters.")
    sponsor_id: strawberry.ID = strawberry.field(
        description="The global ID of the organisation that made the pledge."
    )
    pledged_amount: Decimal = strawberry.field(
        description="What was pledged: not negative; no finer than the currency's ISO 4217 "
        "minor unit (JPY 0 decimals, CNY 2, KWD 3), and at most 3 decimals in any currency."
    )
    pledged_currency: str = strawberry.field(
        description="ISO 4217 code of the pledge, e.g. CNY; reports show the programme's "
        "figures in it."
    )
    summary: str | None = strawberry.field(
        default=None, description="What was promised; at most 10,000 characters."
    )
    announced_on: dt.date | None = strawberry.field(
        default=None, description="When the pledge was announced; not in the future."
    )
    deadline: dt.date | None = strawberry.field(
        default=None, description="When the pledge is to be met; not before announcedOn."
    )
    governance_body: str | None = strawberry.field(
        default=None, description="The body that governs it; at most 300 characters."
    )
    governance_lead: str | None = strawberry.field(
        default=None, description="Who leads that body; at most 300 characters."
    )


@strawberry.input(
    description="Changes to a programme; fields left out stay as they are. A new pledge "
    "amount or currency must still cover the programme's budgets (PLEDGE_EXCEEDED), and "
    "every amount of the programme must convert into a new currency (RATE_NOT_FOUND)."
)
class UpdateProgramInput:
    id: strawberry.ID = strawberry.field(description="The programme's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")
    ref: str | None = strawberry.field(default=UNSET, description="New reference; unique.")
    name: str | None = strawberry.field(default=UNSET, description="New name.")
    sponsor_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="The global ID of the new sponsoring organisation."
    )
    pledged_amount: Decimal | None = strawberry.field(
        default=UNSET, description="New pledged amount."
    )
    pledged_currency: str | None = strawberry.field(
        default=UNSET, description="New pledge currency."
    )
    summary: str | None = strawberry.field(default=UNSET, description="New summary; null clears.")
    announced_on: dt.date | None = strawberry.field(
        default=UNSET, description="New announcement date; null clears."
    )
    deadline: dt.date | None = strawberry.field(
        default=UNSET, description="New deadline; null clears."
    )
    governance_body: str | None = strawberry.field(
        default=UNSET, description="New governing body; null clears."
    )
    governance_lead: str | None = strawberry.field(
        default=UNSET, description="New lead of the governing body; null clears."
    )


@strawberry.type(description="The result of a programme mutation.")
class ProgramPayload(Payload):
    program: Program | None = strawberry.field(
        description="The programme as written (as it was before, for an archive)."
    )


IDS = {"id": "Program", "sponsor_id": "Organization"}


@strawberry.type
class ProgramMutations:
    @strawberry.mutation(
        description="Add a programme (editor, admin). The ref must be new (ALREADY_EXISTS "
        "otherwise); the sponsor must exist (NOT_FOUND).",
        metadata=requires(Permission.WRITE),
    )
    async def create_program(
        self,
        info: Info,
        input: Annotated[CreateProgramInput, strawberry.argument(description="The new programme.")],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> ProgramPayload:
        return await write(
            info,
            ProgramPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.create(s, Row, values_of(input, ids=IDS), rules.validate_program),
        )

    @strawberry.mutation(
        description=f"Change a programme (editor, admin). {UNCHANGED}",
        metadata=requires(Permission.WRITE),
    )
    async def update_program(
        self,
        info: Info,
        input: Annotated[
            UpdateProgramInput,
            strawberry.argument(description="The programme, the version read, and the changes."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> ProgramPayload:
        required = ("ref", "name", "sponsor_id", "pledged_amount", "pledged_currency")
        return await write(
            info,
            ProgramPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.update(
                s, Row, values_of(input, ids=IDS, required=required), rules.validate_program
            ),
        )

    @strawberry.mutation(
        description="Archive a programme (editor, admin): refused (CONFLICT) while it has "
        "initiatives; citations of it go with it. The audit trail keeps it.",
        metadata=requires(Permission.WRITE),
    )
    async def archive_program(
        self,
        info: Info,
        input: Annotated[
            ArchiveInput,
            strawberry.argument(description="The record to archive and the version read."),
        ],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> ProgramPayload:
        return await write(
            info,
            ProgramPayload,
            input,
            idempotency_key,
            reason,
            lambda s: crud.archive(s, Row, values_of(input, ids=IDS), rules.guard_program_archive),
        )
