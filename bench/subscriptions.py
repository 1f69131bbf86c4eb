"""Live updates: N idle subscribers, memory per subscriber, commit-to-delivery latency.

One uvicorn server (one process: the memory figure is per process) on a fresh database
with the demo loaded. N WebSocket connections (graphql-transport-ws), each with one
`changes` subscription, are opened against it; its RSS before and after gives the
memory per idle subscriber. Then `createTransaction` mutations commit: `--lone` of
them one at a time (each once the previous one reached everyone and the server is
quiet), then `--events` spaced `--interval` apart whatever the backlog. Every
subscriber's every event is timestamped as it arrives: latency = arrival - the event's
`occurredAt` (written in the transaction just before its commit, on the same machine's
clock, so it slightly overstates: the commit is counted in). Every subscriber must
receive every event once, in order; anything else is counted as an error.

On PostgreSQL the mutations go, by default, through a second server process, so the
subscribers' server learns of them from its broker (LISTEN/NOTIFY, or Redis with
`--broker redis`) as another process's commits; on SQLite (memory broker: one process
only) through the subscribers' server itself.

The client is one asyncio protocol object per connection, with a minimal WebSocket
framing of its own (no task per connection) and uvloop when installed, so that 10 k
connections cost it as little as possible; it still shares the machine with the server.

    .venv/bin/python bench/subscriptions.py --backend both --subscribers 1000,10000
    .venv/bin/python bench/subscriptions.py --backend postgresql --subscribers 1000 --broker redis
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import math
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx

sys.path[:0] = [str(Path(__file__).resolve().parent)]

# bench/writes.py: the command line, readiness, the mutation.
from writes import BIN, MUTATION, PG_ADMIN, ROOT, cli, wait_ready  # noqa: E402

DATABASE = "bench_subscriptions"
PORT = 8881  # the subscribers' server; the writers' server (if any) is PORT + 1
SELECTIONS = {
    "full": "subscription { changes { cursor sequence occurredAt entityType entityId "
    "operation actor { name role } record } }",
    "minimal": "subscription { changes { sequence occurredAt } }",
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the process


def rss_kb(pid: int | None = None) -> int:
    """Resident set size (VmRSS) of a process, in kB; this one by default."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system (kernel: the sockets' writes among them) CPU time so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_open_files(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, wanted))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def settle(pid: int, *, quiet: float = 0.02, window: float = 0.5, limit: float = 60) -> None:
    """Wait until process `pid` uses less than `quiet` CPU seconds per `window`."""
    deadline = time.monotonic() + limit
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(window)
        now = cpu_seconds(pid)
        if now - last < quiet:
            return
        last = now


# ---------------------------------------------------------------- a lean client


class Connection(asyncio.Protocol):
    """One WebSocket, graphql-transport-ws, one `changes` subscription. Frames are
    parsed in `data_received` and each event is timestamped there (wall clock, to
    compare with `occurredAt`): no task, no queue per connection."""

    def __init__(self, port: int, occurred: dict[int, str], query: str) -> None:
        self.port = port
        self.query = query
        self.occurred = occurred  # sequence -> occurredAt, shared by all connections
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.acked: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.fragments: list[bytes] = []
        self.upgraded = False
        self.received: list[tuple[int, float]] = []  # (sequence, arrival)
        self.last = 0
        self.errors: list[str] = []
        self.closing = False  # this side closes: the end is not an error

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                "GET /graphql HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.errors.append(f"connection lost ({exc})")
        for waiter in (self.opened, self.acked):
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"connection lost ({exc})"))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            del buffer[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode()))
                return
            self.upgraded = True
            self.opened.set_result(None)
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length, start = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if second & 0x80:  # servers never mask their frames
                self.errors.append("masked frame from the server")
                self.close()
                return
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            opcode = first & 0x0F
            if opcode in (0, 1, 2):  # continuation, text, binary
                if first & 0x80 and not self.fragments:
                    self.on_message(payload, now)
                    continue
                self.fragments.append(payload)
                if first & 0x80:
                    message = b"".join(self.fragments)
                    self.fragments.clear()
                    self.on_message(message, now)
            elif opcode == 8:  # close: answer it and go
                if not self.closing:
                    code = int.from_bytes(payload[:2], "big") if payload else 1005
                    self.errors.append(f"closed by the server: {code} {payload[2:]!r}")
                self.close()
                return
            elif opcode == 9:  # ping
                self.send_frame(10, payload)

    # -- WebSocket and graphql-transport-ws

    def send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        size = len(payload)
        if size < 126:
            header = bytes([0x80 | opcode, 0x80 | size])
        elif size < 65536:
            header = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
        mask = os.urandom(4)
        masked = int.from_bytes(payload, "big") ^ int.from_bytes(
            (mask * (size // 4 + 1))[:size], "big"
        )
        self.transport.write(header + mask + masked.to_bytes(size, "big"))

    def send(self, message: dict[str, Any]) -> None:
        self.send_frame(1, json.dumps(message).encode())

    def on_message(self, raw: bytes, now: float) -> None:
        said = READ.get(raw)
        if said is None:
            said = read_message(raw)
            if said[0] == "next":
                if len(READ) >= READ_LIMIT:
                    READ.clear()
                READ[raw] = said
        kind, sequence, occurred_at, error = said
        if error is not None:
            self.errors.append(error)
        elif kind == "next":
            self.received.append((sequence, now))
            self.last = sequence
            self.occurred.setdefault(sequence, occurred_at)
        elif kind == "connection_ack":
            self.acked.set_result(None)
        elif kind == "ping":
            self.send({"type": "pong"})

    async def start(self) -> None:
        await self.opened
        self.send({"type": "connection_init", "payload": {}})
        await self.acked
        if self.query:  # none: an initialised connection that subscribes to nothing
            self.send({"id": "1", "type": "subscribe", "payload": {"query": self.query}})

    def close(self) -> None:
        self.closing = True
        if self.transport is not None and not self.transport.is_closing():
            self.send_frame(8, (1000).to_bytes(2, "big"))
            self.transport.close()


# What a message said, by its bytes. The subscribers of one selection are sent the same
# bytes for an event (one `next` message, operation id "1"): it is decoded once, not
# once per subscriber, so that the client's CPU per event is its sockets' and not ten
# thousand JSON decodings of one text (at 10 k it was ~100 ms of the benchmark's CPU
# per event, on the cores the server shares).
READ: dict[bytes, tuple[str, int, str, str | None]] = {}
READ_LIMIT = 4096


def read_message(raw: bytes) -> tuple[str, int, str, str | None]:
    """A message's type, and for an event its sequence and `occurredAt`; the error to
    record, if it is one."""
    message = json.loads(raw)
    kind = message.get("type")
    if kind == "next":
        payload = message["payload"]
        if payload.get("errors"):
            return kind, 0, "", json.dumps(payload["errors"])[:300]
        event = payload["data"]["changes"]
        return kind, int(event["sequence"]), event["occurredAt"], None
    if kind in ("error", "complete"):
        return kind, 0, "", json.dumps(message)[:300]
    return kind, 0, "", None


async def open_connections(
    port: int, count: int, occurred: dict[int, str], query: str, parallel: int = 100
) -> list[Connection]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(parallel)

    async def one() -> Connection:
        async with gate:
            _, connection = await loop.create_connection(
                lambda: Connection(port, occurred, query), "127.0.0.1", port
            )
            await asyncio.wait_for(connection.start(), 60)
            return connection

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def wait_for(condition: Callable[[], bool], limit: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


# ---------------------------------------------------------------- databases and servers


async def make_database(backend: str, workdir: Path, name: str = DATABASE) -> str:
    """A fresh, empty database `name` (a file in `workdir` on SQLite); its URL."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / (name + '.db')}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


async def drop_database(backend: str, name: str = DATABASE) -> None:
    if backend == "postgresql":
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


async def last_sequence(url: str) -> int:
    """The trail's last sequence, read from the chain head."""
    sql = "SELECT last_sequence FROM audit_chain_head WHERE id = 1"
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split(":///", 1)[1]) as db:
            return int(db.execute(sql).fetchone()[0])
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


def start_server(
    env: dict[str, str], port: int, profile: Path | None = None
) -> subprocess.Popen[bytes]:
    """`python -m uvicorn` itself, so the pid is the server's (no supervisor); with
    `profile`, under cProfile, its statistics written there when it stops."""
    under = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    return subprocess.Popen(
        [
            str(BIN / "python"),
            *under,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--backlog",
            "4096",
        ],
        env=env,
        cwd=ROOT,
    )


def stop_server(server: subprocess.Popen[bytes], *, interrupt: bool = False) -> None:
    """Stop `server`; `interrupt`: with SIGINT, which uvicorn raises again once it has
    shut down, so that cProfile (`start_server` with a profile) writes its statistics
    on the way out (SIGTERM, raised again, would end the process first)."""
    if interrupt:
        server.send_signal(signal.SIGINT)
    else:
        server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# ---------------------------------------------------------------- one measurement


@dataclass
class Phase:
    """Events committed one way (`lone`: each after the previous reached everyone and
    the server went quiet; `stream`: every `--interval` seconds, whatever the server's
    backlog), and what every subscriber received of them."""

    name: str
    events: int = 0
    per_second: float = 0.0  # commits per second achieved
    expected: int = 0  # events x subscribers
    delivered: int = 0
    missing: int = 0
    duplicate: int = 0
    out_of_order: int = 0
    p50_ms: float = 0.0  # over every (subscriber, event)
    p99_ms: float = 0.0
    max_ms: float = 0.0
    first_ms: float = 0.0  # per event, the first subscriber served: median over events
    last_ms: float = 0.0  # per event, the last subscriber served: median over events
    server_cpu_ms: float = 0.0  # per event
    server_kernel_ms: float = 0.0  # per event, the part of it in the kernel
    client_cpu_ms: float = 0.0  # per event
    wall_seconds: float = 0.0
    firsts_ms: list[float] = field(default_factory=list)  # per event, in order
    lasts_ms: list[float] = field(default_factory=list)


@dataclass
class Result:
    backend: str
    news: str  # how the subscribers' server learns of the commits
    subscribers: int
    selection: str
    connect_seconds: float = 0.0
    server_rss_before_kb: int = 0
    server_rss_idle_kb: int = 0
    server_rss_after_kb: int = 0  # after every event was delivered, server quiet again
    server_kb_per_subscriber: float = 0.0
    server_kb_per_delivery: float = 0.0  # RSS growth after the idle figure, per delivery
    client_kb_per_connection: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    errors: int = 0  # error messages, completions, closed connections
    error_samples: list[str] = field(default_factory=list)
    loadavg: str = ""


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank."""
    if not ordered:
        return float("nan")
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


async def commit(http: httpx.AsyncClient, key: str) -> None:
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    variables = {
        "input": {
            "initiativeId": "SW5pdGlhdGl2ZToy",  # CP-02 of the demo
            "type": "EXPENDITURE",
            "date": day,
            "amount": "1000.00",
            "currency": "CNY",
        }
    }
    response = await http.post(
        "/graphql",
        json={"query": MUTATION, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
    )
    body = response.json()
    if response.status_code != 200 or body["data"]["createTransaction"]["errors"]:
        raise RuntimeError(f"createTransaction failed: {response.status_code} {body}")


def reached(connections: list[Connection], sequence: int) -> Callable[[], bool]:
    return lambda: all(c.last >= sequence for c in connections)


def tally(
    phase: Phase, connections: list[Connection], occurred: dict[int, str], first: int, last: int
) -> None:
    """Every subscriber must have received each of first..last once, in order."""
    expected = set(range(first, last + 1))
    phase.events = len(expected)
    phase.expected = len(expected) * len(connections)
    latencies: list[float] = []
    by_event: dict[int, list[float]] = {s: [] for s in expected}
    for connection in connections:
        got = [(s, t) for s, t in connection.received if first <= s <= last]
        sequences = [s for s, _ in got]
        unique = set(sequences)
        phase.delivered += len(unique)
        phase.duplicate += len(sequences) - len(unique)
        phase.missing += len(expected - unique)
        phase.out_of_order += sum(1 for a, b in itertools.pairwise(sequences) if b <= a)
        for sequence, arrival in got:
            latency = (arrival - epoch(occurred[sequence])) * 1000
            latencies.append(latency)
            by_event[sequence].append(latency)
    latencies.sort()
    phase.p50_ms = percentile(latencies, 50)
    phase.p99_ms = percentile(latencies, 99)
    phase.max_ms = latencies[-1] if latencies else math.nan
    firsts = phase.firsts_ms = [round(min(v), 1) for _, v in sorted(by_event.items()) if v]
    lasts = phase.lasts_ms = [round(max(v), 1) for _, v in sorted(by_event.items()) if v]
    phase.first_ms = statistics.median(firsts) if firsts else math.nan
    phase.last_ms = statistics.median(lasts) if lasts else math.nan


async def measure(
    result: Result,
    server: subprocess.Popen[bytes],
    port: int,
    writer: httpx.AsyncClient,
    url: str,
    key: str,
    lone: int,
    events: int,
    interval: float,
) -> None:
    occurred: dict[int, str] = {}
    query = SELECTIONS[result.selection]

    # Warm-up: the code paths of a subscription, a delivery and a close are loaded.
    warm = await open_connections(port, 20, occurred, query)
    await commit(writer, key)
    if not await wait_for(reached(warm, await last_sequence(url)), 30):
        raise RuntimeError("warm-up: an event was not delivered")
    for connection in warm:
        connection.close()
    await asyncio.sleep(1)
    await settle(server.pid)
    result.server_rss_before_kb = rss_kb(server.pid)
    client_before = rss_kb()

    # N idle subscribers.
    started = time.perf_counter()
    connections = await open_connections(port, result.subscribers, occurred, query)
    result.connect_seconds = time.perf_counter() - started
    await settle(server.pid)
    await asyncio.sleep(1)
    await settle(server.pid)
    result.server_rss_idle_kb = rss_kb(server.pid)
    growth = result.server_rss_idle_kb - result.server_rss_before_kb
    result.server_kb_per_subscriber = growth / result.subscribers
    result.client_kb_per_connection = (rss_kb() - client_before) / result.subscribers
    start = await last_sequence(url)

    # Lone events: each commits when the previous one has reached everyone and the
    # server is quiet again. The first also shows every subscription is live.
    phase = Phase("lone")
    server_cpu = client_cpu = server_kernel = 0.0
    started = time.perf_counter()
    for _ in range(lone):
        cpu = cpu_seconds(server.pid), own_cpu_seconds(), cpu_split(server.pid)[1]
        await commit(writer, key)
        target = await last_sequence(url)
        if not await wait_for(reached(connections, target), 120):
            short = sum(c.last < target for c in connections)
            raise RuntimeError(f"event {target} did not reach {short} subscribers in 120 s")
        server_cpu += cpu_seconds(server.pid) - cpu[0]
        client_cpu += own_cpu_seconds() - cpu[1]
        server_kernel += cpu_split(server.pid)[1] - cpu[2]
        await settle(server.pid)
    phase.wall_seconds = time.perf_counter() - started
    phase.per_second = lone / phase.wall_seconds if lone else 0.0
    middle = await last_sequence(url)
    tally(phase, connections, occurred, start + 1, middle)
    phase.server_cpu_ms = server_cpu / max(1, lone) * 1000
    phase.server_kernel_ms = server_kernel / max(1, lone) * 1000
    phase.client_cpu_ms = client_cpu / max(1, lone) * 1000
    result.phases.append(phase)

    # A stream: one commit every `interval` seconds, whether delivered or not, and
    # whether the previous one has been answered or not (as writers of their own would
    # commit); commits/s is the rate at which they were answered.
    phase = Phase("stream")
    cpu = cpu_seconds(server.pid), own_cpu_seconds(), cpu_split(server.pid)[1]
    started = time.perf_counter()
    commits: list[asyncio.Task[None]] = []
    for i in range(events):
        pause = started + i * interval - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        commits.append(asyncio.create_task(commit(writer, key)))
    await asyncio.gather(*commits)
    phase.per_second = events / (time.perf_counter() - started) if events else 0.0
    end = await last_sequence(url)
    await wait_for(reached(connections, end), 120 + events * interval)
    phase.wall_seconds = time.perf_counter() - started
    phase.server_cpu_ms = (cpu_seconds(server.pid) - cpu[0]) / max(1, events) * 1000
    phase.server_kernel_ms = (cpu_split(server.pid)[1] - cpu[2]) / max(1, events) * 1000
    phase.client_cpu_ms = (own_cpu_seconds() - cpu[1]) / max(1, events) * 1000
    await asyncio.sleep(1)  # anything late, or twice
    tally(phase, connections, occurred, middle + 1, end)
    result.phases.append(phase)

    await settle(server.pid)
    result.server_rss_after_kb = rss_kb(server.pid)
    deliveries = sum(p.delivered for p in result.phases)
    if deliveries:
        growth = result.server_rss_after_kb - result.server_rss_idle_kb
        result.server_kb_per_delivery = growth / deliveries
    result.loadavg = loadavg()
    for connection in connections:
        result.errors += len(connection.errors)
        result.error_samples.extend(connection.errors[: 3 - len(result.error_samples)])
        connection.close()
    await asyncio.sleep(1)


async def bench(backend: str, counts: list[int], args: argparse.Namespace) -> list[Result]:
    workdir = Path(tempfile.mkdtemp(prefix=f"{args.database}_"))
    url = await make_database(backend, workdir, args.database)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        "ANONYMOUS_READ": "true",
        "EVENTS_BROKER": args.broker,
        # Thousands of connections from one address are this benchmark, not an abuse
        # to throttle: past the per-address limit the server closed them (4429).
        "RATE_LIMIT_PER_ADDRESS": "",
        "RATE_LIMIT_PER_KEY": "",
    }
    if args.broker == "redis":
        env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    resolved = args.broker
    if resolved == "auto":
        resolved = "postgres" if backend == "postgresql" else "memory"
    separate = args.writer == "separate" or (args.writer == "auto" and resolved != "memory")
    if separate:
        news = {"memory": "poll", "postgres": "LISTEN/NOTIFY", "redis": "Redis"}[resolved]
    else:
        news = "own commit"
    results: list[Result] = []
    try:
        cli(env, "db", "upgrade")
        cli(env, "demo", "load")
        key = cli(env, "keys", "create", "--name", "bench-editor", "--role", "editor")
        for count in counts:
            profile = args.profile.with_suffix(f".{count}.prof") if args.profile else None
            server = start_server(env, PORT, profile)
            writers = start_server(env, PORT + 1) if separate else None
            try:
                async with (
                    httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", timeout=120) as own,
                    httpx.AsyncClient(
                        base_url=f"http://127.0.0.1:{PORT + 1 if separate else PORT}", timeout=120
                    ) as writer,
                ):
                    await wait_ready(own)
                    await wait_ready(writer)
                    result = Result(backend, news, count, args.selection)
                    await measure(
                        result,
                        server,
                        PORT,
                        writer,
                        url,
                        key,
                        args.lone,
                        args.events,
                        args.interval,
                    )
                    results.append(result)
                    print(f"<!-- {summary(result)} -->", flush=True)
            finally:
                stop_server(server, interrupt=profile is not None)
                if writers is not None:
                    stop_server(writers)
        verify = cli(env, "audit", "verify").splitlines()[0]
        print(f"<!-- {backend}: audit verify after the run: {verify} -->", flush=True)
    finally:
        await drop_database(backend, args.database)
        shutil.rmtree(workdir, ignore_errors=True)
    return results


# ---------------------------------------------------------------- reporting


def problems(phase: Phase) -> int:
    return phase.missing + phase.duplicate + phase.out_of_order


def summary(r: Result) -> str:
    parts = [f"{r.backend}, {r.subscribers} subscribers: {r.server_kb_per_subscriber:.1f} KB idle"]
    for p in r.phases:
        parts.append(
            f"{p.name} p50 {p.p50_ms:.0f} ms p99 {p.p99_ms:.0f} ms ({problems(p)} missing/extra), "
            f"last subscriber per event (ms): {', '.join(f'{t:.0f}' for t in p.lasts_ms)}"
        )
    return "; ".join(parts) + f"; {r.errors} errors; load {r.loadavg}"


def tables(results: list[Result]) -> str:
    lines = [
        "| backend | subscribers | connect s | server RSS before MB | with N idle MB "
        "| KB / idle subscriber | RSS after events MB | KB kept / delivery |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.subscribers:,} | {r.connect_seconds:.1f} "
            f"| {r.server_rss_before_kb / 1024:.0f} | {r.server_rss_idle_kb / 1024:.0f} "
            f"| {r.server_kb_per_subscriber:.1f} | {r.server_rss_after_kb / 1024:.0f} "
            f"| {r.server_kb_per_delivery:.2f} |"
        )
    lines += [
        "",
        "| backend | news via | subscribers | events | commits/s | delivered / expected "
        "| missing, extra, errors | p50 ms | p99 ms | max ms | first ms | last ms "
        "| server CPU ms / event | of which kernel | client CPU ms / event |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for p in r.phases:
            lines.append(
                f"| {r.backend} | {r.news} | {r.subscribers:,} | {p.events} {p.name} "
                f"| {p.per_second:.1f} | {p.delivered:,} / {p.expected:,} "
                f"| {p.missing}, {p.duplicate + p.out_of_order}, {r.errors} "
                f"| {p.p50_ms:,.0f} | {p.p99_ms:,.0f} | {p.max_ms:,.0f} | {p.first_ms:,.0f} "
                f"| {p.last_ms:,.0f} | {p.server_cpu_ms:,.0f} | {p.server_kernel_ms:,.0f} "
                f"| {p.client_cpu_ms:,.0f} |"
            )
    return "\n".join(lines)


def code_version() -> str:
    """The commit, and whether app/ differs from it (the code measured is the tree's)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()

    changed = git("status", "--porcelain", "--", "app")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted app/ changes" if changed else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--subscribers", default="1000,10000", help="N, comma-separated")
    parser.add_argument("--lone", type=int, default=5, help="lone events per N")
    parser.add_argument("--events", type=int, default=20, help="streamed events per N")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between streamed")
    parser.add_argument(
        "--selection",
        choices=sorted(SELECTIONS),
        default="full",
        help="fields each subscription selects (minimal: sequence and occurredAt)",
    )
    parser.add_argument(
        "--broker",
        choices=["auto", "redis"],
        default="auto",
        help="EVENTS_BROKER of the servers (redis: REDIS_URL, default redis://127.0.0.1:6379/0)",
    )
    parser.add_argument(
        "--writer",
        choices=["auto", "same", "separate"],
        default="auto",
        help="where the mutations go: the subscribers' server, or a second server process "
        "(auto: a second one when the broker crosses processes, i.e. not on SQLite)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--database",
        default=DATABASE,
        help="the PostgreSQL database made and dropped by the run (and the prefix of its "
        "temporary directory): give each concurrent run its own",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the subscribers' server under cProfile: its statistics go to "
        "PROFILE with .N.prof for N subscribers (read them with pstats)",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.subscribers.split(",")]
    # Client and server each hold one descriptor per connection (the server inherits it).
    limit = raise_open_files(max(counts) + 1000)
    if limit < max(counts) + 200:
        parser.error(f"only {limit} open files allowed; lower --subscribers")
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    print(
        f"<!-- {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, code {code_version()}, "
        f"load {loadavg()}, client loop {'uvloop' if loop_factory else 'asyncio'}, "
        f"{' '.join(sys.argv[1:])} -->",
        flush=True,
    )
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: list[Result] = []
    for backend in backends:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            results += runner.run(bench(backend, counts, args))
    print(
        f"<!-- finished {datetime.now().astimezone():%H:%M}, code {code_version()}, "
        f"load {loadavg()} -->"
    )
    print()
    print(tables(results))
    for r in results:
        for sample in r.error_samples:
            print(f"<!-- {r.backend} {r.subscribers}: {sample} -->")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
