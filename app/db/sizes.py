"""How many rows each table holds, roughly and cheaply: what an operation's weight is
estimated from (app/graphql/extensions/work.py)."""

from __future__ import annotations

from sqlalchemy import func, select

from app.db.base import Base
from app.db.session import SessionFactory


async def table_sizes(sessions: SessionFactory) -> dict[str, int]:
    """Every table's rows, in one statement: whatever the next operation reads is known."""
    tables = list(Base.metadata.sorted_tables)
    # The highest id: an index's last entry, where COUNT(*) would read every row.
    columns = [
        select(func.max(table.c.id) if "id" in table.c else func.count())
        .select_from(table)
        .scalar_subquery()
        for table in tables
    ]
    async with sessions() as session:
        row = (await session.execute(select(*columns))).one()
    return {table.name: int(value or 0) for table, value in zip(tables, row, strict=True)}
