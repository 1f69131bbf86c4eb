"""The demo, loaded by the importer, answers every report as it did when it was loaded
row by row (tests/imports/demo_oracle.py, the loader before the importer)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from app.demo.loader import load_demo
from tests.conftest import Database, GraphQLClient, empty_tables
from tests.imports.demo_oracle import load_demo_the_old_way

README = Path(__file__).resolve().parents[2] / "README.md"
# The README's tour: the reports a newcomer runs first.
TOUR = [
    query
    for query in re.findall(r"```graphql\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    if not query.lstrip().startswith("subscription") and "downloadLink" not in query
]
EVERYTHING = """
query {
  program {
    ref name summary announcedOn deadline governance { body lead }
    sponsor { ref name kind headquarters description }
    pledged { amount currency } allocated { amount currency } unallocated { amount currency }
    pledgedIn(currency: "USD") { amount rate rateDate rateIsEstimate }
    figures { budgetCurrent { amount } }
    sources(first: 100) { nodes { field quote translation isEstimate note } }
    initiatives(first: 20) { nodes {
      code position title summary focusArea status plannedStart actualStart plannedEnd
      actualEnd region budget { amount currency } committed { amount } spent { amount }
      beneficiaryShares { percentage }
      sources(first: 100) { nodes { field quote translation isEstimate note } }
      participants(first: 20) { nodes { role organization { ref } } }
      budgetLines(first: 20) { nodes {
        periodStart periodEnd type status category amount { amount currency } description
        sources(first: 20) { nodes { field quote isEstimate note } } } }
      milestones(first: 20) { nodes {
        title description plannedDate forecastDate actualDate status
        sources(first: 20) { nodes { field quote isEstimate note } } } }
      beneficiaries(first: 20) { nodes {
        group { code name description } unit target targetDate reached reachedQualifier
        reachedAsOf approvedBy
        sources(first: 20) { nodes { field quote translation isEstimate note } } } }
    } }
  }
  exchangeRates { nodes { base quote rate rateDate source sourceDocument { ref } } }
  sourceDocuments { nodes { ref title url publisher publishedOn language category } }
  beneficiaryGroups(first: 50) { nodes { code name description } }
  organizations { nodes { ref name kind } }
}
"""
# What differs between two loads of the same facts: row ids and the moment of loading.
_MOMENTS = {"id", "createdAt", "updatedAt", "approvedAt", "occurredAt", "cursor", "sequence"}


def _facts(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _facts(v) for k, v in value.items() if k not in _MOMENTS}
    if isinstance(value, list):
        return sorted((_facts(v) for v in value), key=repr)
    return value


async def _answers(client: GraphQLClient) -> list[Any]:
    return [_facts(await client.execute(query)) for query in [EVERYTHING, *TOUR]]


async def test_the_imported_demo_answers_every_report_as_the_old_loader_did(
    db: Database, client: GraphQLClient
) -> None:
    # given: the demo loaded row by row, and its answers
    async with db.sessions() as session, session.begin():
        old_rows = await load_demo_the_old_way(session)
    before = await _answers(client)
    await empty_tables(db.engine)
    # when: a fresh database loads it through the importer
    async with db.sessions() as session, session.begin():
        result = await load_demo(session)
    after = await _answers(client)
    # then
    assert len(TOUR) >= 8
    assert result.rows == old_rows
    assert after == before
    assert "errors" not in after[0] and after[0]["data"]["program"]["initiatives"]["nodes"]
