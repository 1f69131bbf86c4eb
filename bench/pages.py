"""Pages against their operations: a page may take at most twice the time of the
GraphQL operations it runs.

For each backend: a fresh database with the demo and a generated programme; the app
in-process (httpx over ASGI, as the tests call it; no network in either figure). For
each page (the programme list, the generated programme, one of its initiatives, the
demo's programme and initiative), in one loop, alternating:

- `page`: GET the page (context, operations, template, HTML);
- `ops`: the time its operations took inside that request (`run`, timed);
- `api`: the same operations, with the same variables, POSTed to /graphql one after
  the other, as a client of the API would run them.

Ratios are of medians: page/ops is what rendering adds to the operations themselves;
page/api compares the page with the API answering the same questions.

    .venv/bin/python bench/pages.py --backend both --transactions 20000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from app import models as m
from app.config import Settings
from app.engines import ledger_engine
from app.main import create_app
from app.pages import routes
from bench.imports import cli, fresh

Operation = tuple[str, dict[str, Any]]


class Timed:
    """Wraps the pages' `run`: the operations a request ran, and how long they took."""

    def __init__(self, inner: Callable[..., Awaitable[dict[str, Any]]]) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.operations: list[Operation] = []

    async def __call__(
        self, schema: Any, context: Any, query: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return await self.inner(schema, context, query, variables)
        finally:
            self.seconds += time.perf_counter() - started
            self.operations.append((query, dict(variables)))


async def measure(
    http: httpx.AsyncClient, timed: Timed, path: str, runs: int
) -> tuple[float, float, float]:
    """Medians (seconds) of the page, its operations inside it, and the same via /graphql."""
    pages, ops, apis = [], [], []
    for turn in range(runs + 2):  # two warm-ups
        timed.seconds, timed.operations = 0.0, []
        started = time.perf_counter()
        response = await http.get(path)
        page = time.perf_counter() - started
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        operations = list(timed.operations)
        started = time.perf_counter()
        for query, variables in operations:
            answer = await http.post("/graphql", json={"query": query, "variables": variables})
            assert "errors" not in answer.json(), answer.text[:500]
        api = time.perf_counter() - started
        if turn >= 2:
            pages.append(page)
            ops.append(timed.seconds)
            apis.append(api)
    return statistics.median(pages), statistics.median(ops), statistics.median(apis)


async def run(backend: str, args: argparse.Namespace, workdir: Path) -> None:
    url = await fresh(backend, "bench_pages", workdir)
    cli(url, "db", "upgrade")
    cli(url, "demo", "load")
    cli(
        url,
        "generate",
        f"--initiatives={args.initiatives}",
        f"--budget-lines={args.budget_lines}",
        f"--transactions={args.transactions}",
        "--seed=1",
    )
    engine = ledger_engine(url)
    async with engine.connect() as conn:
        refs = list((await conn.execute(select(m.Program.ref).order_by(m.Program.id))).scalars())
        generated = refs[-1]
        code = (
            await conn.execute(
                select(m.Initiative.code)
                .join(m.Program, m.Program.id == m.Initiative.program_id)
                .where(m.Program.ref == generated)
                .order_by(m.Initiative.position)
                .limit(1)
            )
        ).scalar_one()
    settings = Settings(
        database_url=url, anonymous_read=True, rate_limit_per_address="", rate_limit_per_key=""
    )
    app = create_app(settings, engine=engine)
    timed = Timed(routes.run)
    routes.run = timed  # type: ignore[assignment]
    paths = [
        "/",
        f"/programmes/{generated}",
        f"/initiatives/{code}",
        "/programmes/alibaba-common-prosperity-2021",
        "/initiatives/CP-10",
    ]
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for path in paths:
                page, ops, api = await measure(http, timed, path, args.runs)
                print(
                    f"{backend:<10} {path:<48} page {page * 1000:7.1f} ms  "
                    f"ops {ops * 1000:7.1f} ms  api {api * 1000:7.1f} ms  "
                    f"page/ops {page / ops:4.2f}  page/api {page / api:4.2f}"
                )
    finally:
        routes.run = timed.inner  # type: ignore[assignment]
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--initiatives", type=int, default=100)
    parser.add_argument("--budget-lines", type=int, default=2000)
    parser.add_argument("--transactions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            asyncio.run(run(backend, args, Path(tmp)))


if __name__ == "__main__":
    main()
