"""Within one process: "a transaction that wrote trail entries has committed".

The recorder calls `committed(sequence)` after such a commit; every running hub in the
process (app/events/) registers a listener, which wakes it (and, with Redis as the broker, publishes
the news to the other processes). Listeners run synchronously inside SQLAlchemy's
after-commit event, so they must only schedule work, never do it. The signal lives
with the trail, so the recorder tells whoever listens without knowing the live updates.

On PostgreSQL the database itself also announces each commit on `CHANNEL` (a trigger
on the chain head row, see the migration `events notify`), which reaches every process
and also covers writers outside the service, such as `pledge-ledger generate`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

# PostgreSQL LISTEN/NOTIFY channel; channels are per database, so runs never collide.
CHANNEL = "pledge_ledger_changes"

Listener = Callable[[int], None]

_listeners: list[Listener] = []
_log = logging.getLogger(__name__)


def listen(listener: Listener) -> None:
    _listeners.append(listener)


def unlisten(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def committed(sequence: int) -> None:
    """The trail has grown to `sequence` (and that is committed)."""
    for listener in list(_listeners):
        try:
            listener(sequence)
        except Exception:  # a hub's trouble must never fail the writer's request
            _log.exception("a commit listener failed")
