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
  publishers, a rate's source): nothing that renders as nothing, so that two names
  that look alike are alike: no invisible formatting character (Unicode's category
  Cf: bidi controls and marks, zero-width spaces, word joiners, BOM, soft hyphen,
  tags), no other default-ignorable character (Hangul fillers, the combining grapheme
  joiner, Khmer's inherent vowels), no blank braille pattern, no Unicode line or
  paragraph separator (U+2028, U+2029); except a zero-width (non-)joiner inside a word
  of a script that needs one (after a letter, mark or symbol that is not ASCII, before
  a letter, mark or symbol), and a variation selector right after a character it can
  vary (emoji: ❤️; `_varies`).
- IDENTIFIER, what names who or what and is matched exactly (codes, references, key
  names, token subjects, idempotency keys): printable characters only — no control,
  format, separator (but the space) or unassigned character, none that renders as
  nothing — and no space at either end. These become the trail's actor names and the
  codes in links and files.
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
# Unicode's Default_Ignorable_Code_Point, from DerivedCoreProperties.txt of Unicode 14.0
# (the version of Python 3.11's unicodedata; https://www.unicode.org/Public/14.0.0/ucd/
# DerivedCoreProperties.txt): what a renderer shows as nothing unless it supports it.
# Besides the Cf characters, it holds the Hangul fillers (U+115F, U+1160, U+3164,
# U+FFA0), the combining grapheme joiner (U+034F), Khmer's inherent vowels (U+17B4,
# U+17B5), the variation selectors and reserved ranges.
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
    # and a glyph drawn blank: BRAILLE PATTERN BLANK
    "\u2800]"
)
# Variation selectors (the standardized ones, Mongolian's, the ideographic ones): they
# choose how the character before them is drawn (an emoji's colour form, U+FE0F).
_VARIATION_SELECTOR = re.compile("[\ufe00-\ufe0f\u180b-\u180d\u180f\U000e0100-\U000e01ef]")

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
    if not value.isascii():
        found = _IGNORABLE.search(value)
        if found is not None:
            return f"must not hold {describe(found.group())}: it renders as nothing"
    if value != value.strip(" "):
        return "must not start or end with a space"
    return None


def _name_problem(value: str) -> str | None:
    if value.isascii():
        return None
    last = len(value) - 1
    for at, character in enumerate(value):
        if character.isascii():
            continue
        category = unicodedata.category(character)
        if category in ("Zl", "Zp"):
            return f"must not hold {describe(character)} (character {at + 1}): no name breaks there"
        if category != "Cf" and _IGNORABLE.match(character) is None:
            continue
        if _VARIATION_SELECTOR.match(character) is not None and _varies(value, at):
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
            f"must not hold {describe(character)} (character {at + 1}): what renders as "
            "nothing can make a name look like another"
        )
    return None


def _varies(value: str, at: int) -> bool:
    """Whether the variation selector at `at` follows a character it can vary: a symbol
    or punctuation that is not ASCII (emoji: ❤️, ‼️), an ideograph or other letter of a
    script without case (Han, Mongolian), or a keycap's ASCII digit, # or * (1️⃣). Not a
    letter of Latin, Greek or Cyrillic: "a" with a selector would look like "a"."""
    if at == 0:
        return False
    before = value[at - 1]
    if before.isascii():
        return before in "0123456789#*" and value[at + 1 : at + 2] == "\u20e3"
    if _IGNORABLE.match(before) is not None:
        return False
    category = unicodedata.category(before)
    return category[0] in ("S", "P") or category == "Lo"


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
