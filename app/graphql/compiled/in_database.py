"""A plan's whole answer written by the database (PostgreSQL or SQLite), in one statement.

For a plan whose every field the database can write (plan.py `in_database`), the answer
is one statement of one row: a column per root list, holding that list's connection as
the UTF-8 bytes of its JSON text (sql_json.py spells it as the answer's encoder would). A
list is a scalar subquery over its page — `WHERE <filter> [AND <parent column> = <the
parent's id>] [AND <after the cursor>] ORDER BY <order> LIMIT first (+1)`, correlated to
the row of its parent, so PostgreSQL reads each parent's page by its index as a LATERAL
join would — aggregated into the connection's text. The page window, filter and order
are the ones the Python path reads with (Answer.window), so the rows are the same:

- `nodes`/`edges`: the rows' texts aggregated in the page's order (the order's
  columns come up with them; nothing numbers rows); with `hasNextPage` asked, the page
  reads one row more, left out of the list by slicing the aggregated array;
- `pageInfo`: `hasNextPage` from that extra row; `hasPreviousPage` whether a row of
  the parent lies at or before the `after` cursor (false without one); the start and
  end cursors from the first and last row's cursor (`Order.encode` in SQL);
- `totalCount`: a count of the parent's rows under the filter.

SQLite (3.40: no ORDER BY inside an aggregate) numbers each page's rows by the order
(`row_number()`, over at most `first` + 1 rows) and aggregates them as they come out
numbered, in that order; the extra row and the cursors are picked by their number.

Only forward windows (`first` ≥ 1, maybe `after`) are written here, and only lists
whose filter reads no table of an enclosing list (correlation would bind it to the
enclosing row): `NotHere` then, and the answer is built in Python from rows as before.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from contextlib import suppress
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    LargeBinary,
    Select,
    Text,
    case,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.sql.util import ClauseAdapter, find_tables

from app.db.shared import Repeated
from app.graphql.compiled import sql_json
from app.graphql.compiled.plan import (
    EDGES,
    NODES,
    PAGE_INFO,
    TOTAL,
    TYPENAME,
    Fallback,
    ListPlan,
    NodePlan,
    Plan,
)
from app.kit.keyset import Order

if TYPE_CHECKING:
    from app.graphql.compiled.run import Answer


class NotHere(Exception):
    """This answer is built in Python from rows instead."""


# Statements kept per process, by plan and the windows of its lists (Answer.window,
# which keeps the same window for the same arguments): building one takes longer than
# a small read (a dashboard's) takes PostgreSQL.
KEPT_STATEMENTS = 256
_STATEMENTS: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = OrderedDict()


def statement(answer: Answer, plan: Plan) -> tuple[Repeated, bool]:
    """The statement whose one row holds each root list's text, in the plan's order
    (NotHere: the answer is built in Python), kept with what the driver was sent for it
    (`one_row` runs it); or, when the second is true, whose rows are the pieces of the
    one root list's text, in order (`in_pieces`)."""
    try:
        windows = tuple(answer.window(listed) for listed in _lists(plan))
    except Fallback:
        # An argument refused, maybe of a list under an empty page, which the answer
        # never reads (nor the reference executor refuses): decided in Python.
        raise NotHere from None
    sqlite = _on_sqlite(answer)
    pieces = in_pieces(answer, plan)
    key = (plan, sqlite, *(id(window) for window in windows))
    found = _STATEMENTS.get(key)
    # The entry holds its windows: while it lives, no other window can take their ids,
    # so an entry found by them is of these very windows. What it holds was decided by
    # the plan and the windows alone: the statement, or None (NotHere), SQLite's bound
    # on the rows of one text included, worked out once (a kept read asks for the same
    # statement on every request, bench/request_cpu.py).
    if found is not None:
        _STATEMENTS.move_to_end(key)
        built = found[1]
    else:
        built = None
        if not (sqlite and _held_rows(plan, windows, pieces) > ONE_TEXT_ROWS):
            with suppress(NotHere):
                built = Repeated(_statement(answer, plan))
        # Windows of this answer alone (arguments too long to keep) make a statement no
        # later answer finds: kept, it would only push out the ones that are found.
        if not answer.own_windows:
            _STATEMENTS[key] = (windows, built)
            if len(_STATEMENTS) > KEPT_STATEMENTS:
                _STATEMENTS.popitem(last=False)
    if built is None:
        raise NotHere
    return built, pieces


_UTF8: ColumnElement[str] = literal_column("'UTF8'")


def _on_sqlite(answer: Answer) -> bool:
    return bool(answer.settings.database_url.startswith("sqlite"))


def in_pieces(answer: Answer, plan: Plan) -> bool:
    """Whether the answer's one root list comes as rows, each a piece of its text: on
    SQLite, which runs in the server's process. One text of the whole list is built
    there by copying (each `||`, the aggregate's buffer grown by doubling): 4.5 times
    the answer's size at its peak (bench/README.md, report_memory.py). As pieces, a top
    node's text at a time (each nested list still one text); the pieces go into the
    response as they came (app/kit/spliced.py)."""
    return _on_sqlite(answer) and len(_roots(plan)) == 1


# On SQLite, the most rows (a list's, and those of the lists in them) whose text SQLite
# builds as one value: it is built by copying (each `||`, group_concat's buffer grown by
# doubling), several times its size at its peak. Beyond, the answer is built from rows
# (9.3x the answer, as before SQLite wrote it; bench/README.md): the one root list of
# `in_pieces` holds that many in a top node, a report under a page of one node (say)
# all of them, and two root lists theirs in one row.
ONE_TEXT_ROWS = 2_000


def _held_rows(plan: Plan, windows: tuple[Any, ...], pieces: bool) -> int:
    """The most rows SQLite's statement writes into one text: a top node's when the
    root list comes in pieces, else every list's. `windows`: `_lists`'s, in its order."""
    listed_windows = zip(_lists(plan), windows, strict=True)
    first = {id(listed): window[1].first or 0 for listed, window in listed_windows}

    def under(listed: ListPlan) -> int:  # the rows a node of the list holds
        return sum(first[id(child)] * (1 + under(child)) for child in _children(listed))

    roots = _roots(plan)
    if pieces:
        return max(under(root) for root in roots)
    return sum(first[id(root)] * (1 + under(root)) for root in roots)


def _children(listed: ListPlan) -> list[ListPlan]:
    """The lists in a list's nodes."""
    found: list[ListPlan] = []
    for _key, kind, detail in listed.connection.entries:
        nodes = [detail] if kind == NODES else []
        if kind == EDGES:
            nodes = [inner for _k, name, inner in detail if name == "node"]
        found += [child for node in nodes for child in node.lists]
    return found


def _lists(plan: Plan) -> tuple[ListPlan, ...]:
    """Every list of the plan, each before those nested in it."""
    return _shape_of(plan)[1]


def _roots(plan: Plan) -> tuple[ListPlan, ...]:
    """The plan's root lists, in its order."""
    return _shape_of(plan)[0]


def _shape_of(plan: Plan) -> tuple[tuple[ListPlan, ...], tuple[ListPlan, ...]]:
    """The plan's root lists and all its lists (`_shape`), worked out once per plan: a
    plan does not change once compiled, and a kept read asks for them every time."""
    shape = _SHAPES.get(plan)
    if shape is None:
        shape = _SHAPES[plan] = _shape(plan)
    return shape


def _shape(plan: Plan) -> tuple[tuple[ListPlan, ...], tuple[ListPlan, ...]]:
    roots = tuple(root for _key, root in plan.roots if isinstance(root, ListPlan))
    found: list[ListPlan] = []
    pending = list(roots)
    while pending:
        listed = pending.pop(0)
        found.append(listed)
        pending += _children(listed)
    return roots, tuple(found)


# `_shape` of each plan (its root lists, and all its lists), for as long as it lives.
_SHAPES: WeakKeyDictionary[Plan, tuple[tuple[ListPlan, ...], tuple[ListPlan, ...]]] = (
    WeakKeyDictionary()
)


def _statement(answer: Answer, plan: Plan) -> Any:
    # Each list's text as its UTF-8 bytes (bytea): the driver hands them over as they
    # came, and they go into the response as they are. As text, the driver decoded
    # them into a str the size of the answer, which was encoded back into bytes on the
    # way out: two copies more of the largest thing the server holds (bench/README.md,
    # report_memory.py). Only these columns change type: every other statement, and
    # the driver's codecs, are as they were. (SQLite's CAST AS BLOB: its UTF-8 bytes.)
    sqlite = _on_sqlite(answer)
    if in_pieces(answer, plan):
        (root,) = [root for _key, root in plan.roots if isinstance(root, ListPlan)]
        return _pieces(answer, root)
    columns = [
        (
            sql_cast(text, LargeBinary)
            if sqlite
            else func.convert_to(text, _UTF8, type_=LargeBinary)
        ).label(f"r{index}")
        for index, (_key, root) in enumerate(plan.roots)
        if isinstance(root, ListPlan)
        for text in [_connection(answer, root, None, ())]
    ]
    if not columns:
        raise NotHere
    return select(*columns)


def _cursor(order: Order) -> sql_json.Json:
    """`Order.encode` of the row's values: base64url of `["tag",v,…]`."""
    parts: list[Any] = ["[" + json.dumps(order.tag)]
    for column in order.columns:
        value = sql_json.stored_value(column)
        if value is None:
            raise NotHere  # a timestamp, say: spelled by Python's isoformat
        parts += [",", value]
    parts.append("]")
    text = sql_json.concat(parts)
    return sql_json.unwritten_or_base64url(text)


class _Source:
    """The page's rows (`paged`, a subquery of the list's table) and how an expression
    over the table's columns reads them from it."""

    def __init__(self, table: Any, paged: Any, outer: tuple[Any, ...]) -> None:
        self.table = table
        self.paged = paged
        self.outer = outer
        self._adapter = ClauseAdapter(paged)

    def adapt(self, expression: Any) -> Any:
        adapted = self._adapter.traverse(expression)
        if self.table in find_tables(adapted):  # a column the page does not read
            raise NotHere
        return adapted


def _node(answer: Answer, node: NodePlan, source: _Source) -> sql_json.Json:
    assert node.sql is not None
    parts: list[Any] = ["{"]
    for index, (key, value) in enumerate(node.sql):
        parts.append(("," if index else "") + f"{json.dumps(key)}:")
        if isinstance(value, ListPlan):
            parts.append(_connection(answer, value, source.paged, source.outer))
        else:
            parts.append(source.adapt(value))
    parts.append("}")
    return sql_json.concat(parts)


def _connection(
    answer: Answer,
    plan: ListPlan,
    parent: Any | None,
    outer: tuple[Any, ...],
    pieces: list[Any] | None = None,
) -> ColumnElement[str]:
    """The list's connection as JSON text; `parent`: the enclosing list's page (whose
    row this list's page belongs to); `outer`: every enclosing list's table. With
    `pieces` (a root list's), the selects of its text's pieces are put there instead,
    each a select of one column (`_pieces`)."""
    order, window, where = answer.window(plan)
    first = window.first
    if not first or window.last is not None or window.before_key is not None:
        raise NotHere
    listing = plan.listing
    table = listing.model.__table__
    enclosing = set(outer)
    if table in enclosing or any(found in enclosing for found in find_tables(where)):
        raise NotHere
    # The parent's rows under the filter; the page's lie after the cursor too.
    mine: list[Any] = [where]
    if parent is not None:
        mine.append(listing.parent() == parent.c.id)
    after = order.after(window.after_key) if window.after_key is not None else None
    conditions = [*mine, after] if after is not None else mine
    entries = plan.connection.entries
    asked = {name for _k, kind, detail in entries if kind == PAGE_INFO for _k2, _g, name in detail}
    more = "hasNextPage" in asked
    edge_parts = [name for _k, kind, detail in entries if kind == EDGES for _k2, name, _d in detail]
    cursors = bool(asked & {"startCursor", "endCursor"}) or "cursor" in edge_parts
    # The page: the columns the answer shows (and the order's), by ORDER BY … LIMIT
    # alone, so that PostgreSQL finds the first rows by the order's index or a top-N
    # sort; its texts are written above it, for the page's rows only.
    # An order's column that is one of them (the model's attribute: an annotated copy of
    # the table's column) is not read twice: each copy is carried through the sorts.
    read = [table.c[name] for name in plan.columns]
    read += [
        column.label(f"k{i}")
        for i, column in enumerate(order.columns)
        if not any(column.compare(shown) for shown in read)
    ]
    paged_select = select(*read).select_from(table).where(*conditions)
    paged_select = paged_select.order_by(*order.terms).limit(first + 1 if more else first)
    paged: Any = _correlated(paged_select, parent).subquery("paged")
    # SQLite counts the page's rows (`m`) only for the end cursor, whose row it finds: a
    # count over the whole window holds every row back until the last is numbered.
    with_count = "endCursor" in asked
    if pieces is not None and _reread(entries):
        # Read and numbered once (SQLite materializes it), not by each select of a piece
        # that reads the page: each would find the first rows again, by a sort.
        on_paged = [ClauseAdapter(paged).traverse(term) for term in order.terms]
        with_numbers = select(*paged.c, *_numbers(on_paged, with_count))
        paged = with_numbers.cte("paged").prefix_with("MATERIALIZED")
    source = _Source(table, paged, (*outer, table))
    columns: list[Any] = [source.adapt(c).label(f"o{i}") for i, c in enumerate(order.columns)]
    cursor = source.adapt(_cursor(order)) if cursors else None
    sqlite = _on_sqlite(answer)
    if cursor is not None and not sqlite:
        columns.append(cursor.label("c"))
    texts: dict[int, Any] = {}
    for index, (_key, kind, detail) in enumerate(entries):
        if kind == NODES:
            texts[index] = _node(answer, detail, source).label(f"t{index}")
        elif kind == EDGES:
            texts[index] = _edge(answer, detail, source, cursor).label(f"t{index}")
    if "n" in paged.c:
        columns += [paged.c.n, paged.c.m] if with_count else [paged.c.n]
    elif sqlite:
        columns += _numbers([source.adapt(term) for term in order.terms], with_count)
    # In pieces, the page the other fields read holds no row's text: it would be
    # written once more for them.
    shown = [] if pieces is not None else list(texts.values())
    page = select(*columns, *shown).select_from(paged).subquery("page")
    # The order's terms over the page's columns, for the aggregates.
    on_page = ClauseAdapter(page)
    in_order = [on_page.traverse(source.adapt(term)) for term in order.terms]
    # SQLite: no cursor column, which each row would compute (a call into Python)
    # whether read or not; the start and end cursors from their row's order columns.
    on_row = on_page.traverse(cursor) if sqlite and cursor is not None else None
    reads_page = any(name in _PAGE_READS for name in asked)
    # In pieces: whether the text since the last list of rows reads the page's aggregates.
    segment_reads = False
    parts: list[Any] = ["{"]
    for index, (key, kind, detail) in enumerate(entries):
        parts.append(("," if index else "") + f"{json.dumps(key)}:")
        if kind == TYPENAME:
            parts.append(json.dumps(detail))
        elif kind == TOTAL:
            counted = _correlated(select(func.count()).select_from(table).where(*mine), parent)
            parts.append(sql_cast(counted.scalar_subquery(), Text))
        elif kind == PAGE_INFO:
            parts.append(
                _page_info(detail, page, in_order, first, table, mine, parent, after, on_row)
            )
            segment_reads = segment_reads or any(name in _PAGE_READS for _k, _g, name in detail)
        elif pieces is not None:  # its rows, one piece each: after the text so far
            parts.append("[")
            pieces.append(_one_row(parts, page, segment_reads, len(pieces)))
            numbered = select(*columns, texts[index]).select_from(paged).subquery("page")
            text = numbered.c[f"t{index}"]
            comma = case((numbered.c.n == 1, sql_json.constant("")), else_=sql_json.constant(","))
            piece = comma.concat(text)
            place = [literal(len(pieces)).label("a"), numbered.c.n]
            rows = select(sql_cast(piece, LargeBinary).label("piece"), *place)
            rows = rows.select_from(numbered)
            pieces.append(rows.where(numbered.c.n <= first) if more else rows)
            parts, segment_reads = ["]"], False
        else:
            text = page.c[f"t{index}"]
            if sqlite:  # in the rows' order (their number's); the extra one left out
                agg = func.group_concat(case((page.c.n <= first, text)) if more else text, ",")
            elif more:  # the extra row only tells that more follow: sliced off
                ordered = func.array_agg(aggregate_order_by(text, *in_order))
                agg = func.array_to_string(type_coerce(ordered, ARRAY(Text))[1:first], ",")
            else:
                agg = func.string_agg(text, aggregate_order_by(literal(","), *in_order))
            parts += ["[", func.coalesce(agg, sql_json.constant("")), "]"]
    parts.append("}")
    if pieces is not None:
        pieces.append(_one_row(parts, page, segment_reads, len(pieces)))
        return sql_json.NULL
    written = select(sql_json.concat(parts))
    # One row: of the aggregates over the page's rows, when any field reads them (an
    # aggregate over no rows still gives one); else of no table at all.
    if reads_page or any(kind in (NODES, EDGES) for _key, kind, _detail in entries):
        written = written.select_from(page)
    return written.scalar_subquery()


def _numbers(in_order: list[Any], with_count: bool) -> list[Any]:
    """SQLite's columns of each page row's place on the page (`n`), and, `with_count`,
    how many rows it holds (`m`)."""
    numbered = func.row_number().over(order_by=in_order).label("n")
    return [numbered, func.count().over().label("m")] if with_count else [numbered]


def _reread(entries: list[Any]) -> bool:
    """Whether more than one select of a root list's pieces reads its page: each list
    of rows does, and so does the text between them when its pageInfo reads the page's
    rows (the first or last, or whether one more follows)."""
    readers = 0
    for _key, kind, detail in entries:
        if kind in (NODES, EDGES):
            readers += 1
        elif kind == PAGE_INFO:
            readers += any(name in _PAGE_READS for _k, _g, name in detail)
    return readers > 1


_PAGE_READS = ("hasNextPage", "startCursor", "endCursor")


def _one_row(parts: list[Any], page: Any, reads_page: bool, arm: int) -> Any:
    """A piece written by one row: of the aggregates over the page's rows when it reads
    them, else of no table at all; `arm`: its select's place in the pieces'."""
    piece = sql_cast(sql_json.concat(parts), LargeBinary).label("piece")
    written = select(piece, literal(arm).label("a"), literal(0).label("n"))
    return written.select_from(page) if reads_page else written


def _pieces(answer: Answer, plan: ListPlan) -> CompoundSelect[Any]:
    """The root list's text as rows, in order: the text up to its first list of rows,
    each row's (after a comma but the first), the text up to the next, …, the rest.
    SQLite runs a UNION ALL's selects one after the other, each giving its rows in the
    order they are numbered (as its aggregates take them: the module's docstring). It
    does not promise so: each row comes with its place (its select's and its number on
    the page, `a` and `n`), which `joined_rows` sees rise, or the answer is built from
    rows."""
    found: list[Any] = []
    _connection(answer, plan, None, (), found)
    return union_all(*found)


def _correlated(query: Select[Any], parent: Any | None) -> Select[Any]:
    """`query` bound to the enclosing list's row (a root list's to nothing)."""
    return query.correlate(parent) if parent is not None else query.correlate(None)


def _edge(
    answer: Answer,
    parts: list[tuple[str, str, Any]],
    source: _Source,
    cursor: Any,
) -> sql_json.Json:
    written: list[Any] = ["{"]
    for index, (key, name, detail) in enumerate(parts):
        written.append(("," if index else "") + f"{json.dumps(key)}:")
        if name == "node":
            written.append(_node(answer, detail, source))
        elif name == "cursor":
            written.append(sql_json.quoted(cursor))
        else:
            written.append(json.dumps(detail))
    written.append("}")
    return sql_json.concat(written)


def _page_info(
    detail: list[tuple[str, Any, str]],
    page: Any,
    in_order: list[Any],
    first: int,
    table: Any,
    mine: list[Any],
    parent: Any | None,
    after: Any | None,
    on_row: Any | None,
) -> sql_json.Json:
    """`on_row`: on SQLite, a page row's cursor, computed only for the row numbered."""
    parts: list[Any] = ["{"]
    for index, (key, _get, name) in enumerate(detail):
        parts.append(("," if index else "") + f"{json.dumps(key)}:")
        if name == "__typename":
            parts.append('"PageInfo"')
        elif name == "hasNextPage":
            parts.append(sql_json.boolean(func.count() > first))
        elif name == "hasPreviousPage":
            if after is None:
                parts.append("false")
            else:
                # A row of the parent at or before the cursor (Python: `_pl_prior`):
                # one the cursor's condition is not true of (false, or NULL).
                beyond = case((after, literal(0)), else_=literal(1)) == 1
                earlier = select(literal(1)).select_from(table).where(*mine, beyond)
                parts.append(sql_json.boolean(_correlated(earlier, parent).exists()))
        elif on_row is not None:  # the row of that number
            number: Any = 1 if name == "startCursor" else func.min(page.c.m, first)
            numbered = func.max(case((page.c.n == number, on_row)))
            parts.append(func.coalesce(sql_json.quoted(numbered), sql_json.NULL))
        else:
            cursors = func.array_agg(aggregate_order_by(page.c.c, *in_order))
            found = type_coerce(cursors, ARRAY(Text))
            # The first row's, or the last of those on the page (not the extra one).
            at = 1 if name == "startCursor" else func.least(func.count(), first)
            value = found[at]
            parts.append(func.coalesce(sql_json.quoted(value), sql_json.NULL))
    parts.append("}")
    return sql_json.concat(parts)
