"""Enums whose members say what they mean, for whoever reads the values elsewhere.

A member is written with its meaning beside it, `PIPELINE = "pipeline", "Being
planned: not started."`, and `PIPELINE.description` holds that text; the value is still
the string alone, as stored. The GraphQL schema shows it as the value's description
(app/graphql/enums.py), so each meaning is written once, where the value is defined.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class DescribedStrEnum(StrEnum):
    """A StrEnum whose members are `NAME = "value", "What the value means."`."""

    _value_: str
    description: str

    # `description` defaults only so that a look-up, `Kind("value")`, type-checks (a
    # look-up never reaches this method); a member defined without one is refused.
    def __new__(cls, value: str, description: str = "") -> Self:
        if not description.strip():
            raise TypeError(f"{cls.__name__} member {value!r} needs a description")
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member
