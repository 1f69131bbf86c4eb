"""The one mutation runner (app/graphql/mutation.py): what each mutation declares, and
what the runner makes of it. The mutations' behaviour is tested per domain
(test_mutations_*.py); these tests hold the declarations and the runner's parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pytest
import strawberry
from strawberry.types.base import get_object_definition

from app.auth.roles import Permission
from app.errors import ErrorCode
from app.graphql import schema as app_schema
from app.graphql.milestones.mutations import MilestonePayload, UpdateMilestoneInput
from app.graphql.mutation import PERMISSION, IdempotencyKey, Payload, Reason, values_of, write
from app.graphql.rates.mutations import CreateExchangeRateInput
from app.kit.ids import encode_global_id
from app.models import Milestone, MilestoneStatus
from app.writes.errors import FieldError, Rejected
from app.writes.service import Outcome


def _mutation_fields() -> list[Any]:
    definition = get_object_definition(app_schema.Mutation, strict=True)
    return list(definition.fields)


def test_every_mutation_declares_its_permission_where_it_is_declared() -> None:
    # given
    fields = _mutation_fields()
    # then
    assert len(fields) == 48
    undeclared = [f.name for f in fields if not isinstance(f.metadata.get(PERMISSION), Permission)]
    assert undeclared == []
    needs = {f.python_name: f.metadata[PERMISSION] for f in fields}
    assert needs["approve_reached_figure"] is Permission.APPROVE
    assert needs["reject_reached_figure"] is Permission.APPROVE
    assert needs["archive_exchange_rate"] is Permission.MANAGE_RATES
    assert needs["create_transaction"] is Permission.WRITE
    assert needs["add_webhook_endpoint"] is Permission.MANAGE_KEYS
    # the ledger's other records are written as its money is
    kinds = ("program", "organization", "beneficiary_group", "beneficiary_share")
    for kind in (*kinds, "participation", "citation"):
        for verb in ("create", "update", "archive"):
            assert needs[f"{verb}_{kind}"] is Permission.WRITE


def test_values_of_leaves_out_what_was_not_given_and_decodes_global_ids() -> None:
    # given
    change = UpdateMilestoneInput(
        id=strawberry.ID(encode_global_id("Milestone", 7)), version=3, title="Opened"
    )
    # when
    values = values_of(change, ids={"id": "Milestone"})
    # then
    assert values == {"id": 7, "version": 3, "title": "Opened"}


def test_values_of_reports_every_problem_at_once_by_attribute() -> None:
    # given: an ID of another type, and a null where every milestone has a value
    change = UpdateMilestoneInput(
        id=strawberry.ID(encode_global_id("Initiative", 7)), version=3, title=None
    )
    # when
    with pytest.raises(Rejected) as refused:
        values_of(change, ids={"id": "Milestone"}, required=("title", "status"))
    # then
    assert [(e.field, e.code) for e in refused.value.errors] == [
        ("id", ErrorCode.INVALID_ID),
        ("title", ErrorCode.VALIDATION),
    ]


def test_values_of_keeps_a_null_id_null() -> None:
    # given
    rate = CreateExchangeRateInput(
        base="USD", quote="CNY", rate=1, rate_date=None, source="ECB", source_document_id=None
    )  # type: ignore[arg-type]
    # when
    values = values_of(rate, ids={"source_document_id": "SourceDocument"})
    # then
    assert values["source_document_id"] is None


def test_a_payload_of_an_outcome_holds_its_record_as_a_node() -> None:
    # given
    row = Milestone(
        id=5, initiative_id=1, title="Opened", status=MilestoneStatus.PLANNED, version=1
    )
    # when
    written = MilestonePayload.of(Outcome(record=row, replayed=True))
    refused = MilestonePayload.of(
        Outcome(errors=[FieldError("title", ErrorCode.VALIDATION, "must not be empty")])
    )
    # then
    assert written.milestone is not None and written.milestone.title == "Opened"
    assert written.replayed and written.errors == []
    assert refused.milestone is None
    assert [(e.field, e.code) for e in refused.errors] == [("title", ErrorCode.VALIDATION)]


@dataclass
class _Context:
    principal: Any = None
    writes: Any = None


# A schema whose one mutation forgot its declaration (module scope: strawberry resolves
# the annotations there).
RAN: list[bool] = []


async def _work(_session: Any) -> None:
    RAN.append(True)


@strawberry.type(description="The result.")
class EchoPayload(Payload):
    milestone: str | None = strawberry.field(description="Unused.")


@strawberry.input(description="Nothing.")
class EchoInput:
    text: str = strawberry.field(description="Anything.")


@strawberry.type
class Forgetful:
    @strawberry.mutation(description="Forgets its permission.")
    async def echo(
        self,
        info: strawberry.Info,
        input: Annotated[EchoInput, strawberry.argument(description="Any.")],
        idempotency_key: IdempotencyKey = None,
        reason: Reason = None,
    ) -> EchoPayload:
        return await write(info, EchoPayload, input, idempotency_key, reason, _work)


@strawberry.type
class Query:
    ok: bool = True


async def test_a_mutation_that_declares_no_permission_runs_nothing() -> None:
    # given
    bare = strawberry.Schema(query=Query, mutation=Forgetful)
    # when
    result = await bare.execute(
        'mutation { echo(input: {text: "x"}) { replayed } }', context_value=_Context()
    )
    # then
    assert result.errors is not None
    assert "declares no permission" in result.errors[0].message
    assert RAN == []
