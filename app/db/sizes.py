"""How many rows each table holds, roughly and cheaply: what an operation's weight is
estimated from (app/graphql/extensions/work.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, Table, func, select

from app.db.base import Base
from app.db.session import SessionFactory

# In a column's `info`: its highest value is its table's number of rows (a key numbered
# from 1 without gaps, as the trail's `sequence`), so the table is sized by it.
COUNTS_ROWS = "counts_rows"


def size_column(table: Table) -> Column[int] | None:
    """The column whose highest value sizes `table`: one marked COUNTS_ROWS, else its
    `id`; None for the few tables keyed otherwise (counted: a handful of rows each)."""
    for column in table.columns:
        if column.info.get(COUNTS_ROWS):
            return column
    found: Column[int] | None = table.c.get("id")
    return found


async def table_sizes(sessions: SessionFactory, names: Iterable[str]) -> dict[str, int]:
    """The rows of each table named (a name no table has: KeyError), in one statement."""
    tables = [Base.metadata.tables[name] for name in sorted(set(names))]
    # The highest key: an index's last entry, where COUNT(*) would read every row (the
    # trail's million entries took 0.23 s, every TABLE_ROWS_SECONDS, in some request).
    columns = []
    for table in tables:
        key = size_column(table)
        size = func.count() if key is None else func.max(key)
        columns.append(select(size).select_from(table).scalar_subquery())
    async with sessions() as session:
        row = (await session.execute(select(*columns))).one()
    return {table.name: int(value or 0) for table, value in zip(tables, row, strict=True)}


def analyze_statements(conn: Any, table: Table) -> list[str]:
    """What gives PostgreSQL the statistics of `table` after it was filled in bulk
    (SQLite plans without them), on `conn` (a connection or session's): autovacuum comes
    round only later (never for a temp table), and until then plans are guesses."""
    if conn.dialect.name != "postgresql":
        return []
    return [f"ANALYZE {conn.dialect.identifier_preparer.quote(table.name)}"]
