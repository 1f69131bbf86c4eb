"""The one mutation runner, and what every mutation shares: the error type, the
payload interface, the arguments every mutation takes.

A mutation is declared, not written out: its input type, its permission (in the
field's metadata, `requires(...)`: the one place naming it), the rule it applies (a
function of the session, given the input's values) and its payload type. `write` does
the rest: one unit of work (app/writes/service.py: the permission, the chain lock,
idempotency, versions, the trail), global IDs decoded, and every problem back as a
payload error, its field named as the input names it.

    @strawberry.mutation(description="...", metadata=requires(Permission.WRITE))
    async def create_milestone(self, info, input, idempotency_key=None, reason=None):
        return await write(info, MilestonePayload, input, idempotency_key, reason,
            lambda s: crud.create(s, Row, values_of(input, ids=IDS), rules.validate))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Self, TypeVar

import strawberry
from strawberry.types.base import StrawberryOptional, get_object_definition

from app.auth.roles import Permission
from app.errors import DomainError, ErrorCode
from app.graphql.context import Info
from app.graphql.enums import described_enum
from app.kit.ids import decode_id_of
from app.writes.errors import FieldError, Problems
from app.writes.service import Outcome, Work, Write, perform

described_enum(ErrorCode, description="Stable codes of errors; clients may branch on them.")

# The key of a field's metadata that holds who may run it (an app.auth.roles.Permission).
PERMISSION = "permission"


def requires(permission: Permission) -> dict[str, Any]:
    """A mutation field's metadata: the permission its caller needs."""
    return {PERMISSION: permission}


@strawberry.type(description="One problem with a mutation's input; nothing was written.")
class MutationError:
    field: str | None = strawberry.field(
        description="The input field at fault, as named in the input; null: the input as a whole."
    )
    code: ErrorCode = strawberry.field(description="What kind of problem, for programs.")
    message: str = strawberry.field(description="What is wrong and how to fix it, for people.")

    @classmethod
    def of(cls, error: FieldError) -> MutationError:
        return cls(field=error.field, code=error.code, message=error.message)


@strawberry.interface(
    description="The result of a mutation: the record written, or errors and nothing written."
)
class Payload:
    errors: list[MutationError] = strawberry.field(
        description="Empty when the mutation succeeded; otherwise every problem found."
    )
    replayed: bool = strawberry.field(
        description="True when this is the stored first result of an earlier call with the "
        "same idempotency key (nothing was written again)."
    )
    sequence: int | None = strawberry.field(
        default=None,
        description="The audit trail entry holding the record as this write left it (an "
        "update that changed nothing: the record's latest entry; null when refused). "
        "Send it as the `X-Min-Sequence` header of a later request to read this write "
        "even where reads are answered by a replica.",
    )

    @classmethod
    def of(cls, outcome: Outcome) -> Self:
        """The payload of an outcome: its one record field holds the record as its node."""
        name, node = _record_field(cls)
        record = outcome.record
        found = {name: None if record is None else node.from_row(record)}
        return cls(
            errors=[MutationError.of(e) for e in outcome.errors],
            replayed=outcome.replayed,
            sequence=outcome.sequence,
            **found,
        )


def _record_field(payload: type[Payload]) -> tuple[str, Any]:
    """The name and node type of a payload's field besides `errors` and `replayed`."""
    definition = get_object_definition(payload, strict=True)
    (field,) = [
        f for f in definition.fields if f.python_name not in ("errors", "replayed", "sequence")
    ]
    assert isinstance(field.type, StrawberryOptional), "a payload's record may be null"
    return field.python_name, field.type.of_type


# Every update mutation's description ends with this: one text for one behaviour.
UNCHANGED = (
    "An update that changes nothing (every value given is the stored one) succeeds and "
    "returns the record as it is: the same version, no audit trail entry, and so no "
    "`changes` event."
)


IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(
        description="Any unique string of printable characters, without spaces at either end "
        "(a UUID, say). A retry with the same key returns the "
        "first result and writes nothing again; the same key with other input is refused "
        "(IDEMPOTENCY_KEY_REUSED)."
    ),
]
Reason = Annotated[
    str | None,
    strawberry.argument(description="Why the change is made; kept in the audit trail."),
]


@strawberry.input(description="Identifies a record to archive, with the version you read.")
class ArchiveInput:
    id: strawberry.ID = strawberry.field(description="The record's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")


P = TypeVar("P", bound=Payload)


async def write(
    info: Info,
    payload: type[P],
    input: Any,
    idempotency_key: str | None,
    reason: str | None,
    work: Work,
) -> P:
    """Run the mutation being resolved: `work` in one audited, idempotent unit of work,
    under the permission its field declares; named by the field (createInitiative)."""
    context = info.context
    request = Write(
        operation=info.field_name,
        permission=declared_permission(info),
        principal=context.principal,
        request=plain(input),
        idempotency_key=idempotency_key,
        reason=reason,
    )
    outcome = await perform(context.writes, request, work)
    outcome.errors = [api_named(info, input, e) for e in outcome.errors]
    return payload.of(outcome)


def declared_permission(info: Info) -> Permission:
    """The permission the mutation being resolved declares (`requires`)."""
    root = get_object_definition(info.schema.mutation, strict=True).name
    field = info.schema.get_field_for_type(field_name=info.field_name, type_name=root)
    permission = None if field is None else field.metadata.get(PERMISSION)
    if not isinstance(permission, Permission):
        raise LookupError(f"the mutation {info.field_name} declares no permission")
    return permission


def values_of(
    input: Any, *, ids: Mapping[str, str] | None = None, required: Iterable[str] = ()
) -> dict[str, Any]:
    """The input's values by attribute name, the fields left out (UNSET) left out.

    `ids`: attribute → the type its global ID names (`{"program_id": "Program"}`), decoded
    to the record's key; `required`: attributes an update may leave out but not clear.
    Every problem found is raised at once."""
    problems = Problems()
    values: dict[str, Any] = {}
    for field in fields(input):
        value = getattr(input, field.name)
        if value is strawberry.UNSET:
            continue
        type_name = (ids or {}).get(field.name)
        if type_name is not None and value is not None:
            value = record_id(problems, value, type_name, field.name)
        values[field.name] = value
    for name in required:
        if name in values and values[name] is None:
            problems.add(name, "cannot be null")
    problems.raise_any()
    return values


def record_id(problems: Problems, global_id: str, type_name: str, field: str) -> int:
    """The key of a global ID of `type_name`; -1 (matches nothing) when malformed."""
    try:
        return decode_id_of(global_id, type_name)
    except DomainError as error:
        problems.add(field, error.message, error.code)
        return -1


def api_named(info: Info, input: Any, error: FieldError) -> FieldError:
    """The error with its `field` as the API names it: the rules name the model's
    attribute (`period_end`, `transaction_date`); the input names it `periodEnd`, `date`."""
    if error.field is None:
        return error
    converter = info.schema.config.name_converter
    definition = get_object_definition(type(input))
    declared = {f.python_name: f for f in definition.fields} if definition else {}
    field = declared.get(error.field)
    name = (
        converter.get_graphql_name(field)
        if field is not None
        else converter.apply_naming_config(error.field)
    )
    return FieldError(name, error.code, error.message)


def plain(value: Any) -> Any:
    """An input as JSON-ready data, for hashing idempotent requests."""
    if value is strawberry.UNSET:
        return "<unset>"
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value
