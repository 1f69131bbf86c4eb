"""What text may hold: one rule for every string that enters.

Every string that enters — GraphQL arguments and variables, credentials, token claims,
key names, CSV parameters — holds no NUL and no lone surrogate (`encoding_problem`).
PostgreSQL cannot store NUL, and a lone surrogate (half of a UTF-16 pair, which JSON's
"\\ud800" escape can send) is no character at all: no database, hash or UTF-8 answer
can take it. Both are refused where the string arrives, before anything reads it.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile(r"[\ud800-\udfff]")

NUL = "must not contain NUL characters (U+0000)"
LONE_SURROGATE = (
    "must not contain a lone surrogate (U+D800 to U+DFFF): half of a UTF-16 pair is not a character"
)


def encoding_problem(value: str) -> str | None:
    """What no string may hold, wherever it comes from; None when it is fine."""
    if "\x00" in value:
        return NUL
    if not value.isascii() and _SURROGATE.search(value) is not None:
        return LONE_SURROGATE
    return None
