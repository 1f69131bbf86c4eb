"""How processes tell each other that the log has grown.

A broker carries news, never events: "the trail has reached sequence N". Each
process's hub then reads what it has not seen from the log itself. So a broker may
lose a message, deliver it twice or late, or go away for a while; the worst that
happens is that events wait for the hub's next poll. Whenever a broker (re)connects
it says so (`on_news(None)`), and the hub reads the log at once: what was committed
while it was away is delivered then.

- `MemoryBroker`: nothing to carry; one process learns of its own commits directly
  (app/audit/signals.py). The choice for SQLite.
- `PostgresBroker`: LISTEN on a connection of its own; the database NOTIFYs on every
  commit that grows the trail (a trigger, so writers outside the service count too).
- `RedisBroker`: pub/sub; each process PUBLISHes its own commits.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from app.audit.signals import CHANNEL
from app.config import Settings

_log = logging.getLogger(__name__)

# A sequence number, or None for "I have just (re)connected: read the log".
News = Callable[[int | None], None]

# How the listener's connection shows in pg_stat_activity.
APPLICATION = "pledge-ledger-events"

# Reconnection backoff: from the first to the last, doubling.
RETRY_FIRST_SECONDS = 0.2
RETRY_LAST_SECONDS = 5.0


class Broker(Protocol):
    name: str

    async def run(self, on_news: News) -> None:
        """Listen until cancelled, reconnecting as needed; call `on_news` for each."""

    async def publish(self, sequence: int) -> None:
        """Tell the other processes this process committed up to `sequence`."""

    async def close(self) -> None: ...


class MemoryBroker:
    name = "memory"

    async def run(self, on_news: News) -> None:
        on_news(None)
        await asyncio.Event().wait()  # nothing to listen to: wait to be cancelled

    async def publish(self, sequence: int) -> None:
        return None

    async def close(self) -> None:
        return None


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(min(RETRY_LAST_SECONDS, RETRY_FIRST_SECONDS * 2**attempt))


class PostgresBroker:
    """LISTEN on a dedicated asyncpg connection (a pooled one could not keep listening)."""

    name = "postgres"

    def __init__(self, database_url: str, *, check_seconds: float) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._check_seconds = check_seconds

    async def run(self, on_news: News) -> None:
        import asyncpg

        attempt = 0
        while True:
            lost = asyncio.Event()
            conn: Any = None
            try:
                conn = await asyncpg.connect(
                    self._dsn, timeout=5, server_settings={"application_name": APPLICATION}
                )

                def heard(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
                    on_news(int(payload) if payload.isdigit() else None)

                def closed(_conn: Any, lost: asyncio.Event = lost) -> None:
                    lost.set()

                conn.add_termination_listener(closed)
                await conn.add_listener(CHANNEL, heard)
                attempt = 0
                _log.info("events: listening on PostgreSQL channel %s", CHANNEL)
                on_news(None)
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), self._check_seconds)
                    except TimeoutError:
                        # A connection cut without a FIN is found out by using it.
                        await conn.fetchval("SELECT 1", timeout=5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: reconnect, and catch up when back
                _log.warning("events: PostgreSQL listener lost (%s); reconnecting", exc)
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            if lost.is_set():
                _log.warning("events: PostgreSQL listener connection closed; reconnecting")
            await _backoff(attempt)
            attempt += 1

    async def publish(self, sequence: int) -> None:
        return None  # the database announces commits itself (trigger on the chain head)

    async def close(self) -> None:
        return None


def redis_channel(settings: Settings) -> str:
    """One channel per database, so services (or test runs) sharing a Redis don't mix."""
    url = make_url(settings.database_url)
    identity = f"{url.drivername}|{url.host}|{url.port}|{url.database}"
    return f"pledge-ledger:changes:{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


class RedisBroker:
    name = "redis"

    def __init__(self, redis_url: str, channel: str, *, check_seconds: float) -> None:
        import redis.asyncio as redis

        self._channel = channel
        self._check_seconds = check_seconds
        # Short timeouts: a publish must never hold up the write it announces for long.
        self._publisher = redis.Redis.from_url(
            redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        self._url = redis_url

    async def run(self, on_news: News) -> None:
        import redis.asyncio as redis

        attempt = 0
        while True:
            # health_check_interval: redis-py pings an idle connection itself and
            # raises when it is dead, half-open ones included.
            client = redis.Redis.from_url(
                self._url, socket_connect_timeout=5, health_check_interval=self._check_seconds
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                attempt = 0
                _log.info("events: listening on Redis channel %s", self._channel)
                on_news(None)
                while True:
                    message = await pubsub.get_message(timeout=self._check_seconds)
                    if message is None:
                        continue
                    if message.get("type") == "message":
                        data = message.get("data")
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        on_news(int(text) if text.isdigit() else None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("events: Redis listener lost (%s); reconnecting", exc)
            finally:
                with suppress(Exception):  # already broken
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                with suppress(Exception):
                    await client.aclose()
            await _backoff(attempt)
            attempt += 1

    async def publish(self, sequence: int) -> None:
        try:
            await self._publisher.publish(self._channel, str(sequence))
        except Exception as exc:  # others learn of it at their next poll
            _log.warning("events: could not publish to Redis (%s)", exc)

    async def close(self) -> None:
        await self._publisher.aclose()


def broker_for(settings: Settings) -> Broker:
    check = max(1.0, settings.events_poll_seconds)
    match settings.broker:
        case "postgres":
            return PostgresBroker(settings.database_url, check_seconds=check)
        case "redis":
            assert settings.redis_url is not None  # checked by Settings
            return RedisBroker(settings.redis_url, redis_channel(settings), check_seconds=check)
        case _:
            return MemoryBroker()
