"""The README's tour runs against the demo exactly as printed."""

from __future__ import annotations

import re
from pathlib import Path

from app.demo.loader import DEMO_ACTOR, load_demo
from app.imports.apply import run_import
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.imports.documents import FIELDS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLE = ROOT / "docs" / "examples" / "school-meals.yaml"
ALL_QUERIES = re.findall(r"```graphql\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
# The demo's tour, and the section on a programme of one's own (the example file's).
OWN_QUERIES = [query for query in ALL_QUERIES if '"SM-01"' in query]
QUERIES = [query for query in ALL_QUERIES if query not in OWN_QUERIES]
# The longer guides under docs/ hold examples too; they must answer without errors.
# (Subscriptions run over WebSocket, in tests/graphql/subscriptions/test_websocket.py.)
DOC_QUERIES = [
    (path.name, query)
    for path in sorted((ROOT / "docs").glob("*.md"))
    for query in re.findall(r"```graphql\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    if not query.lstrip().startswith("subscription")
]


async def test_every_tour_query_answers_as_the_readme_says(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    assert len(QUERIES) >= 8
    answers = []
    for query in QUERIES:
        # when
        body = await client.execute(query)
        # then: the one example of bad input fails with its code; the rest answer fully
        if '"RMB"' in query:
            assert body["errors"][0]["extensions"]["code"] == "INVALID_CURRENCY"
            continue
        assert "errors" not in body, (query, body["errors"])
        assert all(value is not None for value in body["data"].values()), query
        answers.append(body["data"])
    # and the figures the README talks about are the ones it shows
    pledge, in_usd, first_page = answers[0]["program"], answers[1]["program"], answers[2]
    assert pledge["unallocated"] == {"amount": "80000000000.00", "currency": "CNY"}
    assert in_usd["pledgedIn"]["amount"] == "15500000000.00"
    assert first_page["initiatives"]["totalCount"] == 10
    assert first_page["initiatives"]["pageInfo"]["hasNextPage"] is True


async def test_the_readmes_own_programme_imports_and_answers_beside_the_demo(
    db: Database, client: GraphQLClient
) -> None:
    # given: the demo, and the README's example file imported beside it, twice
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    imported = await run_import(
        db.sessions, EXAMPLE.read_bytes(), DEMO_ACTOR, dry_run=False, fields=FIELDS
    )
    assert imported.written and not imported.refused
    again = await run_import(
        db.sessions, EXAMPLE.read_bytes(), DEMO_ACTOR, dry_run=False, fields=FIELDS
    )
    assert again.changes == 0, "importing the same file again writes nothing"
    # when: the README's query of it
    [query] = OWN_QUERIES
    body = await client.execute(query)
    # then: the file's figures
    assert "errors" not in body, body
    own = body["data"]["initiative"]
    assert own["program"]["unallocated"] == {"amount": "1600000.00", "currency": "EUR"}
    assert own["budget"] == {"amount": "400000.00", "currency": "EUR"}
    assert own["disbursed"] == {"amount": "100000.00", "currency": "EUR"}
    assert own["budgetLines"]["nodes"] == [
        {"ref": "B-2026", "amount": {"amount": "400000.00", "currency": "EUR"}}
    ]
    assert {p["organization"]["name"] for p in own["participants"]["nodes"]} == {
        "Example Foundation",
        "Meals for Schools e.V.",
    }


async def test_every_guide_query_answers_on_the_demo(db: Database, client: GraphQLClient) -> None:
    # given: an admin, who may run every example (the audit trail's, the mutations')
    async with db.sessions() as session, session.begin():
        await load_demo(session)
        admin = client.with_key(await f.api_key(session, "admin"))
    assert len(DOC_QUERIES) >= 5
    for name, query in DOC_QUERIES:
        # when
        body = await admin.execute(query)
        # then
        assert "errors" not in body, (name, query, body["errors"])
        assert all(value is not None for value in body["data"].values()), (name, query)
        if query.lstrip().startswith("mutation"):
            payloads = body["data"].values()
            assert all(payload["errors"] == [] for payload in payloads), (name, body)


# `curl -OJ '<url>'` lines of the README and the guides: each must download a CSV.
CURL = re.compile(r"curl -OJ\s+'http://127\.0\.0\.1:8000(/reports/[^']+)'")
DOWNLOADS = [
    (path.name, url)
    for path in [README, *sorted((ROOT / "docs").glob("*.md"))]
    for url in CURL.findall(path.read_text(encoding="utf-8"))
]


async def test_every_download_example_works_on_the_demo_as_written(
    db: Database, client: GraphQLClient
) -> None:
    # given the demo as `make serve` runs it: anyone may read, nobody sends a key
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    assert any(name == "README.md" for name, _ in DOWNLOADS) and len(DOWNLOADS) >= 4
    for name, url in DOWNLOADS:
        # when
        response = await client.http.get(url)
        # then a CSV file, not an error saved under the CSV's name
        assert response.status_code == 200, (name, url, response.text)
        assert response.headers["content-type"].startswith("text/csv"), (name, url)
        assert response.headers["content-disposition"].startswith("attachment; filename="), url
        assert len(response.text.splitlines()) >= 2, (name, url)  # a header and rows


async def test_the_readmes_download_link_opens_in_a_browser(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    (query,) = [q for q in QUERIES if "downloadLink" in q]
    # when the page asks for the link, and the browser opens it (no header)
    link = (await client.data(query))["downloadLink"]
    response = await client.http.get(link["url"])
    # then it is the README's curl download
    (curl,) = [url for name, url in DOWNLOADS if name == "README.md"]
    assert response.status_code == 200, response.text
    assert response.content == (await client.http.get(curl)).content
