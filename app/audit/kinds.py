"""The trail's vocabulary as the API names it: kinds of record (their type names, and
the enum names `ChangeEntityType` spells them with), kinds of change, global IDs.

The GraphQL enums (app/graphql/audit/types.py) carry these names with their
descriptions; tests/graphql/audit/test_kinds.py holds them to these.
"""

from __future__ import annotations

import re
from typing import Any

from app.audit.records import audited_tables
from app.kit.ids import encode_global_id

# What a change did to its record (the trail's `operation`).
OPERATIONS = ("create", "update", "archive", "approve", "reject")


def type_name_of(table: str) -> str:
    """The API type name of a table's records (e.g. transactions → Transaction)."""
    return str(audited_tables()[table].__name__)


def table_of(type_name: str) -> str | None:
    """The table of an API type name, if the trail follows that kind of record."""
    for table, model in audited_tables().items():
        if model.__name__ == type_name:
            return table
    return None


def entity_type_names() -> dict[str, str]:
    """Each audited table by its enum name (BudgetLine's budget_lines: BUDGET_LINE)."""
    return {
        re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).upper(): table
        for table, model in audited_tables().items()
    }


def operation_names() -> dict[str, str]:
    """Each kind of change by its enum name (create: CREATE)."""
    return {op.upper(): op for op in OPERATIONS}


def entity_global_id(row: Any) -> str:
    """The global ID of the record an entry changed (archived records keep theirs)."""
    return encode_global_id(type_name_of(row.entity_type), int(row.entity_id))
