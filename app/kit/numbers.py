"""How a number is spelled where a client writes it as text: one spelling per number.

The grammar is JSON's (and GraphQL's, for its Int and Float literals): ASCII digits,
no leading zeros, an optional leading "-", for decimals an optional fraction and
exponent. Python's int() and Decimal() read far more — " 7", "+7", "07", "1_000",
full-width and Arabic-Indic digits (U+FF17, U+0667) — so several spellings would name
one record, one page or one amount; here anything else is refused.
"""

from __future__ import annotations

import re
from decimal import Decimal

_DIGITS = r"(?:0|[1-9][0-9]*)"
NATURAL = re.compile(_DIGITS)
INTEGER = re.compile(rf"-?{_DIGITS}")
DECIMAL = re.compile(rf"-?{_DIGITS}(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def parse_natural(text: str) -> int | None:
    """A whole number of at least 0 ("0", "42"); None for any other spelling."""
    return _int(text) if NATURAL.fullmatch(text) else None


def parse_integer(text: str) -> int | None:
    """A whole number ("-3", "0", "42"); None for any other spelling."""
    return _int(text) if INTEGER.fullmatch(text) else None


def _int(digits: str) -> int | None:
    # Python reads at most 4300 digits (sys.int_info.str_digits_check_threshold); a
    # number that long is no key, position or count of anything here.
    try:
        return int(digits)
    except ValueError:
        return None


def parse_decimal(text: str) -> Decimal | None:
    """A decimal number ("-12.50", "1e6"); None for any other spelling."""
    return Decimal(text) if DECIMAL.fullmatch(text) else None
