"""Signing secrets at rest: never stored as they are, on either database; a key made
beside a SQLite file when none is set, a refusal on PostgreSQL; an endpoint whose
secret no key opens holds its deliveries saying why, and a rotation sends them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select, update
from standardwebhooks.webhooks import Webhook

from app import models as m
from app.config import Settings
from app.webhooks import service
from app.webhooks.secrets import KEY_FILE_SUFFIX, SecretBox, can_seal, key_file, seal_stored
from app.webhooks.signing import new_secret
from tests import factories as f
from tests.conftest import Database, GraphQLClient
from tests.webhooks.common import (
    add_endpoint,
    endpoint_row,
    eventually,
    fast,
    running,
    setup_ledger,
    until,
    write,
)
from tests.webhooks.receiver import Receiver

LIST = "{ webhookEndpoints { endpointId status pausedReason } }"


def stored_columns(row: m.WebhookEndpoint) -> list[str]:
    return [v for v in (row.secret, row.previous_secret) if v is not None]


async def test_the_database_never_holds_a_secret_as_it_is(db: Database, settings: Settings) -> None:
    settings = fast(settings)
    await setup_ledger(db)
    endpoint_id, first = await add_endpoint(db, settings, "http://127.0.0.1:9/h")
    async with db.sessions() as session, session.begin():
        second = await service.rotate(session, settings, endpoint_id, 24.0)
    row = await endpoint_row(db, endpoint_id)
    stored = stored_columns(row)
    assert len(stored) == 2
    for value in stored:
        assert value.startswith("fernet:")
        for secret in (first, second):
            assert secret not in value and secret.removeprefix("whsec_") not in value
    # and the key opens them to the secrets the admin was given
    assert service.signing_secrets(settings, row, row.created_at) == [second, first]


def webhooks_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`pledge-ledger webhooks ARGS` with no WEBHOOK_SECRET_KEY in its environment."""
    command = [str(Path(sys.executable).with_name("pledge-ledger")), "webhooks", *args]
    env = {k: v for k, v in os.environ.items() if k != "WEBHOOK_SECRET_KEY"}
    env |= {"DATABASE_URL": url, "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


async def test_without_a_key_sqlite_keeps_one_beside_its_file_and_postgresql_refuses(
    db: Database,
) -> None:
    await setup_ledger(db)
    added = webhooks_cli(db.url, "add", "http://127.0.0.1:9/h", "--key", "hook-admin")
    async with db.sessions() as session:
        rows = list((await session.scalars(select(m.WebhookEndpoint))).all())
    if db.engine.dialect.name == "postgresql":
        # refused with the setting named, and nothing written
        assert added.returncode == 1, added.stderr
        assert "WEBHOOK_SECRET_KEY" in added.stderr
        assert rows == []
        assert not can_seal(Settings(database_url=db.url))
        return
    # SQLite: registered, the secret sealed under a key made beside the database file
    assert added.returncode == 0, added.stderr
    secret = added.stdout.splitlines()[-1]
    assert secret.startswith("whsec_")
    database_file = Path(db.url.split("///", 1)[1])
    key_file = database_file.with_name(database_file.name + KEY_FILE_SUFFIX)
    try:
        assert key_file.exists()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600  # its owner's only
        [row] = rows
        assert row.secret.startswith("fernet:") and secret not in row.secret
        box = SecretBox([key_file.read_bytes().strip()])
        assert box.open(row.secret) == secret
        # another command on the same database uses the same key
        rotated = webhooks_cli(db.url, "rotate", str(row.id))
        assert rotated.returncode == 0, rotated.stderr
        row = await endpoint_row(db, row.id)
        assert row.previous_secret is not None
        assert box.open(row.previous_secret) == secret
    finally:
        key_file.unlink(missing_ok=True)


async def test_a_secret_no_key_opens_holds_its_deliveries_saying_why_and_a_rotation_sends_them(
    db: Database, settings: Settings, client: GraphQLClient
) -> None:
    # given an endpoint whose secrets (a rotation's two) were sealed under the old key
    await setup_ledger(db)
    old = fast(settings, webhook_secret_key=SecretStr(Fernet.generate_key().decode()))
    receiver = Receiver().up()
    try:
        endpoint_id, _ = await add_endpoint(db, old, receiver.url)
        async with db.sessions() as session, session.begin():
            await service.rotate(session, old, endpoint_id, 24.0)
        # when the service runs with another key and a change commits
        new = fast(settings)
        async with running(db, new):
            await write(db, 1)

            async def waiting() -> bool:
                return (await endpoint_row(db, endpoint_id)).last_error is not None

            await eventually(waiting)
            # then its deliveries wait, saying why and what to do; nothing was sent,
            # and the endpoint is not paused: a process that holds the key (while
            # processes are given a new key one at a time) may still deliver
            row = await endpoint_row(db, endpoint_id)
            assert row.status == "active" and row.paused_reason is None
            assert row.last_error is not None
            assert "WEBHOOK_SECRET_KEY" in row.last_error and "rotate" in row.last_error
            assert receiver.received == []
            async with db.sessions() as session, session.begin():
                admin = await f.api_key(session, "admin", name="secret-admin")
            listed = (await client.with_key(admin).data(LIST))["webhookEndpoints"]
            assert listed == [{"endpointId": endpoint_id, "status": "active", "pausedReason": None}]
            # when the admin rotates (the default overlap), nothing more
            async with db.sessions() as session, session.begin():
                secret = await service.rotate(session, new, endpoint_id, 24.0)
            # then the event goes out, signed by the new secret alone: neither
            # unreadable secret is kept for the overlap
            await until(lambda: len(receiver.accepted()) == 1)
    finally:
        receiver.down()
    row = await endpoint_row(db, endpoint_id)
    assert row.previous_secret is None
    got = receiver.accepted()[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    Webhook(secret).verify(got.body, got.headers)


async def test_secrets_of_an_older_version_or_an_older_key_are_sealed_again_at_start(
    db: Database, settings: Settings
) -> None:
    settings = fast(settings)
    await setup_ledger(db)
    old_key = Fernet.generate_key()
    sealed_old = SecretBox([old_key])
    plain_id, _ = await add_endpoint(db, settings, "http://127.0.0.1:9/a")
    keyed_id, _ = await add_endpoint(db, settings, "http://127.0.0.1:9/b")
    # one stored as older versions did without a key, one under the key before this one
    plain, previous, keyed = new_secret(), new_secret(), new_secret()
    async with db.sessions() as session, session.begin():
        await session.execute(
            update(m.WebhookEndpoint)
            .where(m.WebhookEndpoint.id == plain_id)
            .values(secret="plain:" + plain, previous_secret="plain:" + previous)
        )
        await session.execute(
            update(m.WebhookEndpoint)
            .where(m.WebhookEndpoint.id == keyed_id)
            .values(secret=sealed_old.seal(keyed))
        )
    # when the worker starts with the new key first and the old one after it
    assert settings.webhook_secret_key is not None
    both = settings.webhook_secret_key.get_secret_value() + "," + old_key.decode()
    new_only = SecretBox.of(settings)
    async with running(db, fast(settings, webhook_secret_key=SecretStr(both))):

        async def sealed() -> bool:
            async with db.sessions() as session:
                stored = (
                    await session.scalars(
                        select(m.WebhookEndpoint.secret).where(
                            m.WebhookEndpoint.id.in_([plain_id, keyed_id])
                        )
                    )
                ).all()
            return all(new_only.current(s) for s in stored)

        await eventually(sealed)
    # then each is sealed under the new key alone, and opens to the same secret
    row = await endpoint_row(db, plain_id)
    assert new_only.open(row.secret) == plain
    assert row.previous_secret is not None and new_only.open(row.previous_secret) == previous
    assert new_only.open((await endpoint_row(db, keyed_id)).secret) == keyed
    async with db.sessions() as session:
        plain_left = await session.scalar(
            select(func.count()).where(m.WebhookEndpoint.secret.like("plain:%"))
        )
    assert plain_left == 0


def test_the_key_setting_takes_one_key_or_several_and_refuses_anything_else() -> None:
    one, two = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert Settings(webhook_secret_key=SecretStr(f"{one}, {two}")).webhook_secret_key
    for bad in ("not-a-key", f"{one},short"):
        with pytest.raises(ValidationError) as refused:
            Settings(webhook_secret_key=SecretStr(bad))
        assert bad not in str(refused.value)  # the value is never echoed


async def test_a_sqlite_file_upgraded_with_secrets_of_an_older_version_gets_its_key_at_start(
    db: Database, settings: Settings
) -> None:
    # given a secret an older version stored as it was, and no WEBHOOK_SECRET_KEY
    await setup_ledger(db)
    endpoint_id, _ = await add_endpoint(db, fast(settings), "http://127.0.0.1:9/a")
    secret = new_secret()
    async with db.sessions() as session, session.begin():
        await session.execute(
            update(m.WebhookEndpoint)
            .where(m.WebhookEndpoint.id == endpoint_id)
            .values(secret="plain:" + secret)
        )
    unkeyed = fast(settings, webhook_secret_key=None, database_url=db.url)
    path = key_file(unkeyed)
    if path is not None:
        path.unlink(missing_ok=True)
    try:
        # when the worker starts (its first step)
        await seal_stored(db.sessions, unkeyed)
        stored = (await endpoint_row(db, endpoint_id)).secret
        if path is None:
            # then on PostgreSQL, with nowhere to keep a key, it stays (and is warned of)
            assert stored == "plain:" + secret
            return
        # then on a SQLite file its key is made beside it, and the secret sealed at once
        assert path.exists()
        assert stored.startswith("fernet:") and secret not in stored
        assert SecretBox([path.read_bytes().strip()]).open(stored) == secret
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
