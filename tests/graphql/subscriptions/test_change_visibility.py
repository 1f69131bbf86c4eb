"""What a change event shows, and to whom, against real servers on both databases.

An event's `record` follows the same field rules as the queries: a submitted draft of a
reached figure (`draftReached`) reaches only callers who may write or approve, live
and in replay, and the trail's actor names only callers with the audit permission.
A partner's events are numbered in its own stream: its sequences and cursors count
only its initiatives' changes, so they show nothing of anyone else's activity, and
its errors name no position of the global log.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.audit.cursors import encode_cursor
from app.audit.records import audited_tables
from app.auth.principal import Principal
from app.auth.roles import ROLE_PERMISSIONS, Role
from app.graphql.visibility import RECORD_TYPES, shown_state, visible_columns
from app.writes.checks import today
from tests import factories as f
from tests.live import LiveData, Server, live_data, start_server
from tests.wsclient import LiveClient, Subscription

CHANGES = """
subscription($after: String, $filter: ChangeEventFilter) {
  changes(after: $after, filter: $filter) {
    cursor sequence entityType entityId operation actor { name role } changedFields record
  }
}"""
FIGURES = {"entityTypes": ["BENEFICIARY_FIGURE"]}
SUBMIT = """
mutation($input: SubmitReachedFigureInput!) {
  submitReachedFigure(input: $input) { beneficiaryFigure { version } errors { code message } }
}"""
FIGURE = """
query($code: String!) { initiatives(filter: {code: {eq: $code}}) {
  nodes { beneficiaries(first: 1) { nodes { id version } } } } }"""
DRAFT_COLUMNS = {
    "draft_reached_value",
    "draft_reached_qualifier",
    "draft_reached_as_of",
    "draft_submitted_by",
    "draft_submitted_at",
}
# Who may see drafts (write or approve) and who may not, among those who may subscribe.
SEE_DRAFTS = ("auditor", "admin")
NO_DRAFTS = ("viewer", "partner", "anonymous")
# The cursor of position 0: the start of the log, and of every partner's stream.
START = encode_cursor(0)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveData]:
    """The demo in a database of its own, one server that lets anonymous callers read
    (as the demo does), and a second partner key for another initiative."""
    async for data in live_data(request.param, tmp_path_factory.mktemp("visibility")):
        async with data.sessions() as session, session.begin():
            data.keys["other-partner"] = await f.api_key(
                session, "partner", initiatives=data.codes[1:2], name="live-other-partner"
            )
        try:
            data.servers.append(
                await start_server(data.url, anonymous_read=True, events_poll_seconds=0.2)
            )
            yield data
        finally:
            for server in data.servers:
                server.stop()


def server(live: LiveData) -> Server:
    return live.servers[0]


async def connect(live: LiveData, who: str) -> LiveClient:
    key = None if who == "anonymous" else live.keys[who]
    return await LiveClient.connect(server(live).ws, authorization=f"Bearer {key}" if key else None)


async def graphql(live: LiveData, who: str, query: str, variables: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{server(live).http}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {live.keys[who]}"},
        )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def submit_draft(live: LiveData, value: str) -> None:
    """An editor submits `value` as the reached figure of CP-01's first figure."""
    found = await graphql(live, "admin", FIGURE, {"code": live.codes[0]})
    figure = found["initiatives"]["nodes"][0]["beneficiaries"]["nodes"][0]
    payload = (
        await graphql(
            live,
            "editor",
            SUBMIT,
            {
                "input": {
                    "figureId": figure["id"],
                    "version": figure["version"],
                    "value": value,
                    "qualifier": "ABOUT",
                    "asOf": (today() - timedelta(days=1)).isoformat(),
                }
            },
        )
    )["submitReachedFigure"]
    assert payload["errors"] == [], payload


async def event(subscription: Subscription) -> dict[str, Any]:
    data: dict[str, Any] = (await subscription.data())["changes"]
    return data


async def drain(subscription: Subscription, quiet: float = 2.0) -> list[dict[str, Any]]:
    """Every event until none comes for `quiet` seconds (a replay, read to its end)."""
    events = []
    while True:
        try:
            message = await subscription.next(quiet)
        except TimeoutError:
            return events
        assert message["type"] == "next" and "errors" not in message["payload"], message
        events.append(message["payload"]["data"]["changes"])


async def first_error(subscription: Subscription) -> dict[str, Any]:
    message = await subscription.next()
    payload = message["payload"]
    errors: list[dict[str, Any]] = (
        payload.get("errors", []) if isinstance(payload, dict) else payload
    )
    assert errors, f"accepted: {message}"
    return errors[0]


def shows_no_draft(event: dict[str, Any], *values: str) -> bool:
    text = json.dumps(event)
    return (
        not DRAFT_COLUMNS & set(event["record"])
        and not DRAFT_COLUMNS & set(event["changedFields"])
        and not any(value in text for value in values)
    )


async def test_a_submitted_draft_reaches_live_only_those_who_may_see_it(live: LiveData) -> None:
    who = (*NO_DRAFTS, *SEE_DRAFTS)
    clients = {name: await connect(live, name) for name in who}
    try:
        streams = {
            name: await c.subscribe(CHANGES, {"filter": FIGURES}) for name, c in clients.items()
        }
        await asyncio.sleep(0.3)  # subscribed before the write
        await submit_draft(live, "987654")
        events = {name: await event(s) for name, s in streams.items()}
    finally:
        for client in clients.values():
            await client.close()
    for name in NO_DRAFTS:
        assert shows_no_draft(events[name], "987654"), (name, events[name])
        # Nor who did it: the trail's names are for auditors.
        assert events[name]["actor"] == {"name": None, "role": "editor"}, name
        # What changed, for them, is what their queries show changed.
        assert events[name]["changedFields"] == ["updated_at", "version"], name
    for name in SEE_DRAFTS:
        record = events[name]["record"]
        assert record["draft_reached_value"] == "987654.0000", name
        assert record["draft_submitted_by"] == "live-editor", name
        assert events[name]["actor"] == {"name": "live-editor", "role": "editor"}, name
    # The same record, the same columns apart from the draft's: one rule, not a cut.
    assert set(events["auditor"]["record"]) - set(events["viewer"]["record"]) == DRAFT_COLUMNS
    assert set(events["viewer"]["record"]) == set(events["partner"]["record"])
    assert (
        events["viewer"]["record"]["reached_value"] == events["auditor"]["record"]["reached_value"]
    )


async def test_a_replay_from_the_start_shows_no_draft_ever_submitted(live: LiveData) -> None:
    # Two drafts, the first overwritten by the second before anyone approved either.
    await submit_draft(live, "555001")
    await submit_draft(live, "555002")
    replays = {}
    for name in (*NO_DRAFTS, "auditor"):
        async with await connect(live, name) as client:
            replays[name] = await drain(await client.subscribe(CHANGES, {"after": START}))
    for name in NO_DRAFTS:
        assert replays[name], name
        figures = [e for e in replays[name] if e["entityType"] == "BENEFICIARY_FIGURE"]
        assert figures, name
        assert all(shows_no_draft(e, "555001", "555002") for e in replays[name]), name
        assert all(e["actor"]["name"] is None for e in replays[name]), name
    # The auditor's replay has both drafts: the check above would have seen them.
    values = {e["record"].get("draft_reached_value") for e in replays["auditor"]}
    assert {"555001.0000", "555002.0000"} <= values


async def test_a_partners_sequences_count_only_its_own_events(live: LiveData) -> None:
    async with await connect(live, "partner") as partner, await connect(live, "viewer") as viewer:
        own = await partner.subscribe(CHANGES)
        everything = await viewer.subscribe(CHANGES)
        await asyncio.sleep(0.3)
        # Its own changes, with other initiatives' in between.
        for initiative in (0, 1, 1, 1, 0, 2, 0):
            await live.write(server(live), initiative=initiative)
        live_events = [await event(own) for _ in range(3)]
        global_events = [await event(everything) for _ in range(7)]
        await own.nothing(0.5)
    # The log has gaps between the partner's changes; its own numbers have none.
    global_sequences = [e["sequence"] for e in global_events]
    assert global_sequences == list(range(global_sequences[0], global_sequences[0] + 7))
    sequences = [e["sequence"] for e in live_events]
    assert sequences == [sequences[0], sequences[0] + 1, sequences[0] + 2]
    # From the start of its stream: 1, 2, 3, ... and the same numbers and cursors as live.
    async with await connect(live, "partner") as partner:
        replayed = await drain(await partner.subscribe(CHANGES, {"after": START}))
    assert [e["sequence"] for e in replayed] == list(range(1, len(replayed) + 1))
    assert replayed[-3:] == live_events
    # A cursor is its stream's mark and the event's own number: no global position.
    decoded = [base64.urlsafe_b64decode(e["cursor"]).decode() for e in replayed]
    marks = {text.rsplit(":", 1)[0] for text in decoded}
    assert len(marks) == 1
    assert [text.rsplit(":", 1)[1] for text in decoded] == [str(e["sequence"]) for e in replayed]
    assert not any(str(s) in text for s in global_sequences for text in decoded)


async def test_a_partner_resumes_exactly_from_its_cursor(live: LiveData) -> None:
    async with await connect(live, "partner") as partner:
        stream = await partner.subscribe(CHANGES)
        await asyncio.sleep(0.3)
        await live.write(server(live), initiative=0)
        seen = await event(stream)
    # Disconnected meanwhile: its own changes and others'.
    missed = []
    for initiative in (1, 0, 2, 0, 1):
        (created,) = await live.write(server(live), initiative=initiative)
        if initiative == 0:
            missed.append(created)
    async with await connect(live, "partner") as partner:
        resumed = await partner.subscribe(CHANGES, {"after": seen["cursor"]})
        replayed = [await event(resumed) for _ in missed]
        assert [e["entityId"] for e in replayed] == missed
        assert [e["sequence"] for e in replayed] == [seen["sequence"] + 1, seen["sequence"] + 2]
        # The seam: the next one arrives live, once, numbered right after the replay.
        await live.write(server(live), initiative=1)
        (later,) = await live.write(server(live), initiative=0)
        following = await event(resumed)
        assert (following["entityId"], following["sequence"]) == (later, seen["sequence"] + 3)
        await resumed.nothing(0.5)


async def test_a_partners_bad_cursors_name_no_global_position(live: LiveData) -> None:
    head = await live.last_sequence()
    async with await connect(live, "partner") as partner:
        stream = await partner.subscribe(CHANGES)
        await asyncio.sleep(0.3)
        await live.write(server(live), initiative=0)
        own = await event(stream)
        mark, number = base64.urlsafe_b64decode(own["cursor"]).decode().rsplit(":", 1)
        ahead = base64.urlsafe_b64encode(f"{mark}:{int(number) + 1000}".encode()).decode()
        async with await connect(live, "other-partner") as other:
            foreign = await other.subscribe(CHANGES)
            await asyncio.sleep(0.3)
            await live.write(server(live), initiative=1)
            others_cursor = (await event(foreign))["cursor"]
        for after in (
            ahead,  # past the end of its own stream
            encode_cursor(head + 1000),  # a position of the whole log, past its end
            encode_cursor(head),  # one within it: not a cursor of this stream
            others_cursor,  # another partner's
            "not-a-cursor",
        ):
            error = await first_error(await partner.subscribe(CHANGES, {"after": after}))
            assert error["extensions"]["code"] == "INVALID_CURSOR", (after, error)
            text = json.dumps(error)
            assert str(head) not in text and str(head + 1) not in text, error


def test_every_table_of_the_trail_is_shown_through_its_object_type() -> None:
    """Each audited table has the object type whose fields say what is shown of it; a
    column no field shows is shown to no one, and these are the only such columns."""
    from app.graphql.schema import build_schema  # noqa: F401  (every object type registered)

    admin = ROLE_PERMISSIONS[Role.ADMIN]
    hidden = {}
    for table, model in audited_tables().items():
        assert table in RECORD_TYPES, table
        shown = visible_columns(table, admin)
        if missing := set(model.__table__.columns.keys()) - shown:
            hidden[table] = missing
    # Every record is a node (a share too: it has an ID and a version to update by).
    assert hidden == {}


@pytest.mark.parametrize("role", [*Role, None])
def test_draft_columns_are_shown_as_draft_reached_is(role: Role | None) -> None:
    principal = Principal("someone", role, anonymous_read=True)
    state = {"id": 1, "unit": "people", "reached_value": "10.0000", "draft_reached_value": "7"}
    shown = shown_state(principal, "beneficiary_figures", state)
    may_see = role in (Role.EDITOR, Role.AUDITOR, Role.ADMIN)
    assert shown == (
        state if may_see else {k: v for k, v in state.items() if k != "draft_reached_value"}
    )
