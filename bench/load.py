"""Load: a mixed workload at rising request rates against a real server.

A fresh database (the demo plus one synthetic programme from `pledge-ledger generate`),
one uvicorn server (`--workers` processes behind one port, default settings except the
rate limits, which are off: every request of this client comes from 127.0.0.1), and an
open-loop client: requests are fired on a schedule at the step's rate, whether earlier
ones have been answered or not, so a slow server shows as latency and errors, not as a
lower rate asked. Latency is counted from the moment a request was *due*, so a client
that falls behind its own schedule does not hide the wait either.

The mix (weights with `--mix`): a dashboard page (the programme's figures and one page
of its initiatives, a Relay cursor picked at random), a filtered and ordered transaction
list, the auditor reports (`budgetSummary` by initiative and year in USD,
`timelineReport`, `reachReport`), CSV downloads, `createTransaction` by an editor, and
reads by a partner key (which run on a view of their own). Optionally `--subscribers`
WebSocket clients hold a `changes` subscription through the run, and every write's event
must reach each of them once, in order.

Each step's rate is held `--step-seconds`; then the requests still running are waited
for (`--drain-seconds`) and the step's table is printed. Errors: an HTTP status other
than 200 (BUSY apart), a transport error (refused, reset, timed out, or still running
after the drain), GraphQL `errors` or a mutation's payload `errors`, and BUSY (503, or
the BUSY code) on its own. Latency percentiles are over the requests answered 200
without errors. Rates stop rising after a step whose error share passes
`--stop-error-rate` or whose p99 passes `--stop-p99-ms`.

    .venv/bin/python bench/load.py --backend both --rates 10,20,30,40,60,80 --step-seconds 45
    .venv/bin/python bench/load.py --backend sqlite --rates 10,40 --step-seconds 10  # a trial
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import asyncpg
import httpx

sys.path[:0] = [str(Path(__file__).resolve().parent)]

# bench/writes.py: the command line, readiness, the mutation; bench/subscriptions.py:
# the lean WebSocket client, the tally of what every subscriber received, and making and
# dropping the database.
from subscriptions import (  # noqa: E402
    SELECTIONS,
    Connection,
    Phase,
    cpu_seconds,
    drop_database,
    last_sequence,
    loadavg,
    make_database,
    own_cpu_seconds,
    percentile,
    raise_open_files,
    stop_server,
    tally,
    wait_for,
)
from writes import BIN, MUTATION, ROOT, cli, wait_ready  # noqa: E402

DATABASE = "bench_load"
DEFAULT_MIX = "dashboard=35,list=25,partner=10,write=10,summary=5,timeline=5,reach=5,csv=5"

# ---------------------------------------------------------------- the operations

DASHBOARD = """
query Dashboard($program: ID!, $after: String) {
  program(id: $program) {
    name
    pledged { amount currency }
    allocated { amount currency }
    unallocated { amount currency }
    initiatives(first: 10, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { code title status budget { amount currency } } }
    }
  }
}"""

LIST = """
query Transactions($filter: TransactionFilter, $desc: Boolean!) {
  transactions(first: 50, filter: $filter,
               orderBy: [{field: AMOUNT, direction: DESC}, {field: DATE, direction: ASC}])
    @include(if: $desc) {
    totalCount
    nodes { date type amount { amount currency } initiative { code } }
  }
  byDate: transactions(first: 50, filter: $filter, orderBy: [{field: DATE, direction: DESC}])
    @skip(if: $desc) {
    totalCount
    nodes { date type amount { amount currency } initiative { code } }
  }
}"""

SUMMARY = """
query Summary($filter: BudgetSummaryFilter) {
  budgetSummary(groupBy: [INITIATIVE, YEAR], currency: "USD", filter: $filter) {
    currency
    groupCount
    groups {
      key { initiative { code } year }
      measures {
        budgetCurrent { amount } committed { amount } disbursed { amount }
        spent { amount } variance { amount } count
      }
    }
    total { budgetCurrent { amount currency } spent { amount } count }
  }
}"""

TIMELINE = """
query Timeline($asOfDate: Date, $filter: InitiativeFilter) {
  timelineReport(asOfDate: $asOfDate, filter: $filter) {
    asOfDate
    milestonesByStatus { status count }
    initiatives(first: 50) {
      totalCount
      nodes {
        initiative { code title plannedEnd }
        milestoneCount achievedCount overdueCount slippedCount largestSlippageDays onTrack
      }
    }
    lateMilestones(first: 20) {
      totalCount
      nodes {
        milestone { title plannedDate status initiative { code } }
        slippageDays overdue daysOverdue daysLate
      }
    }
  }
}"""

REACH = """
query Reach($filter: InitiativeFilter) {
  reachReport(filter: $filter) {
    rows(first: 100) {
      totalCount
      nodes {
        initiative { code } unit target reached reachedQualifier reachedAsOf shareReached
        figure { sources { nodes { field quote } } }
      }
    }
    totals { group { name } unit figureCount target reached reachedQualifier shareReached }
  }
}"""

PARTNER = """
query PartnerView {
  initiatives(first: 10) {
    totalCount
    nodes {
      code title status budget { amount currency } spent { amount currency }
      transactions(first: 20, orderBy: [{field: DATE, direction: DESC}]) {
        totalCount
        nodes { date type amount { amount currency } }
      }
    }
  }
}"""

TRANSACTION_TYPES = ["OUTGOING_COMMITMENT", "DISBURSEMENT", "EXPENDITURE"]
KINDS = ["dashboard", "list", "partner", "write", "summary", "timeline", "reach", "csv"]
# Errors, each request counted once: the first that applies.
CATEGORIES = ["http", "transport", "graphql", "busy"]


@dataclass
class Target:
    """What the operations point at: the synthetic programme and its initiatives, the
    cursors of its initiatives' pages (for the dashboard), and a key per role."""

    program: str
    initiatives: list[str]  # global IDs
    codes: list[str]
    cursors: list[str | None]  # `after` of each dashboard page; None: the first
    keys: dict[str, str]


@dataclass
class Outcome:
    category: str  # "ok" or one of CATEGORIES
    detail: str = ""  # for errors: the code or the message
    size: int = 0  # response bytes


def graphql_outcome(response: httpx.Response, mutation: str | None = None) -> Outcome:
    """Classify a /graphql answer; `mutation`: the payload whose `errors` count too."""
    size = len(response.content)
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    codes = [str((e.get("extensions") or {}).get("code", "")) for e in errors or []]
    if mutation and isinstance(body, dict) and not errors:
        payload = (body.get("data") or {}).get(mutation) or {}
        codes = [str(e.get("code", "")) for e in payload.get("errors") or []]
        errors = payload.get("errors") or None
    if "BUSY" in codes:
        return Outcome("busy", "BUSY", size)
    if response.status_code != 200:
        detail = codes[0] if codes and codes[0] else response.text[:120]
        return Outcome("http", f"{response.status_code} {detail}", size)
    if errors:
        message = str(errors[0].get("message", ""))[:120]
        return Outcome("graphql", f"{codes[0] or '-'}: {message}", size)
    if not isinstance(body, dict) or body.get("data") is None:
        return Outcome("graphql", f"no data: {response.text[:120]}", size)
    return Outcome("ok", "", size)


def csv_outcome(response: httpx.Response) -> Outcome:
    size = len(response.content)
    if response.status_code == 503:
        return Outcome("busy", "BUSY", size)
    if response.status_code != 200:
        return Outcome("http", f"{response.status_code} {response.text[:120]}", size)
    if not response.headers.get("content-type", "").startswith("text/csv"):
        return Outcome("http", f"not CSV: {response.headers.get('content-type')}", size)
    if response.text.count("\n") < 2:  # a header and at least one row
        return Outcome("graphql", f"no rows: {response.text[:120]}", size)
    return Outcome("ok", "", size)


class Operations:
    """One request of each kind, with arguments varied at random (same documents,
    other variables: as an application's clients send them)."""

    def __init__(self, http: httpx.AsyncClient, target: Target, rng: random.Random) -> None:
        self.http = http
        self.t = target
        self.rng = rng
        self.yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.t.keys[role]}"}

    async def graphql(
        self, role: str, query: str, variables: dict[str, Any], mutation: str | None = None
    ) -> Outcome:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers=self.auth(role),
        )
        return graphql_outcome(response, mutation)

    def some_codes(self, most: int) -> list[str]:
        return self.rng.sample(self.t.codes, self.rng.randint(1, min(most, len(self.t.codes))))

    async def dashboard(self) -> Outcome:
        after = self.rng.choice(self.t.cursors)
        return await self.graphql("viewer", DASHBOARD, {"program": self.t.program, "after": after})

    async def list(self) -> Outcome:
        year = self.rng.randint(2021, 2025)
        terms: list[dict[str, Any]] = [
            {"initiative": {"program": {"id": {"eq": self.t.program}}}},
            {"date": {"gte": f"{year}-01-01", "lte": f"{year}-12-31"}},
            {"type": {"in": self.rng.sample(TRANSACTION_TYPES, 2)}},
        ]
        if self.rng.random() < 0.5:
            terms.append({"initiative": {"code": {"in": self.some_codes(5)}}})
        else:
            terms.append({"amount": {"gte": str(self.rng.choice([1000, 10000, 100000]))}})
        variables = {"filter": {"and": terms}, "desc": self.rng.random() < 0.5}
        return await self.graphql("viewer", LIST, variables)

    async def summary(self) -> Outcome:
        variables: dict[str, Any] = {"filter": None}
        if self.rng.random() < 0.5:  # one year of every programme, or a whole programme
            year = self.rng.randint(2021, 2025)
            variables["filter"] = {"date": {"gte": f"{year}-01-01", "lte": f"{year}-12-31"}}
        else:
            variables["filter"] = {"initiative": {"program": {"id": {"eq": self.t.program}}}}
        return await self.graphql("auditor", SUMMARY, variables)

    async def timeline(self) -> Outcome:
        day = date(2024, 1, 1) + timedelta(days=self.rng.randint(0, 730))
        variables = {
            "asOfDate": day.isoformat(),
            "filter": {"program": {"id": {"eq": self.t.program}}},
        }
        return await self.graphql("auditor", TIMELINE, variables)

    async def reach(self) -> Outcome:
        variables = {"filter": {"code": {"in": self.some_codes(10)}}}
        return await self.graphql("auditor", REACH, variables)

    async def partner(self) -> Outcome:
        return await self.graphql("partner", PARTNER, {})

    async def write(self) -> Outcome:
        variables = {
            "input": {
                "initiativeId": self.rng.choice(self.t.initiatives),
                "type": self.rng.choice(TRANSACTION_TYPES),
                "date": self.yesterday,
                "amount": f"{self.rng.randint(100, 100_000)}.00",
                "currency": "CNY",
            }
        }
        return await self.graphql("editor", MUTATION, variables, "createTransaction")

    async def csv(self) -> Outcome:
        program = json.dumps({"program": {"id": {"eq": self.t.program}}})
        if self.rng.random() < 0.5:
            path, params = "budget-summary.csv", {"groupBy": "INITIATIVE,YEAR", "currency": "USD"}
            params["filter"] = json.dumps({"initiative": json.loads(program)})
        else:
            day = date(2024, 1, 1) + timedelta(days=self.rng.randint(0, 730))
            path, params = "timeline-initiatives.csv", {"asOfDate": day.isoformat()}
            params["filter"] = program
        response = await self.http.get(
            f"/reports/{path}?{urlencode(params)}", headers=self.auth("auditor")
        )
        return csv_outcome(response)

    def runner(self, kind: str) -> Callable[[], Awaitable[Outcome]]:
        return cast(Callable[[], Awaitable[Outcome]], getattr(self, kind))


# ---------------------------------------------------------------- the figures


@dataclass
class KindStats:
    kind: str
    sent: int = 0
    ok: int = 0
    ok_per_second: float = 0.0
    p50_ms: float = float("nan")
    p95_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    mean_kb: float = 0.0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    error_details: dict[str, int] = field(default_factory=dict)  # "category: detail" → n


@dataclass
class SubscriberStats:
    subscribers: int
    events: int = 0
    expected: int = 0
    delivered: int = 0
    missing: int = 0
    duplicate_or_out_of_order: int = 0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    last_ms: float = float("nan")  # per event, the last subscriber: median over events
    caught_up_seconds: float = 0.0  # after the step's drain, until every event arrived
    errors: int = 0  # error messages, closed connections (so far in the run)


@dataclass
class Step:
    rate: float  # asked, requests per second
    seconds: float
    sent: int = 0
    sent_per_second: float = 0.0  # achieved by the client's schedule
    ok_per_second: float = 0.0  # answered OK / (schedule + drain until the last answer)
    wall_seconds: float = 0.0
    client_lag_p99_ms: float = 0.0  # how late the client fired its requests
    client_lag_max_ms: float = 0.0
    unfinished: int = 0  # still running after the drain (counted as transport errors)
    error_share: float = 0.0
    server_cpu_cores: float = 0.0  # the server's processes, CPU seconds per second
    client_cpu_cores: float = 0.0
    loadavg: str = ""
    kinds: list[KindStats] = field(default_factory=list)  # then "all"
    subscribers: SubscriberStats | None = None
    stopped_because: str = ""


@dataclass
class BackendRun:
    backend: str
    workers: int
    data: dict[str, int]
    alone_ms: dict[str, float] = field(default_factory=dict)  # each kind alone, median of 3
    setup_seconds: float = 0.0
    steps: list[Step] = field(default_factory=list)
    audit_verify: str = ""
    server_log_tail: str = ""


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f}"


def finite(value: Any) -> Any:
    """NaN (no sample) as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def kind_stats(kind: str, samples: list[tuple[str, float, Outcome]], wall: float) -> KindStats:
    stats = KindStats(kind)
    latencies: list[float] = []
    sizes: list[int] = []
    details: Counter[str] = Counter()
    for _, latency, outcome in samples:
        stats.sent += 1
        if outcome.category == "ok":
            stats.ok += 1
            latencies.append(latency * 1000)
            sizes.append(outcome.size)
        else:
            stats.errors[outcome.category] += 1
            details[f"{outcome.category}: {outcome.detail}"] += 1
    latencies.sort()
    if latencies:
        stats.p50_ms = percentile(latencies, 50)
        stats.p95_ms = percentile(latencies, 95)
        stats.p99_ms = percentile(latencies, 99)
        stats.max_ms = latencies[-1]
        stats.mean_kb = sum(sizes) / len(sizes) / 1024
    stats.ok_per_second = stats.ok / wall if wall else 0.0
    stats.error_details = dict(details.most_common(5))
    return stats


# ---------------------------------------------------------------- processes


def server_pids(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's workers)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):  # the task just ended
                todo += [int(p) for p in (task / "children").read_text().split()]
    return pids


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for each in server_pids(pid):
        with contextlib.suppress(OSError):  # the process just ended
            total += cpu_seconds(each)
    return total


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout


def code_version() -> dict[str, Any]:
    """The commit, and the files under app/ that differ from it (the tree is measured)."""
    changed = git("status", "--porcelain", "--", "app").splitlines()
    return {"commit": git("rev-parse", "HEAD").strip(), "uncommitted_app_files": changed}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def analyze(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def start_server(
    env: dict[str, str], port: int, workers: int, log: Path
) -> subprocess.Popen[bytes]:
    """`python -m uvicorn` itself (with `--workers`, its supervisor), so the server's
    processes are this pid and its children."""
    command = [str(BIN / "python"), "-m", "uvicorn", "app.main:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--log-level", "warning", "--no-access-log", "--backlog", "4096"]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


# ---------------------------------------------------------------- subscribers


class KeyedConnection(Connection):
    """The lean subscriber of bench/subscriptions.py, authenticated with a key in
    `connection_init` (anonymous reads stay off, as in production)."""

    key = ""

    async def start(self) -> None:
        await self.opened
        self.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {self.key}"}})
        await self.acked
        self.send({"id": "1", "type": "subscribe", "payload": {"query": self.query}})


async def open_subscribers(
    port: int, count: int, key: str, occurred: dict[int, str]
) -> list[Connection]:
    loop = asyncio.get_running_loop()

    def make() -> Connection:
        connection = KeyedConnection(port, occurred, SELECTIONS["full"])
        connection.key = key
        return connection

    async def one() -> Connection:
        _, connection = await loop.create_connection(make, "127.0.0.1", port)
        await asyncio.wait_for(connection.start(), 30)
        return connection

    return list(await asyncio.gather(*(one() for _ in range(count))))


# ---------------------------------------------------------------- one step


async def run_step(
    ops: Operations,
    rate: float,
    args: argparse.Namespace,
    mix: dict[str, float],
    server: subprocess.Popen[bytes],
    rng: random.Random,
) -> tuple[Step, list[tuple[str, float, Outcome]]]:
    step = Step(rate, args.step_seconds)
    kinds, weights = list(mix), list(mix.values())
    samples: list[tuple[str, float, Outcome]] = []
    running: set[asyncio.Task[None]] = set()
    lags: list[float] = []

    last_answer = 0.0

    async def one(kind: str, due: float) -> None:
        nonlocal last_answer
        try:
            outcome = await ops.runner(kind)()
        except httpx.HTTPError as exc:  # refused, reset, timed out, undecodable
            outcome = Outcome("transport", f"{type(exc).__name__} {exc}"[:120])
        except asyncio.CancelledError:  # given up at the end of the drain
            gone = Outcome("transport", "still running after the drain")
            samples.append((kind, time.perf_counter() - due, gone))
            raise
        last_answer = time.perf_counter()
        samples.append((kind, last_answer - due, outcome))

    count = round(rate * args.step_seconds)
    cpu = tree_cpu_seconds(server.pid), own_cpu_seconds()
    started = time.perf_counter()
    due = started
    for i in range(count):
        if i:
            due += rng.expovariate(rate) if args.arrivals == "poisson" else 1 / rate
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        lags.append(max(0.0, time.perf_counter() - due))
        task = asyncio.create_task(one(rng.choices(kinds, weights)[0], due))
        running.add(task)
        task.add_done_callback(running.discard)
    schedule_end = time.perf_counter()
    if running:
        await asyncio.wait(set(running), timeout=args.drain_seconds)
    now = time.perf_counter()
    for task in list(running):  # still running after the drain: given up
        task.cancel()
        step.unfinished += 1
    if running:
        await asyncio.wait(set(running))
    # The step lasts until its schedule ended or its last answer came, whichever is later
    # (the end of the drain when requests were given up).
    end = now if step.unfinished else max(schedule_end, last_answer)
    step.wall_seconds = end - started
    step.server_cpu_cores = (tree_cpu_seconds(server.pid) - cpu[0]) / (now - started)
    step.client_cpu_cores = (own_cpu_seconds() - cpu[1]) / (now - started)
    step.sent = count
    step.sent_per_second = count / (schedule_end - started) if count else 0.0
    lags.sort()
    step.client_lag_p99_ms = percentile(lags, 99) * 1000 if lags else 0.0
    step.client_lag_max_ms = lags[-1] * 1000 if lags else 0.0
    step.loadavg = loadavg()
    return step, samples


def summarise(step: Step, samples: list[tuple[str, float, Outcome]], mix: dict[str, float]) -> None:
    wall = step.wall_seconds
    step.kinds = [kind_stats(k, [s for s in samples if s[0] == k], wall) for k in mix]
    everything = kind_stats("all", samples, wall)
    step.kinds.append(everything)
    step.ok_per_second = everything.ok_per_second
    errors = sum(everything.errors.values())
    step.error_share = errors / everything.sent if everything.sent else 0.0


# ---------------------------------------------------------------- a backend


async def discover(http: httpx.AsyncClient, keys: dict[str, str]) -> Target:
    """The synthetic programme, its initiatives and the cursors of its pages of 10."""
    headers = {"Authorization": f"Bearer {keys['viewer']}"}

    async def ask(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"set-up query failed: {response.status_code} {body}")
        return cast(dict[str, Any], body["data"])

    programs = await ask("{ programs(first: 50) { nodes { id ref } } }", {})
    synthetic = [p for p in programs["programs"]["nodes"] if p["ref"].startswith("synthetic-")]
    if not synthetic:
        raise RuntimeError(f"no synthetic programme among {programs}")
    program = synthetic[0]["id"]
    initiatives: list[str] = []
    codes: list[str] = []
    cursors: list[str | None] = [None]
    after: str | None = None
    while True:
        page = await ask(
            "query($p: ID!, $after: String) { program(id: $p) { initiatives(first: 10, "
            "after: $after) { pageInfo { hasNextPage endCursor } nodes { id code } } } }",
            {"p": program, "after": after},
        )
        connection = page["program"]["initiatives"]
        initiatives += [n["id"] for n in connection["nodes"]]
        codes += [n["code"] for n in connection["nodes"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
        cursors.append(after)
    return Target(program, initiatives, codes, cursors, keys)


def step_table(backend: str, step: Step) -> str:
    lines = [
        f"### {backend}: {step.rate:g} req/s asked for {step.seconds:g} s — sent "
        f"{step.sent} ({step.sent_per_second:.1f}/s), OK {step.ok_per_second:.1f}/s, errors "
        f"{step.error_share:.1%}, client lag p99 {step.client_lag_p99_ms:.0f} ms, server CPU "
        f"{step.server_cpu_cores:.2f} cores, client {step.client_cpu_cores:.2f}, "
        f"load {step.loadavg.split()[0]}",
        "",
        "| kind | sent | OK | OK/s | p50 ms | p95 ms | p99 ms | max ms | KB "
        "| HTTP | transport | GraphQL | BUSY |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k in step.kinds:
        e = k.errors
        lines.append(
            f"| {k.kind} | {k.sent} | {k.ok} | {k.ok_per_second:.1f} | {ms(k.p50_ms)} "
            f"| {ms(k.p95_ms)} | {ms(k.p99_ms)} | {ms(k.max_ms)} | {k.mean_kb:.1f} "
            f"| {e['http']} | {e['transport']} | {e['graphql']} | {e['busy']} |"
        )
    s = step.subscribers
    if s is not None:
        lines.append("")
        lines.append(
            f"Subscribers: {s.subscribers}, events {s.events}, delivered {s.delivered:,} / "
            f"{s.expected:,} (missing {s.missing}, duplicate or out of order "
            f"{s.duplicate_or_out_of_order}), commit→delivery p50 {ms(s.p50_ms)} ms, "
            f"p99 {ms(s.p99_ms)} ms, max {ms(s.max_ms)} ms, last subscriber per event "
            f"(median) {ms(s.last_ms)} ms, caught up {s.caught_up_seconds:.1f} s after the "
            f"drain, connection errors {s.errors}"
        )
    for kind in step.kinds[:-1]:
        for detail, n in kind.error_details.items():
            lines.append(f"<!-- {kind.kind}: {n} x {detail} -->")
    if step.stopped_because:
        lines.append("")
        lines.append(f"Stopped rising: {step.stopped_because}.")
    return "\n".join(lines)


async def check_operations(
    ops: Operations, mix: dict[str, float], runs: int = 3
) -> dict[str, float]:
    """Every kind, alone, `runs` times: each must answer OK (a benchmark of a broken
    query measures nothing); the median time of each."""
    alone: dict[str, float] = {}
    for kind in mix:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            outcome = await ops.runner(kind)()
            times.append((time.perf_counter() - started) * 1000)
            if outcome.category != "ok":
                raise RuntimeError(f"{kind} does not work: {outcome.category} {outcome.detail}")
        alone[kind] = sorted(times)[len(times) // 2]
    return alone


async def bench(backend: str, args: argparse.Namespace, mix: dict[str, float]) -> BackendRun:
    workdir = Path(tempfile.mkdtemp(prefix="bench_load_"))
    url = await make_database(backend, workdir, DATABASE)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        # One client address and a few keys make every request: no rate limits here.
        "RATE_LIMIT_PER_ADDRESS": "",
        "RATE_LIMIT_PER_KEY": "",
        "EVENTS_BROKER": args.broker,
    }
    if args.broker == "redis":
        env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    sizes = {
        "initiatives": args.initiatives,
        "budget_lines": args.budget_lines,
        "transactions": args.transactions,
    }
    run = BackendRun(backend, args.workers, sizes)
    log = workdir / "server.log"
    server: subprocess.Popen[bytes] | None = None
    connections: list[Connection] = []
    try:
        started = time.perf_counter()
        cli(env, "db", "upgrade")
        cli(env, "demo", "load")
        cli(
            env,
            "generate",
            *("--initiatives", str(args.initiatives)),
            *("--budget-lines", str(args.budget_lines)),
            *("--transactions", str(args.transactions)),
            *("--seed", "1"),
        )
        if backend == "postgresql":
            await analyze(url)
        keys = {
            role: cli(env, "keys", "create", "--name", f"load-{role}", "--role", role)
            for role in ("viewer", "auditor", "editor")
        }
        port = free_port()
        server = start_server(env, port, args.workers, log)
        limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=64)
        timeout = httpx.Timeout(args.timeout, connect=10)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=timeout, limits=limits
        ) as http:
            await wait_ready(http)
            target = await discover(http, keys)
            # A partner sees two of the synthetic initiatives.
            partner = ["--initiative", target.codes[0], "--initiative", target.codes[-1]]
            keys["partner"] = cli(
                env, "keys", "create", "--name", "load-partner", "--role", "partner", *partner
            )
            run.setup_seconds = time.perf_counter() - started
            rng = random.Random(args.seed)
            ops = Operations(http, target, rng)
            run.alone_ms = await check_operations(ops, mix)
            print(
                f"<!-- {backend}: set up in {run.setup_seconds:.0f} s; each kind alone (ms): "
                + ", ".join(f"{k} {v:.0f}" for k, v in run.alone_ms.items())
                + " -->",
                flush=True,
            )
            occurred: dict[int, str] = {}
            if args.subscribers:
                connections = await open_subscribers(
                    port, args.subscribers, keys["viewer"], occurred
                )
            for rate in args.rates:
                first = await last_sequence(url) + 1
                step, samples = await run_step(ops, rate, args, mix, server, rng)
                summarise(step, samples, mix)
                if connections:
                    step.subscribers = await tally_subscribers(connections, occurred, url, first)
                everything = step.kinds[-1]
                if step.error_share > args.stop_error_rate:
                    step.stopped_because = (
                        f"errors {step.error_share:.1%} > {args.stop_error_rate:.0%}"
                    )
                elif everything.p99_ms > args.stop_p99_ms:
                    step.stopped_because = (
                        f"p99 {everything.p99_ms:,.0f} ms > {args.stop_p99_ms:,.0f} ms"
                    )
                elif everything.ok == 0:
                    step.stopped_because = "nothing answered OK"
                run.steps.append(step)
                print(step_table(backend, step) + "\n", flush=True)
                if step.stopped_because or server.poll() is not None:
                    break
                await asyncio.sleep(args.pause)
        for connection in connections:
            connection.close()
        stop_server(server)
        server = None
        run.audit_verify = cli(env, "audit", "verify").splitlines()[0]
        print(f"<!-- {backend}: audit verify after the run: {run.audit_verify} -->", flush=True)
    finally:
        if server is not None:
            stop_server(server)
        if log.exists():
            run.server_log_tail = log.read_text(errors="replace")[-3000:]
            if run.server_log_tail.strip():
                print(f"<!-- {backend}: server log (tail):\n{run.server_log_tail}\n-->")
        await drop_database(backend, DATABASE)
        shutil.rmtree(workdir, ignore_errors=True)
    return run


async def tally_subscribers(
    connections: list[Connection], occurred: dict[int, str], url: str, first: int
) -> SubscriberStats:
    """The step's events (its writes' trail entries): each must reach every subscriber."""
    last = await last_sequence(url)
    stats = SubscriberStats(len(connections))
    stats.errors = sum(len(c.errors) for c in connections)
    if last < first:  # no write in the step
        return stats
    started = time.perf_counter()
    await wait_for(lambda: all(c.last >= last for c in connections), 60)
    stats.caught_up_seconds = time.perf_counter() - started
    phase = Phase("step")
    await asyncio.sleep(0.2)  # anything twice
    tally(phase, connections, occurred, first, last)
    stats.events = phase.events
    stats.expected = phase.expected
    stats.delivered = phase.delivered
    stats.missing = phase.missing
    stats.duplicate_or_out_of_order = phase.duplicate + phase.out_of_order
    stats.p50_ms, stats.p99_ms, stats.max_ms = phase.p50_ms, phase.p99_ms, phase.max_ms
    stats.last_ms = phase.last_ms
    for connection in connections:  # keep only what later steps need
        connection.received = [r for r in connection.received if r[0] > last]
    return stats


# ---------------------------------------------------------------- the command


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in KINDS:
            raise argparse.ArgumentTypeError(f"unknown kind {name!r}; kinds: {', '.join(KINDS)}")
        try:
            mix[name] = float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: give kind=weight") from None
    mix = {k: w for k, w in mix.items() if w > 0}
    if not mix:
        raise argparse.ArgumentTypeError("no kind with a weight above 0")
    return mix


def summary_table(runs: list[BackendRun]) -> str:
    lines = [
        "| backend | workers | rate asked | sent/s | OK/s | p50 ms | p95 ms | p99 ms | max ms "
        "| HTTP | transport | GraphQL | BUSY | subscribers p99 ms | server CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        for step in run.steps:
            a = step.kinds[-1]
            e = a.errors
            sub = f"{ms(step.subscribers.p99_ms)}" if step.subscribers else "-"
            lines.append(
                f"| {run.backend} | {run.workers} | {step.rate:g} | {step.sent_per_second:.1f} "
                f"| {step.ok_per_second:.1f} | {ms(a.p50_ms)} | {ms(a.p95_ms)} "
                f"| {ms(a.p99_ms)} | {ms(a.max_ms)} | {e['http']} | {e['transport']} "
                f"| {e['graphql']} | {e['busy']} | {sub} | {step.server_cpu_cores:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rates", default="10,20,30,40,60,80", help="req/s per step, rising")
    parser.add_argument("--step-seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--mix", type=parse_mix, default=DEFAULT_MIX, help=f"kind=weight,... ({DEFAULT_MIX})"
    )
    parser.add_argument("--subscribers", type=int, default=20, help="changes subscribers")
    parser.add_argument(
        "--broker",
        choices=["auto", "redis"],
        default="auto",
        help="EVENTS_BROKER (auto: LISTEN/NOTIFY on PostgreSQL, in-process on SQLite, where "
        "other workers' subscribers learn of a write by polling; redis: REDIS_URL, default "
        "redis://127.0.0.1:6379/0)",
    )
    parser.add_argument("--arrivals", choices=["uniform", "poisson"], default="uniform")
    parser.add_argument("--initiatives", type=int, default=20, help="synthetic programme")
    parser.add_argument("--budget-lines", type=int, default=400)
    parser.add_argument("--transactions", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=60, help="client timeout, seconds")
    parser.add_argument(
        "--drain-seconds", type=float, default=60, help="after a step, wait this long at most"
    )
    parser.add_argument("--pause", type=float, default=3, help="seconds between steps")
    parser.add_argument("--connections", type=int, default=512, help="client connection cap")
    parser.add_argument("--stop-error-rate", type=float, default=0.05)
    parser.add_argument("--stop-p99-ms", type=float, default=10_000)
    parser.add_argument("--seed", type=int, default=1, help="the client's choices")
    parser.add_argument("--json", type=Path, help="result file (default /tmp/pledge_bench/...)")
    args = parser.parse_args()
    if isinstance(args.mix, str):
        args.mix = parse_mix(args.mix)
    args.rates = [float(r) for r in args.rates.split(",")]
    mix: dict[str, float] = args.mix
    raise_open_files(args.connections + args.subscribers + 1000)
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    started = datetime.now().astimezone()
    version = code_version()
    dirty = " + uncommitted app/ changes" if version["uncommitted_app_files"] else ""
    print(
        f"<!-- {started:%Y-%m-%d %H:%M %Z}, code {version['commit'][:7]}{dirty}, load "
        f"{loadavg()}, {os.cpu_count()} cores, client loop "
        f"{'uvloop' if loop_factory else 'asyncio'}, {' '.join(sys.argv[1:])} -->",
        flush=True,
    )
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    runs: list[BackendRun] = []
    for backend in backends:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runs.append(runner.run(bench(backend, args, mix)))
    finished = datetime.now().astimezone()
    print(f"<!-- finished {finished:%H:%M}, load {loadavg()} -->")
    print()
    print(summary_table(runs))
    path = (
        args.json
        or Path(os.environ.get("BENCH_DATA_DIR", "/tmp/pledge_bench"))
        / f"load-{started:%Y%m%d-%H%M%S}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "command": [sys.executable, *sys.argv],
        "code": version,
        "code_after": code_version(),
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
        "client_loop": "uvloop" if loop_factory else "asyncio",
        "mix": mix,
        "arguments": {k: v for k, v in vars(args).items() if k not in ("mix", "json")},
        "runs": [finite(asdict(r)) for r in runs],
    }
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"\n<!-- results: {path} -->")


if __name__ == "__main__":
    main()
