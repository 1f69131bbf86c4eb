"""Answering a plan: one SQL statement per list of the plan, then the answer's objects.

Each list is fetched for all its parents at once (every budget line of every
initiative in the answer, in one statement) by the function the loaders use
(`fetch_pages`), with the window, filter and order the reference resolver would
compute from the same arguments. The answer is then built from the rows with the
schema's own serializers; pages, cursors and page info are the same `Page` the
reference's connections read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from graphql import GraphQLSchema, ListValueNode, ObjectValueNode, ValueNode, VariableNode
from graphql.execution.values import VariableValues, get_argument_values
from strawberry.types.arguments import convert_arguments

from app.db.shared import any_statements, joined_rows, one_row, one_statement
from app.errors import DomainError
from app.graphql.compiled import in_database, sql_json
from app.graphql.compiled.in_database import NotHere
from app.graphql.compiled.plan import (
    EDGES,
    NODES,
    PAGE_INFO,
    TOTAL,
    TYPENAME,
    ConnectionPlan,
    Fallback,
    ListPlan,
    NodePlan,
    Plan,
)
from app.kit.filtering import FilterLimits
from app.kit.keyset import Order
from app.kit.pacing import SLICE_ITEMS
from app.kit.pagination import ROWS_PER_SLICE, Page, Window, fetch_pages
from app.kit.spliced import Spliced

Loaded = dict[ListPlan, dict[Hashable, Page]]
_UNWRITTEN = sql_json.UNWRITTEN_CHARACTER.encode()
# A text the database sends in pieces (in_database.py `in_pieces`): the size the pieces
# are joined up to.
PIECE_BYTES = 64 * 1024
# The order, window and filter worked out for a list and the arguments an answer gave
# it (`Answer._window`): how many the process keeps, and the longest arguments (as
# text, every input field spelled out) kept.
KEPT_WINDOWS = 256
MAX_KEPT_ARGUMENTS = 2048
_WINDOWS: OrderedDict[tuple[ListPlan, str, Hashable], tuple[Order, Window, Any]] = OrderedDict()


def _unwritten(text: bytes | Sequence[bytes] | None) -> bool:
    """Whether a list's text is missing or holds a value the database did not spell."""
    if text is None:
        return True
    if isinstance(text, bytes):
        return _UNWRITTEN in text
    return any(piece is None or _UNWRITTEN in piece for piece in text)


class Answer:
    def __init__(self, plan: Plan, strawberry_schema: Any, context: Any) -> None:
        self.plan = plan
        self.strawberry_schema = strawberry_schema
        self.schema: GraphQLSchema = strawberry_schema._schema
        self.context = context
        self.settings = context.settings
        self.variables: VariableValues | None = None
        self.loaded: Loaded = {}
        self.built: dict[ListPlan, dict[Hashable, Any]] = {}
        self.windows: dict[ListPlan, tuple[Order, Window, Any]] = {}
        self.limits = _limits_of(self.settings)
        # Items built so far: every SLICE_ITEMS, other requests may run.
        self.count = 0
        # Whether the database wrote the answer (in_database.py).
        self.in_database = False
        # Whether a window was worked out for this answer alone (arguments too long to
        # be kept): a statement of it is not kept either (in_database.py).
        self.own_windows = False

    def arguments(self, plan: ListPlan) -> dict[str, Any]:
        """The list's arguments as its resolver would receive them."""
        raw = get_argument_values(plan.graphql_field, plan.field_node, self.variables)
        return convert_arguments(
            raw,
            plan.field.arguments,
            scalar_registry=self.strawberry_schema.schema_converter.scalar_registry,
            config=self.strawberry_schema.config,
        )

    def window(self, plan: ListPlan) -> tuple[Order, Window, Any]:
        """The list's order, page window and filter, as its resolver computes them
        (once per list and answer: its arguments do not change while it is built)."""
        known = self.windows.get(plan)
        if known is None:
            known = self.windows[plan] = self._window(plan)
        return known

    def _window(self, plan: ListPlan) -> tuple[Order, Window, Any]:
        # Shared by the answers that give the list the same arguments under the same
        # limits (a dashboard asks the same every time): working them out again is a
        # tenth of such a request. They depend on nothing else: not the caller (a plan
        # is its permissions'), not the clock. The process keeps KEPT_WINDOWS of them,
        # the most recently used, each for arguments of at most MAX_KEPT_ARGUMENTS
        # characters: what a client can make it hold stays small whatever its filters.
        raw = _FIXED.get(plan)
        if raw is None:
            raw = repr(get_argument_values(plan.graphql_field, plan.field_node, self.variables))
            if not any(
                _has_variable(argument.value) for argument in plan.field_node.arguments or ()
            ):
                # Arguments of literals only (a dashboard's): the same in every answer.
                _FIXED[plan] = raw
        if len(raw) > MAX_KEPT_ARGUMENTS:
            self.own_windows = True
            return self._new_window(plan)
        key = (plan, raw, self.limits)
        known = _WINDOWS.get(key)
        if known is None:
            known = _WINDOWS[key] = self._new_window(plan)
            if len(_WINDOWS) > KEPT_WINDOWS:
                _WINDOWS.popitem(last=False)
        else:
            _WINDOWS.move_to_end(key)
        return known

    def _new_window(self, plan: ListPlan) -> tuple[Order, Window, Any]:
        kwargs = self.arguments(plan)
        listing = plan.listing
        try:
            order = listing.ordering(kwargs.get("order_by"))
            window = Window.from_args(
                first=kwargs.get("first"),
                after=kwargs.get("after"),
                last=kwargs.get("last"),
                before=kwargs.get("before"),
                default_size=self.limits[0],
                max_size=self.limits[1],
                order=order,
            )
            where = listing.condition(kwargs.get("filter"), self.limits[2])
        except DomainError:
            raise Fallback from None  # the reference executor reports it
        return order, window, where

    async def load(self, session: Any, plan: ListPlan, parent_keys: list[Hashable]) -> None:
        """Fetch the pages of `plan` for every parent, then of the lists nested in it."""
        order, window, where = self.window(plan)
        listing = plan.listing
        table = listing.model.__table__
        pages = await fetch_pages(
            session,
            entity=listing.model,
            columns=[table.c[name] for name in plan.columns],
            where=where,
            order=order,
            window=window,
            parent=listing.parent() if listing.parent is not None else None,
            parent_keys=parent_keys,
            pause=self.context.wait_turn,
            count=any(kind == TOTAL for _key, kind, _detail in plan.connection.entries),
        )
        self.loaded[plan] = pages
        nested = [nodes for nodes in _node_plans(plan.connection) if nodes.lists]
        if not nested:
            return
        keys = list(dict.fromkeys(row.id for page in pages.values() for row in page.rows))
        for nodes in nested:
            for child in nodes.lists:
                if keys:
                    await self.load(session, child, keys)
                else:  # no parents: nothing below them to read
                    for below in _innermost_first(child):
                        self.loaded[below] = {}

    async def run(self, variables: VariableValues) -> dict[str, Any]:
        self.variables = variables
        if (
            self.plan.in_database
            and self.settings.compiled_reads_in_database
            and self.settings.database_url.startswith(("postgresql", "sqlite"))
        ):
            written = await self.written()
            if written is not None:
                return written
        roots = [root for _key, root in self.plan.roots if isinstance(root, ListPlan)]
        if len(roots) == 1 and self._one_statement(roots[0]):
            one_statement(self.context.reads)
        async with self.context.reads() as session:
            for root in roots:
                await self.load(session, root, [None])
        # Built from the innermost lists out: a node's nested lists are ready when it is.
        # Each list's rows are let go once built, and its parents' once they are.
        for root in roots:
            for plan in _innermost_first(root):
                await self.build(plan)
                self.loaded.pop(plan, None)
                for nodes in _node_plans(plan.connection):
                    for child in nodes.lists:
                        self.built.pop(child, None)
        return {
            key: root if isinstance(root, str) else self.built[root][None]
            for key, root in self.plan.roots
        }

    async def written(self) -> dict[str, Any] | None:
        """The answer as the database writes it (in_database.py), in one statement; None
        when it is built from rows instead."""
        try:
            stmt, in_pieces = in_database.statement(self, self.plan)
        except NotHere:
            return None
        one_statement(self.context.reads)
        # Each list's JSON as UTF-8 bytes (in_database.py), spliced into the response as
        # they came: no str of it is made, and nothing else the size of the answer is
        # held beside them before the response body is written.
        texts: Sequence[bytes | Sequence[bytes] | None] | None
        if in_pieces:  # one list, its text in pieces
            # Joined up to PIECE_BYTES as they come: a row each would hold, beside
            # each row's few bytes (a flat list's node), the driver's row and the
            # list's entry, as much again as the text.
            texts = [await joined_rows(self.context.reads, stmt, PIECE_BYTES)]
        else:
            texts = await one_row(self.context.reads, stmt)
        if texts is None or any(_unwritten(text) for text in texts):
            # Neither PostgreSQL nor SQLite, or a value the database did not spell (an
            # enum's column holding a value the enum has not, an infinite date): built
            # from rows, which hands such a value to the reference executor.
            await any_statements(self.context.reads)
            return None
        encoded = bool(getattr(self.context, "answer_as_json", False))
        found = iter(texts)
        answer: dict[str, Any] = {}
        for key, root in self.plan.roots:
            if isinstance(root, str):
                answer[key] = root
            else:
                text = next(found)
                assert text is not None  # (`_unwritten` above)
                if encoded:
                    answer[key] = Spliced(text)
                else:
                    answer[key] = orjson.loads(text if isinstance(text, bytes) else b"".join(text))
        self.in_database = True
        return answer

    def _one_statement(self, plan: ListPlan) -> bool:
        """Whether the list is read in one statement of a bounded number of rows: no
        lists below it, no total, a first page forwards (no `after` cursor, past which
        an empty page asks a second statement whether rows precede it) of fewer rows
        than a slice (read in one round trip, without a cursor)."""
        if any(nodes.lists for nodes in _node_plans(plan.connection)) or any(
            kind == TOTAL for _key, kind, _detail in plan.connection.entries
        ):
            return False
        _order, window, _where = self.window(plan)
        return (
            window.last is None
            and window.before_key is None
            and window.after_key is None
            and bool(window.first)
            and window.first is not None
            and window.first < ROWS_PER_SLICE
        )

    async def build(self, plan: ListPlan) -> None:
        """Every page of the list as its connection shows it, letting other requests run
        every SLICE_ITEMS items (app/kit/pacing.py). For an answer sent as JSON, each
        page is encoded as soon as it is built: a large answer is then held as its text,
        not as a dictionary per record (several times the size)."""
        encoded = bool(getattr(self.context, "answer_as_json", False))
        built: dict[Hashable, Any] = {}
        for parent_key, page in self.loaded[plan].items():
            answer: dict[str, Any] = {}
            for key, kind, detail in plan.connection.entries:
                if kind == TYPENAME:
                    answer[key] = detail
                elif kind == TOTAL:
                    answer[key] = page.total
                elif kind == PAGE_INFO:
                    answer[key] = {name: get(page) for name, get, _field in detail}
                else:
                    answer[key] = await self.items(kind, detail, page)
            built[parent_key] = orjson.Fragment(orjson.dumps(answer)) if encoded else answer
        self.built[plan] = built

    async def items(self, kind: str, detail: Any, page: Page) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for index, row in enumerate(page.rows):
            self.count += 1
            if self.count % SLICE_ITEMS == 0:
                await self.context.wait_turn()
            items.append(
                self.node(detail, row) if kind == NODES else self.edge(detail, page, index)
            )
        return items

    def edge(self, parts: list[tuple[str, str, Any]], page: Page, index: int) -> dict[str, Any]:
        answer: dict[str, Any] = {}
        for key, name, detail in parts:
            if name == "node":
                answer[key] = self.node(detail, page.rows[index])
            elif name == "cursor":
                answer[key] = page.cursor(index)
            else:
                answer[key] = detail
        return answer

    def node(self, plan: NodePlan, row: Any) -> dict[str, Any]:
        if not plan.lists:
            return {key: get(row) for key, get, _nested in plan.values}  # type: ignore[misc]
        answer: dict[str, Any] = {}
        for key, get, nested in plan.values:
            if get is not None:
                answer[key] = get(row)
            else:
                assert nested is not None
                answer[key] = self.built[nested][row.id]
        return answer


def _limits_of(settings: Any) -> tuple[int, int, FilterLimits]:
    """The limits a list's window and filter are worked out under (`Answer.limits`):
    the same objects for every answer of an app, which the kept windows' keys then
    compare by identity, not field by field."""
    found = _LIMITS.get(id(settings))
    if found is not None:
        return found[1]
    limits = (settings.default_page_size, settings.max_page_size, FilterLimits.of(settings))
    # The entry holds its settings: while it lives, no other object can take their id.
    _LIMITS[id(settings)] = (settings, limits)
    if len(_LIMITS) > KEPT_LIMITS:
        _LIMITS.popitem(last=False)
    return limits


# The limits of the apps' settings (an app's are fixed once it is made); a process
# serves one app, tests many.
KEPT_LIMITS = 16
_LIMITS: OrderedDict[int, tuple[Any, tuple[int, int, FilterLimits]]] = OrderedDict()


# The arguments (as `_window` spells them) of each list whose arguments name no
# variable, by plan: they are the same in every answer (a plan lives as long as the
# process keeps it; its entry then goes with it).
_FIXED: WeakKeyDictionary[ListPlan, str] = WeakKeyDictionary()


def _has_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_has_variable(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_has_variable(field.value) for field in value.fields)
    return False


def _innermost_first(plan: ListPlan) -> list[ListPlan]:
    order: list[ListPlan] = []
    for nodes in _node_plans(plan.connection):
        for child in nodes.lists:
            order.extend(_innermost_first(child))
    order.append(plan)
    return order


def _node_plans(plan: ConnectionPlan) -> list[NodePlan]:
    found: list[NodePlan] = []
    for _key, kind, detail in plan.entries:
        if kind == NODES:
            found.append(detail)
        elif kind == EDGES:
            found.extend(inner for _k, name, inner in detail if name == "node")
    return found
