"""Signed download links: a CSV download a browser can open, without a header."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from pydantic import SecretStr

from app.auth import links
from app.auth import repository as repo
from app.auth.keys import caller_of_key, revoke_key
from app.models.access import ApiKeyInitiative
from tests import factories as f
from tests.auth.tokens import JWT_SETTINGS, token
from tests.conftest import Database, GraphQLClient
from tests.http.spreadsheets import rows
from tests.reports.budget.summaries import two_initiatives

LINK = """
query ($report: DownloadReport!, $parameters: [DownloadParameter!]) {
  downloadLink(report: $report, parameters: $parameters) { url expiresAt }
}"""
SECRET = "a-test-secret-of-more-than-32-bytes-0123"


async def key(db: Database, role: str, **kw: Any) -> str:
    async with db.sessions() as session, session.begin():
        return await f.api_key(session, role, **kw)


async def link_for(
    client: GraphQLClient, report: str = "BUDGET_SUMMARY", **parameters: str
) -> dict[str, Any]:
    given = [{"name": name, "value": value} for name, value in parameters.items()]
    data = await client.data(LINK, {"report": report, "parameters": given})
    link: dict[str, Any] = data["downloadLink"]
    return link


def changed(url: str, **replace: str) -> str:
    """The link with some query parameters replaced (or added)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    return f"{parts.path}?{urlencode({**query, **replace})}"


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == code


async def test_a_link_downloads_as_its_maker_without_a_header(
    db: Database, client: GraphQLClient
) -> None:
    # given an auditor, who may export
    await two_initiatives(db)
    auditor = client.with_key(await key(db, "auditor"))
    # when it asks for a link, and a browser opens it
    link = await link_for(auditor, groupBy="INITIATIVE", currency="CNY")
    opened = await client.http.get(link["url"])
    # then it is the download the auditor's key gets
    direct = await client.http.get(
        "/reports/budget-summary.csv",
        params={"groupBy": "INITIATIVE", "currency": "CNY"},
        headers=auditor.headers,
    )
    assert link["url"].startswith("/reports/budget-summary.csv?")
    assert opened.status_code == 200, opened.text
    assert opened.content == direct.content
    assert [r["initiative_code"] for r in rows(opened.text) if r["row"] == "group"] == ["A", "B"]
    expires = int(dict(parse_qsl(urlsplit(link["url"]).query))["expires"])
    assert expires - time.time() <= 300  # DOWNLOAD_LINK_SECONDS
    assert link["expiresAt"].startswith(time.strftime("%Y-", time.gmtime(expires)))


async def test_any_change_to_a_link_makes_it_invalid(db: Database, client: GraphQLClient) -> None:
    # given a partner's link, limited to its initiative
    await two_initiatives(db)
    partner = client.with_key(await key(db, "partner", initiatives=["A"]))
    url = (await link_for(partner, groupBy="INITIATIVE"))["url"]
    auditor_url = (await link_for(client.with_key(await key(db, "auditor")), groupBy="INITIATIVE"))[
        "url"
    ]
    query = dict(parse_qsl(urlsplit(url).query))
    # when each part is changed: an argument, a new one, a dropped one, the expiry, the
    # caller (an auditor's, who sees everything), the report, the signature
    attempts = [
        changed(url, groupBy="INITIATIVE,YEAR"),
        changed(url, currency="USD"),
        "/reports/budget-summary.csv?"
        + urlencode({k: v for k, v in query.items() if k != "groupBy"}),
        changed(url, expires=str(int(query["expires"]) + 3600)),
        changed(url, caller=dict(parse_qsl(urlsplit(auditor_url).query))["caller"]),
        url.replace("/budget-summary.csv", "/reach.csv"),
        changed(url, signature=query["signature"][:-2] + "AA"),
        url + "&groupBy=YEAR",
    ]
    # then each is refused with a code, and the link itself still works
    for attempt in attempts:
        refused(await client.http.get(attempt), 403, "DOWNLOAD_LINK_INVALID")
    table = rows((await client.http.get(url)).text)
    assert [r["initiative_code"] for r in table if r["row"] == "group"] == ["A"]


async def test_a_revoked_keys_link_stops_working(db: Database, client: GraphQLClient) -> None:
    # given
    await two_initiatives(db)
    secret = await key(db, "auditor", name="leaving")
    url = (await link_for(client.with_key(secret), groupBy=""))["url"]
    assert (await client.http.get(url)).status_code == 200
    # when
    async with db.sessions() as session, session.begin():
        await revoke_key(session, "leaving")
    # then
    refused(await client.http.get(url), 401, "UNAUTHENTICATED")


async def test_a_partners_link_sees_the_keys_initiatives_as_they_are_now(
    db: Database, client: GraphQLClient
) -> None:
    # given a partner key on A, whose link is made while A is all it sees
    _a, b = await two_initiatives(db)
    partner = client.with_key(await key(db, "partner", initiatives=["A"], name="ngo"))
    url = (await link_for(partner, groupBy="INITIATIVE"))["url"]
    # when the key is given B as well (as an admin would, by hand)
    async with db.sessions() as session, session.begin():
        row = await repo.key_by_name(session, "ngo")
        assert row is not None
        session.add(ApiKeyInitiative(api_key_id=row.id, initiative_id=b.id))
    # then the link runs as the key is now, not as it was
    table = rows((await client.http.get(url)).text)
    assert [r["initiative_code"] for r in table if r["row"] == "group"] == ["A", "B"]


async def test_an_expired_link_is_refused(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given a server with a known secret, and a link it signed that ended a minute ago
    client = client_with(download_link_secret=SecretStr(SECRET))
    secret = await key(db, "auditor", name="auditor-exp")
    async with db.sessions() as session:
        caller = await caller_of_key(session, "auditor-exp")
    assert caller is not None
    path = "/reports/budget-summary.csv"
    past = links.mint(SECRET.encode(), path, {"groupBy": ""}, caller, int(time.time()) - 60)
    fresh = links.mint(SECRET.encode(), path, {"groupBy": ""}, caller, int(time.time()) + 60)
    # then
    refused(await client.http.get(f"{path}?{past}"), 401, "DOWNLOAD_LINK_EXPIRED")
    assert (await client.http.get(f"{path}?{fresh}")).status_code == 200
    assert secret  # the key exists, unrevoked: only the time refuses the first link


async def test_a_link_from_another_server_is_invalid(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given two servers with their own secrets
    one = client_with(download_link_secret=SecretStr(SECRET))
    other = client_with(download_link_secret=SecretStr(SECRET[::-1]))
    auditor = await key(db, "auditor")
    url = (await link_for(one.with_key(auditor), groupBy=""))["url"]
    # then
    assert (await one.http.get(url)).status_code == 200
    refused(await other.http.get(url), 403, "DOWNLOAD_LINK_INVALID")


async def test_who_may_ask_for_a_link_and_with_what(
    db: Database, client: GraphQLClient, client_with: Callable[..., GraphQLClient]
) -> None:
    # given
    viewer = client.with_key(await key(db, "viewer"))
    auditor = client.with_key(await key(db, "auditor"))
    closed = client_with(anonymous_read=False)
    # then: the export permission, as for the download itself
    error = await viewer.error(LINK, {"report": "REACH"})
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await closed.error(LINK, {"report": "REACH"})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    # and the arguments are checked when the link is made
    for parameters in (
        [{"name": "nonsense", "value": "1"}],
        [{"name": "signature", "value": "x"}],
        [{"name": "filter", "value": "{"}],
        [{"name": "asOfDate", "value": "2024-01-01"}, {"name": "asOfDate", "value": "2024-02-01"}],
    ):
        error = await auditor.error(
            LINK, {"report": "TIMELINE_INITIATIVES", "parameters": parameters}
        )
        assert error["extensions"]["code"] == "INVALID_ARGUMENT", (parameters, error)


async def test_a_link_with_a_header_too_is_refused(db: Database, client: GraphQLClient) -> None:
    auditor = client.with_key(await key(db, "auditor"))
    url = (await link_for(auditor, "REACH"))["url"]
    response = await client.http.get(url, headers=auditor.headers)
    refused(response, 400, "BAD_REQUEST")


async def test_anonymous_readers_download_csv_when_reading_is_public(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given the demo's setting (ANONYMOUS_READ=true) and production's, on one secret
    await two_initiatives(db)
    public = client_with(anonymous_read=True, download_link_secret=SecretStr(SECRET))
    closed = client_with(anonymous_read=False, download_link_secret=SecretStr(SECRET))
    params = {"groupBy": "INITIATIVE"}
    # when nobody sends a key
    download = await public.http.get("/reports/budget-summary.csv", params=params)
    refusal = await closed.http.get("/reports/budget-summary.csv", params=params)
    link = await link_for(public, groupBy="INITIATIVE")
    # then
    assert download.status_code == 200, download.text
    assert [r["initiative_code"] for r in rows(download.text) if r["row"] == "group"] == [
        "A",
        "B",
    ]
    refused(refusal, 401, "UNAUTHENTICATED")
    assert (await public.http.get(link["url"])).content == download.content
    # and an anonymous link stops working where reading is no longer public
    refused(await closed.http.get(link["url"]), 401, "UNAUTHENTICATED")


async def test_a_parameter_no_url_can_carry_is_refused_when_the_link_is_made(
    db: Database, client: GraphQLClient
) -> None:
    auditor = client.with_key(await key(db, "auditor"))
    body = (
        '{"query": "query($p: [DownloadParameter!]) { downloadLink(report: BUDGET_SUMMARY, '
        'parameters: $p) { url } }", "variables": {"p": [{"name": "currency", '
        '"value": "\\ud800"}]}}'
    )
    response = await client.http.post(
        "/graphql",
        content=body.encode(),
        headers={**auditor.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_a_tokens_link_ends_when_the_token_does(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: an auditor's token ending in 60 s, another ending in a day, and links that
    # live DOWNLOAD_LINK_SECONDS (300 s); nothing checks a token again when its link is
    # opened, so a link that outlived its token was the token's life extended
    client = client_with(**JWT_SETTINGS, download_link_secret=SecretStr(SECRET))
    now = datetime.now(UTC).replace(microsecond=0)
    soon, later = now + timedelta(seconds=60), now + timedelta(days=1)
    # when
    short = await link_for(client.with_key(token(role="auditor", exp=soon)), groupBy="")
    long = await link_for(client.with_key(token(role="auditor", exp=later)), groupBy="")
    # then: the first ends with its token, the second after DOWNLOAD_LINK_SECONDS

    def expiry(link: dict[str, Any]) -> int:
        return int(dict(parse_qsl(urlsplit(link["url"]).query))["expires"])

    assert expiry(short) == int(soon.timestamp())
    assert datetime.fromisoformat(short["expiresAt"]) == soon
    assert expiry(long) - int(now.timestamp()) in range(300, 310)
    assert (await client.http.get(short["url"])).status_code == 200
