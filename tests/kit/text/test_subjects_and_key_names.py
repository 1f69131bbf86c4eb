"""Who: token subjects and claims and key names that no trail could hold, or that hide
what they are, are refused; a plain subject writes under its name."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.auth.keys import create_key, revoke_key
from app.errors import DomainError
from tests import factories as f
from tests.auth.tokens import JWT_SETTINGS, token
from tests.conftest import Database
from tests.kit.text.common import CREATE_DOCUMENT, NUL, SURROGATE, body, document, trail_length

PROGRAMS = "{ programs { totalCount } }"


@pytest.mark.parametrize(
    "subject",
    [
        "alice" + SURROGATE,
        "alice" + NUL,
        "\u202eecila",  # shown right to left: "alice"
        "ali\u200bce",
        "alice\ufeff",
        " alice",
    ],
)
async def test_a_token_whose_subject_cannot_name_an_actor_is_refused(
    demo: Database, client_with: Any, subject: str
) -> None:
    # given: an editor's token whose subject would be the trail's actor "jwt:<subject>"
    client = client_with(**JWT_SETTINGS)
    headers = {
        "Authorization": f"Bearer {token(sub=subject, role='editor')}",
        "Content-Type": "application/json",
    }
    before = await trail_length(demo)
    # when: it writes, and it reads
    write = await client.http.post(
        "/graphql", content=body(CREATE_DOCUMENT, {"input": document()}), headers=headers
    )
    read = await client.http.post("/graphql", content=body(PROGRAMS), headers=headers)
    # then: the token proves no one, at once (not INTERNAL on every write), and nothing
    # is written under a name that could pass for another
    for response in (write, read):
        assert response.status_code == 401, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert "subject" in error["message"]
    assert await trail_length(demo) == before


async def test_a_token_with_a_plain_subject_writes_under_its_name(
    demo: Database, client_with: Any
) -> None:
    # given
    client = client_with(**JWT_SETTINGS)
    headers = {"Authorization": f"Bearer {token(sub='alice@example.org', role='editor')}"}
    # when
    written = await client.http.post(
        "/graphql",
        json={"query": CREATE_DOCUMENT, "variables": {"input": document()}},
        headers=headers,
    )
    # then
    assert written.json()["data"]["createSourceDocument"]["errors"] == []
    async with demo.sessions() as session:
        last = await session.scalar(select(m.Change).order_by(m.Change.sequence.desc()))
    assert last is not None and last.actor_name == "jwt:alice@example.org"


async def test_a_partner_token_listing_a_code_no_string_may_hold_is_forbidden(
    demo: Database, client_with: Any
) -> None:
    # given: a partner token whose initiatives claim holds a NUL (PostgreSQL cannot
    # even look such a code up) or an invisible character
    client = client_with(**JWT_SETTINGS)
    for code in ("CP-01" + NUL, "CP-01\u200b"):
        partner = token(role="partner", initiatives=["CP-02", code])
        # when
        response = await client.http.post(
            "/graphql", json={"query": PROGRAMS}, headers={"Authorization": f"Bearer {partner}"}
        )
        # then
        assert response.status_code == 403, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "initiatives" in error["message"]


async def test_key_names_codes_and_creators_no_trail_can_hold_are_refused(db: Database) -> None:
    # given: names as a command line gives them (bytes that are not UTF-8 arrive as lone
    # surrogates) or as someone disguising a key would choose them
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        await f.initiative(session, program, code="CP-01")
    attempts = [
        {"name": "\u202enimda"},
        {"name": "ops\u200d"},
        {"name": "ops", "created_by": "cli:\u202etoor"},
        {"name": "ops", "role": "partner", "initiative_codes": ["CP-01", "\udcff"]},
    ]
    for attempt in attempts:
        arguments: dict[str, Any] = {"role": "viewer", "created_by": "cli:ops", **attempt}
        # when / then: refused with a message, nothing written
        with pytest.raises(DomainError):
            async with db.sessions() as session, session.begin():
                await create_key(session, **arguments)
    with pytest.raises(DomainError, match="name"):
        async with db.sessions() as session, session.begin():
            await revoke_key(session, "ops\udcff")
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.ApiKey)) == 0
