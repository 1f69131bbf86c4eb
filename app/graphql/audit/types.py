"""GraphQL types of the audit trail: one change, a page of changes, the chain's check."""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.audit import kinds, repository
from app.audit.chain import Break
from app.audit.cursors import encode_cursor
from app.audit.kinds import type_name_of
from app.audit.records import audited_tables, with_amounts_shown
from app.audit.repository import EntryFilter
from app.audit.service import Difference, TableCheck, Verification, compare_tables
from app.auth.roles import Permission
from app.graphql.context import Info
from app.graphql.extensions.work import TRAIL, reads
from app.graphql.loaders import NODE_TYPES
from app.graphql.relay import Node, PageInfo
from app.graphql.visibility import OnlyFor, shown_state


@strawberry.enum(description="The kinds of record the trail follows (the API's type names).")
class ChangeEntityType(Enum):
    BENEFICIARY_FIGURE = strawberry.enum_value(
        "beneficiary_figures",
        description="A BeneficiaryFigure: an initiative's target and reach for one group.",
    )
    BENEFICIARY_GROUP = strawberry.enum_value(
        "beneficiary_groups", description="A BeneficiaryGroup."
    )
    BENEFICIARY_SHARE = strawberry.enum_value(
        "beneficiary_shares",
        description="A BeneficiaryShare: the percentage of an initiative's money meant for "
        "one group.",
    )
    BUDGET_LINE = strawberry.enum_value("budget_lines", description="A BudgetLine.")
    CITATION = strawberry.enum_value(
        "citations", description="A Citation: the words of a source that a fact rests on."
    )
    EXCHANGE_RATE = strawberry.enum_value("exchange_rates", description="An ExchangeRate.")
    INITIATIVE = strawberry.enum_value("initiatives", description="An Initiative.")
    MILESTONE = strawberry.enum_value("milestones", description="A Milestone.")
    ORGANIZATION = strawberry.enum_value("organizations", description="An Organization.")
    PARTICIPATION = strawberry.enum_value(
        "participations", description="A Participation: an organisation's role in an initiative."
    )
    PROGRAM = strawberry.enum_value("programs", description="A Program: the pledge.")
    SOURCE_DOCUMENT = strawberry.enum_value("source_documents", description="A SourceDocument.")
    TRANSACTION = strawberry.enum_value("transactions", description="A Transaction.")


def entity_global_id(row: Any) -> strawberry.ID:
    """The global ID of the record an entry changed (archived records keep theirs)."""
    return strawberry.ID(kinds.entity_global_id(row))


def shown_states(info: Info, row: Any) -> tuple[Any, Any]:
    """An entry's record before and after, each with only the columns the caller sees
    (app/graphql/visibility.py: the rule of the record's object type), and its money
    amounts as `Money` shows them."""
    principal = info.context.principal
    table = row.entity_type
    return (
        shown_state(principal, table, with_amounts_shown(table, state_of_entry(row.before))),
        shown_state(principal, table, with_amounts_shown(table, state_of_entry(row.after))),
    )


def changed_fields(info: Info, row: Any) -> list[str]:
    """The columns the caller sees whose values differ between an entry's before and
    after."""
    before, after = shown_states(info, row)
    before, after = before or {}, after or {}
    names = set(before) | set(after)
    return sorted(n for n in names if n not in before or n not in after or before[n] != after[n])


@strawberry.enum(description="What a change did to its record.")
class ChangeOperation(Enum):
    CREATE = strawberry.enum_value("create", description="The record was created.")
    UPDATE = strawberry.enum_value("update", description="Fields of the record changed.")
    ARCHIVE = strawberry.enum_value(
        "archive", description="The record was archived (removed from the current data)."
    )
    APPROVE = strawberry.enum_value("approve", description="A submitted figure was approved.")
    REJECT = strawberry.enum_value("reject", description="A submitted figure was rejected.")


@strawberry.type(description="Who made a change.")
class ChangeActor:
    name: str | None = strawberry.field(
        description="The API key's name or the token's subject (system loaders have their "
        "own). Null for callers without the audit permission: who did what is the trail's.",
        extensions=[OnlyFor(Permission.AUDIT)],
    )
    role: str = strawberry.field(
        description="The role the change was made in: viewer, auditor, editor, partner, admin, "
        "or system for loads and generators."
    )


def state_of_entry(text: str | None) -> dict[str, Any] | None:
    """A record state as an entry stores it (canonical JSON), decoded."""
    return json.loads(text) if text is not None else None


@strawberry.type(
    name="Change",
    description="One entry of the audit trail: a change to one record, with the record "
    "before and after it. Entries are never updated or deleted.",
)
class ChangeEntry:
    _row: strawberry.Private[Any]

    @strawberry.field(description="Pass as `after` to page on from this change.")
    def cursor(self) -> str:
        return encode_cursor(self._row.sequence)

    @strawberry.field(description="The entry's position in the trail: 1, 2, 3, ... without gaps.")
    def sequence(self) -> int:
        return int(self._row.sequence)

    @strawberry.field(
        description="When the change was written (UTC), inside its transaction; entries "
        "are in this order too."
    )
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
        description="The record before the change, column by column as stored (decimals "
        "as exact strings, money to its currency's minor unit as `Money` shows it, times "
        "in UTC ISO 8601): the columns the record's type shows the caller in queries; "
        "null for a create."
    )
    def before(self, info: Info) -> JSON | None:
        return JSON(shown_states(info, self._row)[0])

    @strawberry.field(
        description="The record after the change, in the form of `before`; null for an archive."
    )
    def after(self, info: Info) -> JSON | None:
        return JSON(shown_states(info, self._row)[1])

    @strawberry.field(
        description="The column names of `before` and `after` whose values differ (every "
        "column of a create or an archive), sorted."
    )
    def changed_fields(self, info: Info) -> list[str]:
        return changed_fields(info, self._row)

    @strawberry.field(description="Why the change was made, when the writer said.")
    def reason(self) -> str | None:
        value: str | None = self._row.reason
        return value

    @strawberry.field(
        description="SHA-256 (hex) over the entry's content and the previous entry's hash."
    )
    def hash(self) -> str:
        return str(self._row.hash)

    @strawberry.field(description="The previous entry's hash (64 zeros before the first entry).")
    def previous_hash(self) -> str:
        return str(self._row.previous_hash)

    @strawberry.field(
        description="The record as the operation sees it: now, or at the operation's asOf; "
        "null when it is archived by then, or when the API has no object type for it."
    )
    async def record(self, info: Info) -> Node | None:
        type_name = type_name_of(self._row.entity_type)
        if type_name not in NODE_TYPES:
            return None
        found: Node | None = await info.context.loaders.node_named(type_name).load(
            int(self._row.entity_id)
        )
        return found


@strawberry.type(description="A change and the cursor that points at it.")
class ChangeEdge:
    cursor: str = strawberry.field(description="Pass as `after` to page on from here.")
    node: ChangeEntry = strawberry.field(description="The change.")


@strawberry.type(
    description="A page of the change log in sequence order, Relay style. Pages run "
    "forwards only, so hasPreviousPage is always false."
)
class ChangeConnection:
    _where: strawberry.Private[EntryFilter]
    page_info: PageInfo = strawberry.field(description="Where this page sits in the log.")
    edges: list[ChangeEdge] = strawberry.field(description="The changes of this page.")

    @strawberry.field(
        description="How many changes the whole filtered log holds (counted only when asked).",
        metadata=reads(TRAIL),
    )
    async def total_count(self, info: Info) -> int:
        async with info.context.writes() as session:
            return await repository.count(session, self._where)

    @strawberry.field(description="The changes of this page, without cursors.")
    def nodes(self) -> list[ChangeEntry]:
        return [edge.node for edge in self.edges]


@strawberry.input(
    description="Which changes to list; every condition given must hold. Without any, "
    "the whole log."
)
class ChangeFilter:
    entity_type: ChangeEntityType | None = strawberry.field(
        default=None, description="Only changes to records of this kind."
    )
    entity_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Only changes to this record (its global ID; archived records keep theirs).",
    )
    actor: str | None = strawberry.field(
        default=None, description="Only changes by this API key name or token subject (exact)."
    )
    operations: list[ChangeOperation] | None = strawberry.field(
        default=None, description="Only changes of these kinds."
    )
    initiative_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Only changes to records of these initiatives (global IDs of Initiative).",
    )
    occurred_from: datetime | None = strawberry.field(
        default=None, description="Only changes at or after this moment."
    )
    occurred_before: datetime | None = strawberry.field(
        default=None, description="Only changes before this moment (exclusive)."
    )


@strawberry.type(description="The first entry where the hash chain does not hold.")
class ChainBreak:
    sequence: int = strawberry.field(
        description="The sequence of the broken (or missing) entry: everything before it is intact."
    )
    problem: str = strawberry.field(description="What is wrong with it, in words.")

    @classmethod
    def of(cls, found: Break) -> ChainBreak:
        return cls(sequence=found.sequence, problem=found.problem)


@strawberry.type(description="A record in which a ledger table and the trail's state part.")
class TableDifference:
    table: str = strawberry.field(description="The table, e.g. transactions.")
    key: int = strawberry.field(description="The record's primary key in that table.")
    columns: list[str] = strawberry.field(
        description="The columns that differ, in the table's order; empty when only one "
        "side holds the record (deleted or inserted around the trail)."
    )
    detail: str = strawberry.field(description="What differs, in words, with both values.")

    @classmethod
    def of(cls, found: Difference) -> TableDifference:
        return cls(
            table=found.table, key=found.id, columns=list(found.columns), detail=found.detail
        )


@strawberry.type(
    description="Every ledger table held against the state the trail describes, rebuilt "
    "from the trail as asOf rebuilds it: an edit made on a table directly, around the "
    "trail, shows here while the chain itself stays intact."
)
class TableVerification:
    match: bool = strawberry.field(
        description="Whether every live record equals the trail's, column by column, and "
        "no record is on one side only."
    )
    records: int = strawberry.field(description="Live records compared.")
    tables: int = strawberry.field(description="Tables compared.")
    up_to_sequence: int = strawberry.field(
        description="The trail was read up to this entry (the chain head then)."
    )
    first_difference: TableDifference | None = strawberry.field(
        description="The first record that differs, by table (parents first) then by key; "
        "null when the tables match."
    )

    @classmethod
    def of(cls, result: TableCheck) -> TableVerification:
        found = result.first_difference
        return cls(
            match=found is None,
            records=result.records,
            tables=result.tables,
            up_to_sequence=result.sequence,
            first_difference=TableDifference.of(found) if found else None,
        )


@strawberry.type(
    description="The outcome of checking the whole trail: every entry's hash, the links "
    "between entries, no gaps, and the chain head at the end."
)
class AuditVerification:
    intact: bool = strawberry.field(description="Whether the whole trail checks out.")
    checked_entries: int = strawberry.field(
        description="How many entries were found intact (all of them when intact)."
    )
    last_sequence: int = strawberry.field(
        description="The sequence of the last entry found intact (0: none)."
    )
    last_hash: str = strawberry.field(
        description="That entry's hash. Note it somewhere else: should that entry ever "
        "show another hash, the trail was rewritten, even if it checks out again."
    )
    first_broken: ChainBreak | None = strawberry.field(
        description="The first entry that breaks the chain; null when intact."
    )

    @strawberry.field(
        description="Every ledger table against the state the trail describes, as "
        "`pledge-ledger audit verify` checks it; null when the chain is broken (a broken "
        "trail describes no state). Rebuilds every table, which costs about what an asOf "
        "view of now costs: ask for it only when needed.",
        # The trail again, to rebuild the state, and every table it is compared with.
        metadata=reads(TRAIL, *audited_tables()),
    )
    async def tables(self, info: Info) -> TableVerification | None:
        if not self.intact:
            return None
        engine = info.context.writes.kw["bind"]
        return TableVerification.of(await compare_tables(engine))

    @classmethod
    def of(cls, result: Verification) -> AuditVerification:
        return cls(
            intact=result.intact,
            checked_entries=result.checked,
            last_sequence=result.last_sequence,
            last_hash=result.last_hash,
            first_broken=ChainBreak.of(result.first_break) if result.first_break else None,
        )
