"""The servers under attack, one pair per backend, shared by the package's tests: one
started by uvicorn's own command, one by `pledge-ledger serve`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.http.availability.common import SERVED, SETTINGS
from tests.live import LiveData, live_data, start_server


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveData]:
    backend: str = request.param
    async for data in live_data(backend, tmp_path_factory.mktemp("availability")):
        try:
            data.servers.append(await start_server(data.url, **SETTINGS))
            data.servers.append(await start_server(data.url, serve=True, **SERVED))
            yield data
        finally:
            for server in data.servers:
                server.stop()
