"""Reads on a streaming replica, writes on the primary, and reading one's own writes.

With READ_REPLICA_URL set, every live read snapshot of a query (lists, reports, the CSV
downloads, the IATI export) is taken on the replica. Everything else stays on the
primary: mutations, the audit trail the events hub reads (a hub reading a replica
would hear of a commit before the replica has it, or miss none but lag), the snapshots
a subscription's events are answered from (an event must read what its commit wrote),
the views of `asOf` and partner reads (they are TEMP tables, which a hot standby cannot
create), keys and start-up checks.

A client that wrote passes the trail sequence its mutation returned (`sequence` in every
payload) as `X-Min-Sequence`. The replica serves the read once its trail has replayed
that sequence; the server asks it every `POLL_SECONDS` for up to REPLICA_WAIT_SECONDS,
then answers from the primary instead, which has every committed write. A replica that
cannot be asked counts as behind. Without the header a read takes the replica as it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit.repository import chain_head
from app.db.shared import give_back_held
from app.engines import ledger_sessions

POLL_SECONDS = 0.02

log = logging.getLogger(__name__)

# Where a read was answered, as /metrics counts them.
REPLICA = "replica"  # no sequence asked, or the replica had it
PRIMARY = "primary"  # the replica had not replayed the sequence in time


@dataclass
class ReadReplica:
    engine: AsyncEngine
    wait_seconds: float
    # The highest trail sequence the replica was seen to have replayed: a replica only
    # moves forwards, so a read asking no more than this needs no question.
    replayed: int = 0
    reads: dict[str, int] = field(default_factory=lambda: {REPLICA: 0, PRIMARY: 0})
    # Seconds reads spent waiting for the replica, in all.
    waited_seconds: float = 0.0
    # Said once in the log, not at every poll.
    unreachable: bool = False
    _asking: asyncio.Future[int] | None = field(default=None, init=False, repr=False)

    async def engine_for(self, primary: AsyncEngine, min_sequence: int | None) -> AsyncEngine:
        """The engine a read snapshot is taken on: the replica, unless it has not
        replayed `min_sequence` within `wait_seconds`."""
        if min_sequence is None or min_sequence <= self.replayed:
            self.reads[REPLICA] += 1
            return self.engine
        if min_sequence > await self._primary_head(primary):
            # No write has that sequence yet: nothing to wait for (a made-up value must
            # not hold a request, nor move every read of its sender to the primary for
            # the wait's length). The primary answers at once.
            self.reads[PRIMARY] += 1
            return primary
        started = time.monotonic()
        try:
            # A deadline on the whole wait, connecting included.
            async with asyncio.timeout(self.wait_seconds):
                # Polled: a replica tells nobody when it replays an entry.
                while True:
                    if min_sequence <= await self._replayed_now():
                        self.reads[REPLICA] += 1
                        return self.engine
                    await asyncio.sleep(POLL_SECONDS)
        except TimeoutError:
            self.reads[PRIMARY] += 1
            return primary
        finally:
            self.waited_seconds += time.monotonic() - started

    async def _replayed_now(self) -> int:
        """The replica's replayed sequence, asked now. Reads waiting at once share one
        question: the replica is asked one question at a time, however many wait."""
        if self._asking is None:
            asking = asyncio.ensure_future(self._ask())
            asking.add_done_callback(self._asked)
            self._asking = asking
        # Shielded: a waiter cancelled (its operation's deadline) leaves the question
        # to the others.
        return await asyncio.shield(self._asking)

    def _asked(self, task: asyncio.Future[int]) -> None:
        if self._asking is task:
            self._asking = None

    async def _primary_head(self, primary: AsyncEngine) -> int:
        async with ledger_sessions(primary)() as session:
            head = await chain_head(session)
        return head[0] if head is not None else 0

    async def _ask(self) -> int:
        try:
            async with ledger_sessions(self.engine)() as session:
                head = await chain_head(session)
        except Exception as exc:  # an unreachable replica is one that is behind
            if not self.unreachable:
                log.warning("read replica not answering (%s): reading from the primary", exc)
            self.unreachable = True
            return self.replayed
        self.unreachable = False
        if head is not None:
            self.replayed = max(self.replayed, head[0])
        return self.replayed

    async def close(self) -> None:
        give_back_held(self.engine)  # connections its loop held between kept reads
        await self.engine.dispose()
