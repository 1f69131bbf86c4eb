"""Verifying the trail: walk the hash chain from its first entry, then hold its end
against the chain head.

The entries alone cannot show that some were removed from the end: what is left is
still a well-formed chain. The chain head row, updated in the same transaction as
every append, says where the trail ends; a tail that stops short of it was cut.

Verification proves the trail consistent with itself. Someone with write access to
the database who rewrites an entry, rehashes every later one and moves the head
leaves a consistent trail behind; only a head hash recorded elsewhere earlier (the
`last hash` that `audit verify` prints) exposes that.

The trail proves nothing about the tables by itself: an UPDATE, DELETE or INSERT run
on a ledger table directly leaves the chain intact. `compare_tables` therefore rebuilds
every audited table as the trail describes it, with the rebuild `asOf` uses, and holds
it against the live table, column by column, naming the first record that differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, column, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.audit import repository
from app.audit.chain import Break, check_entry
from app.audit.records import audited_tables, money_columns
from app.db.base import Base
from app.models import GENESIS_HASH, ChainHead
from app.money.currencies import shown
from app.views import repository as views
from app.views.views import view_engine


@dataclass(frozen=True)
class Verification:
    intact: bool
    # Entries found intact (all of them when the chain is intact).
    checked: int
    # The last entry found intact (0: none), and its hash.
    last_sequence: int
    last_hash: str
    first_break: Break | None


async def verify(session: AsyncSession, *, batch: int = repository.STREAM_BATCH) -> Verification:
    """Check every entry in sequence order, a batch at a time, and the chain head.

    Writers may append while this runs. The head is read after the walk, and a head
    ahead of the walk is first followed (new entries) before it counts as a cut tail.
    """
    checked, previous = 0, GENESIS_HASH

    def broken(at: Break) -> Verification:
        return Verification(False, checked, checked, previous, at)

    while True:
        walked = 0
        async for rows in repository.stream_entries(session, after=checked, batch=batch):
            for row in rows:
                found = check_entry(row, checked + 1, previous)
                if found is not None:
                    return broken(found)
                checked, previous = checked + 1, row.hash
                walked += 1
        head = await repository.chain_head(session)
        if head is None:
            return broken(Break(checked + 1, "the chain head row is missing"))
        head_sequence, head_hash = head
        if head_sequence > checked and walked:
            continue  # entries committed while we walked: check them too
        if head_sequence > checked:
            return broken(
                Break(
                    checked + 1,
                    f"entry {checked + 1} is missing: the chain head says the trail ends at "
                    f"{head_sequence}, but its last entry is {checked}",
                )
            )
        if head_sequence < checked:
            return broken(
                Break(
                    head_sequence + 1,
                    f"entry {head_sequence + 1} lies beyond the chain head, which says the "
                    f"trail ends at {head_sequence}",
                )
            )
        if head_hash != previous:
            return broken(
                Break(checked, "the chain head's hash does not match the last entry's hash")
            )
        return Verification(True, checked, checked, previous, None)


@dataclass(frozen=True)
class Difference:
    """The first record in which a live table and the trail's state part."""

    table: str
    id: int
    # The columns that differ, in the table's order; none when only one side has it.
    columns: tuple[str, ...]
    # The record as each side holds it; None on the side that lacks it.
    in_table: dict[str, Any] | None
    in_trail: dict[str, Any] | None
    # Columns whose value in the table its type cannot read (in_table holds it as stored).
    unreadable: tuple[str, ...] = ()

    @property
    def detail(self) -> str:
        if self.in_table is None:
            return "the trail has this record, the table does not: deleted around the trail"
        if self.in_trail is None:
            return (
                "the table has this record, the trail does not: written around the trail "
                "(rows from before the trail started are recorded once by `audit baseline`)"
            )
        first = self.columns[0]
        if first in self.unreadable:
            said = (
                f"{first} holds {_raw(self.in_table[first])} in the table, which cannot be "
                f"read as its type; {self._shown(self.in_trail, first)} in the trail"
            )
        else:
            said = (
                f"{first} is {self._shown(self.in_table, first)} in the table, "
                f"{self._shown(self.in_trail, first)} in the trail"
            )
        if len(self.columns) > 1:
            said += f" (also {', '.join(self.columns[1:])})"
        return said

    def __str__(self) -> str:
        return f"{self.table} {self.id}: {self.detail}"

    def _shown(self, record: dict[str, Any], column: str) -> str:
        """A value of the record; money as the API shows it, in the record's currency."""
        value = record[column]
        currency = money_columns(audited_tables()[self.table].__table__).get(column)
        code = record.get(currency) if currency is not None else None
        if isinstance(value, Decimal) and isinstance(code, str):
            value = shown(value, code)
        return _shown(value)


@dataclass(frozen=True)
class TableCheck:
    # The trail entry the state was rebuilt up to (the chain head when compared).
    sequence: int
    tables: int
    # Live records compared.
    records: int
    first_difference: Difference | None


async def compare_tables(engine: AsyncEngine) -> TableCheck:
    """Rebuild every audited table from the trail up to the chain head, as `asOf` does
    (`history.repository.fill_from_trail`), and compare it with the live table. The
    first difference, by table (parents first) and then by id, is named with every
    column that differs. On a connection of its own, outside the pool: the rebuilt
    tables are TEMP tables that end with it."""
    conn = await view_engine(engine).connect()
    try:
        if conn.dialect.name == "postgresql":
            # The chain head and every table, read in one snapshot.
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            return await _compare(conn)
    finally:
        await conn.close()


async def _compare(conn: AsyncConnection) -> TableCheck:
    schema = await views.real_schema(conn)
    sequence = int(await conn.scalar(select(ChainHead.last_sequence)) or 0)
    audited = set(audited_tables())
    tables = [t for t in Base.metadata.sorted_tables if t.name in audited]
    await views.run_statements(
        conn,
        [
            sql
            for table in tables
            for sql in (
                views.create_shadow(conn, schema, table),
                views.fill_from_trail(conn, schema, table, sequence),
            )
        ],
    )
    records, first = 0, None
    for table in tables:
        real = views.real_table(conn, schema, table.name)
        rebuilt = conn.dialect.identifier_preparer.quote(table.name)
        count, differing = await _first_differing_id(conn, table, real, rebuilt)
        records += count
        if first is None and differing is not None:
            first = await _difference(conn, table, real, rebuilt, differing)
    return TableCheck(sequence, len(tables), records, first)


async def _first_differing_id(
    conn: AsyncConnection, table: Table, real: str, rebuilt: str
) -> tuple[int, int | None]:
    """(live records, the lowest id of a record not the same on both sides). EXCEPT
    compares whole rows, nulls as equal, in the database."""
    columns = ", ".join(conn.dialect.identifier_preparer.quote(c.name) for c in table.columns)
    only_in = "(SELECT min(id) FROM (SELECT {cols} FROM {a} EXCEPT SELECT {cols} FROM {b}) AS d)"
    row = (
        await conn.execute(
            text(
                f"SELECT (SELECT count(*) FROM {real}), "
                f"{only_in.format(cols=columns, a=real, b=rebuilt)}, "
                f"{only_in.format(cols=columns, a=rebuilt, b=real)}"
            )
        )
    ).one()
    ids = [i for i in row[1:] if i is not None]
    return int(row[0]), min(ids) if ids else None


async def _difference(
    conn: AsyncConnection, table: Table, real: str, rebuilt: str, pk: int
) -> Difference:
    """Both sides of one record, and the columns in which they differ (as stored)."""
    live = await _record(conn, table, real, pk)
    trail = await _record(conn, table, rebuilt, pk)
    if live is None or trail is None:
        return Difference(
            table.name,
            pk,
            (),
            None if live is None else live[1],
            None if trail is None else trail[1],
        )
    differing = tuple(c.name for c in table.columns if live[0][c.name] != trail[0][c.name])
    # A cell no reader can read differs from the trail's, which was read when written.
    unreadable = tuple(c for c in differing if c in live[2])
    return Difference(table.name, pk, differing, live[1], trail[1], unreadable)


# What reading a stored value the column's type cannot take raises: on SQLite, whose
# columns take any value, "abc" in a decimal column (decimal.InvalidOperation), "garbage"
# in a date column (ValueError), a name no enumeration has (LookupError).
_UNREADABLE = (ArithmeticError, ValueError, TypeError, LookupError)


async def _record(
    conn: AsyncConnection, table: Table, name: str, pk: int
) -> tuple[dict[str, Any], dict[str, Any], frozenset[str]] | None:
    """The record as stored, as the service reads it (decimals, dates) and the columns
    it cannot read (their value as stored stands in for them), or None."""
    quote = conn.dialect.identifier_preparer.quote
    sql = f"SELECT {', '.join(quote(c.name) for c in table.columns)} FROM {name} WHERE id = :id"
    stored = (await conn.execute(text(sql).bindparams(id=pk))).mappings().one_or_none()
    if stored is None:
        return None
    typed = text(sql).bindparams(id=pk).columns(*(column(c.name, c.type) for c in table.columns))
    try:
        return dict(stored), dict((await conn.execute(typed)).mappings().one()), frozenset()
    except _UNREADABLE:
        pass
    # One column at a time, to name those that cannot be read.
    read: dict[str, Any] = {}
    unreadable: set[str] = set()
    for c in table.columns:
        one = text(f"SELECT {quote(c.name)} FROM {name} WHERE id = :id").bindparams(id=pk)
        try:
            read[c.name] = (await conn.execute(one.columns(column(c.name, c.type)))).scalar_one()
        except _UNREADABLE:
            read[c.name] = stored[c.name]
            unreadable.add(c.name)
    return dict(stored), read, frozenset(unreadable)


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, str):
        return repr(value[:60])
    return str(value)


def _raw(value: Any) -> str:
    """A value as stored, its type shown: 'abc' (text), b'...' (bytes), 7 (a number)."""
    return repr(value[:60] if isinstance(value, str | bytes) else value)
