"""The cursors of a caller's change stream (`changes`, and webhooks' places in it).

For a caller who sees the whole trail, the trail's own cursors (app/audit/cursors.py);
for a partner, its scope's mark and its own ordinal, nothing more: its cursors name
nothing in another scope.
"""

from __future__ import annotations

import base64
import binascii
import re

from app.audit.cursors import decode_cursor, encode_cursor
from app.errors import DomainError, ErrorCode
from app.events.scopes import Scope

_SCOPED_CURSOR = re.compile(r"change:(s[0-9a-f]{16}):([0-9]{1,18})")


def encode_event_cursor(scope: Scope, ordinal: int) -> str:
    """The cursor of the position `ordinal` in `scope`: the trail's own cursor for the
    whole log; for a partner, its scope's mark and its own ordinal, nothing more."""
    if scope.whole:
        return encode_cursor(ordinal)
    return base64.urlsafe_b64encode(f"change:{scope.mark}:{ordinal}".encode()).decode()


def decode_event_cursor(scope: Scope, cursor: str, argument: str) -> int:
    """The ordinal in `scope` that `cursor` names, or INVALID_CURSOR. The cursor of
    position 0 (`encode_cursor(0)`) is the start of every scope."""
    if scope.whole:
        return decode_cursor(cursor, argument)
    if cursor == encode_cursor(0):
        return 0
    try:
        found = _SCOPED_CURSOR.fullmatch(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (ValueError, UnicodeDecodeError, binascii.Error):
        found = None
    ordinal = int(found.group(2)) if found is not None else None
    # One spelling per position, as decode_cursor: "014" for 14, or base64 that decodes
    # the same with a character the decoder skips ("!"), would be another cursor of it.
    if ordinal is None or encode_event_cursor(scope, ordinal) != cursor:
        raise DomainError(
            f"{argument}: {cursor[:60]!r} is not a cursor of this key's change stream (a "
            "partner's cursors hold for a key with the same initiatives)",
            code=ErrorCode.INVALID_CURSOR,
            field=argument,
        )
    return ordinal
