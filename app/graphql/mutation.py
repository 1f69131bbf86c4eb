"""What every mutation shares: the error type, the payload interface, and `run`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types.base import get_object_definition

from app.auth.roles import Permission
from app.errors import DomainError, ErrorCode
from app.graphql.enums import described_enum
from app.kit.ids import decode_id_of
from app.writes import crud
from app.writes.crud import Validate
from app.writes.errors import FieldError, Problems
from app.writes.service import Outcome, Write, perform

described_enum(ErrorCode, description="Stable codes of errors; clients may branch on them.")


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


def given(**values: Any) -> dict[str, Any]:
    """The fields an update input sets (UNSET ones are left as they are)."""
    return {k: v for k, v in values.items() if v is not strawberry.UNSET}


async def run(
    info: strawberry.Info,
    operation: str,
    permission: Permission,
    request: Any,
    work: Callable[[AsyncSession], Awaitable[Any]],
    *,
    idempotency_key: str | None,
    reason: str | None,
) -> Outcome:
    context = info.context
    write = Write(
        operation=operation,
        permission=permission,
        principal=context.principal,
        request=plain(request),
        idempotency_key=idempotency_key,
        reason=reason,
    )
    outcome = await perform(context.write_sessions, write, work)
    outcome.errors = [api_named(info, request, e) for e in outcome.errors]
    return outcome


def api_named(info: strawberry.Info, input: Any, error: FieldError) -> FieldError:
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


def record_id(problems: Problems, global_id: str, type_name: str, field: str) -> int:
    """The key of a global ID of `type_name`; -1 (matches nothing) when malformed."""
    try:
        return decode_id_of(global_id, type_name)
    except DomainError as error:
        problems.add(field, error.message, error.code)
        return -1


def errors_of(outcome: Outcome) -> list[MutationError]:
    return [MutationError.of(e) for e in outcome.errors]


@strawberry.input(description="Identifies a record to archive, with the version you read.")
class ArchiveInput:
    id: strawberry.ID = strawberry.field(description="The record's global ID.")
    version: int = strawberry.field(description="The version you read; a stale one is refused.")


def refuse_nulls(problems: Problems, values: Mapping[str, Any], fields: Iterable[str]) -> None:
    """An update may leave a field out, but not clear one that every record has."""
    for field in fields:
        if field in values and values[field] is None:
            problems.add(field, "cannot be null")


def global_ids(problems: Problems, **ids: tuple[str | None, str]) -> dict[str, int | None]:
    """Keys of the global IDs given, checked for type; a None ID stays None."""
    out: dict[str, int | None] = {}
    for field, (value, type_name) in ids.items():
        if value is strawberry.UNSET:
            continue
        out[field] = None if value is None else record_id(problems, value, type_name, field)
    return out


async def archive_record(
    info: strawberry.Info,
    operation: str,
    input: ArchiveInput,
    model: type[Any],
    type_name: str,
    what: str,
    guard: Validate | None = None,
    *,
    idempotency_key: str | None,
    reason: str | None,
) -> Outcome:
    """The whole of an archive mutation (editor, admin): the record by its global ID and
    the version read, refused while `guard` finds records resting on it."""
    problems = Problems()
    pk = record_id(problems, input.id, type_name, "id")

    async def work(session: AsyncSession) -> Any:
        problems.raise_any()
        if guard is None:
            return await crud.archive(session, model, pk, input.version, what)
        return await crud.archive(session, model, pk, input.version, what, guard)

    return await run(
        info,
        operation,
        Permission.WRITE,
        input,
        work,
        idempotency_key=idempotency_key,
        reason=reason,
    )
