"""The events an endpoint receives: the `changes` subscription, run as the endpoint's key.

Each delivery's `data` is what that subscription sends the key's caller (its role's
field rules, a partner's own initiatives and numbering), because it is that
subscription: the server's own document, executed by the schema with the key's
principal, from the endpoint's cursor. To know where a batch ends, the same entries
are first read from the trail (`pending`), in the key's scope and the endpoint's filter;
the subscription then yields exactly one event for each, in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Protocol

from app.audit import kinds, repository
from app.auth.principal import Principal
from app.config import Settings
from app.db.session import SessionFactory
from app.events.hub import EventFilter, EventHub
from app.events.scopes import Scope
from app.kit.ids import encode_global_id
from app.models import SUBJECT_TABLES, Citation, SubjectType
from app.webhooks import repository as webhooks_repository

CITATIONS = Citation.__tablename__

DOCUMENT = """
subscription Webhook($after: String, $filter: ChangeEventFilter) {
  changes(after: $after, filter: $filter) {
    cursor sequence occurredAt actor { name role } entityType entityId operation
    record changedFields
  }
}
"""


class ServerSubscriptions(Protocol):
    """What webhooks need of the GraphQL schema, which the app hands the worker
    (app/graphql/schema.py's PledgeSchema): to run the server's own subscription
    document as a caller, as a long-lived stream. Webhooks import nothing of
    app.graphql: the admin fields there call this package's service."""

    async def subscribe_as_server(
        self,
        document: str,
        variables: dict[str, Any],
        *,
        reads: SessionFactory,
        settings: Settings,
        principal: Principal,
        events: EventHub,
    ) -> Any: ...


class RenderFailed(Exception):
    """The subscription refused (e.g. the key may no longer see a filtered initiative)."""


@dataclass(frozen=True)
class Filters:
    # GraphQL enum names (e.g. BUDGET_LINE, CREATE) and initiative ids; empty: any.
    entity_types: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    initiative_ids: tuple[int, ...] = ()

    def variables(self) -> dict[str, Any] | None:
        given: dict[str, Any] = {}
        if self.entity_types:
            given["entityTypes"] = list(self.entity_types)
        if self.operations:
            given["operations"] = list(self.operations)
        if self.initiative_ids:
            given["initiativeIds"] = [
                encode_global_id("Initiative", i) for i in self.initiative_ids
            ]
        return given or None

    def events(self, principal: Principal) -> EventFilter:
        """The same filter, as the hub applies it to the trail's rows (within the key's
        initiatives, as `changes` narrows it)."""
        tables, operations = kinds.entity_type_names(), kinds.operation_names()
        return EventFilter(
            entity_types=frozenset(tables[n] for n in self.entity_types)
            if self.entity_types
            else None,
            operations=frozenset(operations[n] for n in self.operations)
            if self.operations
            else None,
            initiative_ids=frozenset(self.initiative_ids)
            if self.initiative_ids
            else principal.initiative_ids,
        )


@dataclass(frozen=True)
class Event:
    sequence: int  # the trail's: the endpoint's position once delivered
    data: dict[str, Any]
    # Its lane, for an endpoint ordered per initiative: its record's initiative, or for
    # a citation the cited record's (`with_cited_initiatives`).
    initiative_id: int | None = None
    citation: bool = False


async def pending(
    sessions: SessionFactory,
    principal: Principal,
    filters: Filters,
    position: int,
    until: int,
    limit: int,
) -> list[Any]:
    """The trail's entries the endpoint has still to receive, up to `limit`."""
    where = filters.events(principal).where
    async with sessions() as session:
        return await repository.entries(session, where, after=position, limit=limit, until=until)


async def render(
    schema: ServerSubscriptions,
    sessions: SessionFactory,
    settings: Settings,
    hub: EventHub,
    principal: Principal,
    filters: Filters,
    cursor: str,
    entries: list[Any],
) -> list[Event]:
    """The subscription's events for `entries`, which follow `cursor` in the scope."""
    stream = await schema.subscribe_as_server(
        DOCUMENT,
        {"after": cursor, "filter": filters.variables()},
        reads=sessions,
        settings=settings,
        principal=principal,
        events=hub,
    )
    if not hasattr(stream, "__aiter__"):
        raise RenderFailed(_message(getattr(stream, "errors", None)))
    events: list[Event] = []
    try:
        async for result in stream:
            if result.errors:
                raise RenderFailed(_message(result.errors))
            data = (result.data or {})["changes"]
            entry = entries[len(events)]
            # The subscription and the read above must agree, event for event.
            if data["entityId"] != kinds.entity_global_id(entry):
                raise RenderFailed("the change stream and the trail disagree; retrying")
            events.append(
                Event(
                    int(entry.sequence),
                    data,
                    entry.initiative_id,
                    entry.entity_type == CITATIONS,
                )
            )
            if len(events) == len(entries):
                break
    finally:
        await stream.aclose()
    return events


async def with_cited_initiatives(
    sessions: SessionFactory, entries: list[Any], events: list[Event]
) -> list[Event]:
    """The events, each citation that the trail ties to no initiative (a citation of a
    transaction, a budget line…) given the initiative of the record it cites, as that
    record stood in the trail then: the citation's lane is its record's
    (app/webhooks/lanes.py). One statement, and only for a batch with such citations."""
    cited: list[tuple[int, str, int]] = []
    for entry in entries:
        record = _cited(entry)
        if record is not None:
            cited.append((int(entry.sequence), *record))
    if not cited:
        return events
    async with sessions() as session:
        found = await webhooks_repository.initiatives_before(session, cited)
    return [
        replace(event, initiative_id=found[event.sequence]) if event.sequence in found else event
        for event in events
    ]


def _cited(entry: Any) -> tuple[str, int] | None:
    """The table and id of the record a citation's entry cites, when the trail ties
    the citation to no initiative (a citation of an initiative has its own). A state
    that names no known record leaves the citation in lane 0, as before."""
    if entry.entity_type != CITATIONS or entry.initiative_id is not None:
        return None
    try:
        state = json.loads(entry.after or entry.before or "{}")
        table = SUBJECT_TABLES[SubjectType(state["subject_type"])]
        return table, int(state["subject_id"])
    except (KeyError, ValueError, TypeError):
        return None


def _message(errors: Any) -> str:
    if not errors:
        return "the change stream ended"
    return "; ".join(str(getattr(e, "message", e)) for e in errors)[:900]


def scope_of(principal: Principal) -> Scope:
    return Scope(principal.initiative_ids)
