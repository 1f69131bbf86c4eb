"""`changes`: the audit trail as a stream, resumable from any cursor.

Positions count in the caller's scope (app/events/scopes.py): the whole log for
callers who see everything, where an event's `sequence` is the trail's and cursors are
the `changes` query's; a partner's own changes for a partner, whose events are
numbered 1, 2, 3, ... in its own stream and whose cursors name nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Hashable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from app.errors import DomainError, ErrorCode, Forbidden
from app.events.cursors import decode_event_cursor, encode_event_cursor
from app.events.hub import EventFilter, Overflow
from app.events.scopes import Scope
from app.graphql.audit.types import (
    ChangeActor,
    ChangeEntityType,
    ChangeOperation,
    changed_fields,
    entity_global_id,
    shown_states,
)
from app.graphql.context import Info
from app.graphql.subscriptions.live import credential_ended, hub_of, subscribed
from app.graphql.subscriptions.sharing import direct_queue, resume_point
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
    _scope: strawberry.Private[Scope]
    # The event's position in its scope (the trail's sequence for the whole log).
    _ordinal: strawberry.Private[int]
    # The memo the live subscribers offered this entry share (None from the log):
    # those of one group execute their selection once (sharing.py).
    _shared: strawberry.Private[dict[Any, Any] | None] = None

    def share_part(self) -> Hashable:
        """What of the event its answer shows beyond the caller: its position."""
        return (self._scope.initiative_ids, self._ordinal)

    @strawberry.field(
        description="Pass as `after` to resume from this event. A partner's cursors "
        "belong to its stream: they hold for a key with the same initiatives."
    )
    def cursor(self) -> str:
        return encode_event_cursor(self._scope, self._ordinal)

    @strawberry.field(
        description="The event's position: in the whole log (1, 2, 3, ... without gaps), "
        "or, for a partner, in its own stream of its initiatives' changes (1, 2, 3, ... "
        "without gaps, whatever happens elsewhere). A filtered stream skips what it "
        "leaves out."
    )
    def sequence(self) -> int:
        return self._ordinal

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
        "stored (decimals as exact strings, money to its currency's minor unit as `Money` "
        "shows it, times in UTC ISO 8601); for an archive, as it "
        "was when archived. Only the columns the record's type shows the caller in "
        "queries (a draft reached figure only to those who may see `draftReached`). A "
        "snapshot: query the record by `entityId` for its relations."
    )
    def record(self, info: Info) -> JSON:
        before, after = shown_states(info, self._row)
        return JSON(after if after is not None else before)

    @strawberry.field(
        description="The column names of `record` whose values the change altered (every "
        "column of a create or an archive), sorted."
    )
    def changed_fields(self, info: Info) -> list[str]:
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


def event_filter(info: Info, given: ChangeEventFilter | None) -> EventFilter:
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
        entity_types=frozenset(str(t.value) for t in given.entity_types)
        if given.entity_types is not None
        else None,
        operations=frozenset(str(o.value) for o in given.operations)
        if given.operations is not None
        else None,
        initiative_ids=initiatives,
    )


def _overflowed(scope: Scope, size: int, delivered: int) -> DomainError:
    """How a subscriber more than `size` events behind ends: with the cursor of the
    last event it was sent (`delivered`), to resume from."""
    return DomainError(
        OVERFLOW_MESSAGE.format(size=size),
        code=ErrorCode.SUBSCRIPTION_OVERFLOW,
        details={"cursor": encode_event_cursor(scope, delivered)},
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
        info: Info,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="Start after this cursor (of an event; for callers who see "
                "everything also of the `changes` query). The cursor of position 0, "
                "Y2hhbmdlOjA=, starts at the beginning for anyone. Without it, from now."
            ),
        ] = None,
        filter: Annotated[
            ChangeEventFilter | None, strawberry.argument(description="Only events that match.")
        ] = None,
    ) -> AsyncGenerator[ChangeEvent, None]:
        context = info.context
        scope = Scope(context.principal.initiative_ids)
        events = event_filter(info, filter)
        start: int | None = None
        ordinal = 0
        resumed = resume_point()
        if resumed is not None:
            # A parked subscription run again (sharing.py `DirectQueue.revive`): after
            # the last event it was sent, whatever `after` said when it began; or ended
            # with what ended it while parked.
            if isinstance(resumed.error, Overflow):
                # Its cursor in the scope it ran in (this run's credential is not proved
                # again: it only ends), so that resuming from it leaves no gap
                ran = (
                    scope if resumed.principal is None else Scope(resumed.principal.initiative_ids)
                )
                raise _overflowed(ran, context.settings.subscription_buffer, resumed.ordinal)
            if resumed.error is not None:
                raise resumed.error
            if resumed.principal is not None and context.principal != resumed.principal:
                # Its credential proves someone else now (a partner key's initiatives
                # changed while it was parked): ended, as a running one's re-check ends it
                raise credential_ended()
            start, ordinal = resumed.sequence, resumed.ordinal
        elif after is not None:
            ordinal = decode_event_cursor(scope, after, "after")
            start = await scope.sequence_at(context.writes, ordinal)
            if start is None:
                raise DomainError(
                    "after: this cursor points past the end of your change stream; "
                    "subscribe without `after` to start from now",
                    code=ErrorCode.INVALID_CURSOR,
                    field="after",
                )
        # Over graphql-transport-ws, live events may be written by the subscriber's
        # group without passing through here (sharing.py `DirectQueue`).
        queue = direct_queue(
            hub_of(info),
            events.matches,
            context.settings.subscription_buffer,
            scope,
            lambda entry, number: ChangeEvent(_row=entry, _scope=scope, _ordinal=number),
        )
        try:
            async with subscribed(info, queue) as hub:
                assert hub.high_water is not None  # the hub is ready once subscribed
                if start is None:
                    start = hub.high_water
                    ordinal = await scope.ordinal_at(context.writes, start)
                queue.delivered, queue.delivered_at = ordinal, start
                try:
                    async for entry, number in hub.follow(queue, events, start, ordinal):
                        queue.delivered, queue.delivered_at = number, entry.sequence
                        yield ChangeEvent(
                            _row=entry, _scope=scope, _ordinal=number, _shared=queue.shared
                        )
                except Overflow:
                    raise _overflowed(scope, queue.capacity, queue.delivered) from None
        finally:
            queue.close()
