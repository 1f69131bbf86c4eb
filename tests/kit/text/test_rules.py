"""The rules of app/kit/text.py themselves: real titles and prose pass, what could hide or
disguise is refused, and characters that render as nothing stay out of names."""

from __future__ import annotations

import pytest

from app.kit.text import Kind, text_problem
from tests.conftest import Database, GraphQLClient
from tests.kit.text.common import (
    CREATE_DOCUMENT,
    NUL,
    PROSE,
    SURROGATE,
    TITLES,
    document,
    send,
    trail_length,
)


@pytest.mark.parametrize("value", TITLES)
def test_real_titles_pass_the_rules_for_names_and_prose(value: str) -> None:
    assert text_problem(value, Kind.NAME) is None
    assert text_problem(value, Kind.TEXT) is None


@pytest.mark.parametrize("value", PROSE)
def test_real_prose_passes_the_rule_for_prose(value: str) -> None:
    assert text_problem(value, Kind.TEXT) is None


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("a" + NUL, Kind.TEXT),
        ("a" + SURROGATE, Kind.TEXT),
        ("a\x1b[31m", Kind.TEXT),  # a terminal escape
        ("a\x85", Kind.TEXT),  # a C1 control
        ("\u202ea", Kind.TEXT),
        ("a\u202c", Kind.TEXT),  # a close without an open
        ("\u202a\u2066a\u202c\u2069", Kind.TEXT),  # crossed, not nested
        ("\u2067a\u2028b\u2069", Kind.TEXT),  # across a line
        ("a\u200db", Kind.NAME),  # a joiner between ASCII letters
        ("\u200d👩", Kind.NAME),  # a joiner at the start
        ("👩\u200d", Kind.NAME),  # ... and at the end
        ("برنامه\u200c ها", Kind.NAME),  # noqa: RUF001 (Persian) a non-joiner before a space
        ("a\u2060b", Kind.NAME),
        ("a\u200eb", Kind.NAME),
        ("flag\U000e0067", Kind.NAME),  # a tag character
        ("ali\u00a0ce", Kind.IDENTIFIER),
        ("alice\u200c", Kind.IDENTIFIER),
        ("alice ", Kind.IDENTIFIER),
        ("a\nb", Kind.IDENTIFIER),
    ],
)
def test_what_could_hide_or_disguise_is_refused(value: str, kind: Kind) -> None:
    assert text_problem(value, kind) is not None


# Characters that render as nothing but are no format character (not Cf): Unicode's
# default-ignorable letters and marks, and the blank braille pattern.
BLANK = [
    "\u034f",  # COMBINING GRAPHEME JOINER
    "\u115f",  # HANGUL CHOSEONG FILLER
    "\u1160",  # HANGUL JUNGSEONG FILLER
    "\u3164",  # HANGUL FILLER
    "\uffa0",  # HALFWIDTH HANGUL FILLER
    "\u17b4",  # KHMER VOWEL INHERENT AQ
    "\u2800",  # BRAILLE PATTERN BLANK
    "\ufe0f",  # VARIATION SELECTOR-16, after a Latin letter
    "\U000e0100",  # VARIATION SELECTOR-17, likewise
]


@pytest.mark.parametrize("character", BLANK)
@pytest.mark.parametrize("kind", [Kind.NAME, Kind.IDENTIFIER])
def test_characters_that_render_as_nothing_are_refused_in_names_and_identifiers(
    character: str, kind: Kind
) -> None:
    # given: "alice" and a name that looks the same
    value = "ali" + character + "ce"
    # when
    problem = text_problem(value, kind)
    # then: refused, the character named
    assert problem is not None
    assert f"U+{ord(character):04X}" in problem


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_line_and_paragraph_separators_are_refused_in_names(separator: str) -> None:
    assert text_problem(f"Phase 1{separator}Phase 2", Kind.NAME) is not None
    assert text_problem(f"Phase 1{separator}Phase 2", Kind.IDENTIFIER) is not None


@pytest.mark.parametrize(
    "value",
    [
        "\u2764\ufe0f",  # a red heart, its emoji form
        "\u203c\ufe0f",  # a double exclamation mark, likewise
        "1\ufe0f\u20e3",  # a keycap
        "\u8fb6\U000e0100",  # an ideograph with its variation (IVS)
        "\u1820\u180b\u1821",  # Mongolian, a free variation selector in a word
    ],
)
def test_a_variation_selector_after_what_it_varies_stays_in_names(value: str) -> None:
    assert text_problem(value, Kind.NAME) is None


async def test_a_name_holding_a_hangul_filler_is_refused_and_nothing_is_written(
    demo: Database, editor: GraphQLClient
) -> None:
    # given
    before = await trail_length(demo)
    # when: a title that shows as "Budget review" and a reference that shows as "REF-1"
    titled = await send(editor, CREATE_DOCUMENT, {"input": document(title="Budget\u3164review")})
    referenced = await send(editor, CREATE_DOCUMENT, {"input": document(ref="REF\u2800-1")})
    # then
    for answer, field in ((titled, "title"), (referenced, "ref")):
        errors = answer["data"]["createSourceDocument"]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, "VALIDATION")]
    assert await trail_length(demo) == before
