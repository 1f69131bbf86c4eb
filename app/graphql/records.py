"""What every object type shares: the Record interface, the node registry, order inputs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry

from app.described import DescribedStrEnum
from app.graphql.audit.queries import record_history
from app.graphql.audit.types import ChangeEntry
from app.graphql.context import Info
from app.graphql.enums import described_enum
from app.graphql.extensions.permissions import NeedsAudit
from app.graphql.inputs import OrderDirection
from app.graphql.loaders import NODE_MODELS, NODE_TYPES, NODE_TYPES_BY_MODEL
from app.graphql.relay import Node
from app.graphql.visibility import shows_records_of
from app.kit.listing import Listing

C = TypeVar("C", bound=type[Any])


def register(model: type[Any]) -> Callable[[C], C]:
    """Record an object type as the node type of `model` (and as the type whose fields
    say what callers see of its stored states, app/graphql/visibility.py). By its name
    for `node(id:)` and the references that name a type (a change's record, a citation's
    subject); by its model for the types that name it lazily (app/graphql/loaders.py).
    Everything else looks nodes up by class: `info.context.loaders.node(Program)`."""

    def add(cls: C) -> C:
        # One type per model and per name: a second would silently take the first's
        # place in every lookup.
        name = cls.__strawberry_definition__.name
        if model in NODE_TYPES_BY_MODEL or name in NODE_TYPES:
            raise TypeError(f"{name} over {model.__name__}: already registered")
        NODE_TYPES[name] = cls
        NODE_TYPES_BY_MODEL[model] = cls
        NODE_MODELS[cls] = model
        return shows_records_of(model)(cls)

    return add


async def load_node(info: Info, type_name: str, pk: int) -> Record | None:
    """The object of the type named `type_name` with key `pk` (None when there is none)."""
    found: Record | None = await info.context.loaders.node_named(type_name).load(pk)
    return found


def db_id_of(root: Any) -> int:
    """The parent key of lists nested under an object."""
    return int(root.db_id)


@strawberry.interface(description="A stored record, with when it was created and last changed.")
class Record(Node):
    created_at: datetime = strawberry.field(description="When the record was created (UTC).")
    updated_at: datetime = strawberry.field(description="When the record last changed (UTC).")
    version: int = strawberry.field(
        description="Counts the record's changes, from 1. An update must name the version it "
        "read; a stale one is refused with CONFLICT, so no change is lost unknowingly."
    )

    @strawberry.field(
        description="The record's entries in the audit trail, oldest first: who changed "
        "what, when, and why. Needs the audit permission (auditors, admins).",
        permission_classes=[NeedsAudit],
    )
    async def history(
        self,
        info: Info,
        first: Annotated[
            int,
            strawberry.argument(
                description="How many entries, from the first (at most the maximum page size)."
            ),
        ] = 50,
    ) -> list[ChangeEntry]:
        return await record_history(info, self, first)


def stamps(row: Any) -> dict[str, Any]:
    return {
        "db_id": row.id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "version": row.version,
    }


def order_input(type_name: str, listing: Listing) -> Any:
    """`<Type>Order { field, direction }` with the keys the listing can sort by."""
    keys = {name.upper(): (name, key.description) for name, key in listing.order_keys.items()}
    fields: Any = DescribedStrEnum(f"{type_name}OrderField", keys)  # type: ignore[arg-type]
    described_enum(fields, description=f"What lists of {type_name} can be sorted by.")
    namespace = {
        "__annotations__": {"field": fields, "direction": OrderDirection},
        "field": strawberry.field(description="What to sort by."),
        "direction": strawberry.field(
            default=OrderDirection.ASC, description="ASC (the default) or DESC."
        ),
    }
    return strawberry.input(
        type(f"{type_name}Order", (), namespace), description=f"One sort key for {type_name} lists."
    )
