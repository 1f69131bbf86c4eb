"""The record kinds added for issue 16 reach subscribers as every kind does: each write
an event, and a partner only the events of its own initiatives (a share and a
participation belong to their initiative; an organisation to none)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.graphql.subscriptions.common import CHANGES, connect
from tests.live import LiveData, Server, live_data, start_server

GROUPS = "{ beneficiaryGroups(first: 2) { nodes { id } } }"
# Each mutation's input type and its payload's record field.
MUTATIONS = {
    "createOrganization": ("CreateOrganizationInput", "organization"),
    "createParticipation": ("CreateParticipationInput", "participation"),
    "createBeneficiaryShare": ("CreateBeneficiaryShareInput", "beneficiaryShare"),
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveData]:
    """The demo in a database of its own, and one server that polls often."""
    async for data in live_data(request.param, tmp_path_factory.mktemp("kinds")):
        try:
            data.servers.append(await start_server(data.url, events_poll_seconds=0.2))
            yield data
        finally:
            for server in data.servers:
                server.stop()


async def post(server: Server, key: str, query: str, variables: dict[str, Any]) -> Any:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{server.http}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {key}"},
        )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def create(live: LiveData, name: str, values: dict[str, Any]) -> str:
    input_type, record = MUTATIONS[name]
    query = (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ "
        f"{record} {{ id }} errors {{ code message }} }} }}"
    )
    payload = (await post(live.servers[0], live.keys["editor"], query, {"input": values}))[name]
    assert payload["errors"] == [], payload
    return str(payload[record]["id"])


async def test_a_partner_receives_the_new_kinds_of_its_own_initiatives(live: LiveData) -> None:
    # given: a partner (of the first initiative) and a viewer subscribed
    server = live.servers[0]
    groups = await post(server, live.keys["viewer"], GROUPS, {})
    group_ids = [n["id"] for n in groups["beneficiaryGroups"]["nodes"]]
    async with (
        await connect(server, live.keys["partner"]) as partner,
        await connect(server, live.keys["viewer"]) as viewer,
    ):
        theirs = await partner.subscribe(CHANGES)
        everything = await viewer.subscribe(CHANGES)
        await asyncio.sleep(0.3)
        # when: an editor adds an organisation, a share elsewhere, and two records of
        # the partner's initiative
        own, other = live.initiatives[0], live.initiatives[1]
        organization = await create(
            live, "createOrganization", {"ref": "NEW-ORG", "name": "New", "kind": "NGO"}
        )
        elsewhere = await create(
            live,
            "createBeneficiaryShare",
            {"initiativeId": other, "groupId": group_ids[0], "percentage": "10"},
        )
        participation = await create(
            live,
            "createParticipation",
            {"initiativeId": own, "organizationId": organization, "role": "IMPLEMENTING"},
        )
        share = await create(
            live,
            "createBeneficiaryShare",
            {"initiativeId": own, "groupId": group_ids[1], "percentage": "25.5"},
        )
        # then: the viewer gets all four, each with its record
        seen = [(await everything.data(10))["changes"] for _ in range(4)]
        assert [(e["entityType"], e["entityId"], e["operation"]) for e in seen] == [
            ("ORGANIZATION", organization, "CREATE"),
            ("BENEFICIARY_SHARE", elsewhere, "CREATE"),
            ("PARTICIPATION", participation, "CREATE"),
            ("BENEFICIARY_SHARE", share, "CREATE"),
        ]
        assert seen[3]["record"]["percentage"] == "25.5000"
        # and the partner only those of its initiative
        got = [(await theirs.data(10))["changes"] for _ in range(2)]
        assert [(e["entityType"], e["entityId"]) for e in got] == [
            ("PARTICIPATION", participation),
            ("BENEFICIARY_SHARE", share),
        ]
        await theirs.nothing(0.5)
