"""The GraphQL enums of the trail spell the trail's vocabulary (app/audit/kinds.py),
which webhooks use without the GraphQL layer: the same names, the same values."""

from __future__ import annotations

from app.audit import kinds
from app.graphql.audit.types import ChangeEntityType, ChangeOperation


def test_the_entity_type_enum_names_every_audited_table_as_kinds_does() -> None:
    assert {m.name: m.value for m in ChangeEntityType} == kinds.entity_type_names()


def test_the_operation_enum_names_every_kind_of_change_as_kinds_does() -> None:
    assert {m.name: m.value for m in ChangeOperation} == kinds.operation_names()
