"""Victim: one caller's small query while another runs the worst requests its limits allow.

Per backend, a database with one synthetic programme (`pledge-ledger generate`, 30
initiatives, 1,000 budget lines, `--transactions` transactions, 100,000 by default: the
review's size), one `pledge-ledger serve` process with its default settings except that
anonymous reading is on and the per-address rate limit is off (both clients come from
127.0.0.1; each has an API key of its own, so the per-key limit still applies to each).

1. Quiet: the victim sends `--requests` small queries one after another (a page of five
   initiatives); p50 and p99.
2. Loaded: the attacker runs `--attackers` loops at once, each cycling through the
   review's three worst shapes (F7), as large as the server lets them be: N root
   `budgetSummary(groupBy: [X], currency: "USD", first: 1)`, N root
   `transactions(filter) { aggregate(currency: "USD") }`, and N x `initiatives(first:
   30) { nodes { transactions(first: 330) } }` (198,600 objects at N = 20). N starts at
   20 (MAX_ROOT_FIELDS) and is lowered until the server accepts the shape; a shape
   refused even at N = 1 is left out. Meanwhile the victim sends the same small queries.
   p50 and p99 again, and the ratio of loaded to quiet p99.

The attacker's answers are counted by outcome (ok, BUSY, refused, TIMEOUT, error).

    .venv/bin/python bench/victim.py --backend both
    .venv/bin/python bench/victim.py --backend sqlite --requests 100 --seconds 20
    # another checkout of the code (e.g. `git archive <commit> | tar -x -C /tmp/before`):
    .venv/bin/python bench/victim.py --backend both --code /tmp/before
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
CLI = [str(ROOT / ".venv" / "bin" / "pledge-ledger")]
DATA = Path(os.environ.get("BENCH_DATA_DIR", "/tmp/pledge_bench_victim"))
POSTGRES_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_NAME = "pledge_bench_victim"

VICTIM = "{ initiatives(first: 5) { nodes { code title } } }"
# The victim's requests that failed, by outcome (TIMEOUT, BUSY, ...).
FAILED: Counter[str] = Counter()
DIMENSIONS = [
    "PROGRAM",
    "INITIATIVE",
    "FOCUS_AREA",
    "BENEFICIARY_GROUP",
    "REGION",
    "CATEGORY",
    "TRANSACTION_TYPE",
    "YEAR",
    "QUARTER",
    "MONTH",
]


def summaries(n: int) -> str:
    return (
        "{ "
        + " ".join(
            f"r{i}: budgetSummary(groupBy: [{DIMENSIONS[i % len(DIMENSIONS)]}], "
            f'currency: "{"USD" if i % 2 else "CNY"}", first: 1) {{ groupCount }}'
            for i in range(n)
        )
        + " }"
    )


def aggregates(n: int) -> str:
    return (
        "{ "
        + " ".join(
            f'a{i}: transactions(filter: {{description: {{contains: "{i}"}}}}, first: 1) '
            f'{{ aggregate(currency: "{"USD" if i % 2 else "CNY"}") '
            "{ count sum { amount { amount } } } }"
            for i in range(n)
        )
        + " }"
    )


def nested(n: int) -> str:
    return (
        "{ "
        + " ".join(
            f"l{i}: initiatives(first: 30) {{ nodes {{ transactions(first: 330) "
            "{ nodes { id date type amount { amount currency } } } } }"
            for i in range(n)
        )
        + " }"
    )


SHAPES = {"summaries": summaries, "aggregates": aggregates, "nested": nested}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout


async def database_url(backend: str, transactions: int) -> str:
    """A filled database for `backend`, made once and reused while its size matches."""
    DATA.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    marker = DATA / f"{backend}.size"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{DATA / 'victim.db'}"
    else:
        url = POSTGRES_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url = f"{url}/{PG_NAME}"
    if marker.exists() and marker.read_text() == str(transactions):
        # Made by an older checkout, perhaps: brought to this code's migrations.
        run("db", "upgrade", env={**os.environ, "DATABASE_URL": url})
        return url
    if backend == "sqlite":
        (DATA / "victim.db").unlink(missing_ok=True)
    else:
        admin = await asyncpg.connect(POSTGRES_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{PG_NAME}"')
        finally:
            await admin.close()
    env = {**os.environ, "DATABASE_URL": url}
    run("db", "upgrade", env=env)
    run(
        "generate",
        "--initiatives",
        "30",
        "--budget-lines",
        "1000",
        "--transactions",
        str(transactions),
        "--seed",
        "1",
        env=env,
    )
    if backend == "postgresql":
        conn = await asyncpg.connect(url.replace("+asyncpg", ""))
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
    marker.write_text(str(transactions))
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def server(url: str, code: Path) -> AsyncIterator[tuple[str, str, str]]:
    """A server on `url`'s database, running the code at `code`; yields its base URL
    and the attacker's and the victim's keys."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PYTHONPATH": str(code),
        "ANONYMOUS_READ": "true",
        "RATE_LIMIT_PER_ADDRESS": "",
        "LOG_LEVEL": "WARNING",
    }
    keys = []
    for name in ("attacker", "victim"):
        out = run(
            "keys", "create", "--name", f"{name}-{time.time_ns()}", "--role", "viewer", env=env
        )
        keys.append(next(line.strip() for line in out.splitlines() if line.startswith("pl_")))
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 (a bench: nothing else runs meanwhile)
        [*CLI, "serve", "--port", str(port)],
        env=env,
        cwd=str(code),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{base}/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise SystemExit(
                    f"server did not start: {process.stderr.read() if process.stderr else ''}"
                )
        yield base, keys[0], keys[1]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:  # a loop held by one answer ignores SIGTERM
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


async def victim_run(
    client: httpx.AsyncClient, base: str, key: str, requests: int, stop: asyncio.Event | None = None
) -> list[float]:
    times = []
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(requests):
        if stop is not None and stop.is_set():
            break
        start = time.perf_counter()
        response = await client.post(f"{base}/graphql", json={"query": VICTIM}, headers=headers)
        times.append(time.perf_counter() - start)
        if outcome(response) != "ok":
            FAILED[outcome(response)] += 1  # its time counts too: the victim waited
    return times


def outcome(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"http {response.status_code}"
    errors = body.get("errors") or []
    if not errors:
        return "ok"
    return str(errors[0].get("extensions", {}).get("code", "error"))


async def largest(client: httpx.AsyncClient, base: str, key: str, shape: str) -> int:
    """The most root fields of `shape` the server accepts (0: none)."""
    headers = {"Authorization": f"Bearer {key}"}
    for n in range(20, 0, -1):
        query = SHAPES[shape](n)
        response = await client.post(f"{base}/graphql", json={"query": query}, headers=headers)
        code = outcome(response)
        if code not in ("QUERY_TOO_COSTLY", "TOO_MANY_ROOT_FIELDS"):
            return n
        body = response.json()["errors"][0]["extensions"]
        if "work" in body and n > 1:  # jump close to the limit rather than step by one
            per_root = body["work"] / n
            n_fit = int(body["limit"] // per_root)
            if 0 < n_fit < n - 1:
                response = await client.post(
                    f"{base}/graphql", json={"query": SHAPES[shape](n_fit)}, headers=headers
                )
                if outcome(response) not in ("QUERY_TOO_COSTLY",):
                    return n_fit
    return 0


async def measure(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    url = await database_url(backend, args.transactions)
    async with (
        server(url, Path(args.code)) as (base, attacker, victim),
        httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=64)) as client,
    ):
        for _ in range(5):
            await victim_run(client, base, victim, 1)
        quiet = await victim_run(client, base, victim, args.requests)
        sizes = {shape: await largest(client, base, attacker, shape) for shape in SHAPES}
        plan = [SHAPES[shape](n) for shape, n in sizes.items() if n]
        outcomes: Counter[str] = Counter()
        stop = asyncio.Event()
        headers = {"Authorization": f"Bearer {attacker}"}

        async def attack(offset: int) -> None:
            i = offset
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.post(
                        f"{base}/graphql", json={"query": plan[i % len(plan)]}, headers=headers
                    )
                    outcomes[outcome(response)] += 1
                i += 1

        attackers = [asyncio.create_task(attack(k)) for k in range(args.attackers)]
        await asyncio.sleep(2)  # let the attack get going
        loaded: list[float] = []
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and len(loaded) < args.requests:
            loaded += await victim_run(client, base, victim, 1)
        stop.set()
        await asyncio.sleep(0)
        for task in attackers:
            task.cancel()
        await asyncio.gather(*attackers, return_exceptions=True)
    return {
        "backend": backend,
        "sizes": sizes,
        "outcomes": dict(outcomes),
        "quiet": (percentile(quiet, 50), percentile(quiet, 99), len(quiet)),
        "loaded": (percentile(loaded, 50), percentile(loaded, 99), len(loaded)),
        "victim_failed": dict(FAILED),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="victim requests per phase")
    parser.add_argument("--seconds", type=float, default=60, help="most time under load")
    parser.add_argument("--attackers", type=int, default=3, help="attacker loops at once")
    parser.add_argument("--code", default=str(ROOT), help="the code the server runs")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    commit = (
        subprocess.run(  # noqa: ASYNC221
            ["git", "-C", args.code, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        or args.code
    )
    print(f"code {commit}; {args.transactions} transactions; {args.attackers} attacker loops")
    print(
        "| backend | attack sizes (summaries/aggregates/nested) | attacker outcomes "
        "| quiet p50 / p99 ms | loaded p50 / p99 ms | p99 loaded / quiet |"
    )
    print("|---|---|---|---|---|---|")
    for backend in backends:
        r = await measure(backend, args)
        q, lo = r["quiet"], r["loaded"]
        sizes = "/".join(str(n) for n in r["sizes"].values())
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
        if r["victim_failed"]:
            outcomes += f"; victim failed: {r['victim_failed']}"
        FAILED.clear()
        print(
            f"| {backend} | {sizes} | {outcomes} "
            f"| {q[0] * 1000:.0f} / {q[1] * 1000:.0f} (n={q[2]}) "
            f"| {lo[0] * 1000:.0f} / {lo[1] * 1000:.0f} (n={lo[2]}) | {lo[1] / q[1]:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
