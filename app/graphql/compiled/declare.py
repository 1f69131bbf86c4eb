"""What object types declare so that the compiled read path can answer their fields.

A field the compiled path answers without its resolver says so in its metadata: a
list field built by `app/graphql/relay.connection` declares its listing and node type
(`lists`), a field whose value is a function of its record's columns declares that
function (`row_value`), which its resolver calls too, so both paths share one rule.
Plain fields (a column of the same name) and `id` need no declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LIST_FIELD = "compiled_list"
ROW_VALUE = "compiled_row_value"
ROW_VALUE_SQL = "compiled_row_value_sql"


@dataclass(frozen=True)
class ListField:
    """A connection field over `listing`, whose nodes are `node.from_row(row)`: a root
    list (`parent_key` None) or nested under an object, whose `parent_key(object)` the
    listing's parent column holds."""

    listing: Any
    node: type[Any]
    parent_key: Callable[[Any], Any] | None


def lists(listing: Any, node: type[Any], parent_key: Callable[[Any], Any] | None) -> dict[str, Any]:
    return {LIST_FIELD: ListField(listing, node, parent_key)}


def row_value(
    function: Callable[[Any], Any], sql: Callable[[Any], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The field's value is `function(row)` of its record's stored row: its columns by
    name (an ORM instance or a plain result row alike). `sql(columns)`, given the
    table's columns, writes the same value in PostgreSQL: the JSON text of each of the
    value's fields by name (app/graphql/compiled/sql_json.py), never NULL."""
    found: dict[str, Any] = {ROW_VALUE: function}
    if sql is not None:
        found[ROW_VALUE_SQL] = sql
    return found
