"""Database triggers that keep the trail append-only.

They stop accidents and careless scripts; they cannot stop the database's owner,
who can drop them. What proves the trail intact is the hash chain (`chain.py`).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

MESSAGE = "the audit trail is append-only"

_SQLITE = [
    f"CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS changes_no_update",
    "DROP TRIGGER IF EXISTS changes_no_delete",
]

_POSTGRES = [
    "CREATE OR REPLACE FUNCTION changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege'; END $$",
    "CREATE TRIGGER changes_no_change BEFORE UPDATE OR DELETE ON changes "
    "FOR EACH ROW EXECUTE FUNCTION changes_append_only()",
    "CREATE TRIGGER changes_no_truncate BEFORE TRUNCATE ON changes "
    "FOR EACH STATEMENT EXECUTE FUNCTION changes_append_only()",
]
_POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS changes_no_change ON changes",
    "DROP TRIGGER IF EXISTS changes_no_truncate ON changes",
    "DROP FUNCTION IF EXISTS changes_append_only()",
]


def create_guards(connection: Connection) -> None:
    statements = _POSTGRES if connection.dialect.name == "postgresql" else _SQLITE
    for statement in statements:
        connection.execute(text(statement))


def drop_guards(connection: Connection) -> None:
    statements = _POSTGRES_DROP if connection.dialect.name == "postgresql" else _SQLITE_DROP
    for statement in statements:
        connection.execute(text(statement))
