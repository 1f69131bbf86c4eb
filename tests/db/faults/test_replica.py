"""Reads on a real streaming replica: a primary and a hot standby made here with initdb
and pg_basebackup. Replay on the standby is paused to tell the two apart: a write is
then on the primary only, so what a read sees says where it was answered."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.db.faults.common import (
    DATABASE,
    Cluster,
    cannot,
    clean,
    cluster_user,
    postgres_bindir,
    transaction_input,
)
from tests.graphql.subscriptions.common import CHANGES, connect
from tests.graphql.subscriptions.test_websocket import REPORT
from tests.live import LiveData, Server, free_port, live_data, start_server
from tests.observability.test_observability import labels, samples

pytestmark = pytest.mark.postgres_only

# How long a read asking for a sequence waits for the standby (READ_REPLICA_WAIT).
WAIT_SECONDS = 0.5
CREATE = """
mutation($input: CreateTransactionInput!) {
  createTransaction(input: $input) { transaction { id } sequence errors { code } }
}"""
NODE = "query($id: ID!) { node(id: $id) { id } }"
CSV = "/reports/budget-summary.csv?groupBy=INITIATIVE&currency=CNY"


@dataclass
class Replicated:
    primary: Cluster
    standby: Cluster
    live: LiveData
    server: Server

    async def standby_sql(self, statement: str) -> Any:
        conn = await asyncpg.connect(
            f"postgresql://postgres@127.0.0.1:{self.standby.port}/postgres"
        )
        try:
            return await conn.fetchval(statement)
        finally:
            await conn.close()


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[Cluster, Cluster]]:
    """A running primary, and a standby's cluster, empty, for its base backup."""
    bindir = postgres_bindir()
    tools = ("initdb", "pg_ctl", "pg_basebackup")
    if bindir is None or not all((bindir / tool).exists() for tool in tools):
        cannot(f"no PostgreSQL binaries ({', '.join(tools)}) in {bindir}")
    user = cluster_user()
    made: list[Cluster] = []
    try:
        for _ in range(2):
            root = Path(tempfile.mkdtemp(prefix="pledge-replica-"))
            if user is not None:
                os.chown(root, user[1], user[2])
            made.append(Cluster(bindir, root, free_port(), user[0] if user else None))
        primary, standby = made
        try:
            primary.init()
            primary.start()
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            cannot(f"could not start a cluster: {exc}")
        yield primary, standby
    finally:
        for cluster in made:
            if cluster.running():
                with suppress(OSError, RuntimeError, subprocess.TimeoutExpired):
                    cluster.stop("immediate")
            shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="module")
async def replicated(
    clusters: tuple[Cluster, Cluster], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Replicated]:
    """The demo on the primary, streamed to a standby, and a server writing to the
    primary and reading from the standby."""
    primary, standby = clusters
    admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{primary.port}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    async for data in live_data("postgresql", tmp_path_factory.mktemp("replica"), primary.url):
        # -R: the standby's primary_conninfo and standby.signal, as an operator makes one.
        standby.run(
            "pg_basebackup",
            *("-D", str(standby.data), "-R", "-X", "stream", "-c", "fast"),
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
        )
        standby.start()
        server = await start_server(
            primary.url, read_replica_url=standby.url, replica_wait_seconds=WAIT_SECONDS
        )
        try:
            yield Replicated(primary, standby, data, server)
        finally:
            server.stop()


async def create(http: httpx.AsyncClient, live: LiveData) -> tuple[str, int]:
    response = await http.post(
        "/graphql",
        json={"query": CREATE, "variables": {"input": transaction_input(live, "replica")}},
        headers={"Authorization": f"Bearer {live.keys['editor']}"},
    )
    payload = response.json()["data"]["createTransaction"]
    assert payload["errors"] == [], payload
    return payload["transaction"]["id"], payload["sequence"]


async def seen(
    http: httpx.AsyncClient,
    live: LiveData,
    id: str,
    headers: dict[str, str] | None = None,
    *,
    key: str = "viewer",
) -> bool:
    """Whether a query (a viewer's, unless `key` names another) finds the record `id`."""
    response = await http.post(
        "/graphql",
        json={"query": NODE, "variables": {"id": id}},
        headers={"Authorization": f"Bearer {live.keys[key]}", **(headers or {})},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["node"] is not None


async def reads_served(http: httpx.AsyncClient) -> dict[str, float]:
    found = samples((await http.get("/metrics")).text)
    return {
        where: found.get(("pledge_ledger_replica_reads_total", labels(served_by=where)), 0.0)
        for where in ("replica", "primary")
    }


async def test_queries_read_the_replica_and_a_writer_reads_its_own_write(
    replicated: Replicated,
) -> None:
    live = replicated.live
    async with httpx.AsyncClient(base_url=replicated.server.http, timeout=30) as http:
        # given: the standby stops replaying what the primary sends it
        assert await replicated.standby_sql("SELECT pg_is_in_recovery()") is True
        await replicated.standby_sql("SELECT pg_wal_replay_pause()")
        try:
            # when: an editor writes (on the primary, as the standby can take no write)
            id, sequence = await create(http, live)
            assert sequence > 0
            before = await reads_served(http)

            # then: a plain query answers from the standby, which has not got the write
            assert not await seen(http, live, id)
            # and the writer, passing its sequence, waits for the standby in vain and
            # is answered by the primary
            assert await seen(http, live, id, {"X-Min-Sequence": str(sequence)})
            after = await reads_served(http)
            assert after["replica"] == before["replica"] + 1
            assert after["primary"] == before["primary"] + 1
            # a download is a query too: answered by the standby without the write
            auditor = {"Authorization": f"Bearer {live.keys['auditor']}"}
            stale = (await http.get(CSV, headers=auditor)).text
            fresh = await http.get(CSV, headers={**auditor, "X-Min-Sequence": str(sequence)})
            assert fresh.status_code == 200, fresh.text
            assert stale != fresh.text
            # and so is the IATI export
            iati = "/exports/iati.xml"
            old_xml = (await http.get(iati, headers=auditor)).text
            new_xml = await http.get(iati, headers={**auditor, "X-Min-Sequence": str(sequence)})
            assert new_xml.status_code == 200, new_xml.text
            assert new_xml.text.count("<transaction ") == old_xml.count("<transaction ") + 1
            # a partner reads through a view, built on the primary: the write is there
            assert await seen(http, live, id, key="partner")
        finally:
            await replicated.standby_sql("SELECT pg_wal_replay_resume()")

        # when replay resumes, the standby serves the write, asked for or not
        for _ in range(200):
            if await seen(http, live, id):
                break
        else:
            raise AssertionError("the standby never replayed the write")
        before = await reads_served(http)
        assert await seen(http, live, id, {"X-Min-Sequence": str(sequence)})
        assert (await http.get(CSV, headers=auditor)).text == fresh.text
        replayed_xml = (await http.get(iati, headers=auditor)).text
        assert replayed_xml.count("<transaction ") == new_xml.text.count("<transaction ")
        after = await reads_served(http)
        assert after["replica"] == before["replica"] + 3
        assert after["primary"] == before["primary"]


async def test_subscriptions_hear_and_read_the_primary(replicated: Replicated) -> None:
    live = replicated.live
    async with (
        httpx.AsyncClient(base_url=replicated.server.http, timeout=30) as http,
        await connect(replicated.server, live.keys["viewer"]) as client,
    ):
        changes = await client.subscribe(CHANGES)
        report = await client.subscribe(REPORT, {"groupBy": []})
        first = (await report.data())["budgetSummaryUpdates"]["total"]
        await replicated.standby_sql("SELECT pg_wal_replay_pause()")
        try:
            # when: a write the standby has not replayed
            id, sequence = await create(http, live)
            # then: its event comes from the primary's trail, and the live report that
            # follows it reads the primary, write included
            event = (await changes.data())["changes"]
            assert (event["entityId"], event["sequence"]) == (id, sequence)
            second = (await report.data())["budgetSummaryUpdates"]["total"]
            assert second["transactionCount"] == first["transactionCount"] + 1
            assert not await seen(http, live, id)  # while a query still reads the standby
        finally:
            await replicated.standby_sql("SELECT pg_wal_replay_resume()")


async def test_with_the_replica_away_queries_are_busy_and_a_writer_reads_the_primary(
    replicated: Replicated,
) -> None:
    live, standby = replicated.live, replicated.standby
    async with httpx.AsyncClient(base_url=replicated.server.http, timeout=30) as http:
        standby.stop("fast")
        try:
            id, sequence = await create(http, live)
            # a plain query is not moved to the primary behind the operator's back
            response = await http.post(
                "/graphql",
                json={"query": NODE, "variables": {"id": id}},
                headers={"Authorization": f"Bearer {live.keys['viewer']}"},
            )
            (error,) = response.json()["errors"]
            assert error["extensions"]["code"] == "BUSY"
            clean(response.text)
            # the writer's read waits for the replica in vain, and reads the primary
            assert await seen(http, live, id, {"X-Min-Sequence": str(sequence)})
        finally:
            standby.start()
        # back: the replica serves again, with what it missed streamed to it
        for _ in range(200):
            if await seen(http, live, id):
                break
        else:
            raise AssertionError("the standby did not come back with the write")
