"""Loop stall: how long one large answer holds the event loop (issue 13 item 4).

In-process (httpx against the ASGI app, on bench/victim.py's SQLite database, made by
`victim.py` first), one request of the review's largest nested list, 20 x
`initiatives(first: 30) { transactions(first: 330) }` (198,600 objects, within
MAX_QUERY_COST), while a ticker task sleeps 10 ms at a time and records how late it
wakes: the longest lateness is the longest time nothing else could run.

    .venv/bin/python bench/loop_stall.py
    PYTHONPATH=/tmp/work_before .venv/bin/python bench/loop_stall.py   # another checkout
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx

from app.config import Settings
from app.engines import ledger_engine
from app.main import create_app

URL = os.environ.get("BENCH_URL", "sqlite+aiosqlite:////tmp/pledge_bench_victim/victim.db")
QUERY = (
    "{ "
    + " ".join(
        f"l{i}: initiatives(first: 30) {{ nodes {{ transactions(first: 330) "
        "{ nodes { id date type valueDate amount { amount currency } } } } }"
        for i in range(20)
    )
    + " }"
)


async def main() -> None:
    engine = ledger_engine(URL)
    settings = Settings(
        database_url=URL, log_level="WARNING", anonymous_read=True, rate_limit_per_address=""
    )
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://b", timeout=600) as c:
        await c.post("/graphql", json={"query": "{ program { name } }"})
        worst, ticks, stop = 0.0, 0, False

        async def ticker() -> None:
            nonlocal worst, ticks
            while not stop:
                start = time.perf_counter()
                await asyncio.sleep(0.01)
                worst = max(worst, time.perf_counter() - start - 0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        start = time.perf_counter()
        response = await c.post("/graphql", json={"query": QUERY})
        elapsed = time.perf_counter() - start
        stop = True
        await task
    await engine.dispose()
    body = response.json()
    outcome = "ok" if not body.get("errors") else body["errors"][0]["extensions"]["code"]
    print(
        f"{outcome}: {len(response.content):,} bytes in {elapsed:.1f} s; longest loop stall "
        f"{worst:.2f} s; ticker woke {ticks} times"
    )


if __name__ == "__main__":
    asyncio.run(main())
