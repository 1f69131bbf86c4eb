"""The auditor's root fields (`changes`, `auditVerification`) and every record's history.

All of them need the AUDIT permission (auditors and admins). The trail is read on
the engine's own sessions: views (asOf, partner scopes) shadow ledger tables, never
the trail, and a verification should not hold a view's one connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from app.audit import repository
from app.audit.cursors import decode_cursor, encode_cursor
from app.audit.kinds import table_of
from app.audit.repository import EntryFilter
from app.audit.service import verify
from app.errors import DomainError, ErrorCode
from app.graphql.audit.types import (
    AuditVerification,
    ChangeConnection,
    ChangeEdge,
    ChangeEntry,
    ChangeFilter,
)
from app.graphql.context import Info
from app.graphql.extensions.permissions import NeedsAudit
from app.graphql.extensions.work import TRAIL, reads
from app.graphql.loaders import NODE_MODELS
from app.graphql.relay import PageInfo
from app.kit.ids import MAX_KEY, decode_global_id, decode_id_of
from app.kit.pagination import Window

HISTORY_DEFAULT = 50
# Actor names are at most 200 characters (key names 100; token subjects are prefixed).
MAX_ACTOR = 200


def _page_size(info: Info, first: int | None) -> int:
    """`first`, or the default page size; PAGE_SIZE_EXCEEDED / INVALID_ARGUMENT as lists do."""
    settings = info.context.settings
    window = Window.from_args(
        first=first,
        after=None,
        last=None,
        before=None,
        default_size=settings.default_page_size,
        max_size=settings.max_page_size,
    )
    assert window.first is not None
    return window.first


def _moment(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise DomainError(
            f"{field}: give the moment with a timezone (e.g. 2024-05-01T00:00:00Z)",
            code=ErrorCode.VALIDATION,
            field=field,
        )
    return value


def _entity(global_id: str) -> tuple[str, int]:
    """The (table, key) of a record's global ID; INVALID_ID when the trail has no such kind."""
    type_name, pk = decode_global_id(global_id)
    table = table_of(type_name)
    if table is None:
        raise DomainError(
            f"{global_id!r} is not the ID of a record the trail follows",
            code=ErrorCode.INVALID_ID,
            field="filter.entityId",
        )
    return table, pk if 0 < pk <= MAX_KEY else -1


def entry_filter(info: Info, given: ChangeFilter | None) -> EntryFilter:
    """The repository's filter for a client's ChangeFilter."""
    if given is None:
        return EntryFilter()
    max_list = info.context.settings.max_filter_list
    for name, values in (("initiativeIds", given.initiative_ids), ("operations", given.operations)):
        if values is not None and len(values) > max_list:
            raise DomainError(
                f"filter.{name}: at most {max_list} values, got {len(values)}",
                field=f"filter.{name}",
            )
    entity_types: tuple[str, ...] | None = (
        (str(given.entity_type.value),) if given.entity_type is not None else None
    )
    entity_id = None
    if given.entity_id is not None:
        table, entity_id = _entity(given.entity_id)
        # An ID names its kind too; with a different entityType nothing matches.
        entity_types = tuple(t for t in entity_types or (table,) if t == table)
    if given.actor is not None and len(given.actor) > MAX_ACTOR:
        raise DomainError(
            f"an actor name has at most {MAX_ACTOR} characters",
            code=ErrorCode.INVALID_ARGUMENT,
            field="filter.actor",
        )
    return EntryFilter(
        entity_types=entity_types,
        entity_id=entity_id,
        actor_name=given.actor,
        operations=tuple(str(op.value) for op in given.operations)
        if given.operations is not None
        else None,
        initiative_ids=tuple(decode_id_of(i, "Initiative") for i in given.initiative_ids)
        if given.initiative_ids is not None
        else None,
        occurred_from=_moment(given.occurred_from, "filter.occurredFrom"),
        occurred_before=_moment(given.occurred_before, "filter.occurredBefore"),
    )


async def record_history(info: Info, record: Any, first: int) -> list[ChangeEntry]:
    """The first `first` changes of `record` (a Record object), oldest first (the
    field that asks declares the AUDIT permission: `Record.history`)."""
    size = _page_size(info, first)
    model = NODE_MODELS[type(record)]
    rows = await info.context.loaders.audit_entries.load((model.__tablename__, record.db_id, size))
    return [ChangeEntry(_row=row) for row in rows]


@strawberry.type
class AuditQueries:
    """The trail's root fields (a base of `Query`, never in the schema alone)."""

    @strawberry.field(
        description="The audit trail: every change to the ledger, oldest first, filtered. "
        "Needs the audit permission (auditors, admins).",
        permission_classes=[NeedsAudit],
    )
    async def changes(
        self,
        info: Info,
        filter: Annotated[
            ChangeFilter | None, strawberry.argument(description="Only changes that match.")
        ] = None,
        first: Annotated[
            int | None,
            strawberry.argument(
                description="Return the first n changes (after `after`). Default and "
                "maximum are the service's page sizes."
            ),
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="Return changes after this cursor.")
        ] = None,
    ) -> ChangeConnection:
        size = _page_size(info, first)
        start = decode_cursor(after, "after") if after is not None else 0
        where = entry_filter(info, filter)
        async with info.context.writes() as session:
            rows = await repository.entries(session, where, after=start, limit=size + 1)
        page = rows[:size]
        edges = [
            ChangeEdge(cursor=encode_cursor(r.sequence), node=ChangeEntry(_row=r)) for r in page
        ]
        return ChangeConnection(
            _where=where,
            page_info=PageInfo(
                has_next_page=len(rows) > size,
                has_previous_page=False,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            edges=edges,
        )

    @strawberry.field(
        description="Check the whole audit trail's hash chain now: whether it is intact "
        "and, if not, the first entry that breaks it; `tables` also holds every ledger table "
        "against the trail. Reads every entry; needs the audit permission.",
        metadata=reads(TRAIL),
        permission_classes=[NeedsAudit],
    )
    async def audit_verification(self, info: Info) -> AuditVerification:
        async with info.context.writes() as session:
            return AuditVerification.of(await verify(session))
