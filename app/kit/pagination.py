"""Relay pagination in SQL: one statement fetches the pages of many parents.

The cursors of lists are keyset cursors (app/kit/keyset.py): a cursor names its row by
the values the list is sorted by, so `after` is a condition ("sorts after this row")
that rows inserted or deleted between two pages cannot shift. A page forwards
(`first`/`after`, the usual case) is read without ranking its list: `WHERE <after> ORDER
BY … LIMIT first + 1` for a root list, the same per parent in a LATERAL subquery for a
nested one on PostgreSQL; the extra row says whether more follow, and the list's total
is counted only when asked for. Other windows (`last`/`before`, and nested lists on
SQLite, which has no LATERAL) number the rows of the asked parents that lie between the
cursors with `ROW_NUMBER()`, partitioned by the parent key, counting with window sums
in the same statement how many lie before and after them (the page info).

Report lists, whose rows are computed rather than stored, keep position cursors
(`fetch_window`).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy import (
    join as sa_join,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.util import ClauseAdapter

from app.errors import DomainError, ErrorCode
from app.kit.keyset import Order
from app.kit.numbers import parse_natural

_CURSOR_PREFIX = "pos:"
# No report is longer; a larger position is not a cursor this service issued.
MAX_POSITION = 2**31 - 1
# Rows of one batch turned into pages between two chances for other work to run.
ROWS_PER_SLICE = 500


def encode_cursor(position: int) -> str:
    """A report list's cursor: the row's 1-based position."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode()


def decode_cursor(cursor: str, argument: str) -> int:
    """The position in a report's cursor, spelled exactly as `encode_cursor` spells it
    (one cursor per position, as one ID per record), or INVALID_CURSOR."""
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
    """Which rows of a list a client asked for; resolved from first/after/last/before.
    A list's cursors are the sort values of a row (`after_key`, `before_key`); a
    report's are positions (`after`, `before`)."""

    after: int = 0  # positions > after
    before: int | None = None  # positions < before
    first: int | None = None
    last: int | None = None
    after_key: tuple[Any, ...] | None = None  # rows sorting after the row with these values
    before_key: tuple[Any, ...] | None = None  # rows sorting before it

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
        order: Order | None = None,
    ) -> Window:
        """`order`: the list's order, whose cursors `after` and `before` must be (None:
        a report's, positions)."""
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
        if order is not None:
            return cls(
                first=first,
                last=last,
                after_key=order.decode(after, "after") if after is not None else None,
                before_key=order.decode(before, "before") if before is not None else None,
            )
        return cls(
            after=decode_cursor(after, "after") if after is not None else 0,
            before=decode_cursor(before, "before") if before is not None else None,
            first=first,
            last=last,
        )


@dataclass
class Page:
    """One parent's page: its rows, the list's total, and whether rows precede and
    follow the page. A list's page reads each row's cursor from its sort values (the
    columns of `order`, from `key_at` on in the row); a report's from its position."""

    rows: list[Any] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    total: int = 0
    window: Window = field(default_factory=Window)
    # Whether rows follow / precede the page, when the fetch found out; None: from
    # the positions and `total`.
    more: bool | None = None
    prior: bool | None = None
    order: Order | None = None
    key_at: int = 0

    def cursor(self, index: int) -> str:
        """The cursor of the page's row at `index`."""
        if self.order is None:
            return encode_cursor(self.positions[index])
        row = self.rows[index]
        return self.order.encode(row[self.key_at : self.key_at + len(self.order.columns)])

    @property
    def start_cursor(self) -> str | None:
        return self.cursor(0) if self.rows else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursor(len(self.rows) - 1) if self.rows else None

    @property
    def has_previous_page(self) -> bool:
        if self.prior is not None:
            return self.prior
        if self.positions:
            return self.positions[0] > 1
        if self.window.last == 0:  # rows before `before` (or any row at all)
            upper = self.total if self.window.before is None else self.window.before - 1
            return min(upper, self.total) > self.window.after
        return self.window.after > 0 and self.total > 0

    @property
    def has_next_page(self) -> bool:
        if self.more is not None:
            return self.more
        if self.positions:
            return self.positions[-1] < self.total
        if self.window.first == 0:  # rows after `after` (and before `before`)
            upper = self.total if self.window.before is None else self.window.before - 1
            return min(upper, self.total) > self.window.after
        return self.window.before is not None and self.window.before <= self.total


async def fetch_pages(
    session: AsyncSession,
    *,
    entity: Any,
    where: ColumnElement[bool],
    order: Order,
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
    event loop in one go. Each row is the entity's columns (`columns`: only these, in
    this order), then the columns of the order (its cursor's values), then ours.
    `count=False`: the totals are not needed
    (no `totalCount` asked), and are counted only where the page info needs them.
    """
    no_page = window.first == 0 and window.last is None and window.after_key is None
    if no_page and parent is None and window.before_key is None:
        return {None: await _count_only(session, entity, where, order, window, join)}
    forwards = window.last is None and window.before_key is None and bool(window.first)
    if forwards:
        dialect = session.get_bind().dialect.name
        if parent is None or dialect == "postgresql":
            return await _fetch_forwards(
                session,
                entity=entity,
                where=where,
                order=order,
                window=window,
                parent=parent,
                parent_keys=parent_keys,
                join=join,
                pause=pause,
                count=count,
                columns=columns,
            )
    return await _fetch_numbered(
        session,
        entity=entity,
        where=where,
        order=order,
        window=window,
        parent=parent,
        parent_keys=parent_keys,
        join=join,
        pause=pause,
        columns=columns,
    )


async def _count_only(
    session: AsyncSession,
    entity: Any,
    where: ColumnElement[bool],
    order: Order,
    window: Window,
    join: tuple[Any, Any] | None,
) -> Page:
    """A root list's empty first page (`first: 0`): its total alone, by COUNT(*)."""
    source: Any = entity if join is None else sa_join(entity, *join)
    total = await session.scalar(select(func.count()).select_from(source).where(where))
    page = Page(window=window, order=order, more=bool(total), prior=False)
    page.total = int(total or 0)
    return page


def _key_columns(order: Order) -> list[ColumnElement[Any]]:
    return [column.label(f"_pl_k{i}") for i, column in enumerate(order.columns)]


def _outside(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 for the rows `condition` does not hold for (FALSE or NULL), else 0."""
    return case((condition, 0), else_=1)


async def _slices(
    session: AsyncSession,
    stmt: Any,
    pause: Callable[[], Awaitable[None]] | None,
    *,
    bounded: bool = False,
) -> AsyncIterator[Sequence[Row[Any]]]:
    """The rows of `stmt`, ROWS_PER_SLICE at a time (a server-side cursor on
    PostgreSQL: a buffered result has every row decoded and built in one go, holding
    the loop), awaiting `pause` between slices. Core rows, through the session's
    connection: the ORM's result machinery would only wrap plain columns again, and
    read-only pages skip identity-map bookkeeping (a row answers `row.title` as the
    model would). `bounded`: the statement returns at most ROWS_PER_SLICE rows (a
    LIMIT says so), read in one round trip, without a cursor (which PostgreSQL keeps
    only inside a transaction, and fetches in several)."""
    connection = await session.connection()
    if bounded:
        yield (await connection.execute(stmt)).all()
        return
    result = await connection.stream(stmt.execution_options(yield_per=ROWS_PER_SLICE))
    first = True
    async for rows in result.partitions():
        if pause is not None and not first:
            await pause()
        first = False
        yield rows


async def _fetch_numbered(
    session: AsyncSession,
    *,
    entity: Any,
    where: ColumnElement[bool],
    order: Order,
    window: Window,
    parent: Any | None,
    parent_keys: Sequence[Hashable],
    join: tuple[Any, Any] | None,
    pause: Callable[[], Awaitable[None]] | None,
    columns: Sequence[Any] | None,
) -> dict[Hashable, Page]:
    """Any window, numbering the rows of the asked parents between the cursors. Window
    sums over each parent's rows count those between the cursors, those at or before
    `after` and those at or after `before`; one more row per parent (its first) is
    read even outside the page, so that an empty page still learns them."""
    partition = parent if parent is not None else literal(1)
    after = order.after(window.after_key) if window.after_key is not None else None
    before = order.before(window.before_key) if window.before_key is not None else None
    bounds = [c for c in (after, before) if c is not None]
    inside: ColumnElement[Any] = (
        case((and_(*bounds), 1), else_=0) if bounds else literal_column("1")
    )
    zero: ColumnElement[Any] = literal_column("0")
    inner: Select[Any] = select(
        entity.id.label("_pl_row_id"),
        (parent if parent is not None else literal(None)).label("_pl_parent"),
        inside.label("_pl_in"),
        func.row_number()
        .over(partition_by=[partition, inside] if bounds else partition, order_by=list(order.terms))
        .label("_pl_n"),
        (
            func.sum(inside).over(partition_by=partition)
            if bounds
            else func.count().over(partition_by=partition)
        ).label("_pl_inside"),
        func.count().over(partition_by=partition).label("_pl_total"),
        (
            func.sum(_outside(after)).over(partition_by=partition) if after is not None else zero
        ).label("_pl_prior"),
        (
            func.sum(_outside(before)).over(partition_by=partition) if before is not None else zero
        ).label("_pl_later"),
        func.row_number().over(partition_by=partition).label("_pl_any"),
    ).where(where)
    if join is not None:
        inner = inner.join(*join)
    if parent is not None:
        inner = inner.where(parent.in_(list(parent_keys)))
    numbered = inner.subquery("numbered")
    c = numbered.c
    shown = list(columns if columns is not None else entity.__table__.columns)
    stmt = (
        select(
            *shown,
            *_key_columns(order),
            c["_pl_parent"],
            c["_pl_in"],
            c["_pl_n"],
            c["_pl_inside"],
            c["_pl_total"],
            c["_pl_prior"],
            c["_pl_later"],
        )
        .join(numbered, entity.id == c["_pl_row_id"])
        .where(or_(_in_page(window, c["_pl_in"], c["_pl_n"], c["_pl_inside"]), c["_pl_any"] == 1))
        .order_by(c["_pl_parent"], c["_pl_in"], c["_pl_n"])
    )
    pages: dict[Hashable, Page] = {
        key: Page(window=window, order=order, key_at=len(shown), more=False, prior=False)
        for key in parent_keys
    }
    counts: dict[Hashable, tuple[int, int, int]] = {}
    async for rows in _slices(session, stmt, pause):
        for row in rows:
            # The last columns are ours (by position: a model may have a column named
            # like any label we could pick).
            parent_key, in_, n, inside_, total, prior, later = tuple(row[-7:])
            key = parent_key if parent is not None else None
            page = pages[key]
            page.total = total
            counts[key] = (inside_, prior, later)
            if in_ == 1 and (
                n <= window.first if window.first is not None else n > inside_ - (window.last or 0)
            ):
                page.rows.append(row)
    for key, (inside_, prior, later) in counts.items():
        page = pages[key]
        skipped = inside_ > len(page.rows)  # rows between the cursors but not on the page
        if window.first is not None:
            page.more, page.prior = skipped or later > 0, prior > 0
        else:
            page.more, page.prior = later > 0, skipped or prior > 0
    return pages


def _in_page(
    window: Window, inside: ColumnElement[Any], n: ColumnElement[Any], of: ColumnElement[Any]
) -> ColumnElement[bool]:
    """Whether a numbered row is on the page: the first n between the cursors, or the
    last n."""
    if window.first is not None:
        return and_(inside == 1, n <= window.first)
    return and_(inside == 1, n > of - (window.last or 0))


async def _fetch_forwards(
    session: AsyncSession,
    *,
    entity: Any,
    where: ColumnElement[bool],
    order: Order,
    window: Window,
    parent: Any | None,
    parent_keys: Sequence[Hashable],
    join: tuple[Any, Any] | None,
    pause: Callable[[], Awaitable[None]] | None,
    count: bool,
    columns: Sequence[Any] | None,
) -> dict[Hashable, Page]:
    """`first` rows after the `after` cursor, one more to tell whether more follow: of
    the whole list, or of each parent's (a LATERAL subquery per key, PostgreSQL).
    Whether rows precede the page (those at or before `after`) and the total are read
    with it per parent, and for a root list by a second statement when the total is
    asked for (counting in the page's statement would number the whole list)."""
    assert window.first is not None
    size = window.first + 1
    shown: list[Any] = list(columns if columns is not None else entity.__table__.columns)
    keys: list[Any] = _key_columns(order)
    after = order.after(window.after_key) if window.after_key is not None else None
    stmt: Any
    # The position of our columns after the page's: the parent key, then the total
    # and whether rows precede the page, when read.
    info = 0
    # The rows the list reads: the entity's, joined where the listing joins (the join's
    # columns are the parent key or filter on it, e.g. an initiative's groups).
    source: Any = entity if join is None else sa_join(entity, *join)
    if parent is None:
        stmt = select(*shown, *keys, literal(None).label("_pl_parent")).select_from(source)
        stmt = stmt.where(where).order_by(*order.terms).limit(size)
        if after is not None:
            stmt = stmt.where(after)
            if not count:  # else read with the total
                earlier = select(literal(1)).select_from(source).where(where, _outside(after) == 1)
                stmt = stmt.add_columns(earlier.correlate(None).exists().label("_pl_prior"))
    else:
        parents = select(
            func.unnest(literal(list(parent_keys), ARRAY(parent.type))).label("key")
        ).subquery("parents")
        mine = parent == parents.c.key
        # The order's columns come out of the subquery too (the cursor's values), so the
        # join is ordered by them.
        page_stmt = select(*shown, *keys).select_from(source).where(where, mine)
        if after is not None:
            page_stmt = page_stmt.where(after)
        page = page_stmt.order_by(*order.terms).limit(size).lateral("page")
        # Each parent's rows in the page's own order (the subquery's ORDER BY does not
        # carry over to the join's output).
        adapter = ClauseAdapter(page)
        stmt = select(*page.c, parents.c.key.label("_pl_parent")).order_by(
            parents.c.key, *(adapter.traverse(term) for term in order.terms)
        )
        if count or after is not None:
            # Per parent, over all its rows (once per parent, not per row): its total,
            # and whether any lies at or before `after`. Every parent gets a row, an
            # empty page one of NULLs.
            measured: list[Any] = [func.count().label("_pl_total")]
            if after is not None:
                measured.append(func.coalesce(func.max(_outside(after)), 0).label("_pl_prior"))
            info_sq = select(*measured).select_from(source).where(where, mine).lateral("info")
            stmt = stmt.add_columns(*info_sq.c).select_from(
                parents.join(info_sq, true()).outerjoin(page, true())
            )
            info = len(measured)
        else:
            stmt = stmt.select_from(parents.join(page, true()))
    pages: dict[Hashable, Page] = {
        key: Page(window=window, order=order, key_at=len(shown), more=False, prior=False)
        for key in parent_keys
    }
    at = len(shown) + len(keys)  # our first column
    # The primary key's value: NULL in the row of an empty page.
    (id_at,) = [
        len(shown) + i for i, c in enumerate(order.columns) if getattr(c, "primary_key", False)
    ]
    for_root = parent is None and after is not None and not count
    bounded = size * len(parent_keys) <= ROWS_PER_SLICE
    async for rows in _slices(session, stmt, pause, bounded=bounded):
        for row in rows:
            page_ = pages[row[at]]
            if info:
                page_.total = row[at + 1]
                page_.prior = info == 2 and bool(row[at + 2])
            elif for_root:
                page_.prior = bool(row[at + 1])
            if row[id_at] is None:
                continue
            if len(page_.rows) == window.first:
                page_.more = True
                continue
            page_.rows.append(row)
    if parent is None and (count or (after is not None and not pages[None].rows)):
        # The root list's total, and whether rows precede an empty page past a cursor.
        totals: list[Any] = [func.count()]
        if after is not None:
            totals.append(func.coalesce(func.max(_outside(after)), 0))
        found = (await session.execute(select(*totals).select_from(source).where(where))).one()
        root = pages[None]
        root.total = found[0]
        if after is not None:
            root.prior = bool(found[1])
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
