"""`changes`: the audit trail as a stream, resumable from any cursor."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from app.errors import DomainError, ErrorCode, Forbidden
from app.events.hub import EventFilter, EventQueue, Overflow, last_sequence
from app.graphql.audit.types import (
    ChangeActor,
    ChangeEntityType,
    ChangeOperation,
    changed_fields,
    decode_cursor,
    encode_cursor,
    entity_global_id,
    shown_states,
)
from app.graphql.subscriptions.live import subscribed
from app.kit.ids import decode_id_of

OVERFLOW_MESSAGE = (
    "this subscriber fell more than {size} events behind, so the subscription ended "
    "rather than drop any; subscribe again with after: extensions.cursor (the last "
    "event delivered) to resume without a gap"
)


@strawberry.type(
    description="A change to one record, as it commits. Events come in sequence order; "
    "after a reconnect, pass the last cursor received as `after` to resume without a gap, "
    "and drop any event whose sequence you have seen (de-duplication by sequence)."
)
class ChangeEvent:
    _row: strawberry.Private[Any]

    @strawberry.field(description="Pass as `after` to resume from this event.")
    def cursor(self) -> str:
        return encode_cursor(self._row.sequence)

    @strawberry.field(
        description="The event's position in the log: 1, 2, 3, ... without gaps in the "
        "whole log (a filtered stream skips what it leaves out)."
    )
    def sequence(self) -> int:
        return int(self._row.sequence)

    @strawberry.field(description="When the change was written (UTC).")
    def occurred_at(self) -> datetime:
        value: datetime = self._row.occurred_at
        return value

    @strawberry.field(description="Who made the change, and in which role.")
    def actor(self) -> ChangeActor:
        return ChangeActor(name=self._row.actor_name, role=self._row.actor_role)

    @strawberry.field(description="The kind of record changed.")
    def entity_type(self) -> ChangeEntityType:
        return ChangeEntityType(self._row.entity_type)

    @strawberry.field(description="The global ID of the record changed (also when archived).")
    def entity_id(self) -> strawberry.ID:
        return entity_global_id(self._row)

    @strawberry.field(description="What the change did.")
    def operation(self) -> ChangeOperation:
        return ChangeOperation(self._row.operation)

    @strawberry.field(
        description="The changed record as this change left it, column by column as "
        "stored (decimals as exact strings, times in UTC ISO 8601); for an archive, as it "
        "was when archived. Only the columns the record's type shows the caller in "
        "queries (a draft reached figure only to those who may see `draftReached`). A "
        "snapshot: query the record by `entityId` for its relations."
    )
    def record(self, info: strawberry.Info) -> JSON:
        before, after = shown_states(info, self._row)
        return JSON(after if after is not None else before)

    @strawberry.field(
        description="The column names of `record` whose values the change altered (every "
        "column of a create or an archive), sorted."
    )
    def changed_fields(self, info: strawberry.Info) -> list[str]:
        return changed_fields(info, self._row)


@strawberry.input(description="Which events to receive; every condition given must hold.")
class ChangeEventFilter:
    initiative_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Only changes to records of these initiatives (global IDs of Initiative). "
        "A partner may name only its own.",
    )
    entity_types: list[ChangeEntityType] | None = strawberry.field(
        default=None, description="Only changes to records of these kinds."
    )
    operations: list[ChangeOperation] | None = strawberry.field(
        default=None, description="Only changes of these kinds."
    )


def event_filter(info: strawberry.Info, given: ChangeEventFilter | None) -> EventFilter:
    """The hub's filter: the client's, within the caller's initiatives."""
    settings = info.context.settings
    scope: frozenset[int] | None = info.context.principal.initiative_ids
    given = given or ChangeEventFilter()
    for name, values in (
        ("initiativeIds", given.initiative_ids),
        ("entityTypes", given.entity_types),
        ("operations", given.operations),
    ):
        if values is not None and len(values) > settings.max_filter_list:
            raise DomainError(
                f"filter.{name}: at most {settings.max_filter_list} values, got {len(values)}",
                code=ErrorCode.INVALID_ARGUMENT,
                field=f"filter.{name}",
            )
    initiatives = scope
    if given.initiative_ids is not None:
        asked = frozenset(decode_id_of(i, "Initiative") for i in given.initiative_ids)
        if scope is not None and not asked <= scope:
            raise Forbidden(
                "filter.initiativeIds names an initiative this key may not see",
                field="filter.initiativeIds",
            )
        initiatives = asked
    return EventFilter(
        entity_types=frozenset(t.value for t in given.entity_types)
        if given.entity_types is not None
        else None,
        operations=frozenset(str(o.value) for o in given.operations)
        if given.operations is not None
        else None,
        initiative_ids=initiatives,
    )


@strawberry.type
class ChangeSubscriptions:
    @strawberry.subscription(
        description="Every change the caller may see, as it commits, in sequence order. "
        "With `after`, first every change since that cursor (from the log), then live, "
        "with no gap and no duplicate between the two. Partners receive only their "
        "initiatives' changes. If the client falls more than the server's buffer behind, "
        "the subscription ends with SUBSCRIPTION_OVERFLOW and `extensions.cursor`, the "
        "last event delivered: subscribe again with it to resume. Needs the read and "
        "subscribe permissions."
    )
    async def changes(
        self,
        info: strawberry.Info,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="Start after this cursor (of an event, or of the `changes` "
                "query); without it, from now."
            ),
        ] = None,
        filter: Annotated[
            ChangeEventFilter | None, strawberry.argument(description="Only events that match.")
        ] = None,
    ) -> AsyncGenerator[ChangeEvent, None]:
        events = event_filter(info, filter)
        start = decode_cursor(after, "after") if after is not None else None
        if start is not None:
            end = await last_sequence(info.context.write_sessions)
            if start > end:
                raise DomainError(
                    f"after: the log ends at sequence {end}; this cursor points past it",
                    code=ErrorCode.INVALID_CURSOR,
                    field="after",
                )
        queue = EventQueue(events.matches, info.context.settings.subscription_buffer)
        async with subscribed(info, queue) as hub:
            assert hub.high_water is not None  # the hub is ready once subscribed
            last = start if start is not None else hub.high_water
            try:
                async for entry in hub.follow(queue, events, last):
                    last = int(entry.sequence)
                    yield ChangeEvent(_row=entry)
            except Overflow:
                raise DomainError(
                    OVERFLOW_MESSAGE.format(size=queue.capacity),
                    code=ErrorCode.SUBSCRIPTION_OVERFLOW,
                    details={"cursor": encode_cursor(last)},
                ) from None
