"""Relay primitives: the Node interface, connections, and a factory for list fields."""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from graphql import FieldNode
from sqlalchemy import ColumnElement

from app.graphql.compiled.declare import lists
from app.graphql.context import Info
from app.graphql.extensions.views import AsOf
from app.graphql.extensions.work import reads
from app.graphql.visibility import Shows
from app.kit.filtering import FilterLimits, graphql_name
from app.kit.ids import encode_global_id
from app.kit.listing import Listing
from app.kit.pagination import Page, Window
from app.money.currencies import parse_currency

NodeT = TypeVar("NodeT")


@strawberry.interface(description="An object with a globally unique, opaque ID.")
class Node:
    db_id: strawberry.Private[int]

    @strawberry.field(
        description="Globally unique ID; pass it to `node(id:)` to refetch.",
        extensions=[Shows("id")],
    )
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_global_id(self.__strawberry_definition__.name, self.db_id))  # type: ignore[attr-defined]


@strawberry.type(description="Where a page sits in its list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether items follow this page.")
    has_previous_page: bool = strawberry.field(description="Whether items precede this page.")
    start_cursor: str | None = strawberry.field(description="The cursor of the first item.")
    end_cursor: str | None = strawberry.field(description="The cursor of the last item.")


@strawberry.type(description="A node and the cursor that points at it.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(
        description="Pass as `after` or `before` to page from here, with the list and orderBy "
        "it came from."
    )
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, Relay style.")
class Connection(Generic[NodeT]):
    total_count: int = strawberry.field(
        description="How many items the whole filtered list holds (not just this page)."
    )
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")
    edges: list[Edge[NodeT]] = strawberry.field(description="The items of this page, with cursors.")

    @strawberry.field(description="The nodes of this page, without cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]

    @classmethod
    def from_page(cls, page: Page, to_node: Callable[[Any], NodeT]) -> Connection[NodeT]:
        edges = [
            Edge(cursor=page.cursor(index), node=to_node(row))
            for index, row in enumerate(page.rows)
        ]
        return cls(
            total_count=page.total,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            edges=edges,
        )


@dataclass(frozen=True)
class ListSource:
    """What a connection was read from, so `aggregate` reads the same records."""

    listing: Listing
    where: ColumnElement[bool]
    parent_key: Any
    filter_key: str


async def load_connection(
    info: Info,
    listing: Listing,
    to_node: Callable[[Any], NodeT],
    parent_key: Any,
    filter_: Any,
    order_by: Sequence[Any] | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    connection_cls: Any = None,
) -> Connection[NodeT]:
    settings = info.context.settings
    order = listing.ordering(order_by)
    window = Window.from_args(
        first=first,
        after=after,
        last=last,
        before=before,
        default_size=settings.default_page_size,
        max_size=settings.max_page_size,
        order=order,
    )
    where = listing.condition(filter_, FilterLimits.of(settings))
    if listing.aggregates is not None and not _asks_page(info):
        # Only `aggregate` is asked for (a dashboard's count): it reads the list itself,
        # and no page is fetched that nobody reads (at 1M, a sort of every transaction).
        result: Any = (connection_cls or Connection)(total_count=0, page_info=_NO_PAGE, edges=[])
        result._source = ListSource(listing, where, parent_key, repr(filter_))
        return result  # type: ignore[no-any-return]
    count = _asks_total(info)
    key = (listing.name, repr(filter_), repr(order_by), window, count)
    loader = info.context.loaders.pages(
        key,
        entity=listing.model,
        where=where,
        order=order,
        window=window,
        parent=listing.parent() if listing.parent is not None else None,
        join=listing.join() if listing.join is not None else None,
        count=count,
    )
    page = await loader.load(parent_key)
    # Every page of one batch is ready in the same turn of the loop: each waits its turn
    # once the loop has been held long (app/kit/pacing.py), as long lists do.
    await info.context.wait_turn()
    result = (connection_cls or Connection).from_page(page, to_node)
    if listing.aggregates is not None:
        result._source = ListSource(listing, where, parent_key, repr(filter_))
    return result  # type: ignore[no-any-return]


# A connection's page when none of it is asked for (never sent: `_asks_page`).
_NO_PAGE = PageInfo(
    has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None
)

# The fields of a connection that read no page of it.
_PAGELESS = frozenset({"aggregate", "__typename"})


def _asks_page(info: Info) -> bool:
    """Whether the operation asks this connection for anything but `aggregate` (or may:
    through a fragment, which is not followed here). Read from the field's own nodes."""
    for node in info._raw_info.field_nodes:
        for selection in node.selection_set.selections if node.selection_set else ():
            if not isinstance(selection, FieldNode) or selection.name.value not in _PAGELESS:
                return True
    return False


def _asks_total(info: Info) -> bool:
    """Whether the operation asks this connection for `totalCount` (or may: through a
    fragment, which is not followed here). Read from the field's own nodes."""
    for node in info._raw_info.field_nodes:
        for selection in node.selection_set.selections if node.selection_set else ():
            if not isinstance(selection, FieldNode) or selection.name.value == "totalCount":
                return True
    return False


_PAGE_ARGS: dict[str, tuple[type, str]] = {
    "first": (int, "Return the first n items (after `after`). Default and maximum are settings."),
    "after": (
        str,
        "Return items after this cursor: after its item's place in the order, so items "
        "added or removed meanwhile do not shift the page.",
    ),
    "last": (int, "Return the last n items (before `before`)."),
    "before": (str, "Return items before this cursor (its item's place in the order)."),
}


_CONNECTIONS: dict[Any, Any] = {}


def _wanted_measures(info: Info, measures: Mapping[str, Any]) -> list[str]:
    """The measures the operation asks `aggregate` for: none for a bare `count` (then
    SQL counts rows and reads nothing else); every one when fragments make it unclear.
    Read from the field's own nodes, two levels down, never through a fragment (as
    strawberry's `info.selected_fields` would, spread after spread)."""
    by_graphql = {graphql_name(name): name for name in measures}
    wanted: set[str] = set()
    for node in info._raw_info.field_nodes:
        for kind in node.selection_set.selections if node.selection_set else ():
            if not isinstance(kind, FieldNode):
                return list(measures)
            if kind.name.value == "count" or kind.name.value.startswith("__"):
                continue
            for value in kind.selection_set.selections if kind.selection_set else ():
                if not isinstance(value, FieldNode):
                    return list(measures)
                if value.name.value in by_graphql:
                    wanted.add(by_graphql[value.name.value])
    return [name for name in measures if name in wanted]


def connection_class(node: Any, listing: Listing) -> Any:
    """`<Node>Connection`: a Connection with `aggregate` when the listing has measures."""
    if listing.aggregates is None:
        return Connection[node]
    cls = _CONNECTIONS.get(node)
    if cls is not None:
        return cls
    from app.graphql.aggregates import Computed, aggregate_type

    name = node.__strawberry_definition__.name
    measures = listing.aggregates()
    result_type = aggregate_type(name, measures)

    async def aggregate(self: Any, info: Info, currency: str | None = None) -> Any:
        source: ListSource = self._source
        target = parse_currency(currency, field="currency") if currency else None
        wanted = _wanted_measures(info, measures)
        loader = info.context.loaders.aggregates(
            (source.listing.name, source.filter_key, target, tuple(wanted)),
            entity=source.listing.model,
            where=source.where,
            measures={name: measures[name] for name in wanted},
            parent=source.listing.parent() if source.listing.parent is not None else None,
            join=source.listing.join() if source.listing.join is not None else None,
            target=target,
        )
        return result_type(_computed=Computed(await loader.load(source.parent_key), target))

    aggregate.__annotations__ = {
        "self": Any,
        "info": Info,
        "currency": Annotated[
            str | None,
            strawberry.argument(
                description="ISO 4217 code: convert every amount at its value date's rate "
                "first. Without it, amounts are aggregated in their own currency, which "
                "fails when the list holds several."
            ),
        ],
        "return": result_type,
    }
    namespace = {
        "__annotations__": {"_source": strawberry.Private[ListSource | None]},  # type: ignore[misc]
        "_source": None,
        "aggregate": strawberry.field(
            resolver=aggregate,
            description="Count, sums, averages, minima and maxima over the whole filtered "
            "list (every page), computed in the database.",
            metadata=reads(listing.model.__tablename__, "exchange_rates"),
        ),
    }
    cls = strawberry.type(
        types.new_class(
            f"{name}Connection", (Connection[node],), exec_body=lambda ns: ns.update(namespace)
        ),
        description="A page of a list, Relay style, with aggregates over the whole list.",
    )
    _CONNECTIONS[node] = cls
    return cls


def connection(
    listing: Listing,
    node: type[NodeT],
    filter_type: type[Any],
    order_type: type[Any],
    *,
    description: str,
    to_node: Callable[[Any], NodeT] | None = None,
    parent_key: Callable[[Any], Any] | None = None,
) -> Any:
    """A connection field with filter, orderBy and first/after/last/before arguments.

    On a root field `parent_key` is None; on a nested one it takes the parent object
    and returns the key that the listing's parent column is matched against.
    """
    convert = to_node or node.from_row  # type: ignore[attr-defined]
    result = connection_class(node, listing)

    async def resolve_nested(
        root: Any,
        info: Info,
        filter: Any = None,
        order_by: Any = None,
        first: Any = None,
        after: Any = None,
        last: Any = None,
        before: Any = None,
    ) -> Any:
        key = parent_key(root) if parent_key is not None else None
        return await load_connection(
            info, listing, convert, key, filter, order_by, first, after, last, before, result
        )

    async def resolve_root(
        root: Any,
        info: Info,
        filter: Any = None,
        order_by: Any = None,
        first: Any = None,
        after: Any = None,
        last: Any = None,
        before: Any = None,
        as_of: Any = None,
    ) -> Any:
        # `as_of` was applied before the operation ran (app/graphql/extensions/views.py).
        return await resolve_nested(root, info, filter, order_by, first, after, last, before)

    # Only root lists take `asOf`: a moment applies to a whole operation.
    resolve = resolve_root if parent_key is None else resolve_nested
    resolve.__annotations__ = {
        **({"as_of": AsOf} if parent_key is None else {}),
        "root": Any,
        "info": Info,
        "filter": Annotated[
            filter_type | None, strawberry.argument(description="Only items that match.")
        ],
        "order_by": Annotated[
            list[order_type] | None,  # type: ignore[valid-type]
            strawberry.argument(description="Sort keys, most significant first; ties by ID."),
        ],
        **{
            name: Annotated[kind | None, strawberry.argument(description=doc)]
            for name, (kind, doc) in _PAGE_ARGS.items()
        },
        "return": result,
    }
    # A list whose nodes are built from their rows as they are stored can be answered by
    # the compiled read path (app/graphql/compiled/), which builds them the same way.
    metadata = lists(listing, node, parent_key) if to_node is None else None
    return strawberry.field(resolver=resolve, description=description, metadata=metadata)
