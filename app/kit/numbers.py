"""How a number is spelled where a client writes it as text: one spelling per number.

The grammar is JSON's (and GraphQL's, for its Int literals): ASCII digits, no leading
zeros. Python's int() reads far more — " 7", "+7", "07", "1_000", full-width and
Arabic-Indic digits (U+FF17, U+0667) — so several spellings would name one record or
one page; here anything else is refused.
"""

from __future__ import annotations

import re

_DIGITS = r"(?:0|[1-9][0-9]*)"
NATURAL = re.compile(_DIGITS)


def parse_natural(text: str) -> int | None:
    """A whole number of at least 0 ("0", "42"); None for any other spelling."""
    return _int(text) if NATURAL.fullmatch(text) else None


def _int(digits: str) -> int | None:
    # Python reads at most 4300 digits (sys.int_info.str_digits_check_threshold); a
    # number that long is no key, position or count of anything here.
    try:
        return int(digits)
    except ValueError:
        return None
