"""Beneficiary groups and shares: a share is a part of one initiative's money, the
shares of an initiative add up to at most 100, also when two editors write at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.config import Settings
from app.engines import ledger_engine
from app.kit.ids import encode_global_id
from app.main import create_app
from app.writes import service
from tests import factories as f
from tests.conftest import Database, GraphQLClient

CREATE_GROUP = """
mutation($input: CreateBeneficiaryGroupInput!) {
  createBeneficiaryGroup(input: $input) {
    beneficiaryGroup { id version code name description }
    errors { field code message }
  }
}"""
UPDATE_GROUP = """
mutation($input: UpdateBeneficiaryGroupInput!) {
  updateBeneficiaryGroup(input: $input) {
    beneficiaryGroup { version code } errors { field code message }
  }
}"""
ARCHIVE_GROUP = """
mutation($input: ArchiveInput!) {
  archiveBeneficiaryGroup(input: $input) { beneficiaryGroup { code } errors { field code message } }
}"""
CREATE_SHARE = """
mutation($input: CreateBeneficiaryShareInput!) {
  createBeneficiaryShare(input: $input) {
    beneficiaryShare { id version percentage group { code } initiative { code } }
    errors { field code message }
  }
}"""
UPDATE_SHARE = """
mutation($input: UpdateBeneficiaryShareInput!) {
  updateBeneficiaryShare(input: $input) {
    beneficiaryShare { version percentage } errors { field code message }
  }
}"""
SHARES = (
    "query($id: ID!) { node(id: $id) { ... on Initiative { beneficiaryShares { percentage } } } }"
)


@dataclass
class Setup:
    editor: GraphQLClient
    secret: str
    initiative: str
    groups: list[str]

    def share(self, group: int, percentage: str) -> dict[str, Any]:
        return {
            "initiativeId": self.initiative,
            "groupId": self.groups[group],
            "percentage": percentage,
        }


@pytest.fixture
async def setup(db: Database, client: GraphQLClient) -> Setup:
    async with db.sessions() as session, session.begin():
        initiative = await f.initiative(session, await f.program(session))
        groups = [await f.beneficiary_group(session) for _ in range(3)]
        secret = await f.api_key(session, "editor", name="editor-1")
    return Setup(
        client.with_key(secret),
        secret,
        encode_global_id("Initiative", initiative.id),
        [encode_global_id("BeneficiaryGroup", g.id) for g in groups],
    )


async def counts(db: Database) -> tuple[int, int, int]:
    """(groups, shares, trail entries)."""
    async with db.sessions() as session:
        return (
            await session.scalar(select(func.count()).select_from(m.BeneficiaryGroup)) or 0,
            await session.scalar(select(func.count()).select_from(m.BeneficiaryShare)) or 0,
            await session.scalar(select(func.count()).select_from(m.Change)) or 0,
        )


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def share(setup: Setup, group: int, percentage: str) -> dict[str, Any]:
    payload = (await setup.editor.data(CREATE_SHARE, {"input": setup.share(group, percentage)}))[
        "createBeneficiaryShare"
    ]
    assert payload["errors"] == [], payload["errors"]
    created: dict[str, Any] = payload["beneficiaryShare"]
    return created


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": ""}, "code"),
        ({"code": "c" * 65}, "code"),
        ({"name": ""}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"description": "d" * 10_001}, "description"),
    ],
)
async def test_a_bad_group_is_refused_and_nothing_is_written(
    db: Database, setup: Setup, changes: dict[str, Any], field: str
) -> None:
    # given
    before = await counts(db)
    new = {"code": "farmers", "name": "Farmers", **changes}
    # when
    data = await setup.editor.data(CREATE_GROUP, {"input": new})
    # then
    assert codes(data["createBeneficiaryGroup"]) == [(field, "VALIDATION")]
    assert await counts(db) == before


async def test_a_group_code_in_use_is_already_taken(db: Database, setup: Setup) -> None:
    # given
    first = await setup.editor.data(CREATE_GROUP, {"input": {"code": "farmers", "name": "F"}})
    second = await setup.editor.data(CREATE_GROUP, {"input": {"code": "herders", "name": "H"}})
    before = await counts(db)
    other = second["createBeneficiaryGroup"]["beneficiaryGroup"]
    # when
    again = await setup.editor.data(CREATE_GROUP, {"input": {"code": "farmers", "name": "F2"}})
    renamed = await setup.editor.data(
        UPDATE_GROUP, {"input": {"id": other["id"], "version": 1, "code": "farmers"}}
    )
    # then
    assert first["createBeneficiaryGroup"]["errors"] == []
    assert codes(again["createBeneficiaryGroup"]) == [("code", "ALREADY_EXISTS")]
    assert codes(renamed["updateBeneficiaryGroup"]) == [("code", "ALREADY_EXISTS")]
    assert await counts(db) == before


async def test_a_group_counted_by_figures_or_shares_is_not_archived(
    db: Database, setup: Setup
) -> None:
    # given: the first group has a share, and a figure
    await share(setup, 0, "10")
    async with db.sessions() as session, session.begin():
        initiative = await session.scalar(select(m.Initiative))
        group = await session.scalar(select(m.BeneficiaryGroup).order_by(m.BeneficiaryGroup.id))
        assert initiative is not None and group is not None
        await f.beneficiary_figure(session, initiative, group)
    before = await counts(db)
    # when
    data = await setup.editor.data(ARCHIVE_GROUP, {"input": {"id": setup.groups[0], "version": 1}})
    unused = await setup.editor.data(
        ARCHIVE_GROUP, {"input": {"id": setup.groups[2], "version": 1}}
    )
    # then
    payload = data["archiveBeneficiaryGroup"]
    assert codes(payload) == [("id", "CONFLICT")]
    assert "1 beneficiary figure(s) and 1 share(s)" in payload["errors"][0]["message"]
    assert unused["archiveBeneficiaryGroup"]["errors"] == []
    assert await counts(db) == (before[0] - 1, before[1], before[2] + 1)


async def test_shares_split_an_initiative_up_to_a_whole(db: Database, setup: Setup) -> None:
    # when
    first = await share(setup, 0, "33.3333")
    second = await share(setup, 1, "66.6667")
    # then
    assert first["group"] is not None and first["initiative"] is not None
    assert (first["percentage"], second["percentage"]) == ("33.3333", "66.6667")
    read = await setup.editor.data(SHARES, {"id": setup.initiative})
    assert read["node"]["beneficiaryShares"] == [
        {"percentage": "33.3333"},
        {"percentage": "66.6667"},
    ]


@pytest.mark.parametrize("percentage", ["0", "-5", "100.0001", "101", "12.34567"])
async def test_a_share_outside_0_to_100_is_refused(
    db: Database, setup: Setup, percentage: str
) -> None:
    # given
    before = await counts(db)
    # when
    data = await setup.editor.data(CREATE_SHARE, {"input": setup.share(0, percentage)})
    # then
    assert codes(data["createBeneficiaryShare"]) == [("percentage", "VALIDATION")]
    assert await counts(db) == before


async def test_shares_beyond_a_whole_are_refused(db: Database, setup: Setup) -> None:
    # given: 70 % taken
    first = await share(setup, 0, "70")
    before = await counts(db)
    # when
    created = await setup.editor.data(CREATE_SHARE, {"input": setup.share(1, "30.0001")})
    grown = await setup.editor.data(
        UPDATE_SHARE, {"input": {"id": first["id"], "version": 1, "percentage": "100.0001"}}
    )
    # then
    payload = created["createBeneficiaryShare"]
    assert codes(payload) == [("percentage", "VALIDATION")]
    assert "may be at most 30" in payload["errors"][0]["message"]
    assert codes(grown["updateBeneficiaryShare"]) == [("percentage", "VALIDATION")]
    assert await counts(db) == before
    # and a share's own percentage does not count against it
    resized = await setup.editor.data(
        UPDATE_SHARE, {"input": {"id": first["id"], "version": 1, "percentage": "100"}}
    )
    assert resized["updateBeneficiaryShare"]["beneficiaryShare"] == {
        "version": 2,
        "percentage": "100.0000",
    }


async def test_a_group_has_one_share_of_an_initiative(db: Database, setup: Setup) -> None:
    # given
    await share(setup, 0, "10")
    before = await counts(db)
    # when
    data = await setup.editor.data(CREATE_SHARE, {"input": setup.share(0, "5")})
    missing = await setup.editor.data(
        CREATE_SHARE,
        {"input": {**setup.share(1, "5"), "initiativeId": encode_global_id("Initiative", 999)}},
    )
    # then
    assert codes(data["createBeneficiaryShare"]) == [("groupId", "ALREADY_EXISTS")]
    assert codes(missing["createBeneficiaryShare"]) == [("initiativeId", "NOT_FOUND")]
    assert await counts(db) == before


@pytest.fixture
async def second_server(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another app with its own engine and pool, as a second server process has."""
    engine = ledger_engine(db.url)
    app = create_app(settings.model_copy(update={"database_url": db.url}), engine=engine)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as http:
            yield http
    finally:
        await engine.dispose()


async def test_two_shares_written_at_once_never_pass_a_whole(
    db: Database, setup: Setup, second_server: httpx.AsyncClient
) -> None:
    """Each writer holds the ledger's lock a while before it checks: without the lock,
    both would find 0 % taken and both 60 % would be written."""

    async def stall(_session: AsyncSession) -> None:
        await asyncio.sleep(0.3)

    other = GraphQLClient(second_server).with_key(setup.secret)
    service.lock_held_hook = stall
    try:
        # when
        results = await asyncio.gather(
            setup.editor.data(CREATE_SHARE, {"input": setup.share(0, "60")}),
            other.data(CREATE_SHARE, {"input": setup.share(1, "60")}),
        )
    finally:
        service.lock_held_hook = None
    # then: one is written, the other is refused
    outcomes = sorted(codes(r["createBeneficiaryShare"]) for r in results)
    assert outcomes == [[], [("percentage", "VALIDATION")]]
    read = await setup.editor.data(SHARES, {"id": setup.initiative})
    assert read["node"]["beneficiaryShares"] == [{"percentage": "60.0000"}]
