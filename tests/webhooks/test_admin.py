"""What an admin sees and may do with an endpoint: resume refuses what cannot be
delivered, a pause keeps the reason the endpoint stopped for, the list shows a failure
only while it is the latest news, and `resume --from-now` from the command line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app import models as m
from app.auth.keys import revoke_key
from app.config import Settings
from app.db.types import utcnow
from app.errors import DomainError, ErrorCode
from app.webhooks import service
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.webhooks.common import add_endpoint, endpoint_row, fast, setup_ledger, write
from tests.webhooks.test_commands import webhooks


async def set_endpoint(db: Database, endpoint_id: int, **values: object) -> None:
    async with db.sessions() as session, session.begin():
        await session.execute(
            update(m.WebhookEndpoint).where(m.WebhookEndpoint.id == endpoint_id).values(**values)
        )


@pytest.mark.parametrize("from_now", [False, True])
async def test_resume_is_refused_when_the_endpoints_key_is_revoked(
    db: Database, settings: Settings, from_now: bool
) -> None:
    # given an endpoint paused because its key was revoked
    await setup_ledger(db)
    endpoint_id, _ = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/x", "hook-partner")
    async with db.sessions() as session, session.begin():
        await revoke_key(session, "hook-partner")
    reason = "the endpoint's key is revoked"
    await set_endpoint(db, endpoint_id, status=service.PAUSED, paused_reason=reason)
    before = await endpoint_row(db, endpoint_id)
    # when an admin resumes it, then it is refused, as a replay is, and nothing changes
    with pytest.raises(DomainError) as refused:
        async with db.sessions() as session, session.begin():
            if from_now:
                await service.resume(session, endpoint_id, from_now=True)
            else:
                await service.resume(session, endpoint_id)
    assert refused.value.code == ErrorCode.VALIDATION and "revoked" in refused.value.message
    after = await endpoint_row(db, endpoint_id)
    assert (after.status, after.paused_reason, after.position, after.cursor) == (
        service.PAUSED,
        reason,
        before.position,
        before.cursor,
    )


async def test_pausing_a_dead_lettered_endpoint_keeps_its_reason(
    db: Database, settings: Settings
) -> None:
    await setup_ledger(db)
    endpoint_id, _ = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/x")
    reason = "dead-lettered msg_1_0a1b after 8 attempts"
    await set_endpoint(db, endpoint_id, status=service.PAUSED, paused_reason=reason)
    async with db.sessions() as session, session.begin():
        paused = await service.pause(session, endpoint_id)
    assert paused.paused_reason == reason
    # (an active endpoint paused by an admin says so)
    await set_endpoint(db, endpoint_id, status=service.ACTIVE, paused_reason=None)
    async with db.sessions() as session, session.begin():
        paused = await service.pause(session, endpoint_id)
    assert paused.paused_reason == "paused by an admin"


async def test_the_list_shows_a_last_error_only_while_no_success_came_after_it(
    db: Database, settings: Settings
) -> None:
    await setup_ledger(db)
    endpoint_id, _ = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/x")
    now = utcnow()
    # a failure, then a success: the error is old news
    await set_endpoint(
        db,
        endpoint_id,
        last_failure_at=now - timedelta(minutes=5),
        last_error="HTTP 500: boom",
        last_success_at=now,
    )
    assert "HTTP 500" not in webhooks(db, "list").stdout
    # a success, then a failure: shown
    await set_endpoint(db, endpoint_id, last_failure_at=now + timedelta(seconds=1))
    assert "HTTP 500: boom" in webhooks(db, "list").stdout


async def test_resume_from_now_on_the_command_line(db: Database, settings: Settings) -> None:
    # given a paused endpoint behind the trail's end
    await setup_ledger(db)
    endpoint_id, _ = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/x")
    start = (await endpoint_row(db, endpoint_id)).position
    await write(db, 3)
    await set_endpoint(db, endpoint_id, status=service.PAUSED, paused_reason="x")
    # when an admin resumes it from now
    done = webhooks(db, "resume", str(endpoint_id), "--from-now")
    # then it is active at the trail's end, and says where it stands
    assert done.returncode == 0, done.stderr
    row = await endpoint_row(db, endpoint_id)
    assert row.status == service.ACTIVE and row.position > start
    assert done.stdout.strip() == f"endpoint {endpoint_id}: active, at {row.cursor}"


RESUME = """mutation($id: Int!, $fromNow: Boolean!) {
  resumeWebhookEndpoint(id: $id, fromNow: $fromNow) {
    endpoint { status cursor } errors { field code }
  }
}"""


async def test_resume_from_now_over_graphql(
    db: Database, settings: Settings, client: GraphQLClient
) -> None:
    await setup_ledger(db)
    async with db.sessions() as session, session.begin():
        admin = await f.api_key(session, "admin", name="gql-admin")
    endpoint_id, _ = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/x")
    start = (await endpoint_row(db, endpoint_id)).position
    await write(db, 2)
    await set_endpoint(db, endpoint_id, status=service.PAUSED, paused_reason="x")
    variables = {"id": endpoint_id, "fromNow": True}
    payload = (await client.with_key(admin).data(RESUME, variables))["resumeWebhookEndpoint"]
    row = await endpoint_row(db, endpoint_id)
    assert payload == {"endpoint": {"status": "active", "cursor": row.cursor}, "errors": []}
    assert row.position > start
