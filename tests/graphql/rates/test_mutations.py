"""Exchange rates: only admins write them, and never from under a record that needs one."""

from __future__ import annotations

import json
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
mutation($input: CreateExchangeRateInput!) {
  createExchangeRate(input: $input) {
    exchangeRate { id version base quote rate rateDate source sourceDocument { ref } }
    errors { field code message }
  }
}"""
UPDATE = """
mutation($input: UpdateExchangeRateInput!) {
  updateExchangeRate(input: $input) {
    exchangeRate { id version rate rateDate }
    errors { field code message }
  }
}"""
ARCHIVE = """
mutation($input: ArchiveInput!) {
  archiveExchangeRate(input: $input) {
    exchangeRate { id base quote }
    errors { field code message }
  }
}"""

# A week ahead, not a day: parameters are computed when the tests are collected, and
# a run that crosses midnight (UTC) would otherwise find "tomorrow" is today.
NEXT_WEEK = (today() + timedelta(days=7)).isoformat()


@dataclass
class Setup:
    initiative: m.Initiative
    line: m.BudgetLine
    rate: m.ExchangeRate
    document: m.SourceDocument
    admin: GraphQLClient
    editor: GraphQLClient
    auditor: GraphQLClient

    @property
    def rate_id(self) -> str:
        return encode_global_id("ExchangeRate", self.rate.id)

    def new(self, **changes: Any) -> dict[str, Any]:
        return {
            "base": "EUR",
            "quote": "CNY",
            "rate": "7.8123456789",
            "rateDate": "2023-03-01",
            "source": "ECB reference rate",
            "sourceDocumentId": encode_global_id("SourceDocument", self.document.id),
            **changes,
        }


@pytest.fixture
async def setup(db: Database, client: GraphQLClient) -> Setup:
    async with db.sessions() as session, session.begin():
        # A CNY programme with a USD budget line valued 2022-01-01, converted by one rate.
        initiative = await f.initiative(session, await f.program(session, pledged_currency="CNY"))
        line = await f.budget_line(session, initiative, currency="USD")
        rate = await f.exchange_rate(
            session, base="USD", quote="CNY", rate=Decimal("6.45"), rate_date=date(2021, 6, 1)
        )
        document = m.SourceDocument(ref="ecb-2023", title="ECB rates")
        session.add(document)
        await session.flush()
        keys = [
            await f.api_key(session, role, name=f"{role}-1")
            for role in ("admin", "editor", "auditor")
        ]
    return Setup(initiative, line, rate, document, *(client.with_key(k) for k in keys))


async def counts(db: Database) -> tuple[int, int]:
    """(exchange rates, trail entries)."""
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(m.ExchangeRate)) or 0,
            await session.scalar(select(func.count()).select_from(m.Change)) or 0,
        )


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def test_an_admin_adds_a_rate_and_corrects_it(db: Database, setup: Setup) -> None:
    # when
    created = await setup.admin.data(CREATE, {"input": setup.new()})
    rate = created["createExchangeRate"]["exchangeRate"]
    updated = await setup.admin.data(
        UPDATE, {"input": {"id": rate["id"], "version": 1, "rate": "7.81"}}
    )
    # then
    assert created["createExchangeRate"]["errors"] == []
    assert (rate["version"], rate["base"], rate["quote"], rate["rate"]) == (
        1,
        "EUR",
        "CNY",
        "7.8123456789",
    )
    assert rate["sourceDocument"] == {"ref": "ecb-2023"}
    assert updated["updateExchangeRate"]["errors"] == []
    assert updated["updateExchangeRate"]["exchangeRate"]["version"] == 2
    assert updated["updateExchangeRate"]["exchangeRate"]["rate"] == "7.8100000000"
    async with db.sessions() as session:
        entries = (
            await session.scalars(
                select(m.Change)
                .where(m.Change.entity_type == "exchange_rates", m.Change.actor_name == "admin-1")
                .order_by(m.Change.sequence)
            )
        ).all()
    assert [(e.operation, e.actor_role) for e in entries] == [
        ("create", "admin"),
        ("update", "admin"),
    ]
    assert json.loads(entries[1].before or "")["rate"] == "7.8123456789"


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"base": "RMB"}, "base", "INVALID_CURRENCY"),
        ({"quote": "cny"}, "quote", "INVALID_CURRENCY"),
        ({"quote": "EUR"}, "quote", "VALIDATION"),
        ({"rate": "0"}, "rate", "VALIDATION"),
        ({"rate": "-7.8"}, "rate", "VALIDATION"),
        ({"rate": "7.12345678901"}, "rate", "VALIDATION"),
        ({"rate": "100000000"}, "rate", "VALIDATION"),
        ({"rateDate": NEXT_WEEK}, "rateDate", "VALIDATION"),
        ({"source": " "}, "source", "VALIDATION"),
        ({"source": "s" * 301}, "source", "VALIDATION"),
        (
            {"sourceDocumentId": encode_global_id("SourceDocument", 9999)},
            "sourceDocumentId",
            "NOT_FOUND",
        ),
        ({"base": "USD", "rateDate": "2021-06-01"}, "rateDate", "ALREADY_EXISTS"),
    ],
)
async def test_a_bad_rate_is_refused_and_nothing_is_written(
    db: Database, setup: Setup, changes: dict[str, Any], field: str, code: str
) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.admin.data(CREATE, {"input": setup.new(**changes)})
    # then
    assert data["createExchangeRate"]["exchangeRate"] is None
    assert codes(data["createExchangeRate"]) == [(field, code)]
    assert await counts(db) == before


async def test_the_rate_a_budget_line_needs_is_not_archived(db: Database, setup: Setup) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.admin.data(ARCHIVE, {"input": {"id": setup.rate_id, "version": 1}})
    # then
    payload = data["archiveExchangeRate"]
    assert codes(payload) == [("id", "CONFLICT")]
    assert encode_global_id("BudgetLine", setup.line.id) in payload["errors"][0]["message"]
    assert "CNY" in payload["errors"][0]["message"]
    assert await counts(db) == before


async def test_nor_moved_past_the_value_date_it_converts(db: Database, setup: Setup) -> None:
    # given
    before = await counts(db)
    # when
    moved = await setup.admin.data(
        UPDATE, {"input": {"id": setup.rate_id, "version": 1, "rateDate": "2022-01-02"}}
    )
    corrected = await setup.admin.data(
        UPDATE, {"input": {"id": setup.rate_id, "version": 1, "rate": "6.46"}}
    )
    # then
    assert codes(moved["updateExchangeRate"]) == [("id", "CONFLICT")]
    assert corrected["updateExchangeRate"]["errors"] == []
    assert corrected["updateExchangeRate"]["exchangeRate"]["version"] == 2
    assert (await counts(db))[0] == before[0]


async def test_a_rate_is_archived_once_another_converts_the_same_records(
    db: Database, setup: Setup
) -> None:
    # given: the reverse pair, dated earlier, converts the line too
    await setup.admin.data(
        CREATE,
        {"input": setup.new(base="CNY", quote="USD", rate="0.155", rateDate="2021-01-01")},
    )
    # when
    data = await setup.admin.data(ARCHIVE, {"input": {"id": setup.rate_id, "version": 1}})
    # then
    assert data["archiveExchangeRate"]["errors"] == []
    assert data["archiveExchangeRate"]["exchangeRate"] == {
        "id": setup.rate_id,
        "base": "USD",
        "quote": "CNY",
    }
    summary = await setup.admin.data("{ exchangeRates { totalCount } }")
    assert summary["exchangeRates"]["totalCount"] == 1


async def test_the_rate_a_transaction_needs_is_not_archived(db: Database, setup: Setup) -> None:
    # given: a EUR transaction and its only rate into CNY
    created = await setup.admin.data(CREATE, {"input": setup.new(rateDate="2022-01-01")})
    rate = created["createExchangeRate"]["exchangeRate"]
    async with db.sessions() as session, session.begin():
        tx = await f.transaction(session, setup.initiative, currency="EUR")
    before = await counts(db)
    # when
    data = await setup.admin.data(ARCHIVE, {"input": {"id": rate["id"], "version": 1}})
    # then
    message = data["archiveExchangeRate"]["errors"][0]["message"]
    assert codes(data["archiveExchangeRate"]) == [("id", "CONFLICT")]
    assert f"transaction {encode_global_id('Transaction', tx.id)}" in message
    assert await counts(db) == before


async def test_stale_and_missing_rates(db: Database, setup: Setup) -> None:
    # given
    await setup.admin.data(UPDATE, {"input": {"id": setup.rate_id, "version": 1, "rate": "6.5"}})
    before = await counts(db)
    # when
    stale = await setup.admin.data(
        UPDATE, {"input": {"id": setup.rate_id, "version": 1, "source": "x"}}
    )
    missing = await setup.admin.data(
        ARCHIVE, {"input": {"id": encode_global_id("ExchangeRate", 9999), "version": 1}}
    )
    # then
    assert codes(stale["updateExchangeRate"]) == [("version", "CONFLICT")]
    assert codes(missing["archiveExchangeRate"]) == [("id", "NOT_FOUND")]
    assert await counts(db) == before


@pytest.mark.parametrize("role", ["editor", "auditor"])
async def test_only_admins_manage_rates(db: Database, setup: Setup, role: str) -> None:
    # given
    caller = setup.editor if role == "editor" else setup.auditor
    before = await counts(db)
    # when
    created = await caller.data(CREATE, {"input": setup.new()})
    updated = await caller.data(UPDATE, {"input": {"id": setup.rate_id, "version": 1, "rate": "7"}})
    archived = await caller.data(ARCHIVE, {"input": {"id": setup.rate_id, "version": 1}})
    # then
    assert codes(created["createExchangeRate"]) == [(None, "FORBIDDEN")]
    assert codes(updated["updateExchangeRate"]) == [(None, "FORBIDDEN")]
    assert codes(archived["archiveExchangeRate"]) == [(None, "FORBIDDEN")]
    assert await counts(db) == before
