"""Faults against a real PostgreSQL restarted under a running service.

The module runs a PostgreSQL cluster of its own (initdb in a temporary directory, a
free port), never the shared server: the tests stop and start it while a real server
process of the service keeps running on it. What users rely on across such a restart:

- /readyz says "unready" at once while the database is away and "ready" again when it
  is back, without the service being restarted; /healthz stays up;
- a request meanwhile gets a clear error with a stable code (BUSY: retry shortly),
  never a crash or anything of the database's internals;
- no write acknowledged to a client is lost; a write in flight either commits or fails
  with that clear error, and a retry with its idempotency key applies it exactly once;
- a subscriber resuming from its last cursor gets every change it missed, without gap.

And a database that takes connections but never answers is waited for only as long
as the engine's connect timeout: the service says unready and BUSY, it does not hang.

The cluster needs PostgreSQL's server binaries (TEST_POSTGRES_BIN, else the newest
/usr/lib/postgresql/*/bin, else initdb on PATH). PostgreSQL refuses to run as root, so
as root the cluster runs as the `postgres` OS user (runuser). Without them the module is
skipped with its reason, except in CI (`CI=true`), where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select, text
from websockets.exceptions import ConnectionClosed

from app import models as m
from app.audit.service import verify
from app.events.brokers import APPLICATION
from app.kit.ids import decode_id_of
from tests.conftest import unreachable
from tests.live import LiveData, Server, free_port, live_data, sequences, start_server
from tests.wsclient import Closed, LiveClient

# One cluster for the module; it has no SQLite counterpart (nothing is parametrized).
pytestmark = pytest.mark.postgres_only

OS_USER = "postgres"  # who runs the cluster when the tests run as root
DATABASE = "pledge_faults"
# How long the service may take to notice the database is back. Generous: a failure
# here means it did not recover at all (the pool's pre-ping, the events listener's
# backoff of at most 5 s), not that it was slow.
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


# --- the private cluster ------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A fresh cluster for the module, stopped and removed after it (also on failure)."""
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


@pytest.fixture(scope="module")
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


# --- the tests ---------------------------------------------------------------------------


async def test_readiness_follows_the_database_and_the_service_recovers_by_itself(
    cluster: Cluster, live: LiveData
) -> None:
    server = server_of(live)
    viewer = {"Authorization": f"Bearer {live.keys['viewer']}"}
    editor = {"Authorization": f"Bearer {live.keys['editor']}"}
    write = {"query": CREATE_KEYED, "variables": {"input": transaction_input(live)}}
    # A probe's own timeout: a /readyz that hung instead of answering would fail here.
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"

        async with outage(cluster, "fast"):
            unready = await http.get("/readyz")
            assert unready.status_code == 503, unready.text
            assert unready.json()["status"] == "unready"
            # Alive all the same: nothing for an orchestrator to restart.
            assert (await http.get("/healthz")).status_code == 200

            # A caller with a key: the key cannot be looked up, so nothing runs; a
            # 503 with the code and when to come back, as JSON, never a crash.
            for body, headers in (({"query": PROGRAMS}, viewer), (write, editor)):
                refused = await http.post("/graphql", json=body, headers=headers)
                assert refused.status_code == 503, refused.text
                assert refused.headers["retry-after"].isdigit()
                assert refused.headers["content-type"].startswith("application/json")
                (error,) = refused.json()["errors"]
                assert error["extensions"]["code"] == "BUSY"
                clean(refused.text)

            # An anonymous read gets as far as its resolver: the field's error, with the
            # same code and an id to quote.
            failed = await http.post("/graphql", json={"query": PROGRAMS})
            assert failed.status_code == 200
            body = failed.json()
            assert body["data"] is None
            (error,) = body["errors"]
            assert error["extensions"]["code"] == "BUSY"
            assert error["extensions"]["errorId"]
            clean(failed.text)

        # Back without restarting the service: the same process, ready, serving.
        assert (await wait_ready(http, server))["status"] == "ready"
        assert server.process.poll() is None
        for _ in range(2):  # every pooled connection was cut: each one is replaced
            answer = await http.post("/graphql", json={"query": PROGRAMS}, headers=viewer)
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"]["programs"]["totalCount"] >= 1
        written = await http.post("/graphql", json=write, headers=editor)
        payload = written.json()["data"]["createTransaction"]
        assert payload["errors"] == [] and payload["transaction"]["id"]


@dataclass
class Attempt:
    """One createTransaction request and what its client was told."""

    key: str  # its idempotency key, also written as the transaction's description
    outcome: str  # acknowledged | refused (nothing ran) | failed (in flight) | lost | other
    id: str | None = None  # the transaction's global ID, when acknowledged
    replayed: bool = False  # acknowledged as the first result of an earlier request
    told: str = ""


async def attempt(http: httpx.AsyncClient, live: LiveData, key: str) -> Attempt:
    """createTransaction with idempotency key `key`, classified by what came back."""
    body = {"query": CREATE_KEYED, "variables": {"input": transaction_input(live, key), "key": key}}
    headers = {"Authorization": f"Bearer {live.keys['editor']}"}
    try:
        response = await http.post("/graphql", json=body, headers=headers)
    except httpx.TransportError as exc:
        return Attempt(key, "lost", told=repr(exc))
    told = response.text
    try:
        answer = response.json()
    except ValueError:
        return Attempt(key, "other", told=f"{response.status_code} {told}")
    codes = [e.get("extensions", {}).get("code") for e in answer.get("errors") or []]
    payload = (answer.get("data") or {}).get("createTransaction")
    if response.status_code == 200 and payload and payload["errors"] == [] and not codes:
        return Attempt(key, "acknowledged", payload["transaction"]["id"], payload["replayed"], told)
    if response.status_code == 503 and codes == ["BUSY"] and "data" not in answer:
        return Attempt(key, "refused", told=told)
    if response.status_code == 200 and codes == ["BUSY"] and payload is None:
        return Attempt(key, "failed", told=told)
    return Attempt(key, "other", told=f"{response.status_code} {told}")


async def test_no_acknowledged_write_is_lost_and_retries_apply_once(
    cluster: Cluster, live: LiveData
) -> None:
    """Writers keep writing while the database is killed (`-m immediate`: no orderly
    shutdown) and started again. At the kill, each writer has a write in flight: they
    queue for the ledger's write lock, which the test holds."""
    server = server_of(live)
    writers = 3
    attempts: list[Attempt] = []
    stop = asyncio.Event()
    progress = asyncio.Condition()

    async def writer(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            attempts.append(await attempt(http, live, f"fault-{uuid.uuid4().hex}"))
            async with progress:
                progress.notify_all()
            await asyncio.sleep(0.01)

    def acknowledged() -> int:
        return sum(a.outcome == "acknowledged" for a in attempts)

    async def until(done: Callable[[], bool]) -> None:
        async with progress:
            await progress.wait_for(done)

    async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
        tasks = [asyncio.create_task(writer(http)) for _ in range(writers)]
        try:
            target = acknowledged() + 10
            await asyncio.wait_for(until(lambda: acknowledged() >= target), RECOVERY_SECONDS)
            holder = await asyncpg.connect(cluster.dsn)
            try:
                await holder.execute("BEGIN; UPDATE audit_chain_head SET id = id WHERE id = 1")
                waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                while True:
                    if await holder.fetchval(waiting) >= writers:
                        break
                    await asyncio.sleep(0.01)
                in_flight = len(attempts)
                async with outage(cluster, "immediate"):
                    # Each writer is told about its write in flight, then meets the outage.
                    await asyncio.wait_for(
                        until(lambda: len(attempts) >= in_flight + 2 * writers), RECOVERY_SECONDS
                    )
            finally:
                holder.terminate()
            await wait_ready(http, server)
            target = acknowledged() + 10
            await asyncio.wait_for(until(lambda: acknowledged() >= target), RECOVERY_SECONDS)
        finally:
            stop.set()
            await asyncio.gather(*tasks)

        outcomes = Counter(a.outcome for a in attempts)
        # The service answered every request (it never went away), each one clearly.
        assert not outcomes["other"], [a.told for a in attempts if a.outcome == "other"]
        assert not outcomes["lost"], [a.told for a in attempts if a.outcome == "lost"]
        # The writes in flight at the kill failed with BUSY; those sent while the
        # database was down were refused before anything ran.
        assert outcomes["failed"] >= writers, outcomes
        assert outcomes["refused"] >= writers, outcomes
        for a in attempts:
            if a.outcome in ("refused", "failed"):
                clean(a.told)

        # What the database holds: each request's transaction found by its key.
        async with live.sessions() as session:
            rows = (
                await session.execute(
                    select(m.Transaction.description, m.Transaction.id).where(
                        m.Transaction.description.like("fault-%")
                    )
                )
            ).all()
        found: dict[str, list[int]] = {}
        for description, pk in rows:
            found.setdefault(str(description), []).append(pk)
        for a in attempts:
            held = found.get(a.key, [])
            if a.outcome == "acknowledged":
                assert a.id is not None
                assert held == [decode_id_of(a.id, "Transaction")], a  # kept, once
            elif a.outcome == "refused":
                assert held == [], a  # nothing ran
            else:
                assert len(held) <= 1, a  # in flight: committed once or not at all

        # A client unsure of a write retries it with the same key: applied once.
        for a in attempts:
            if a.outcome == "acknowledged":
                continue
            retried = await attempt(http, live, a.key)
            assert retried.outcome == "acknowledged", retried
            assert retried.id is not None
            if found.get(a.key):  # it had committed: its first result, replayed
                assert retried.replayed
                assert [decode_id_of(retried.id, "Transaction")] == found[a.key]
            else:
                assert not retried.replayed
            again = await attempt(http, live, a.key)
            assert again.replayed and again.id == retried.id

    async with live.sessions() as session:
        keys = [a.key for a in attempts]
        counts = (
            await session.execute(
                select(m.Transaction.description, func.count())
                .where(m.Transaction.description.in_(keys))
                .group_by(m.Transaction.description)
            )
        ).all()
        assert {str(k): n for k, n in counts} == dict.fromkeys(keys, 1)
        # The audit trail came through the crash intact.
        assert (await verify(session)).intact


async def listening(live: LiveData) -> int:
    """How many events listeners (LISTEN connections of servers) the database has."""
    async with live.sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": APPLICATION},
        )
    return int(count or 0)


async def test_subscribers_keep_going_across_a_restart_and_resume_without_a_gap(
    cluster: Cluster, live: LiveData
) -> None:
    server = server_of(live)
    viewer = f"Bearer {live.keys['viewer']}"
    async with await LiveClient.connect(server.ws, authorization=viewer) as client:
        follower = await client.subscribe(CHANGES)
        await asyncio.sleep(0.2)  # subscribed before the writes
        written = await live.write(server, 2)
        seen = [(await follower.data())["changes"] for _ in written]
        assert [e["entityId"] for e in seen] == written
        cursor, start = seen[-1]["cursor"], seen[-1]["sequence"]
        # Acknowledged just before the restart: delivered before it or after it.
        (acknowledged_before,) = await live.write(server)

        received: list[dict[str, Any]] = []
        async with outage(cluster, "fast"):
            # The subscription stays open. Its credential is re-checked every second
            # here: a re-check that cannot reach the database proves nothing either way.
            with suppress(TimeoutError):
                while True:
                    received.append(await follower.data(wait=2.5))
            # A new operation on the open connection is refused, clearly; the
            # connection and its subscription stay.
            refused = await (await client.subscribe(CHANGES)).next()
            assert refused["type"] == "error", refused
            assert [e["extensions"]["code"] for e in refused["payload"]] == ["BUSY"]
            clean(str(refused))
            # A new connection is closed with 1013, "try again later".
            with pytest.raises(ConnectionClosed) as closed:
                await LiveClient.connect(server.ws, authorization=viewer)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1013
            assert closed.value.rcvd.reason.startswith("BUSY")

        async with httpx.AsyncClient(timeout=10) as http:
            await wait_ready(http, server)
        # The events listener connected again (the hub polls only every 30 s here):
        for _ in range(int(RECOVERY_SECONDS * 10)):
            if await listening(live) == 1:
                break
            await asyncio.sleep(0.1)
        assert await listening(live) == 1, server.output()
        # Written beside the service: only the listener tells it.
        await live.burst(2)
        end = await live.last_sequence()
        while not received or received[-1]["changes"]["sequence"] < end:
            received.append(await follower.data(wait=RECOVERY_SECONDS))
        (acknowledged_after,) = await live.write(server)
        received.append(await follower.data())
        end = await live.last_sequence()

        # Everything since the last event seen before the restart, once, in order.
        assert sequences(received) == list(range(start + 1, end + 1))
        ids = [e["changes"]["entityId"] for e in received]
        assert ids[0] == acknowledged_before and ids[-1] == acknowledged_after
        await follower.nothing(0.5)

    # A client that was away resumes from the last cursor it had: the same, no gap.
    async with await LiveClient.connect(server.ws, authorization=viewer) as client:
        resumed = await client.subscribe(CHANGES, {"after": cursor})
        replayed = [await resumed.data() for _ in range(end - start)]
        assert replayed == received
        await resumed.nothing(0.5)


async def test_a_database_that_never_answers_is_unready_not_a_hang() -> None:
    """A database host that takes connections and says nothing (a partition, a hung
    machine) is waited for as long as the engine's connect timeout, not a minute:
    /readyz answers unready and callers are told BUSY, as for a database that is down."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepted, never answered

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server = await start_server(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{DATABASE}")
    try:
        # Patience, as a probe's: half of asyncpg's own default connect timeout.
        async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
            headers = {"Authorization": "Bearer pl_any_key"}
            ready, answer = await asyncio.gather(
                http.get("/readyz"),
                http.post("/graphql", json={"query": PROGRAMS}, headers=headers),
            )
            assert (await http.get("/healthz")).status_code == 200
        assert ready.status_code == 503 and ready.json()["status"] == "unready"
        assert answer.status_code == 503, answer.text
        assert [e["extensions"]["code"] for e in answer.json()["errors"]] == ["BUSY"]
        clean(answer.text)
    finally:
        server.stop()
        listener.close()
        for writer in held:
            writer.close()


async def closed_at_init(server: Server, secret: str) -> Closed:
    """How the server closes a WebSocket whose connection_init carries this key."""
    client = await LiveClient.connect(server.ws, init=False)
    await client.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {secret}"}})
    return await client.ended(wait=30)


async def test_a_frozen_database_is_waited_for_within_limits_then_recovers(
    cluster: Cluster, live: LiveData
) -> None:
    """The database's processes frozen (a hung host, a stalled disk) with connections
    already open: every wait is bounded (/readyz by its deadline, learning who calls and
    running an operation by EXECUTION_TIMEOUT_SECONDS), and when the database thaws the
    same server answers again."""
    server = await start_server(live.url, execution_timeout_seconds=2, anonymous_read=True)
    headers = {"Authorization": f"Bearer {live.keys['viewer']}"}
    try:
        async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
            warm = await http.post("/graphql", json={"query": PROGRAMS}, headers=headers)
            assert warm.json()["data"]["programs"]["totalCount"] >= 1
            await asyncio.to_thread(cluster.signal_all, "STOP")
            try:
                ready, keyed, anonymous, socket = await asyncio.gather(
                    http.get("/readyz"),
                    http.post("/graphql", json={"query": PROGRAMS}, headers=headers),
                    http.post("/graphql", json={"query": PROGRAMS}),
                    closed_at_init(server, live.keys["viewer"]),
                )
                assert (await http.get("/healthz")).status_code == 200
            finally:
                await asyncio.to_thread(cluster.signal_all, "CONT")
            assert ready.status_code == 503 and ready.json()["status"] == "unready"
            # A WebSocket's credential could not be proved in time: try again later.
            assert socket.code == 1013 and socket.reason.startswith("BUSY"), socket
            # Learning who calls timed out: nothing ran, retry shortly.
            assert keyed.status_code == 503, keyed.text
            assert [e["extensions"]["code"] for e in keyed.json()["errors"]] == ["BUSY"]
            # No key to look up: the operation itself ran into its limit.
            codes = [e["extensions"]["code"] for e in anonymous.json()["errors"]]
            assert codes in (["TIMEOUT"], ["BUSY"]), anonymous.text
            for answer in (keyed, anonymous):
                clean(answer.text)
            await wait_ready(http, server)
            after = await http.post("/graphql", json={"query": PROGRAMS}, headers=headers)
            assert after.json() == warm.json()
    finally:
        server.stop()
