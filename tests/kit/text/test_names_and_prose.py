"""What: names, codes and titles refuse invisible formatting (bidi overrides, zero-width
characters) that could disguise them, while prose keeps what real scripts need."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Database, GraphQLClient
from tests.kit.text.common import (
    CREATE_DOCUMENT,
    CREATE_MILESTONE,
    PROSE,
    TITLES,
    document,
    first_initiative,
    send,
    trail_length,
)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "\u202eevil"}, "title"),
        ({"title": "Ali\u200bbaba Foundation"}, "title"),
        ({"title": "Ali\u200dbaba Foundation"}, "title"),
        ({"title": "\ufeffA careful title"}, "title"),
        ({"publisher": "Xinhua\u2066"}, "publisher"),
        ({"ref": "hostile\u200b-1"}, "ref"),
        ({"ref": "hostile\u00ad-1"}, "ref"),
    ],
)
async def test_invisible_formatting_in_names_and_codes_is_refused(
    demo: Database, editor: GraphQLClient, changes: dict[str, str], field: str
) -> None:
    # given
    before = await trail_length(demo)
    # when
    answer = await send(editor, CREATE_DOCUMENT, {"input": document(**changes)})
    # then
    payload = answer["data"]["createSourceDocument"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "VALIDATION")]
    assert "U+" in payload["errors"][0]["message"]  # the character, named
    assert await trail_length(demo) == before


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"input": {"description": "a \u202eclosed\u202c and an \u202eopen one"}}, "description"),
        ({"input": {"description": "\u2067starts here\nends there\u2069"}}, "description"),
        ({"reason": "approved by \u202enaiv"}, "reason"),
        ({"key": "retry-1\u200b"}, "idempotencyKey"),
    ],
)
async def test_prose_may_not_leave_text_direction_open_nor_keys_hold_invisible_characters(
    demo: Database, editor: GraphQLClient, arguments: dict[str, Any], field: str
) -> None:
    # given
    given = {"initiativeId": await first_initiative(demo), "title": "T", "status": "PLANNED"}
    before = await trail_length(demo)
    # when
    variables = {**arguments, "input": {**given, **arguments.get("input", {})}}
    answer = await send(editor, CREATE_MILESTONE, variables)
    # then
    payload = answer["data"]["createMilestone"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "VALIDATION")]
    assert await trail_length(demo) == before


async def test_real_titles_and_prose_are_written_as_given(
    demo: Database, editor: GraphQLClient
) -> None:
    initiative = await first_initiative(demo)
    for n, prose in enumerate(PROSE):
        title = TITLES[n % len(TITLES)]
        # when
        answer = await send(
            editor,
            CREATE_MILESTONE,
            {
                "input": {
                    "initiativeId": initiative,
                    "title": title,
                    "status": "PLANNED",
                    "description": prose,
                },
                "reason": prose,
                "key": f"real-text-{n}",
            },
        )
        # then
        payload = answer["data"]["createMilestone"]
        assert payload["errors"] == [], (title, prose, payload["errors"])
        assert (payload["milestone"]["title"], payload["milestone"]["description"]) == (
            title,
            prose,
        )
