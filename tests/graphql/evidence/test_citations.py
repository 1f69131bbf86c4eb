"""Citations: the words of a source behind one field of any citable record, the field
named as the API names it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from app import models as m
from app.kit.ids import encode_global_id
from tests import factories as f
from tests.conftest import Database, GraphQLClient

CREATE = """
mutation($input: CreateCitationInput!) {
  createCitation(input: $input) {
    citation {
      id version subjectType field quote translation isEstimate note
      document { ref } subject { id }
    }
    errors { field code message }
  }
}"""
UPDATE = """
mutation($input: UpdateCitationInput!) {
  updateCitation(input: $input) {
    citation { version field isEstimate note document { ref } } errors { field code message }
  }
}"""


@dataclass
class Setup:
    editor: GraphQLClient
    ids: dict[str, str]  # global IDs by type name

    def new(self, **changes: Any) -> dict[str, Any]:
        return {
            "sourceDocumentId": self.ids["SourceDocument"],
            "subjectId": self.ids["Program"],
            "field": "pledged",
            "quote": "1 000 Milliarden Yuan",
            "translation": "1,000 billion yuan",
            **changes,
        }


@pytest.fixture
async def setup(db: Database, client: GraphQLClient) -> Setup:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiative = await f.initiative(session, program)
        group = await f.beneficiary_group(session)
        records: dict[str, Any] = {
            "Program": program,
            "Initiative": initiative,
            "Organization": await f.organization(session),
            "BudgetLine": await f.budget_line(session, initiative),
            "Transaction": await f.transaction(session, initiative),
            "Milestone": await f.milestone(session, initiative),
            "BeneficiaryGroup": group,
            "BeneficiaryFigure": await f.beneficiary_figure(session, initiative, group),
            "ExchangeRate": await f.exchange_rate(session),
            "Participation": m.Participation(
                initiative_id=initiative.id,
                organization_id=program.sponsor_id,
                role=m.ParticipationRole.FUNDING,
            ),
            "SourceDocument": m.SourceDocument(ref="doc", title="Bericht"),
        }
        session.add_all([records["Participation"], records["SourceDocument"]])
        await session.flush()
        editor = await f.api_key(session, "editor", name="editor-1")
    ids = {name: encode_global_id(name, row.id) for name, row in records.items()}
    return Setup(client.with_key(editor), ids)


async def counts(db: Database) -> tuple[int, int]:
    """(citations, trail entries)."""
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(m.Citation)) or 0,
            await session.scalar(select(func.count()).select_from(m.Change)) or 0,
        )


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


# One field of each citable kind, as the API names it.
FIELDS = {
    "Program": "governance.lead",
    "Initiative": "plannedEnd",
    "Organization": "headquarters",
    "BudgetLine": "amount",
    "Transaction": "date",
    "Milestone": "plannedDate",
    "BeneficiaryGroup": "name",
    "BeneficiaryFigure": "reachedAsOf",
    "ExchangeRate": "rate",
}


@pytest.mark.parametrize(("type_name", "field"), FIELDS.items())
async def test_any_citable_record_is_cited_on_one_of_its_fields(
    setup: Setup, type_name: str, field: str
) -> None:
    # when
    data = await setup.editor.data(
        CREATE, {"input": setup.new(subjectId=setup.ids[type_name], field=field)}
    )
    # then
    payload = data["createCitation"]
    assert payload["errors"] == []
    citation = payload["citation"]
    assert citation["subject"] == {"id": setup.ids[type_name]}
    assert (citation["field"], citation["document"]) == (field, {"ref": "doc"})


async def test_a_citation_is_corrected(setup: Setup) -> None:
    # given
    created = (await setup.editor.data(CREATE, {"input": setup.new()}))["createCitation"]
    # when
    data = await setup.editor.data(
        UPDATE,
        {
            "input": {
                "id": created["citation"]["id"],
                "version": 1,
                "field": None,
                "isEstimate": True,
                "note": "rounded by the source",
            }
        },
    )
    # then
    assert data["updateCitation"]["citation"] == {
        "version": 2,
        "field": None,
        "isEstimate": True,
        "note": "rounded by the source",
        "document": {"ref": "doc"},
    }


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"field": "pledge"}, ("field", "VALIDATION")),
        ({"field": "governance.nobody"}, ("field", "VALIDATION")),
        ({"field": "history"}, ("field", "VALIDATION")),
        ({"field": "f" * 65}, ("field", "VALIDATION")),
        ({"quote": " "}, ("quote", "VALIDATION")),
        ({"quote": "q" * 10_001}, ("quote", "VALIDATION")),
        ({"translation": "t" * 10_001}, ("translation", "VALIDATION")),
        ({"note": "n" * 10_001}, ("note", "VALIDATION")),
        ({"subjectId": encode_global_id("Program", 999)}, ("subjectId", "NOT_FOUND")),
        ({"subjectId": "not-an-id"}, ("subjectId", "INVALID_ID")),
        (
            {"sourceDocumentId": encode_global_id("SourceDocument", 999)},
            ("sourceDocumentId", "NOT_FOUND"),
        ),
    ],
)
async def test_a_bad_citation_is_refused_and_nothing_is_written(
    db: Database, setup: Setup, changes: dict[str, Any], error: tuple[str, str]
) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.editor.data(CREATE, {"input": setup.new(**changes)})
    # then
    assert data["createCitation"]["citation"] is None
    assert codes(data["createCitation"]) == [error]
    assert await counts(db) == before


@pytest.mark.parametrize("type_name", ["Participation", "SourceDocument"])
async def test_records_citations_cannot_point_at_are_refused(
    db: Database, setup: Setup, type_name: str
) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.editor.data(CREATE, {"input": setup.new(subjectId=setup.ids[type_name])})
    # then
    payload = data["createCitation"]
    assert codes(payload) == [("subjectId", "INVALID_ID")]
    assert f"a {type_name} is not cited" in payload["errors"][0]["message"]
    assert await counts(db) == before


async def test_every_citation_of_the_demo_names_a_field_its_record_has(
    demo: Database, client: GraphQLClient
) -> None:
    """The rule checks what the demo's citations were written with: rechecking each
    (an update that changes nothing runs every rule) finds no problem."""
    # given
    async with demo.sessions() as session, session.begin():
        editor = client.with_key(await f.api_key(session, "editor", name="editor-demo"))
        citations = (await session.scalars(select(m.Citation))).all()
    assert citations
    # when
    problems = []
    for citation in citations:
        data = await editor.data(
            UPDATE,
            {
                "input": {
                    "id": encode_global_id("Citation", citation.id),
                    "version": citation.version,
                    "field": citation.field,
                }
            },
        )
        problems.extend(data["updateCitation"]["errors"])
    # then
    assert problems == []
