"""The delivery worker: every `serve` process runs one, and they share the work.

A process claims an endpoint by taking its lease in the database (a conditional UPDATE;
on PostgreSQL the candidates are picked `FOR UPDATE SKIP LOCKED`), delivers the events
past its position one at a time, in order, and moves the position after each one the
receiver accepted (2xx). So each event is delivered at least once: a process killed
after a delivery and before moving the position sends that event again once the lease
has expired; while processes are healthy, an endpoint is held by one of them only, and
no event is sent twice.

A refused or failed attempt is logged; the next waits `retry_first * 2**(n-1)` seconds
(times a jitter in [1, 1.5), at most `retry_last`); after the last attempt the event
is dead-lettered and the endpoint paused. An endpoint ordered per initiative instead
holds a failing event, and its initiative's later ones, in `webhook_held` and goes on
with the others; held deliveries (and replayed ones) are made first in each turn, each
lane in order (app/webhooks/lanes.py). The worker wakes on news of a commit (the hub's,
which hears the broker), on a retry falling due, and on its poll.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import socket
import time
import uuid
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from app.auth.principal import Principal
from app.config import Settings
from app.db.session import SessionFactory
from app.db.types import utcnow
from app.events.hub import ChangeFlag, EventHub
from app.models import WebhookDeadLetter, WebhookEndpoint, WebhookHeld
from app.webhooks import lanes, service
from app.webhooks import repository as repo
from app.webhooks.events import (
    Event,
    Filters,
    RenderFailed,
    ServerSubscriptions,
    pending,
    render,
    with_cited_initiatives,
)
from app.webhooks.metrics import WebhookMetrics
from app.webhooks.secrets import SecretUnreadable, seal_stored
from app.webhooks.sender import Outcome, Sender, storable
from app.webhooks.signing import headers

_log = logging.getLogger(__name__)

# Events read and rendered per turn of one endpoint.
BATCH = 100
# Accepted events are recorded (the endpoint moved past them) at least this often: a
# crash sends again at most these.
FLUSH_EVERY = 50
FLUSH_SECONDS = 0.25
# The tables the worker needs (a database without them is asked again every poll).
TABLES = ("webhook_endpoints", "webhook_attempts", "webhook_dead_letters", "webhook_held")
# Attempts written between two prunings of the endpoint's log (repository.KEPT_ATTEMPTS).
PRUNE_EVERY = 100
# A send looks first whether its endpoint is still active and held by this process
# (a pause or a removal stops a running turn), unless it looked less than this many
# seconds ago: a look per send cost a fast receiver up to half its deliveries per
# second (bench/README.md).
# So a pause stops a turn before its next send once a send takes this long, and within
# this time (and the request in flight) when they are quicker.
LOOK_EVERY = 0.05


def backoff(settings: Settings, attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempts + 1`, after `attempts` failed ones (>= 1)."""
    base = settings.webhook_retry_first_seconds * 2 ** (attempts - 1)
    jitter = (rng or random).uniform(1.0, 1.5)
    return float(min(settings.webhook_retry_last_seconds, base * jitter))


def message_id(endpoint: WebhookEndpoint, sequence: int) -> str:
    """The `webhook-id` of the trail's entry `sequence` at this endpoint: one per event
    and endpoint, the same on every attempt, held retry, dead letter and replay. A digest
    of the trail's sequence (which a partner's renumbered stream keeps) under the
    endpoint's random key: it tells the receiver nothing of the trail (neither its length
    nor what lies outside the key's scope); the partner's own numbering is in `data`."""
    key = endpoint.message_key.encode()
    digest = hmac.new(key, str(sequence).encode(), hashlib.sha256).hexdigest()[:24]
    return f"msg_{endpoint.id}_{digest}"


def body_of(data: dict[str, Any]) -> bytes:
    payload = {
        "type": f"change.{str(data['operation']).lower()}",
        "timestamp": data["occurredAt"],
        "data": data,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookWorker:
    def __init__(
        self,
        sessions: SessionFactory,
        settings: Settings,
        schema: ServerSubscriptions,
        hub: EventHub,
        metrics: WebhookMetrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.schema = schema
        self.hub = hub
        self.metrics = metrics
        self.owner = f"{socket.gethostname()[:40]}:{uuid.uuid4().hex[:12]}"
        self._sender = Sender(
            timeout=settings.webhook_timeout_seconds,
            allow_private=settings.webhook_allow_private_addresses,
        )
        self._task: asyncio.Task[None] | None = None
        self._flag = ChangeFlag(lambda _entry: True)
        self._busy: set[int] = set()
        self._written = 0
        # Endpoints whose turns failed in a row (not an answer: the worker's own
        # failure), how many times: the next turn waits the backoff of as many attempts.
        self._troubles: dict[int, int] = {}
        # When each endpoint held was last seen active and ours (claimed, or _may_send).
        self._looked: dict[int, float] = {}
        self._turn_cache: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        # What `_shared` started and has not ended: shielded from a cancelled turn, so
        # `close` ends them itself (else they would go on reading after the worker stops).
        self._started: set[asyncio.Future[Any]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._task
        started = list(self._started)
        for future in started:
            future.cancel()
        await asyncio.gather(*started, return_exceptions=True)
        await self._sender.close()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._tables_ready()
                await seal_stored(self.sessions, self.settings)
                async with self.hub.subscription(self._flag):
                    assert self.hub.high_water is not None
                    self.hub.join(self._flag, self.hub.high_water)
                    while True:
                        self._flag.clear()
                        wait = await self.run_once()
                        failures = 0
                        with suppress(TimeoutError):
                            async with asyncio.timeout(wait):
                                await self._flag.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again, lose nothing
                if not await self._tables_present(quiet=True):
                    continue  # not migrated (any more): _tables_ready says so, once
                _log.warning("webhooks: the worker failed (%s); retrying", exc)
                await asyncio.sleep(min(5.0, 0.2 * 2**failures))
                failures += 1

    async def _tables_present(self, *, quiet: bool = False) -> bool:
        """Whether the database has the webhook tables of this code's migrations. Only
        a failure to ask is an error (a database away): with `quiet` it counts as
        present, so that the caller reports it as what it is."""
        try:
            async with self.sessions() as session:
                return await repo.has_tables(session, TABLES)
        except Exception:
            if quiet:
                return True
            raise

    async def _tables_ready(self) -> None:
        """Wait, saying so once, while the database is not migrated as far as the
        webhook tables (a database made before them: `pledge-ledger db upgrade`)."""
        told = False
        while not await self._tables_present():
            if not told:
                _log.warning(
                    "webhooks: the database has no webhook tables yet (not migrated to "
                    "this version: run `pledge-ledger db upgrade`); deliveries start once "
                    "it is"
                )
                told = True
            await asyncio.sleep(self.settings.webhook_poll_seconds)
        if told:
            _log.info("webhooks: the webhook tables are there now; delivering")

    async def run_once(self) -> float:
        """Deliver what is due to every endpoint this process can claim; the seconds
        until it should look again."""
        now = utcnow()
        until = now + timedelta(seconds=self.settings.webhook_lease_seconds)
        async with self.sessions() as session, session.begin():
            limit = self.settings.webhook_concurrency
            candidates = await repo.claimable(session, now, limit)
            with_held = {e for e, held in candidates if held}
            free = [e for e, _held in candidates if e not in self._busy]
            # One statement leases them all and reads them for their first turn.
            claimed = await repo.take_leases(session, free, self.owner, now, until)
            session.expunge_all()
        if claimed:
            self._turn_cache = {}
            try:
                await asyncio.gather(*(self._deliver(e, e.id in with_held) for e in claimed))
            finally:
                self._turn_cache = {}
        async with self.sessions() as session:
            due = await repo.next_due(session)
            if self.metrics is not None:
                self.metrics.endpoints_seen(
                    await repo.endpoint_states(session), self.hub.high_water
                )
        wait = self.settings.webhook_poll_seconds
        if due is not None:
            wait = min(wait, max(0.0, (due - utcnow()).total_seconds()))
        return wait

    async def _deliver(self, claimed: WebhookEndpoint, held: bool) -> None:
        endpoint_id = claimed.id
        self._busy.add(endpoint_id)
        self._looked[endpoint_id] = time.monotonic()  # the claim just read it so
        keeper = asyncio.create_task(self._keep_lease(endpoint_id))
        try:
            # The lanes held back (per-initiative ordering), read on the first turn.
            blocked: set[int] | None = None if held else set()
            # The first turn takes the endpoint as its claim read it.
            first: WebhookEndpoint | None = claimed
            while True:
                more, blocked = await self._turn(endpoint_id, blocked, first)
                first = None
                if not more:
                    break
        except Exception as exc:
            # (A failure to record, say: tried again after a growing wait, and shown,
            # rather than at once and for ever.)
            failures = self._troubles[endpoint_id] = self._troubles.get(endpoint_id, 0) + 1
            now = utcnow()
            if isinstance(exc, SecretUnreadable):
                error = storable(f"deliveries wait: {exc}"[:1000])
            else:
                first_line = f"{type(exc).__name__}: {exc}".splitlines()[0]
                error = storable(f"the worker failed: {first_line}"[:1000])
            _log.warning("webhooks: endpoint %s: %s", endpoint_id, error)
            values: dict[str, Any] = {
                "lease_owner": None,
                "lease_until": now,
                "next_attempt_at": now + timedelta(seconds=backoff(self.settings, failures)),
                "last_failure_at": now,
                "last_error": error,
            }
            await self._update(endpoint_id, values)
        else:
            self._troubles.pop(endpoint_id, None)
        finally:
            keeper.cancel()
            with suppress(asyncio.CancelledError):
                await keeper
            self._looked.pop(endpoint_id, None)
            self._busy.discard(endpoint_id)

    async def _keep_lease(self, endpoint_id: int) -> None:
        """Renew the endpoint's lease every third of it while its turn lasts, whatever
        the turn is waiting for (a render, a receiver slower than the lease): else
        another process would take the endpoint over and send the same event beside
        this one. Ends once the endpoint is no longer ours."""
        every = self.settings.webhook_lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            try:
                async with self.sessions() as session, session.begin():
                    until = utcnow() + self._lease
                    values = {"lease_until": until}
                    if not await repo.update_held(session, endpoint_id, self.owner, values):
                        return
            except Exception as exc:  # the database is away: the turn will hear of it
                _log.warning("webhooks: endpoint %s: renewing its lease: %s", endpoint_id, exc)

    async def _turn(
        self, endpoint_id: int, blocked: set[int] | None, claimed: WebhookEndpoint | None = None
    ) -> tuple[bool, set[int]]:
        """One batch to one held endpoint; whether another batch may follow at once,
        and the lanes held back now. `blocked` None: the endpoint has held deliveries,
        to be made first. `claimed`: the endpoint as its claim just read it."""
        endpoint = claimed
        if endpoint is None:
            async with self.sessions() as session:
                endpoint = await repo.endpoint(session, endpoint_id)
                if endpoint is not None:
                    session.expunge(endpoint)
        if (
            endpoint is None
            or endpoint.lease_owner != self.owner
            or endpoint.status != service.ACTIVE
        ):
            return False, set()
        principal = await self._shared(("key", endpoint.api_key_id), self._principal, endpoint)
        if principal is None:
            await self._pause(endpoint, "the endpoint's key is revoked")
            return False, set()
        # Before anything is rendered. A secret no key of this process opens is not a
        # pause: while processes are given a new WEBHOOK_SECRET_KEY one at a time, one
        # still on the old key cannot open what a newer one sealed, and the endpoint
        # waits (SecretUnreadable, handled as any failed turn: a growing wait and its
        # reason in last_error) for a process that can, or for a rotation.
        secrets = service.signing_secrets(self.settings, endpoint, utcnow())
        upto = self.hub.high_water or 0
        filters = service.filters_of(endpoint)
        try:
            if blocked is None:
                if not await self._deliver_held(endpoint, principal, filters, secrets):
                    return False, set()
                blocked = set()
                if endpoint.ordering == lanes.INITIATIVE:
                    async with self.sessions() as session:
                        blocked = await repo.held_lanes(session, endpoint.id)
            # Endpoints of one key with one filter at one place get the same events:
            # read and rendered once for all of them in this turn.
            place = (endpoint.api_key_id, filters, endpoint.position, endpoint.cursor, upto)
            events = await self._shared(
                ("events", *place), self._events, principal, filters, endpoint, upto
            )
        except (RenderFailed, TimeoutError) as exc:
            await self._pause(endpoint, f"the change stream refused: {exc}")
            return False, set()
        if not events:
            await self._update(endpoint_id, {"lease_owner": None, "lease_until": utcnow()})
            return False, blocked
        per_initiative = endpoint.ordering == lanes.INITIATIVE
        batch = _Batch()
        since = time.monotonic()
        before = endpoint.cursor  # the cursor just before the event at hand
        for event in events:
            lane = lanes.lane_of(event.initiative_id, citation=event.citation, blocked=blocked)
            if per_initiative and lane in blocked:
                # Its lane waits behind a failing event: held, in order, behind it.
                batch.passed(event, _held(endpoint.id, lane, event.sequence, before))
                before = event.data["cursor"]
                kept, batch, since = await self._checkpoint(endpoint, batch, since)
                if not kept:
                    return False, blocked
                continue
            if not await self._may_send(endpoint.id):
                # Paused or removed meanwhile: what was taken is recorded, and no more.
                await self._taken(endpoint, batch, release=True)
                return False, blocked
            msg = message_id(endpoint, event.sequence)
            outcome = await self._send(endpoint, secrets, msg, event)
            done = utcnow()
            attempt = endpoint.attempts + 1
            record = _attempt(endpoint.id, msg, event.sequence, attempt, done, outcome)
            if outcome.ok:
                endpoint.attempts = 0
                batch.took(event, record, done)
                before = event.data["cursor"]
                kept, batch, since = await self._checkpoint(endpoint, batch, since)
                if not kept:
                    return False, blocked
                continue
            if per_initiative and attempt < self.settings.webhook_max_attempts:
                # Only its lane waits: the event is held, retried after the backoff.
                blocked.add(lane)
                retry = done + timedelta(seconds=backoff(self.settings, attempt))
                held = _held(endpoint.id, lane, event.sequence, before, attempt, retry)
                batch.failed(event, record, held, done, _error(outcome))
                before = event.data["cursor"]
                kept, batch, since = await self._checkpoint(endpoint, batch, since)
                if not kept:
                    return False, blocked
                continue
            if not await self._taken(endpoint, batch):
                return False, blocked
            await self._failed(endpoint, event, msg, attempt, done, outcome, record)
            return False, blocked
        # A short batch was all there was: release the endpoint with the last record
        # (a commit since then wakes this worker, which claims it again).
        last_batch = len(events) < BATCH
        kept = await self._taken(endpoint, batch, release=last_batch)
        return kept and not last_batch, blocked

    async def _checkpoint(
        self, endpoint: WebhookEndpoint, batch: _Batch, since: float
    ) -> tuple[bool, _Batch, float]:
        """Record the batch when FLUSH_EVERY attempts or FLUSH_SECONDS have gone by,
        whatever their outcomes: recording renews the lease, so that a turn of many
        failures (each as long as the receiver takes) never outlives it and lets
        another process start again from a position left behind. Whether the endpoint
        is still ours; the batch and its start, new when recorded."""
        if len(batch.records) < FLUSH_EVERY and time.monotonic() - since <= FLUSH_SECONDS:
            return True, batch, since
        if not await self._taken(endpoint, batch):
            return False, batch, since
        return True, _Batch(), time.monotonic()

    async def _send(
        self, endpoint: WebhookEndpoint, secrets: list[str], msg: str, event: Event
    ) -> Outcome:
        body = body_of(event.data)
        signed = headers(secrets, msg, int(utcnow().timestamp()), body)
        outcome = await self._sender.send(endpoint.url, signed, body)
        if self.metrics is not None:
            self.metrics.attempted(outcome, event.data.get("occurredAt"), utcnow())
        return outcome

    async def _deliver_held(
        self, endpoint: WebhookEndpoint, principal: Principal, filters: Filters, secrets: list[str]
    ) -> bool:
        """Make the endpoint's held deliveries whose lane is due, each lane in order up
        to its first failure; whether the endpoint is still ours and active."""
        async with self.sessions() as session:
            due = await repo.due_lanes(session, endpoint.id, utcnow())
        for lane in due:
            while True:
                async with self.sessions() as session:
                    rows = await repo.held_in_lane(session, endpoint.id, lane, BATCH)
                for row in rows:
                    state = await self._deliver_one(endpoint, principal, filters, secrets, row)
                    if state == "lost":
                        return False
                    if state == "wait":
                        break
                else:
                    if len(rows) == BATCH:
                        continue
                break
        return True

    async def _deliver_one(
        self,
        endpoint: WebhookEndpoint,
        principal: Principal,
        filters: Filters,
        secrets: list[str],
        row: WebhookHeld,
    ) -> str:
        """One held delivery: "sent" (or dropped), "wait" (its lane waits for a retry)
        or "lost" (the endpoint is paused or no longer ours)."""
        if row.next_attempt_at is not None and row.next_attempt_at > utcnow():
            return "wait"
        msg = message_id(endpoint, row.sequence)
        entries = await pending(
            self.sessions, principal, filters, row.sequence - 1, row.sequence, 1
        )
        if not entries:
            # No longer in the key's view (its scope or the filter changed): dropped,
            # with a line in the log of attempts saying so.
            outcome = Outcome(None, "no longer in the key's view: not sent", None, 0.0)
            record = _attempt(endpoint.id, msg, row.sequence, row.attempts + 1, utcnow(), outcome)
            return await self._held_done(endpoint, row, record, {})
        async with asyncio.timeout(max(30.0, self.settings.webhook_timeout_seconds)):
            events = await render(
                self.schema,
                self.sessions,
                self.settings,
                self.hub,
                principal,
                filters,
                row.cursor_before,
                entries,
            )
        if not await self._may_send(endpoint.id):
            return "lost"
        outcome = await self._send(endpoint, secrets, msg, events[0])
        done = utcnow()
        attempt = row.attempts + 1
        record = _attempt(endpoint.id, msg, row.sequence, attempt, done, outcome)
        if outcome.ok:
            return await self._held_done(endpoint, row, record, {"last_success_at": done})
        failure: dict[str, Any] = {"last_failure_at": done, "last_error": _error(outcome)}
        if attempt < self.settings.webhook_max_attempts:
            # Renewed after every held send, as after every sent one (_held_done).
            failure["lease_until"] = utcnow() + self._lease
            retry = done + timedelta(seconds=backoff(self.settings, attempt))
            async with self.sessions() as session, session.begin():
                if not await repo.update_held(session, endpoint.id, self.owner, failure):
                    return "lost"
                await repo.retry_held(session, row.id, attempt, retry)
                await repo.add_attempts(session, [record])
            return "wait"
        # The last attempt: dead-lettered (again), and the endpoint paused.
        failure |= {
            "status": service.PAUSED,
            "paused_reason": f"dead-lettered {msg} after {attempt} attempts",
            "lease_owner": None,
            "lease_until": utcnow(),
        }
        async with self.sessions() as session, session.begin():
            if not await repo.update_held(session, endpoint.id, self.owner, failure):
                return "lost"
            await repo.release_held(session, row.id)
            await repo.add_attempts(session, [record])
            await repo.add_dead_letter(
                session,
                _dead_letter(
                    endpoint.id, msg, row.sequence, row.cursor_before, attempt, outcome, done
                ),
            )
        return "lost"

    async def _held_done(
        self,
        endpoint: WebhookEndpoint,
        row: WebhookHeld,
        record: dict[str, Any],
        values: dict[str, Any],
    ) -> str:
        async with self.sessions() as session, session.begin():
            values = values | {"lease_until": utcnow() + self._lease}
            if not await repo.update_held(session, endpoint.id, self.owner, values):
                return "lost"
            await repo.release_held(session, row.id)
            await repo.add_attempts(session, [record])
        return "sent"

    async def _may_send(self, endpoint_id: int) -> bool:
        now = time.monotonic()
        if now - self._looked.get(endpoint_id, now - LOOK_EVERY) < LOOK_EVERY:
            return True
        async with self.sessions() as session:
            found = await repo.may_send(session, endpoint_id, self.owner)
        self._looked[endpoint_id] = now
        return found

    @property
    def _lease(self) -> timedelta:
        return timedelta(seconds=self.settings.webhook_lease_seconds)

    async def _shared(self, key: tuple[Any, ...], make: Any, *args: Any) -> Any:
        """`make(*args)`, awaited once per `key` in this turn of the worker."""
        found = self._turn_cache.get(key)
        if found is None:
            found = asyncio.ensure_future(make(*args))
            self._turn_cache[key] = found
            self._started.add(found)
            found.add_done_callback(self._started.discard)
        return await asyncio.shield(found)

    async def _principal(self, endpoint: WebhookEndpoint) -> Principal | None:
        async with self.sessions() as session:
            return await service.principal_of(session, endpoint)

    async def _events(
        self, principal: Principal, filters: Filters, endpoint: WebhookEndpoint, upto: int
    ) -> list[Event]:
        entries = await pending(self.sessions, principal, filters, endpoint.position, upto, BATCH)
        if not entries:
            return []
        async with asyncio.timeout(max(30.0, self.settings.webhook_timeout_seconds)):
            events = await render(
                self.schema,
                self.sessions,
                self.settings,
                self.hub,
                principal,
                filters,
                endpoint.cursor,
                entries,
            )
        return await with_cited_initiatives(self.sessions, entries, events)

    async def _taken(
        self, endpoint: WebhookEndpoint, batch: _Batch, *, release: bool = False
    ) -> bool:
        """Move the endpoint past the events it accepted or held, log their attempts and
        hold what must wait, in one transaction; whether this process still holds the
        endpoint. (A crash before this sends them again: at least once.)"""
        done = utcnow()
        if batch.last is None:
            if release:
                await self._update(endpoint.id, {"lease_owner": None, "lease_until": done})
            return True
        last = batch.last
        values: dict[str, Any] = {
            "position": last.sequence,
            "cursor": last.data["cursor"],
            "attempts": 0,
            "next_attempt_at": None,
            "lease_until": done + self._lease,
        }
        if batch.success_at is not None:
            values["last_success_at"] = batch.success_at
        if batch.failure is not None:
            values["last_failure_at"], values["last_error"] = batch.failure
        if release:
            values |= {"lease_owner": None, "lease_until": done}
        async with self.sessions() as session, session.begin():
            if not await repo.update_held(session, endpoint.id, self.owner, values):
                return False
            if batch.records:
                await repo.add_attempts(session, batch.records)
                await self._prune(session, endpoint.id, len(batch.records))
            if batch.held:
                await repo.hold(session, batch.held)
        endpoint.position = last.sequence
        endpoint.cursor = last.data["cursor"]
        return True

    async def _failed(
        self,
        endpoint: WebhookEndpoint,
        event: Event,
        msg: str,
        attempt: int,
        done: datetime,
        outcome: Outcome,
        record: dict[str, Any],
    ) -> None:
        """Log a refused or failed attempt; retry later, or after the last attempt
        dead-letter the event and pause the endpoint (releasing it either way)."""
        last = attempt >= self.settings.webhook_max_attempts
        values: dict[str, Any] = {
            "last_failure_at": done,
            "last_error": _error(outcome),
            "lease_owner": None,
            "lease_until": utcnow(),
        }
        if last:
            values |= {
                "position": event.sequence,
                "cursor": event.data["cursor"],
                "attempts": 0,
                "next_attempt_at": None,
                "status": service.PAUSED,
                "paused_reason": f"dead-lettered {msg} after {attempt} attempts",
            }
        else:
            wait = backoff(self.settings, attempt)
            values |= {"attempts": attempt, "next_attempt_at": done + timedelta(seconds=wait)}
        async with self.sessions() as session, session.begin():
            if not await repo.update_held(session, endpoint.id, self.owner, values):
                return
            await repo.add_attempts(session, [record])
            await self._prune(session, endpoint.id, 1)
            if last:
                await repo.add_dead_letter(
                    session,
                    _dead_letter(
                        endpoint.id, msg, event.sequence, endpoint.cursor, attempt, outcome, done
                    ),
                )

    async def _prune(self, session: Any, endpoint_id: int, written: int) -> None:
        before = self._written
        self._written += written
        if before // PRUNE_EVERY != self._written // PRUNE_EVERY:
            await repo.prune_attempts(session, endpoint_id)

    async def _pause(self, endpoint: WebhookEndpoint, reason: str) -> None:
        await self._update(
            endpoint.id,
            {
                "status": service.PAUSED,
                "paused_reason": storable(reason[:500]),
                "lease_owner": None,
                "lease_until": utcnow(),
            },
        )

    async def _update(self, endpoint_id: int, values: dict[str, Any]) -> None:
        async with self.sessions() as session, session.begin():
            await repo.update_held(session, endpoint_id, self.owner, values)


class _Batch:
    """What a turn did since it last recorded: the last event passed, the attempts
    made, the deliveries held."""

    def __init__(self) -> None:
        self.last: Event | None = None
        self.records: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] = []
        self.success_at: datetime | None = None
        self.failure: tuple[datetime, str] | None = None

    def took(self, event: Event, record: dict[str, Any], done: datetime) -> None:
        self.last = event
        self.records.append(record)
        self.success_at = done

    def passed(self, event: Event, held: dict[str, Any]) -> None:
        self.last = event
        self.held.append(held)

    def failed(
        self,
        event: Event,
        record: dict[str, Any],
        held: dict[str, Any],
        done: datetime,
        error: str,
    ) -> None:
        self.passed(event, held)
        self.records.append(record)
        self.failure = (done, error)


def _held(
    endpoint_id: int,
    lane: int,
    sequence: int,
    cursor_before: str,
    attempts: int = 0,
    next_attempt_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "endpoint_id": endpoint_id,
        "lane": lane,
        "sequence": sequence,
        "cursor_before": cursor_before,
        "attempts": attempts,
        "next_attempt_at": next_attempt_at,
        "created_at": utcnow(),
    }


def _attempt(
    endpoint_id: int, msg: str, sequence: int, attempt: int, done: datetime, outcome: Outcome
) -> dict[str, Any]:
    return {
        "endpoint_id": endpoint_id,
        "message_id": msg,
        "sequence": sequence,
        "attempt": attempt,
        "at": done,
        "status_code": outcome.status_code,
        "error": outcome.error,
        "response_excerpt": outcome.excerpt,
        "duration_ms": int(outcome.seconds * 1000),
    }


def _error(outcome: Outcome) -> str:
    if outcome.error is not None:
        return outcome.error
    return f"HTTP {outcome.status_code}: {(outcome.excerpt or '')[:200]}"


def _dead_letter(
    endpoint_id: int,
    msg: str,
    sequence: int,
    cursor_before: str,
    attempt: int,
    outcome: Outcome,
    done: datetime,
) -> WebhookDeadLetter:
    """The dead letter of a delivery whose last attempt failed (streamed or held)."""
    return WebhookDeadLetter(
        endpoint_id=endpoint_id,
        message_id=msg,
        sequence=sequence,
        cursor_before=cursor_before,
        attempts=attempt,
        last_error=_error(outcome),
        created_at=done,
    )
