"""The root fields that find one record without a list: `initiative(code:)` and `program`
without an ID (the first programme), through their domains' repositories."""

from __future__ import annotations

from app.kit.ids import encode_global_id
from tests import factories as f
from tests.conftest import Database, GraphQLClient

BY_CODE = "query($code: String) { initiative(code: $code) { id code } }"


async def test_an_initiative_is_found_by_its_code(db: Database, client: GraphQLClient) -> None:
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        await f.initiative(session, program, code="CP-01")
        wanted = await f.initiative(session, program, code="CP-02")
    # when
    data = await client.data(BY_CODE, {"code": "CP-02"})
    # then
    assert data["initiative"] == {
        "id": encode_global_id("Initiative", wanted.id),
        "code": "CP-02",
    }


async def test_an_unknown_code_finds_nothing(db: Database, client: GraphQLClient) -> None:
    async with db.sessions() as session, session.begin():
        await f.initiative(session, await f.program(session), code="CP-01")
    data = await client.data(BY_CODE, {"code": "CP-99"})
    assert data["initiative"] is None


async def test_an_initiative_takes_exactly_one_of_id_and_code(
    db: Database, client: GraphQLClient
) -> None:
    async with db.sessions() as session, session.begin():
        row = await f.initiative(session, await f.program(session), code="CP-01")
    both = await client.error(
        'query($id: ID) { initiative(id: $id, code: "CP-01") { code } }',
        {"id": encode_global_id("Initiative", row.id)},
    )
    neither = await client.error("{ initiative { code } }")
    assert (both["extensions"]["code"], both["extensions"]["field"]) == ("INVALID_ARGUMENT", "id")
    assert (neither["extensions"]["code"], neither["extensions"]["field"]) == (
        "INVALID_ARGUMENT",
        "code",
    )


async def test_program_without_an_id_is_the_first_programme(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        first = await f.program(session, name="First pledge")
        await f.program(session, name="Second pledge")
    # when
    data = await client.data("{ program { id name } }")
    # then
    assert data["program"] == {"id": encode_global_id("Program", first.id), "name": "First pledge"}


async def test_program_without_an_id_is_null_when_there_is_none(
    db: Database, client: GraphQLClient
) -> None:
    data = await client.data("{ program { name } }")
    assert data["program"] is None
