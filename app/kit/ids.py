"""Global object ids: opaque to clients, `base64("Type:pk")` inside.

An ID has one spelling, the one `encode_global_id` gives it: URL-safe base64 without
padding, of a type name, a colon and the key in plain digits. Any other spelling of a
record's ID (padded, other trailing bits, "Type:02", "Type:+2", "Type: 2", "Type:1_1",
digits of other scripts) is INVALID_ID, so one record never has two IDs.
"""

from __future__ import annotations

import base64
import re

from app.errors import DomainError, ErrorCode
from app.kit.numbers import parse_natural

# Primary keys are 32-bit integers on PostgreSQL; no record has a key beyond this.
MAX_KEY = 2**31 - 1
MAX_ID_LENGTH = 200
_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def encode_global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def decode_global_id(global_id: str) -> tuple[str, int]:
    """Split a global id into type name and primary key, or raise INVALID_ID."""
    if len(global_id) > MAX_ID_LENGTH:
        raise DomainError("ID is too long", code=ErrorCode.INVALID_ID)
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except ValueError:  # not ASCII, not base64 (binascii.Error and UnicodeError are)
        raw = ""
    type_name, _, digits = raw.partition(":")
    pk = parse_natural(digits)
    if (
        pk is None
        or not _TYPE_NAME.fullmatch(type_name)
        or encode_global_id(type_name, pk) != global_id
    ):
        raise DomainError(f"{global_id!r} is not a valid ID", code=ErrorCode.INVALID_ID)
    return type_name, pk


def decode_id_of(global_id: str, expected_type: str) -> int:
    """The key of an id of `expected_type`; a key no record can have matches nothing (-1)."""
    type_name, pk = decode_global_id(global_id)
    if type_name != expected_type:
        raise DomainError(
            f"ID {global_id!r} is of type {type_name}, not {expected_type}",
            code=ErrorCode.INVALID_ID,
        )
    return pk if 0 < pk <= MAX_KEY else -1
