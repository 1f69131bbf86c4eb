"""What text may hold: one rule for every string that enters, and one per kind of text.

Every string that enters — GraphQL arguments and variables, credentials, token claims,
key names, CSV parameters — holds no NUL and no lone surrogate (`encoding_problem`).
PostgreSQL cannot store NUL, and a lone surrogate (half of a UTF-16 pair, which JSON's
"\\ud800" escape can send) is no character at all: no database, hash or UTF-8 answer
can take it. Both are refused where the string arrives, before anything reads it.

What is stored follows one of three rules (`text_problem`), each stricter than the last:

- TEXT, what people write (summaries, descriptions, reasons): no control characters
  but tab and line breaks; bidirectional embeddings, overrides and isolates (U+202A to
  U+202E, U+2066 to U+2069) only when closed again within their line, so that nothing
  after the text (the rest of a page, the next cells of a CSV row) is reordered.
  Zero-width characters stay: Thai and Khmer mark word breaks with U+200B, Persian and
  Indic scripts and emoji sequences need the zero-width (non-)joiner.
- NAME, what tells a reader which record this is (titles, categories, units,
  publishers, a rate's source): no invisible formatting character at all (Unicode's
  category Cf: bidi controls and marks, zero-width spaces, word joiners, BOM, soft
  hyphen, tags), so two names that look alike are alike; except a zero-width
  (non-)joiner inside a word of a script that needs one: after a letter, mark or symbol
  that is not ASCII, before a letter, mark or symbol.
- IDENTIFIER, what names who or what and is matched exactly (codes, references, key
  names, token subjects, idempotency keys): printable characters only — no control,
  format, separator (but the space) or unassigned character — and no space at either
  end. These become the trail's actor names and the codes in links and files.
"""

from __future__ import annotations

import re
import unicodedata
from enum import Enum


class Kind(Enum):
    TEXT = "text"
    NAME = "name"
    IDENTIFIER = "identifier"


_SURROGATE = re.compile(r"[\ud800-\udfff]")
# C0 and C1 controls and DEL, but tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidi controls that open (embeddings, overrides; isolates) or close, and line ends.
_OPENS = {"\u202a": "\u202c", "\u202b": "\u202c", "\u202d": "\u202c", "\u202e": "\u202c"}
_OPENS.update(dict.fromkeys("\u2066\u2067\u2068", "\u2069"))
_BIDI_OR_LINE_END = re.compile(r"[\u202a-\u202e\u2066-\u2069\n\r\u2028\u2029]")
ZWNJ, ZWJ = "\u200c", "\u200d"
_JOINS = ("L", "M", "S")  # letters, marks, symbols (emoji): what a joiner may join

NUL = "must not contain NUL characters (U+0000)"
LONE_SURROGATE = (
    "must not contain a lone surrogate (U+D800 to U+DFFF): half of a UTF-16 pair is not a character"
)
CONTROL = "must not contain control characters (tabs and line breaks are fine)"
_BIDI = (
    "close each bidirectional embedding, override or isolate (U+202A to U+202E, U+2066 "
    "to U+2069) within its line, innermost first, or it reorders what follows the text"
)


def describe(character: str) -> str:
    """ "U+202E RIGHT-TO-LEFT OVERRIDE": a character named without writing it."""
    name = unicodedata.name(character, "")
    return f"U+{ord(character):04X}" + (f" {name}" if name else "")


def encoding_problem(value: str) -> str | None:
    """What no string may hold, wherever it comes from; None when it is fine."""
    if "\x00" in value:
        return NUL
    if not value.isascii() and _SURROGATE.search(value) is not None:
        return LONE_SURROGATE
    return None


def text_problem(value: str, kind: Kind) -> str | None:
    """Why `value` cannot be stored as this kind of text; None when it can."""
    problem = encoding_problem(value)
    if problem is not None:
        return problem
    if _CONTROL.search(value) is not None:
        return CONTROL
    if kind is Kind.IDENTIFIER:
        return _identifier_problem(value)
    if kind is Kind.NAME:
        return _name_problem(value)
    return _bidi_problem(value)


def _identifier_problem(value: str) -> str | None:
    if not value.isprintable():
        character = next(c for c in value if not c.isprintable())
        return f"must hold printable characters only, not {describe(character)}"
    if value != value.strip(" "):
        return "must not start or end with a space"
    return None


def _name_problem(value: str) -> str | None:
    if value.isascii():
        return None
    last = len(value) - 1
    for at, character in enumerate(value):
        if character.isascii() or unicodedata.category(character) != "Cf":
            continue
        if character in (ZWNJ, ZWJ) and 0 < at < last:
            before, after = value[at - 1], value[at + 1]
            if (
                not before.isascii()
                and unicodedata.category(before)[0] in _JOINS
                and unicodedata.category(after)[0] in _JOINS
            ):
                continue
        return (
            f"must not hold {describe(character)} (character {at + 1}): invisible "
            "formatting can make a name look like another"
        )
    return None


def _bidi_problem(value: str) -> str | None:
    # Each opened embedding, override or isolate must be closed, innermost first,
    # before the line ends: then it reorders only text of its own.
    open_: list[str] = []
    for match in _BIDI_OR_LINE_END.finditer(value):
        character, at = match.group(), match.start() + 1
        if character in _OPENS:
            open_.append(_OPENS[character])
        elif open_ and open_[-1] == character:
            open_.pop()
        elif character in ("\u202c", "\u2069"):
            return f"{describe(character)} (character {at}) closes no open direction: {_BIDI}"
        elif open_:
            return f"the line ending at character {at} leaves a direction open: {_BIDI}"
    if open_:
        return f"the text ends with a direction open: {_BIDI}"
    return None
