"""Relay pagination in SQL: one statement fetches the pages of many parents.

Cursors are opaque; inside they are the row's 1-based position in the ordered,
filtered list. A page forwards from a position (`first`/`after`, the usual case) is
read without ranking the rest of its list: `ORDER BY … OFFSET … LIMIT first + 1` for
a root list, the same per parent in a LATERAL subquery for a nested one on
PostgreSQL; the extra row says whether more follow, and the list's total is counted
by a second statement only when asked for. Other windows (`last`/`before`, and nested
lists on SQLite, which has no LATERAL) number the rows of the asked parents with
`ROW_NUMBER()` and `COUNT(*)` over a partition by the parent key.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, case, func, literal, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.sql.visitors import iterate

from app.errors import DomainError, ErrorCode
from app.kit.numbers import parse_natural

_CURSOR_PREFIX = "pos:"
# No list is longer; a larger position is not a cursor this service issued.
MAX_POSITION = 2**31 - 1
# Rows of one batch turned into pages between two chances for other work to run.
ROWS_PER_SLICE = 500


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode()


def decode_cursor(cursor: str, argument: str) -> int:
    """The position in a cursor, spelled exactly as `encode_cursor` spells it (one
    cursor per position, as one ID per record), or INVALID_CURSOR."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except ValueError:  # not ASCII, not base64 (binascii.Error and UnicodeError are)
        raw = ""
    prefix, _, digits = raw.partition(":")
    position = parse_natural(digits) if f"{prefix}:" == _CURSOR_PREFIX else None
    if position is None or position > MAX_POSITION or encode_cursor(position) != cursor:
        raise DomainError(
            f"{argument}: {cursor[:60]!r} is not a cursor of this list",
            code=ErrorCode.INVALID_CURSOR,
            field=argument,
        )
    return position


@dataclass(frozen=True)
class Window:
    """Which positions of a list a client asked for; resolved from first/after/last/before."""

    after: int = 0  # positions > after
    before: int | None = None  # positions < before
    first: int | None = None
    last: int | None = None

    @classmethod
    def from_args(
        cls,
        *,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
        default_size: int,
        max_size: int,
    ) -> Window:
        if first is not None and last is not None:
            raise DomainError(
                "give either first or last, not both",
                code=ErrorCode.INVALID_ARGUMENT,
                field="first",
            )
        for name, size in (("first", first), ("last", last)):
            if size is None:
                continue
            if size < 0:
                raise DomainError(
                    f"{name} must not be negative", code=ErrorCode.INVALID_ARGUMENT, field=name
                )
            if size > max_size:
                raise DomainError(
                    f"{name}: at most {max_size} items per page, got {size}",
                    code=ErrorCode.PAGE_SIZE_EXCEEDED,
                    field=name,
                    details={"maxPageSize": max_size},
                )
        if first is None and last is None:
            first = default_size
        return cls(
            after=decode_cursor(after, "after") if after is not None else 0,
            before=decode_cursor(before, "before") if before is not None else None,
            first=first,
            last=last,
        )


@dataclass
class Page:
    """One parent's page: rows with their positions, and the list's total."""

    rows: list[Any] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    total: int = 0
    window: Window = field(default_factory=Window)
    # Whether rows follow the page, when it was read forwards with one row more than
    # asked for (then `total` is counted only if asked for); None: from `total`.
    more: bool | None = None

    @property
    def has_previous_page(self) -> bool:
        if self.positions:
            return self.positions[0] > 1
        if self.window.last == 0:  # rows before `before` (or any row at all)
            upper = self.total if self.window.before is None else self.window.before - 1
            return min(upper, self.total) > self.window.after
        return self.window.after > 0 and self.total > 0

    @property
    def has_next_page(self) -> bool:
        if self.positions:
            return self.more if self.more is not None else self.positions[-1] < self.total
        if self.window.first == 0:  # rows after `after` (and before `before`)
            upper = self.total if self.window.before is None else self.window.before - 1
            return min(upper, self.total) > self.window.after
        return self.window.before is not None and self.window.before <= self.total


async def fetch_pages(
    session: AsyncSession,
    *,
    entity: Any,
    where: ColumnElement[bool],
    order_by: Sequence[ColumnElement[Any]],
    window: Window,
    parent: Any | None = None,
    parent_keys: Sequence[Hashable] = (None,),
    join: tuple[Any, Any] | None = None,
    pause: Callable[[], Awaitable[None]] | None = None,
    count: bool = True,
    columns: Sequence[Any] | None = None,
) -> dict[Hashable, Page]:
    """Fetch the page of every parent in `parent_keys` (or of the whole list) at once.
    The rows are streamed ROWS_PER_SLICE at a time, awaiting `pause` between slices: one
    batch may hold 200,000 rows, most of a second of decoding that must not hold the
    event loop in one go. Each row is the entity's columns, then the parent key, the
    position and the total (None when not counted); `columns`: only these of the
    entity's, in this order. `count=False`: the totals are not
    needed (no `totalCount` asked), and are counted only where the page info needs them.
    """
    forwards = window.last is None and window.before is None and bool(window.first)
    if forwards and join is None:
        dialect = session.get_bind().dialect.name
        if parent is None or dialect == "postgresql":
            return await _fetch_forwards(
                session,
                entity=entity,
                where=where,
                order_by=order_by,
                window=window,
                parent=parent,
                parent_keys=parent_keys,
                pause=pause,
                count=count,
                columns=columns,
            )
    partition = parent if parent is not None else literal(1)
    position = func.row_number().over(partition_by=partition, order_by=list(order_by))
    total = func.count().over(partition_by=partition)
    # The window runs over ids only; the rows are joined back in for the chosen page.
    inner: Select[Any] = select(
        entity.id.label("_pl_row_id"),
        (parent if parent is not None else literal(None)).label("_pl_parent"),
        position.label("_pl_position"),
        total.label("_pl_total"),
    ).where(where)
    if join is not None:
        inner = inner.join(*join)
    if parent is not None:
        inner = inner.where(parent.in_(list(parent_keys)))
    numbered = inner.subquery("numbered")
    pos, tot = numbered.c["_pl_position"], numbered.c["_pl_total"]
    conditions: list[ColumnElement[bool]] = [pos > window.after]
    if window.before is not None:
        conditions.append(pos < window.before)
    if window.first is not None:
        conditions.append(pos <= window.after + window.first)
    if window.last is not None:
        # The last n before `before`, or before the end when `before` lies past it
        # (one cursor serves every parent of a nested list, and lists shrink).
        upper = (
            tot
            if window.before is None
            else case((tot < window.before, tot), else_=window.before - 1)
        )
        conditions.append(pos > upper - window.last)
    # Plain rows, not ORM instances: read-only pages skip identity-map bookkeeping, and a
    # row answers `row.title` just like the model would.
    stmt = (
        select(
            *(columns if columns is not None else entity.__table__.columns),
            numbered.c["_pl_parent"],
            pos,
            tot,
        )
        .join(numbered, entity.id == numbered.c["_pl_row_id"])
        .where(*conditions)
        .order_by(numbered.c["_pl_parent"], pos)
    )
    pages: dict[Hashable, Page] = {key: Page(window=window) for key in parent_keys}
    # Streamed ROWS_PER_SLICE rows at a time (a server-side cursor on PostgreSQL): a
    # buffered result has every row decoded and built in one go, holding the loop.
    # Core rows, through the session's connection: the ORM's result machinery would
    # only wrap plain columns again.
    connection = await session.connection()
    result = await connection.stream(stmt.execution_options(yield_per=ROWS_PER_SLICE))
    first = True
    async for rows in result.partitions():
        if pause is not None and not first:
            await pause()
        first = False
        for row in rows:
            # The last three columns are ours (by position: a model may have a column
            # named like any label we could pick).
            parent_key, position_, total_ = row[-3:]
            page = pages[parent_key if parent is not None else None]
            page.rows.append(row)
            page.positions.append(position_)
            page.total = total_

    # An empty page past a cursor, or of size 0, still owes its client a totalCount.
    may_hide_rows = window.after or window.before is not None or 0 in (window.first, window.last)
    unknown = [k for k, p in pages.items() if not p.rows and may_hide_rows]
    if unknown:
        count_stmt = (
            select(parent if parent is not None else literal(None), func.count())
            .select_from(entity)
            .where(where)
        )
        if join is not None:
            count_stmt = count_stmt.join(*join)
        if parent is not None:
            count_stmt = count_stmt.where(parent.in_(unknown)).group_by(parent)
        for parent_key, count in (await session.execute(count_stmt)).all():
            pages[parent_key if parent is not None else None].total = count
    return pages


async def _fetch_forwards(
    session: AsyncSession,
    *,
    entity: Any,
    where: ColumnElement[bool],
    order_by: Sequence[ColumnElement[Any]],
    window: Window,
    parent: Any | None,
    parent_keys: Sequence[Hashable],
    pause: Callable[[], Awaitable[None]] | None,
    count: bool,
    columns: Sequence[Any] | None,
) -> dict[Hashable, Page]:
    """`first` rows after position `after`, one more to tell whether more follow: of the
    whole list, or of each parent's (a LATERAL subquery per key, PostgreSQL)."""
    assert window.first is not None
    size = window.first + 1
    columns = list(columns if columns is not None else entity.__table__.columns)
    stmt: Select[Any]
    if parent is None:
        stmt = (
            select(*columns, literal(None).label("_pl_parent"))
            .where(where)
            .order_by(*order_by)
            .offset(window.after)
            .limit(size)
        )
    else:
        keys = select(
            func.unnest(literal(list(parent_keys), ARRAY(parent.type))).label("key")
        ).subquery("parents")
        # The parent's total in the same statement, counted over its rows before the
        # LIMIT (only its own rows: the subquery runs once per parent).
        counted = [func.count().over().label("_pl_total")] if count else []
        # The columns the order names come out of the subquery too, to order the join by.
        table = entity.__table__
        ordered = {
            c.key
            for term in order_by
            for c in iterate(term)
            if isinstance(c, Column) and c.table is table
        }
        chosen = {c.key for c in columns}
        sorted_by = [c for c in table.columns if c.key in ordered and c.key not in chosen]
        page = (
            select(*columns, *sorted_by, *counted)
            .where(where, parent == keys.c.key)
            .order_by(*order_by)
            .offset(window.after)
            .limit(size)
            .lateral("page")
        )
        # Each parent's rows in the page's own order (the subquery's ORDER BY does not
        # carry over to the join's output).
        adapter = ClauseAdapter(page)
        stmt = (
            select(*page.c, keys.c.key.label("_pl_parent"))
            .select_from(keys.join(page, true()))
            .order_by(keys.c.key, *(adapter.traverse(term) for term in order_by))
        )
    pages: dict[Hashable, Page] = {key: Page(window=window, more=False) for key in parent_keys}
    # Core rows, through the session's connection: the ORM's result machinery would
    # only wrap plain columns again.
    connection = await session.connection()
    result = await connection.stream(stmt.execution_options(yield_per=ROWS_PER_SLICE))
    first = True
    async for rows in result.partitions():
        if pause is not None and not first:
            await pause()
        first = False
        for row in rows:
            page_ = pages[row[-1] if parent is not None else None]
            if parent is not None and count:
                page_.total = row[-2]
            if len(page_.rows) == window.first:
                page_.more = True
                continue
            page_.rows.append(row)
            page_.positions.append(window.after + len(page_.rows))
    # The total of a root list when asked for (a statement of its own: counting in the
    # page's statement would number the whole list), and where a page is empty past a
    # cursor (whether rows precede it).
    wanted = [
        key
        for key, p in pages.items()
        if (count and parent is None) or (window.after and not p.rows)
    ]
    if wanted:
        count_stmt = select(parent if parent is not None else literal(None), func.count())
        count_stmt = count_stmt.select_from(entity).where(where)
        if parent is not None:
            count_stmt = count_stmt.where(parent.in_(wanted)).group_by(parent)
        for parent_key, total in (await session.execute(count_stmt)).all():
            pages[parent_key if parent is not None else None].total = total
    return pages


async def fetch_window(
    session: AsyncSession, stmt: Select[*tuple[Any, ...]], window: Window
) -> Page:
    """One page of an ordered statement (first/after only), with the total of the whole
    result from `COUNT(*) OVER ()` in the same statement. The rows carry that total as
    their last column. Used by reports, whose rows are computed rather than one table's.
    """
    if window.last is not None or window.before is not None:
        raise ValueError("fetch_window pages forwards only (first/after)")
    paged = stmt.add_columns(func.count().over().label("_pl_total")).offset(window.after)
    if window.first is not None:
        paged = paged.limit(window.first)
    page = Page(window=window)
    for index, row in enumerate((await session.execute(paged)).all(), start=1):
        page.rows.append(row)
        page.positions.append(window.after + index)
        page.total = row[-1]
    if not page.rows and (window.after or window.first == 0):
        # An empty page past the end, or of size 0, still owes its client a totalCount.
        counted = select(func.count()).select_from(stmt.order_by(None).subquery())
        page.total = (await session.scalar(counted)) or 0
    return page
