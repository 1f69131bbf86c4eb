"""Programmes: the pledge is exact money, its budgets stay within it, and a programme
with initiatives stays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.kit.ids import encode_global_id
from app.writes.checks import today
from tests import factories as f
from tests.conftest import Database, GraphQLClient

CREATE = """
mutation($input: CreateProgramInput!) {
  createProgram(input: $input) {
    program {
      id version ref name pledged { amount currency } allocated { amount currency }
      announcedOn deadline governance { body lead } sponsor { ref }
    }
    errors { field code message }
  }
}"""
UPDATE = """
mutation($input: UpdateProgramInput!) {
  updateProgram(input: $input) {
    program { version pledged { amount currency } allocated { amount currency } }
    errors { field code message }
  }
}"""
ARCHIVE = """
mutation($input: ArchiveInput!) {
  archiveProgram(input: $input) { program { ref } errors { field code message } }
}"""
# A week ahead: parameters are computed at collection, and a run may cross midnight.
NEXT_WEEK = (today() + timedelta(days=7)).isoformat()


@dataclass
class Setup:
    editor: GraphQLClient
    sponsor: str

    def new(self, **changes: Any) -> dict[str, Any]:
        return {
            "ref": "cp-2021",
            "name": "Common prosperity",
            "sponsorId": self.sponsor,
            "pledgedAmount": "100000000000.00",
            "pledgedCurrency": "CNY",
            "announcedOn": "2021-08-18",
            "deadline": "2025-12-31",
            "governanceBody": "Steering committee",
            "governanceLead": "Chair",
            **changes,
        }


@pytest.fixture
async def setup(db: Database, client: GraphQLClient) -> Setup:
    async with db.sessions() as session, session.begin():
        sponsor = await f.organization(session, ref="sponsor-1")
        editor = await f.api_key(session, "editor", name="editor-1")
    return Setup(client.with_key(editor), encode_global_id("Organization", sponsor.id))


async def counts(db: Database) -> tuple[int, int]:
    """(programmes, trail entries)."""
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(m.Program)) or 0,
            await session.scalar(select(func.count()).select_from(m.Change)) or 0,
        )


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def create(setup: Setup, **changes: Any) -> dict[str, Any]:
    payload = (await setup.editor.data(CREATE, {"input": setup.new(**changes)}))["createProgram"]
    assert payload["errors"] == [], payload["errors"]
    program: dict[str, Any] = payload["program"]
    return program


async def test_a_programme_reads_back_as_pledged(setup: Setup) -> None:
    # when
    program = await create(setup)
    # then
    assert program["version"] == 1
    assert program["pledged"] == {"amount": "100000000000.00", "currency": "CNY"}
    assert program["allocated"] == {"amount": "0.00", "currency": "CNY"}
    assert program["governance"] == {"body": "Steering committee", "lead": "Chair"}
    assert program["sponsor"] == {"ref": "sponsor-1"}


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [("1.234", "KWD", "1.234"), ("5000", "JPY", "5000"), ("0.1", "EUR", "0.10")],
)
async def test_a_pledge_is_held_to_its_currencys_minor_unit(
    setup: Setup, amount: str, currency: str, shown: str
) -> None:
    # when
    program = await create(setup, pledgedAmount=amount, pledgedCurrency=currency)
    # then
    assert program["pledged"] == {"amount": shown, "currency": currency}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"ref": ""}, ("ref", "VALIDATION")),
        ({"ref": "r" * 65}, ("ref", "VALIDATION")),
        ({"name": " "}, ("name", "VALIDATION")),
        ({"name": "n" * 301}, ("name", "VALIDATION")),
        ({"summary": "s" * 10_001}, ("summary", "VALIDATION")),
        ({"governanceBody": "b" * 301}, ("governanceBody", "VALIDATION")),
        ({"governanceLead": "l" * 301}, ("governanceLead", "VALIDATION")),
        ({"pledgedAmount": "-1"}, ("pledgedAmount", "VALIDATION")),
        ({"pledgedAmount": "10.005"}, ("pledgedAmount", "VALIDATION")),
        ({"pledgedAmount": "1.5", "pledgedCurrency": "JPY"}, ("pledgedAmount", "VALIDATION")),
        ({"pledgedAmount": "1" + "0" * 15}, ("pledgedAmount", "VALIDATION")),
        ({"pledgedCurrency": "RMB"}, ("pledgedCurrency", "INVALID_CURRENCY")),
        ({"announcedOn": NEXT_WEEK, "deadline": None}, ("announcedOn", "VALIDATION")),
        ({"deadline": "2021-08-17"}, ("deadline", "VALIDATION")),
        ({"sponsorId": encode_global_id("Organization", 9999)}, ("sponsorId", "NOT_FOUND")),
        ({"sponsorId": encode_global_id("Program", 1)}, ("sponsorId", "INVALID_ID")),
    ],
)
async def test_a_bad_programme_is_refused_and_nothing_is_written(
    db: Database, setup: Setup, changes: dict[str, Any], error: tuple[str, str]
) -> None:
    # given
    before = await counts(db)
    # when
    payload = (await setup.editor.data(CREATE, {"input": setup.new(**changes)}))["createProgram"]
    # then
    assert payload["program"] is None
    assert codes(payload) == [error]
    assert await counts(db) == before


async def test_a_ref_in_use_is_already_taken(db: Database, setup: Setup) -> None:
    # given
    await create(setup)
    other = await create(setup, ref="other")
    before = await counts(db)
    # when
    again = await setup.editor.data(CREATE, {"input": setup.new()})
    renamed = await setup.editor.data(
        UPDATE, {"input": {"id": other["id"], "version": 1, "ref": "cp-2021"}}
    )
    # then
    assert codes(again["createProgram"]) == [("ref", "ALREADY_EXISTS")]
    assert codes(renamed["updateProgram"]) == [("ref", "ALREADY_EXISTS")]
    assert await counts(db) == before


async def budgeted(db: Database, program_id: int, amount: str) -> None:
    """An initiative of the programme with a budget of `amount` CNY for 2022."""
    async with db.sessions() as session, session.begin():
        program = await session.get(m.Program, program_id)
        assert program is not None
        initiative = await f.initiative(session, program)
        await f.budget_line(session, initiative, amount=Decimal(amount))


async def test_a_pledge_cut_below_its_budgets_is_refused(db: Database, setup: Setup) -> None:
    # given: a programme of 1,000 CNY with 800 CNY budgeted
    program = await create(setup, pledgedAmount="1000.00")
    async with db.sessions() as session:
        pk = await session.scalar(select(m.Program.id).where(m.Program.ref == "cp-2021"))
    await budgeted(db, pk or 0, "800.00")
    before = await counts(db)
    # when
    cut = await setup.editor.data(
        UPDATE, {"input": {"id": program["id"], "version": 1, "pledgedAmount": "799.99"}}
    )
    kept = await setup.editor.data(
        UPDATE, {"input": {"id": program["id"], "version": 1, "pledgedAmount": "800"}}
    )
    # then
    assert codes(cut["updateProgram"]) == [("pledgedAmount", "PLEDGE_EXCEEDED")]
    assert "800.00 CNY" in cut["updateProgram"]["errors"][0]["message"]
    assert kept["updateProgram"]["errors"] == []
    assert kept["updateProgram"]["program"]["pledged"] == {"amount": "800.00", "currency": "CNY"}
    assert (await counts(db))[1] == before[1] + 1  # only the accepted change


async def test_a_new_pledge_currency_needs_rates_for_every_amount(
    db: Database, setup: Setup
) -> None:
    # given: 800 CNY budgeted, and no CNY→EUR rate yet
    program = await create(setup, pledgedAmount="1000.00")
    async with db.sessions() as session:
        pk = await session.scalar(select(m.Program.id).where(m.Program.ref == "cp-2021"))
    await budgeted(db, pk or 0, "800.00")
    to_eur = {"id": program["id"], "version": 1, "pledgedCurrency": "EUR", "pledgedAmount": "200"}
    before = await counts(db)
    # when
    refused = await setup.editor.data(UPDATE, {"input": to_eur})
    after_refusal = await counts(db)
    async with db.sessions() as session, session.begin():
        await f.exchange_rate(
            session, base="EUR", quote="CNY", rate=Decimal("8"), rate_date=date(2021, 12, 31)
        )
    accepted = await setup.editor.data(UPDATE, {"input": to_eur})
    # then
    assert codes(refused["updateProgram"]) == [("pledgedCurrency", "RATE_NOT_FOUND")]
    assert after_refusal == before
    assert accepted["updateProgram"]["errors"] == []
    assert accepted["updateProgram"]["program"]["allocated"] == {
        "amount": "100.00",
        "currency": "EUR",
    }


async def test_a_programme_with_initiatives_is_not_archived(db: Database, setup: Setup) -> None:
    # given
    program = await create(setup)
    async with db.sessions() as session:
        pk = await session.scalar(select(m.Program.id).where(m.Program.ref == "cp-2021"))
    await budgeted(db, pk or 0, "1.00")
    before = await counts(db)
    # when
    data = await setup.editor.data(ARCHIVE, {"input": {"id": program["id"], "version": 1}})
    # then
    assert codes(data["archiveProgram"]) == [("id", "CONFLICT")]
    assert "1 initiative(s)" in data["archiveProgram"]["errors"][0]["message"]
    assert await counts(db) == before


async def test_archiving_a_programme_takes_its_citations_along(db: Database, setup: Setup) -> None:
    # given: a programme whose pledge is cited
    program = await create(setup)
    async with db.sessions() as session, session.begin():
        pk = await session.scalar(select(m.Program.id).where(m.Program.ref == "cp-2021"))
        document = m.SourceDocument(ref="d", title="Announcement")
        session.add(document)
        await session.flush()
        session.add(
            m.Citation(
                source_document_id=document.id,
                subject_type=m.SubjectType.PROGRAM,
                subject_id=pk,
                field="pledged",
                quote="100 billion",
            )
        )
    # when
    data = await setup.editor.data(ARCHIVE, {"input": {"id": program["id"], "version": 1}})
    # then
    assert data["archiveProgram"]["errors"] == []
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.Citation)) == 0
        archived = (
            await session.scalars(
                select(m.Change.entity_type).where(m.Change.operation == "archive")
            )
        ).all()
    assert sorted(archived) == ["citations", "programs"]
