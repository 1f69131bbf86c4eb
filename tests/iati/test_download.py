"""The IATI file over HTTP: the export permission, partner scope and asOf, as every
download has them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from app import models as m
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.iati.oracle import assert_valid
from tests.iati.pledges import full_pledge

URL = "/exports/iati.xml"


async def key(db: Database, role: str, initiatives: tuple[str, ...] = ()) -> dict[str, str]:
    async with db.sessions() as session, session.begin():
        secret = await f.api_key(session, role, initiatives=initiatives)
    return {"Authorization": f"Bearer {secret}"}


async def test_an_auditor_downloads_the_file_as_xml_with_its_name(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await full_pledge(db)
    headers = await key(db, "auditor")
    # when
    response = await client.http.get(URL, params={"program": "pledge-1"}, headers=headers)
    # then
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="iati-pledge-1.xml"'
    root = assert_valid(response.content)
    assert root.xpath("//iati-identifier/text()") == [
        "sponsor-org-pledge-1",
        "sponsor-org-JOBS",
        "sponsor-org-FUND",
    ]


async def test_a_viewer_without_the_export_permission_is_refused(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await full_pledge(db)
    headers = await key(db, "viewer")
    # when
    response = await client.http.get(URL, headers=headers)
    # then
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert b"pledge-1" not in response.content


async def test_without_a_key_and_without_anonymous_reading_the_caller_must_authenticate(
    db: Database, client_with
) -> None:  # type: ignore[no-untyped-def]
    await full_pledge(db)
    response = await client_with(anonymous_read=False).http.get(URL)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_partner_sees_only_its_initiatives(db: Database, client: GraphQLClient) -> None:
    # given
    await full_pledge(db)
    headers = await key(db, "partner", ("JOBS",))
    # when
    response = await client.http.get(URL, headers=headers)
    # then
    assert response.status_code == 200, response.text
    root = assert_valid(response.content)
    assert root.xpath("//iati-identifier/text()") == ["sponsor-org-pledge-1", "sponsor-org-JOBS"]
    assert root.xpath("//related-activity[@type='2']/@ref") == ["sponsor-org-JOBS"]
    # FUND's budgets and its reduction are nowhere, not even in the parent's weights.
    assert "-5.25" not in response.text and "250.50" not in response.text
    assert root.xpath("//iati-activity[@hierarchy='1']/sector/@code") == [
        "high-quality-jobs",
        "16020",
    ]


async def test_a_partner_of_another_programme_gets_nothing_of_this_one(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await full_pledge(db)
    async with db.sessions() as session, session.begin():
        other = await f.initiative(session, await f.program(session, ref="other"), code="OTHER")
        await f.budget_line(session, other)
    headers = await key(db, "partner", ("OTHER",))
    # when
    response = await client.http.get(URL, params={"program": "pledge-1"}, headers=headers)
    # then
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_as_of_gives_the_file_as_it_stood(db: Database, client: GraphQLClient) -> None:
    # given
    await full_pledge(db)
    headers = await key(db, "auditor")
    await asyncio.sleep(0.002)
    moment = datetime.now(UTC)
    await asyncio.sleep(0.002)
    async with db.sessions() as session, session.begin():
        jobs = await session.scalar(select(m.Initiative).where(m.Initiative.code == "JOBS"))
        assert jobs is not None
        await f.transaction(session, jobs, amount=Decimal("4242.42"))
    # when
    then = await client.http.get(URL, params={"asOf": moment.isoformat()}, headers=headers)
    now = await client.http.get(URL, headers=headers)
    # then
    assert then.status_code == now.status_code == 200
    assert "4242.42" not in assert_valid(then.content).xpath("//value/text()")
    assert "4242.42" in assert_valid(now.content).xpath("//value/text()")


async def test_a_bad_as_of_is_refused(db: Database, client: GraphQLClient) -> None:
    await full_pledge(db)
    headers = await key(db, "auditor")
    response = await client.http.get(URL, params={"asOf": "2024-01-01T00:00:00"}, headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_a_future_transaction_refuses_the_file(db: Database, client: GraphQLClient) -> None:
    # given
    await full_pledge(db)
    async with db.sessions() as session, session.begin():
        jobs = await session.scalar(select(m.Initiative).where(m.Initiative.code == "JOBS"))
        assert jobs is not None
        await f.transaction(
            session, jobs, transaction_date=datetime.now(UTC).date() + timedelta(days=3)
        )
    headers = await key(db, "auditor")
    # when
    response = await client.http.get(URL, headers=headers)
    # then
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "NOT_PUBLISHABLE"
    assert "sponsor-org-JOBS" in error["message"]


async def test_an_admin_uploads_an_iati_file_and_hears_what_was_not_read(
    db: Database, client: GraphQLClient
) -> None:
    # given
    from tests.iati.test_reader import FOREIGN

    admin = await key(db, "admin")
    # when
    response = await client.http.post(
        "/imports", content=FOREIGN, headers=admin | {"Content-Type": "application/xml"}
    )
    # then
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["written"], report["refused"]) == (True, False)
    assert report["summary"]["transaction"]["create"] == 1
    assert any("not read: location" in note for note in report["notes"])
    async with db.sessions() as session:
        initiative = await session.scalar(select(m.Initiative).where(m.Initiative.code == "C"))
    assert initiative is not None and initiative.region == "KE"
