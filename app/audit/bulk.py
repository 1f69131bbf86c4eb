"""Bulk loads that keep the trail: rows written by COPY or executemany, each with the
`create` entry the recorder would have appended for it.

Core inserts bypass the recorder (it hooks ORM flushes), so a bulk loader writes its
rows through a `BulkTrail` instead. The trail takes the chain lock when it starts,
gives every row its id up front (so the entry can name it), stamps `version` 1 and the
creation times explicitly, and writes every column, so the entry's state is exactly
what is stored. Rows and entries go in together, one chunk at a time, in the caller's
transaction: memory stays flat however many rows a load has, and a rolled-back load
leaves neither rows nor entries. `finish` moves the chain head past the last entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.audit.recorder import HEAD, Head, lock_chain
from app.audit.records import Actor, State, canonical_json, encode, initiative_of
from app.models import Change

Row = tuple[object, ...]
CHUNK_ROWS = 20_000
# Every bulk-loaded row is new: it is at its first version.
FIRST_VERSION = 1
_STAMPS = ("version", "created_at", "updated_at")


class _Entry(NamedTuple):
    """A `changes` row, in the table's column order (COPY takes it as is)."""

    sequence: int
    occurred_at: datetime
    actor_name: str
    actor_role: str
    entity_type: str
    entity_id: int
    initiative_id: int | None
    operation: str
    before: str | None
    after: str | None
    reason: str | None
    previous_hash: str
    hash: str


ENTRY_COLUMNS = _Entry._fields


def _changes_table() -> Table:
    table = Change.__table__
    assert isinstance(table, Table)
    return table


_CHANGES = _changes_table()
assert tuple(c.key for c in _CHANGES.columns) == ENTRY_COLUMNS


class _RowView:
    """A written row as `initiative_of` sees a record, so both apply one rule."""

    __slots__ = ("_positions", "_record", "_table")

    def __init__(self, table: str, positions: dict[str, int], record: Row) -> None:
        self._table = table
        self._positions = positions
        self._record = record

    def __getattr__(self, name: str) -> Any:
        if name == "__tablename__":
            return self._table
        try:
            return self._record[self._positions[name]]
        except KeyError:
            raise AttributeError(name) from None


class _Layout:
    """How one table's rows are written: every column, in `names` order. The columns
    every row has the same value in (defaults, version, times) are encoded once."""

    def __init__(self, table: Table, columns: Sequence[str], created_at: datetime) -> None:
        rest = _unset_columns(table, columns)
        self.table = table
        self.names = ("id", *columns, *rest, *_STAMPS)
        self.positions = {name: i for i, name in enumerate(self.names)}
        self.tail = (
            *(_default(table, name) for name in rest),
            FIRST_VERSION,
            created_at,
            created_at,
        )
        fixed = dict(zip(self.names[-len(self.tail) :], self.tail, strict=True))
        self.fixed_state = {name: encode(table.c[name], v) for name, v in fixed.items()}
        self.varying = [(name, table.c[name], i) for i, name in enumerate(("id", *columns))]

    def state(self, record: Row) -> State:
        """The record's state as the recorder's `state_of` gives it: every column, encoded."""
        state = dict(self.fixed_state)
        for name, column, i in self.varying:
            state[name] = encode(column, record[i])
        return state


class BulkTrail:
    """One bulk load under the chain lock: `start`, `insert` per table, `finish`."""

    def __init__(self, conn: AsyncConnection, head: Head, actor: Actor, reason: str | None):
        self._conn = conn
        self._head = head
        self._actor = actor
        self._reason = reason
        self._driver: Any = None  # asyncpg's connection, for COPY, on PostgreSQL
        self._next_id: dict[str, int] = {}  # SQLite: the next free id per table
        self._written: list[Table] = []
        self.entries = 0
        self.occurred_at = head.clock()  # one moment for the whole load

    @classmethod
    async def start(cls, session: AsyncSession, actor: Actor, reason: str | None) -> BulkTrail:
        """Take the chain lock (waits for any other writer) before the caller checks anything."""
        await lock_chain(session)
        head: Head = session.info[HEAD]
        trail = cls(await session.connection(), head, actor, reason)
        if trail._conn.dialect.name == "postgresql":
            raw = await trail._conn.get_raw_connection()
            trail._driver = raw.driver_connection
            # The lock's UPDATE opened the transaction COPY must run in.
            assert trail._driver.is_in_transaction()
        return trail

    async def insert(
        self,
        table: Table,
        columns: Sequence[str],
        rows: Iterable[Row],
        *,
        created_at: datetime,
        progress: Callable[[int], None] | None = None,
        chunk_rows: int = CHUNK_ROWS,
        on_ids: Callable[[list[int]], None] | None = None,
    ) -> int:
        """Write `rows` (tuples in `columns` order, no id) as new records created at
        `created_at`, with their entries; return how many. Rows are pulled from the
        iterable one chunk at a time. Parents must be loaded before their children.
        `on_ids` hears the ids each chunk's rows were given, in the rows' order."""
        self._check_order(table)
        layout = _Layout(table, columns, created_at)
        tail = layout.tail
        source = iter(rows)
        written = 0
        while chunk := list(islice(source, chunk_rows)):
            ids = await self._ids(table, len(chunk))
            if on_ids is not None:
                on_ids(ids)
            records = [(id_, *row, *tail) for id_, row in zip(ids, chunk, strict=True)]
            await self._copy(table, layout.names, records)
            await self._write_entries(self._entries(layout, records))
            written += len(records)
            if progress is not None:
                progress(len(records))
        return written

    async def finish(self) -> None:
        """Move the chain head past the entries written (the caller commits)."""
        await self._conn.execute(self._head.save())

    def _entries(self, layout: _Layout, records: list[Row]) -> list[_Entry]:
        head, actor, table = self._head, self._actor, layout.table
        entries = []
        for record in records:
            fields = head.link(
                occurred_at=self.occurred_at,
                actor_name=actor.name,
                actor_role=actor.role,
                entity_type=table.name,
                entity_id=int(record[0]),  # type: ignore[call-overload]
                initiative_id=initiative_of(_RowView(table.name, layout.positions, record)),
                operation="create",
                before=None,
                after=canonical_json(layout.state(record)),
                reason=self._reason,
            )
            entries.append(_Entry(**fields))
        self.entries += len(entries)
        return entries

    def _check_order(self, table: Table) -> None:
        # A replay inserts in trail order, so no earlier table may point at this one.
        for earlier in self._written:
            if earlier is not table and any(
                fk.column.table is table for fk in earlier.foreign_keys
            ):
                raise ValueError(f"{table.name} must be loaded before {earlier.name}")
        self._written.append(table)

    async def _ids(self, table: Table, count: int) -> list[int]:
        if self._driver is not None:
            # Ids from the table's own sequence: no other writer can be handed them.
            rows = await self._driver.fetch(
                "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)",
                table.name,
                count,
            )
            return sorted(row[0] for row in rows)
        # SQLite: the lock is the database's write lock, so the next ids are free;
        # they are the ones SQLite itself would choose (the largest id plus one).
        first = self._next_id.get(table.name)
        if first is None:
            largest = await self._conn.scalar(select(func.max(table.c.id)))
            first = (largest or 0) + 1
        self._next_id[table.name] = first + count
        return list(range(first, first + count))

    async def _copy(self, table: Table, names: Sequence[str], records: Sequence[Row]) -> None:
        if self._driver is not None:
            await self._driver.copy_records_to_table(
                table.name, records=records, columns=names, schema_name=table.schema
            )
        else:
            await self._conn.execute(
                insert(table), [dict(zip(names, row, strict=True)) for row in records]
            )

    async def _write_entries(self, entries: list[_Entry]) -> None:
        if self._driver is not None:
            await self._copy(_CHANGES, ENTRY_COLUMNS, entries)
            return
        # SQLite: as many entries as rows, so skip the Core insert's per-row work; only
        # the time needs converting, and it is the same in every entry.
        dialect = self._conn.dialect
        convert = _CHANGES.c.occurred_at.type.dialect_impl(dialect).bind_processor(dialect)
        stored = convert(self.occurred_at) if convert is not None else self.occurred_at
        # Every column, in table order: the order of an entry's fields.
        sql = str(insert(_CHANGES).compile(dialect=dialect))
        await self._conn.exec_driver_sql(
            sql, [entry._replace(occurred_at=stored) for entry in entries]
        )


def _unset_columns(table: Table, columns: Sequence[str]) -> list[str]:
    given = {"id", *columns, *_STAMPS}
    return [column.key for column in table.columns if column.key not in given]


def _default(table: Table, name: str) -> object:
    """What an unset column holds, written explicitly so that both backends store it."""
    column = table.c[name]
    if column.default is not None and column.default.is_scalar:
        return column.default.arg  # type: ignore[attr-defined]
    if column.default is not None or column.server_default is not None:
        raise ValueError(f"{table.name}.{name} has a computed default: give its value")
    return None
