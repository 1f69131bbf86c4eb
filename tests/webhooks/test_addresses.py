"""The SSRF check: at registration (nothing written) and again before each request."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from app import models as m
from app.config import Settings
from app.errors import ErrorCode
from app.webhooks.addresses import AddressRefused, checked
from tests.conftest import Database
from tests.webhooks.common import add_endpoint, fast, running, setup_ledger, write
from tests.webhooks.receiver import Receiver

REFUSED = [
    "http://127.0.0.1/hook",
    "http://localhost:8080/hook",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "ftp://93.184.215.14/",
    "http://user:pw@93.184.215.14/",
    "not a url",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_private_and_odd_urls_are_refused(url: str) -> None:
    with pytest.raises(AddressRefused) as refused:
        await checked(url, allow_private=False)
    assert refused.value.code is ErrorCode.ADDRESS_REFUSED


async def test_a_public_address_passes_and_the_setting_allows_private_ones() -> None:
    target = await checked("https://93.184.215.14:8443/in", allow_private=False)
    assert (target.host, target.port, [str(a) for a in target.addresses]) == (
        "93.184.215.14",
        8443,
        ["93.184.215.14"],
    )
    assert (await checked("http://127.0.0.1/", allow_private=True)).port == 80


async def test_registration_refuses_a_private_address_and_writes_nothing(
    db: Database, settings: Settings
) -> None:
    await setup_ledger(db)
    with pytest.raises(AddressRefused):
        await add_endpoint(db, settings, "http://127.0.0.1:9/hook")
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(m.WebhookEndpoint)) == 0


async def test_each_request_is_checked_again_and_nothing_is_sent(
    db: Database, settings: Settings
) -> None:
    # given an endpoint registered where private addresses were allowed
    await setup_ledger(db)
    receiver = Receiver().up()
    endpoint_id, _secret = await add_endpoint(db, fast(settings), receiver.url)
    try:
        # when a process that does not allow them delivers
        async with running(db, fast(settings, webhook_allow_private_addresses=False)):
            await write(db, 1)

            async def failed() -> bool:
                async with db.sessions() as session:
                    row = await session.get(m.WebhookEndpoint, endpoint_id)
                    return row is not None and row.last_error is not None

            for _ in range(500):
                if await failed():
                    break
                await asyncio.sleep(0.02)
    finally:
        receiver.down()
    # then the attempt was refused before connecting
    assert receiver.received == []
    async with db.sessions() as session:
        row = await session.get(m.WebhookEndpoint, endpoint_id)
    assert row is not None and row.last_error is not None and "loopback" in row.last_error
