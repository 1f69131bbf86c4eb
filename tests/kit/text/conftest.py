"""An editor's client on the demo."""

from __future__ import annotations

import pytest

from tests import factories as f
from tests.conftest import Database, GraphQLClient


@pytest.fixture
async def editor(demo: Database, client: GraphQLClient) -> GraphQLClient:
    async with demo.sessions() as session, session.begin():
        secret = await f.api_key(session, "editor", name="text-editor")
    return client.with_key(secret)
