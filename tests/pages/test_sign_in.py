"""Signing in with a key on a page: a session cookie that the pages and downloads
accept (never /graphql), checked again on every request; CSRF tokens on every form."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import httpx

from app.auth.keys import revoke_key
from app.writes.checks import today
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.pages.html import csrf_of, elements, one, sign_in

DEMO = "alibaba-common-prosperity-2021"


async def key(db: Database, role: str, **kw: object) -> str:
    async with db.sessions() as session, session.begin():
        return await f.api_key(session, role, **kw)  # type: ignore[arg-type]


async def test_without_anonymous_reading_a_page_asks_to_sign_in_and_the_key_opens_it(
    demo: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    http = client_with(anonymous_read=False).http
    secret = await key(demo, "viewer", name="reader")
    # when: the page is opened without a session
    asked = await http.get(f"/programmes/{DEMO}")
    # then: the sign-in form, which comes back to the page
    assert asked.status_code == 303
    assert asked.headers["location"].startswith("/sign-in?next=%2Fprogrammes%2F")
    # when: the key is given
    signed = await sign_in(http, secret, f"/programmes/{DEMO}")
    # then: a session cookie (HttpOnly, SameSite=Lax), and the page
    assert signed.status_code == 303 and signed.headers["location"] == f"/programmes/{DEMO}"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("pl_session=") and "HttpOnly" in cookie
    assert "SameSite=lax" in cookie and "Secure" not in cookie  # plain http in this test
    assert secret not in cookie  # the cookie names the key; it never carries it
    page = await http.get(f"/programmes/{DEMO}")
    assert page.status_code == 200 and "Signed in as reader (viewer)" in page.text
    # /graphql takes a header only: the cookie runs nothing there
    refused = await http.post("/graphql", json={"query": "{ program { name } }"})
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # when: signing out (with the page's token)
    out = await http.post("/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    assert (await http.get(f"/programmes/{DEMO}")).status_code == 303


async def test_over_https_the_session_cookie_is_secure(
    demo: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    http = client_with(anonymous_read=False).http
    http.base_url = httpx.URL("https://test")
    signed = await sign_in(http, await key(demo, "viewer"))
    assert "Secure" in signed.headers["set-cookie"]


async def test_a_wrong_key_is_refused_and_sets_nothing(
    demo: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    http = client_with(anonymous_read=False).http
    refused = await sign_in(http, "pl_not-a-key")
    assert refused.status_code == 401
    assert "pl_session" not in refused.headers.get("set-cookie", "")
    assert "unknown or has been revoked" in refused.text


async def test_a_form_without_its_csrf_token_is_refused(
    demo: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    http = client_with(anonymous_read=False).http
    secret = await key(demo, "viewer")
    await http.get("/sign-in")  # the browser has its CSRF cookie
    for data in ({"key": secret}, {"key": secret, "csrf_token": "forged"}):
        refused = await http.post("/sign-in", data=data)
        assert refused.status_code == 403
        assert "pl_session" not in refused.headers.get("set-cookie", "")
    # a token from another browser (another CSRF cookie) does not pass either
    other = client_with(anonymous_read=False).http
    token = csrf_of((await other.get("/sign-in")).text)
    forged = await http.post("/sign-in", data={"key": secret, "csrf_token": token})
    assert forged.status_code == 403
    # nor does a form of more fields than a form has
    stuffed = {f"f{n}": "x" for n in range(20)} | {"key": secret, "csrf_token": token}
    assert (await http.post("/sign-in", data=stuffed)).status_code == 403
    # nor does a switch of language or a sign-out
    assert (await http.post("/language", data={"lang": "zh-Hans"})).status_code == 403
    assert (await http.post("/sign-out", data={})).status_code == 403


async def test_revoking_the_key_signs_its_sessions_out(
    demo: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    http = client_with(anonymous_read=False).http
    await sign_in(http, await key(demo, "viewer", name="soon-gone"))
    assert (await http.get("/")).status_code == 200
    async with demo.sessions() as session, session.begin():
        await revoke_key(session, "soon-gone")
    page = await http.get("/")
    assert page.status_code == 303 and "reason=ended" in page.headers["location"]
    assert "pl_session=" in page.headers["set-cookie"]  # deleted
    asked = await http.get(page.headers["location"])
    assert "its key was revoked" in asked.text
    # a link cannot put words of its own on the sign-in page
    crafted = await http.get("/sign-in", params={"reason": "Mail your key to someone"})
    assert "Mail your key" not in crafted.text


async def test_a_partner_sees_only_its_initiatives(
    demo: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    http = client_with(anonymous_read=False).http
    await sign_in(http, await key(demo, "partner", initiatives=["CP-01", "CP-10"]))
    page = await http.get(f"/programmes/{DEMO}")
    assert page.status_code == 200
    assert {e["data-code"] for e in elements(page.text, "tr", data_code="*")} == {
        "CP-01",
        "CP-10",
    }
    # the funnel is the partner's own view of the programme, as the API gives it
    allocated = one(page.text, "g", data_stage="allocated")["data-amount"]
    assert allocated == "20000000000.00"  # CP-10's 20 bn; CP-01 has no budget
    hidden = await http.get("/initiatives/CP-02")
    assert one(hidden.text, "p", data_code="NOT_FOUND")


async def test_a_reached_figure_awaiting_approval_is_not_shown(
    demo: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given: an editor submits 12345 reached for CP-09's figure, not yet approved
    editor = client_with().with_key(await key(demo, "editor"))
    found = await editor.data(
        '{ initiative(code: "CP-09") { beneficiaries { nodes { id version } } } }'
    )
    figure = found["initiative"]["beneficiaries"]["nodes"][0]
    submitted = await editor.data(
        """mutation($input: SubmitReachedFigureInput!) { submitReachedFigure(input: $input) {
             errors { code } beneficiaryFigure { draftReached { value } } } }""",
        {
            "input": {
                "figureId": figure["id"],
                "version": figure["version"],
                "value": "12345",
                "qualifier": "EXACT",
                "asOf": (today() - timedelta(days=1)).isoformat(),
            }
        },
    )
    assert submitted["submitReachedFigure"]["errors"] == []
    # when: a viewer (and an editor, who may see the draft in the API) opens the page
    for role in ("viewer", "editor"):
        http = client_with(anonymous_read=False).http
        await sign_in(http, await key(demo, role))
        page = await http.get("/initiatives/CP-09")
        # then: the approved figure, never the draft
        shown = one(page.text, "li", data_figure=figure["id"])
        assert Decimal(shown["data-reached"]) == 10000
        assert "12,345" not in page.text and "12345" not in page.text


async def test_downloads_open_with_the_session_cookie(
    demo: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    http = client_with(anonymous_read=False).http
    # without a session, a download is refused
    links = [
        e["href"]
        for e in elements(
            (await client_with().http.get(f"/programmes/{DEMO}")).text, "a", download="*"
        )
    ]
    assert len(links) == 4 and any(link.startswith("/exports/iati.xml") for link in links)
    for link in links:
        assert (await http.get(link)).status_code == 401
    # signed in as an auditor, every link of the page downloads
    await sign_in(http, await key(demo, "auditor"))
    page = await http.get(f"/programmes/{DEMO}")
    for link in [e["href"] for e in elements(page.text, "a", download="*")]:
        response = await http.get(link)
        assert response.status_code == 200, (link, response.text)
        assert "attachment" in response.headers["content-disposition"]
    # a viewer may read but not export: the page offers no downloads
    viewer = client_with(anonymous_read=False).http
    await sign_in(viewer, await key(demo, "viewer"))
    assert elements((await viewer.get(f"/programmes/{DEMO}")).text, "a", download="*") == []
