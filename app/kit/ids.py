"""Global object ids: opaque to clients, `base64("Type:pk")` inside."""

from __future__ import annotations

import base64
import binascii

from app.errors import DomainError, ErrorCode

# Primary keys are 32-bit integers on PostgreSQL; no record has a key beyond this.
MAX_KEY = 2**31 - 1


def encode_global_id(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def decode_global_id(global_id: str) -> tuple[str, int]:
    """Split a global id into type name and primary key, or raise INVALID_ID."""
    if len(global_id) > 200:
        raise DomainError("ID is too long", code=ErrorCode.INVALID_ID)
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, pk = base64.urlsafe_b64decode(padded).decode().partition(":")
        return type_name, int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise DomainError(f"{global_id!r} is not a valid ID", code=ErrorCode.INVALID_ID) from None


def decode_id_of(global_id: str, expected_type: str) -> int:
    """The key of an id of `expected_type`; a key no record can have matches nothing (-1)."""
    type_name, pk = decode_global_id(global_id)
    if type_name != expected_type:
        raise DomainError(
            f"ID {global_id!r} belongs to a {type_name}, not a {expected_type}",
            code=ErrorCode.INVALID_ID,
        )
    return pk if 0 < pk <= MAX_KEY else -1
