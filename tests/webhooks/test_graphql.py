"""Admins manage endpoints through GraphQL as through the CLI; others may not."""

from __future__ import annotations

from sqlalchemy import func, select

from app import models as m
from app.config import Settings
from app.db.types import utcnow
from app.webhooks import service
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.webhooks.common import add_endpoint, endpoint_row, fast, setup_ledger

ADD = """
mutation($input: AddWebhookEndpointInput!) {
  addWebhookEndpoint(input: $input) {
    endpoint { endpointId url keyName status initiativeIds entityTypes ordering heldDeliveries }
    secret
    errors { field code message }
  }
}"""
LIST = "{ webhookEndpoints { endpointId status pausedReason deadLetters { messageId } } }"
PAUSE = (
    "mutation($id: Int!) { pauseWebhookEndpoint(id: $id) { endpoint { status } errors { code } } }"
)
REPLAY = """mutation($id: Int!, $after: String, $delivery: String) {
  replayWebhookEndpoint(id: $id, after: $after, delivery: $delivery) {
    endpoint { status cursor } errors { field code }
  }
}"""


async def count(db: Database) -> int:
    async with db.sessions() as session:
        found = await session.scalar(select(func.count()).select_from(m.WebhookEndpoint))
    return int(found or 0)


async def test_an_admin_adds_lists_pauses_and_replays_an_endpoint(
    db: Database, client: GraphQLClient
) -> None:
    await setup_ledger(db)
    async with db.sessions() as session, session.begin():
        admin = await f.api_key(session, "admin", name="gql-admin")
    admin_client = client.with_key(admin)
    # when an admin registers an endpoint for the partner's key (public address)
    payload = (
        await admin_client.data(
            ADD,
            {
                "input": {
                    "url": "https://93.184.215.14/hooks",
                    "keyName": "hook-partner",
                    "entityTypes": ["transactions"],
                    "initiativeCodes": ["A-1"],
                    "ordering": "INITIATIVE",
                }
            },
        )
    )["addWebhookEndpoint"]
    # then it is active, shown with its filter, and its secret is given once
    assert payload["errors"] == []
    endpoint = payload["endpoint"]
    assert (endpoint["status"], endpoint["keyName"], endpoint["entityTypes"]) == (
        "active",
        "hook-partner",
        ["TRANSACTION"],
    )
    assert (endpoint["ordering"], endpoint["heldDeliveries"]) == ("INITIATIVE", 0)
    assert payload["secret"].startswith("whsec_")
    listed = (await admin_client.data(LIST))["webhookEndpoints"]
    assert [e["endpointId"] for e in listed] == [endpoint["endpointId"]]
    paused = await admin_client.data(PAUSE, {"id": endpoint["endpointId"]})
    assert paused["pauseWebhookEndpoint"]["endpoint"]["status"] == "paused"
    # replaying with nothing dead-lettered and no cursor is refused; from the start works
    refused = await admin_client.data(REPLAY, {"id": endpoint["endpointId"]})
    assert refused["replayWebhookEndpoint"]["errors"] == [{"field": "after", "code": "VALIDATION"}]
    # so is one delivery that was never dead-lettered, and a delivery with a cursor
    for given, error in (
        ({"delivery": "msg_1_999"}, {"field": "delivery", "code": "NOT_FOUND"}),
        (
            {"delivery": "msg_1_999", "after": "Y2hhbmdlOjA="},
            {"field": "delivery", "code": "INVALID_ARGUMENT"},
        ),
    ):
        refused = await admin_client.data(REPLAY, {"id": endpoint["endpointId"], **given})
        assert refused["replayWebhookEndpoint"]["errors"] == [error]
    replayed = await admin_client.data(
        REPLAY, {"id": endpoint["endpointId"], "after": "Y2hhbmdlOjA="}
    )
    assert replayed["replayWebhookEndpoint"]["endpoint"] == {
        "status": "active",
        "cursor": "Y2hhbmdlOjA=",
    }


async def test_a_private_address_and_a_foreign_initiative_are_refused_writing_nothing(
    db: Database, client: GraphQLClient
) -> None:
    await setup_ledger(db)
    async with db.sessions() as session, session.begin():
        admin = await f.api_key(session, "admin", name="gql-admin")
    admin_client = client.with_key(admin)
    for given, code in (
        ({"url": "http://169.254.169.254/", "keyName": "hook-admin"}, "ADDRESS_REFUSED"),
        (
            {
                "url": "https://93.184.215.14/",
                "keyName": "hook-partner",
                "initiativeCodes": ["B-2"],
            },
            "FORBIDDEN",
        ),
        ({"url": "https://93.184.215.14/", "keyName": "nobody"}, "NOT_FOUND"),
    ):
        payload = (await admin_client.data(ADD, {"input": given}))["addWebhookEndpoint"]
        assert [e["code"] for e in payload["errors"]] == [code]
        assert payload["endpoint"] is None
    assert await count(db) == 0


async def test_only_callers_with_manage_keys_may_manage_webhooks(
    db: Database, client: GraphQLClient
) -> None:
    _codes, keys = await setup_ledger(db)
    partner = client.with_key(keys["partner"])
    payload = (
        await partner.data(
            ADD, {"input": {"url": "https://93.184.215.14/", "keyName": "hook-partner"}}
        )
    )["addWebhookEndpoint"]
    assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    assert await count(db) == 0
    error = await partner.error(LIST)
    assert error["extensions"]["code"] == "FORBIDDEN"


ROTATE = """mutation($id: Int!, $hours: Float!) {
  rotateWebhookSecret(id: $id, overlapHours: $hours) { secret errors { field code message } }
}"""


async def test_rotate_refuses_an_overlap_out_of_range_as_the_cli_does_and_keeps_two_secrets(
    db: Database, client: GraphQLClient, settings: Settings
) -> None:
    await setup_ledger(db)
    async with db.sessions() as session, session.begin():
        admin = await f.api_key(session, "admin", name="gql-admin")
    admin_client = client.with_key(admin)
    endpoint_id, first = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/h")
    before = (await endpoint_row(db, endpoint_id)).secret
    # an overlap below 0 or past 720 hours is refused (it used to be clamped), writing nothing
    for hours in (-1, 720.5, 1000, 1e308):
        payload = (await admin_client.data(ROTATE, {"id": endpoint_id, "hours": hours}))[
            "rotateWebhookSecret"
        ]
        assert payload["secret"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [
            ("overlapHours", "INVALID_ARGUMENT")
        ]
        assert "0 to 720" in payload["errors"][0]["message"]
    row = await endpoint_row(db, endpoint_id)
    assert (row.secret, row.previous_secret) == (before, None)
    # two rotations within the overlap: the newest and the one before it sign; the first
    # secret is dropped at once (two secrets at most)
    secrets = [first]
    for hours in (0, 720):
        payload = (await admin_client.data(ROTATE, {"id": endpoint_id, "hours": hours}))[
            "rotateWebhookSecret"
        ]
        assert payload["errors"] == []
        secrets.append(payload["secret"])
    row = await endpoint_row(db, endpoint_id)
    assert service.signing_secrets(settings, row, utcnow()) == [secrets[2], secrets[1]]
    payload = (await admin_client.data(ROTATE, {"id": endpoint_id, "hours": 24}))[
        "rotateWebhookSecret"
    ]
    row = await endpoint_row(db, endpoint_id)
    assert service.signing_secrets(settings, row, utcnow()) == [payload["secret"], secrets[2]]
