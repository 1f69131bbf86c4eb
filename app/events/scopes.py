"""What a subscriber's positions count: the whole log, or a partner's own part of it.

An entry's *ordinal* in a scope is how many of the scope's entries there are up to it
and including it. For the whole log that is the entry's sequence. A partner's scope is
its initiatives: its n-th change has ordinal n, whatever happens elsewhere, so the
positions it is given (an event's `sequence`, a cursor) count only its own changes and
tell nothing of how busy other initiatives are, or when. Nor can a position be forged
to learn more: any ordinal a partner makes up names one of its own entries, or none.

Finding a position again costs one statement over the scope's entries (an index range
of `changes(initiative_id, sequence)` per initiative): a partner's own history, not
the log's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from app.audit import repository
from app.audit.repository import EntryFilter
from app.db.session import SessionFactory


@dataclass(frozen=True)
class Scope:
    # None: the whole log.
    initiative_ids: frozenset[int] | None = None

    @property
    def whole(self) -> bool:
        return self.initiative_ids is None

    def holds(self, entry: Any) -> bool:
        return self.initiative_ids is None or entry.initiative_id in self.initiative_ids

    def advance(self, ordinal: int, entry: Any) -> int:
        """The ordinal at `entry`, the next entry of the log after one at `ordinal`."""
        if self.initiative_ids is None:
            return int(entry.sequence)
        return ordinal + 1 if self.holds(entry) else ordinal

    @property
    def where(self) -> EntryFilter:
        """The scope's entries, in SQL."""
        if self.initiative_ids is None:
            return EntryFilter()
        return EntryFilter(initiative_ids=tuple(sorted(self.initiative_ids)))

    @property
    def mark(self) -> str:
        """Names the scope in its cursors, so that a cursor counts in the scope it was
        made for (a key whose initiatives changed must start again, not resume at the
        wrong place). It is no secret and it need not be: a cursor only ever names a
        position of its own scope."""
        ids = ",".join(str(i) for i in sorted(self.initiative_ids or ()))
        return "s" + hashlib.sha256(ids.encode()).hexdigest()[:16]

    async def ordinal_at(self, sessions: SessionFactory, sequence: int) -> int:
        """The ordinal of the log's position `sequence` (committed) in this scope."""
        if self.initiative_ids is None:
            return sequence
        async with sessions() as session:
            return await repository.count(session, self.where, until=sequence)

    async def sequence_at(self, sessions: SessionFactory, ordinal: int) -> int | None:
        """The log's position at this scope's `ordinal`: the sequence of its entry
        with that ordinal (0 for 0); None when the scope has fewer entries."""
        if ordinal == 0:
            return 0
        async with sessions() as session:
            if self.initiative_ids is None:
                return ordinal if ordinal <= await repository.last_sequence(session) else None
            return await repository.nth(session, self.where, ordinal)


WHOLE_LOG = Scope()
