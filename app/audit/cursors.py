"""The cursors of the change log (`changes`, the query and the subscription, for callers
who see the whole trail): one spelling per sequence."""

from __future__ import annotations

import base64

from app.errors import DomainError, ErrorCode
from app.kit.numbers import parse_natural

_CURSOR_PREFIX = "change:"
# Sequences are 64-bit integers; no entry has a larger one.
MAX_SEQUENCE = 2**63 - 1


def encode_cursor(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{sequence}".encode()).decode()


def decode_cursor(cursor: str, argument: str) -> int:
    """The sequence inside a cursor of `changes`, spelled exactly as `encode_cursor`
    spells it, or INVALID_CURSOR."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except ValueError:  # not ASCII, not base64 (binascii.Error and UnicodeError are)
        raw = ""
    prefix, _, digits = raw.partition(":")
    sequence = parse_natural(digits) if f"{prefix}:" == _CURSOR_PREFIX else None
    if sequence is None or sequence > MAX_SEQUENCE or encode_cursor(sequence) != cursor:
        raise DomainError(
            f"{argument}: {cursor[:60]!r} is not a cursor of the change log",
            code=ErrorCode.INVALID_CURSOR,
            field=argument,
        )
    return sequence
