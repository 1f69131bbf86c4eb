"""One private cluster for the package (never the shared server), and a real server
process of the service running on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from pathlib import Path

import asyncpg
import pytest

from tests.db.faults.common import DATABASE, Cluster, cannot, cluster_user, postgres_bindir
from tests.live import LiveData, free_port, live_data, start_server


@pytest.fixture(scope="package")
def cluster() -> Iterator[Cluster]:
    """A fresh cluster for the package, stopped and removed after it (also on failure)."""
    bindir = postgres_bindir()
    if bindir is None or not all((bindir / tool).exists() for tool in ("initdb", "pg_ctl")):
        cannot(f"no PostgreSQL server binaries (initdb, pg_ctl) in {bindir}")
    user = cluster_user()
    # Not under pytest's temporary directory: that is private to us, and the cluster's
    # user must reach its own.
    root = Path(tempfile.mkdtemp(prefix="pledge-faults-"))
    if user is not None:
        os.chown(root, user[1], user[2])
    instance = Cluster(bindir, root, free_port(), user[0] if user else None)
    try:
        try:
            instance.init()
            instance.start()
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            cannot(f"could not start a cluster: {exc}")
        yield instance
    finally:
        if instance.running():
            with suppress(OSError, RuntimeError, subprocess.TimeoutExpired):
                instance.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="package")
async def live(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveData]:
    """The demo in the cluster's database, with keys, and one server process on it.

    Events are polled only every 30 s: an event delivered sooner after a restart came
    through the events listener, which therefore reconnected."""
    admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    async for data in live_data("postgresql", tmp_path_factory.mktemp("faults"), cluster.url):
        try:
            data.servers.append(
                await start_server(
                    data.url,
                    events_poll_seconds=30,
                    # Anonymous reads reach the resolvers without a key lookup first.
                    anonymous_read=True,
                    # Subscribers' credentials are checked again while the database is away.
                    subscription_recheck_seconds=1,
                )
            )
            yield data
        finally:
            for server in data.servers:
                server.stop()
