"""The private PostgreSQL cluster the fault tests stop and start, and what they share:
what a client may never be told, the operations they send, an outage, and waiting for
the service to say it is ready again."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx

from tests.conftest import unreachable
from tests.live import LiveData, Server

OS_USER = "postgres"  # who runs the cluster when the tests run as root
DATABASE = "pledge_faults"
# How long the service may take to notice the database is back. Generous: a failure
# here means it did not recover at all (the pool's check at checkout, the events
# listener's backoff of at most 5 s), not that it was slow.
RECOVERY_SECONDS = 30.0
# Whatever a client is told while the database is away, none of this may be in it.
LEAKS = ("asyncpg", "sqlalchemy", "Traceback", "Errno", "refused", "SELECT", "127.0.0.1")

CHANGES = """
subscription($after: String) {
  changes(after: $after) { cursor sequence entityType entityId operation }
}"""
CREATE_KEYED = """
mutation($input: CreateTransactionInput!, $key: String) {
  createTransaction(input: $input, idempotencyKey: $key) {
    transaction { id } errors { code message } replayed
  }
}"""
PROGRAMS = "{ programs { totalCount } }"


def postgres_bindir() -> Path | None:
    given = os.environ.get("TEST_POSTGRES_BIN")
    if given:
        return Path(given)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class Cluster:
    """A PostgreSQL cluster in `root` (data, socket and log), on 127.0.0.1:`port`."""

    bindir: Path
    root: Path
    port: int
    user: str | None  # run the tools as this OS user (we are root), or as ourselves

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def url(self) -> str:
        return self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")

    def init(self) -> None:
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")

    def start(self) -> None:
        # fsync off: only the database goes down here, never the machine; every commit
        # still reaches the operating system before it is acknowledged.
        options = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.root} -c fsync=off"
        )
        data, log = str(self.data), str(self.log)
        self.run("pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", log, "-o", options)

    def stop(self, mode: str) -> None:
        self.run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(self.data))

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def signal_all(self, signal: str) -> None:
        """Send `signal` (STOP, CONT) to the server and every process it started."""
        postmaster = (self.data / "postmaster.pid").read_text().split()[0]
        subprocess.run(["pkill", f"-{signal}", "-P", postmaster], check=False, timeout=10)
        subprocess.run(["kill", f"-{signal}", postmaster], check=True, timeout=10)

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def cannot(reason: str) -> NoReturn:
    unreachable("PostgreSQL (a private cluster)", reason)
    raise AssertionError(reason)  # unreachable() has skipped or failed already


def cluster_user() -> tuple[str, int, int] | None:
    """Who runs the cluster when we are root (PostgreSQL will not): the distribution's
    `postgres` user, by runuser. None: we are not root, and run it ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam(OS_USER)
    except KeyError:
        cannot(f"running as root, and there is no {OS_USER} OS user to run the cluster")
    if shutil.which("runuser") is None:
        cannot("running as root, and there is no runuser to run the cluster as another user")
    return OS_USER, account.pw_uid, account.pw_gid


def server_of(live: LiveData) -> Server:
    return live.servers[0]


@asynccontextmanager
async def outage(cluster: Cluster, mode: str) -> AsyncIterator[None]:
    """The database stopped (`pg_ctl stop -m mode`) for the block, started again after
    it, whatever happens in it."""
    await asyncio.to_thread(cluster.stop, mode)
    try:
        yield
    finally:
        await asyncio.to_thread(cluster.start)


async def wait_ready(http: httpx.AsyncClient, server: Server) -> dict[str, Any]:
    """/readyz once it says ready again; fails if it never does in RECOVERY_SECONDS."""
    deadline = asyncio.get_running_loop().time() + RECOVERY_SECONDS
    while True:
        response = await http.get(f"{server.http}/readyz")
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            return body
        assert asyncio.get_running_loop().time() < deadline, (response.text, server.output())
        await asyncio.sleep(0.1)


def clean(told: str) -> None:
    """Nothing of the database's internals in what a client is told."""
    for leak in LEAKS:
        assert leak not in told, told


def transaction_input(live: LiveData, description: str | None = None) -> dict[str, Any]:
    return {
        "initiativeId": live.initiatives[0],
        "type": "DISBURSEMENT",
        "date": "2024-05-02",
        "amount": "100.00",
        "currency": "CNY",
        "description": description,
    }
