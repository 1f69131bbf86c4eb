"""`pledge-ledger webhooks` with the ordering and the replay of one delivery: what an
admin types, on a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from app import models as m
from tests.conftest import WEBHOOK_SECRET_KEY, Database
from tests.webhooks.common import endpoint_row, setup_ledger


def webhooks(db: Database, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("pledge-ledger")), "webhooks", *args]
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
        "WEBHOOK_SECRET_KEY": WEBHOOK_SECRET_KEY,
    }
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


async def test_add_with_an_ordering_and_replay_one_delivery_by_its_id(db: Database) -> None:
    await setup_ledger(db)
    # an unknown ordering is refused, writing nothing
    refused = webhooks(db, "add", "http://127.0.0.1:9/h", "--key", "hook-admin", "--ordering", "x")
    assert refused.returncode == 1 and "ordering" in refused.stderr
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.WebhookEndpoint)) == 0
    # an endpoint ordered per initiative
    added = webhooks(
        db, "add", "http://127.0.0.1:9/h", "--key", "hook-admin", "--ordering", "initiative"
    )
    assert added.returncode == 0, added.stderr
    endpoint_id = int(added.stdout.splitlines()[0].split()[1])
    assert (await endpoint_row(db, endpoint_id)).ordering == "initiative"
    listed = webhooks(db, "list").stdout.splitlines()
    assert "ORDER" in listed[0] and " initiative " in listed[1]
    # replaying a delivery that was never dead-lettered is refused, naming the option
    replayed = webhooks(db, "replay", str(endpoint_id), "--delivery", "msg_1_999")
    assert replayed.returncode == 1 and "delivery" in replayed.stderr
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.WebhookHeld)) == 0


async def test_rotate_refuses_an_overlap_out_of_range_with_the_rule_graphql_applies(
    db: Database,
) -> None:
    await setup_ledger(db)
    added = webhooks(db, "add", "http://127.0.0.1:9/h", "--key", "hook-admin")
    endpoint_id = int(added.stdout.splitlines()[0].split()[1])
    before = (await endpoint_row(db, endpoint_id)).secret
    refused = webhooks(db, "rotate", str(endpoint_id), "--overlap-hours", "1000")
    # the service's refusal (exit 1, the field and the range named), nothing written
    assert refused.returncode == 1, refused.stderr
    assert "overlapHours" in refused.stderr and "0 to 720" in refused.stderr
    assert (await endpoint_row(db, endpoint_id)).secret == before
