"""GraphQL enums of enums declared elsewhere, each value described by its member.

strawberry describes an enum value only when the member itself is a
`strawberry.enum_value(..., description=...)`: fine for the enums this layer declares,
but a model's, an error code's or a sort field's members are plain strings that the
database, the domain code and the URLs use. Those enums are `DescribedStrEnum`s
(app/described.py), and `described_enum` hands each member's description to the
schema, so the meaning is written once, next to the value.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

import strawberry
from strawberry.types.enum import StrawberryEnumDefinition

from app.described import DescribedStrEnum

E = TypeVar("E", bound=type[DescribedStrEnum])


def described_enum(cls: E, *, description: str) -> E:
    """`strawberry.enum(cls)`, with every value's description taken from its member."""
    strawberry.enum(cls, description=description)
    definition: StrawberryEnumDefinition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    meanings = {member.value: member.description for member in cls}
    definition.values = [
        replace(value, description=meanings[value.value]) for value in definition.values
    ]
    return cls
