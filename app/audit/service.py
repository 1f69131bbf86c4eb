"""Verifying the trail: walk the hash chain from its first entry, then hold its end
against the chain head.

The entries alone cannot show that some were removed from the end: what is left is
still a well-formed chain. The chain head row, updated in the same transaction as
every append, says where the trail ends; a tail that stops short of it was cut.

Verification proves the trail consistent with itself. Someone with write access to
the database who rewrites an entry, rehashes every later one and moves the head
leaves a consistent trail behind; only a head hash recorded elsewhere earlier (the
`last hash` that `audit verify` prints) exposes that.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository
from app.audit.chain import Break, check_entry
from app.models import GENESIS_HASH


@dataclass(frozen=True)
class Verification:
    intact: bool
    # Entries found intact (all of them when the chain is intact).
    checked: int
    # The last entry found intact (0: none), and its hash.
    last_sequence: int
    last_hash: str
    first_break: Break | None


async def verify(session: AsyncSession, *, batch: int = repository.STREAM_BATCH) -> Verification:
    """Check every entry in sequence order, a batch at a time, and the chain head.

    Writers may append while this runs. The head is read after the walk, and a head
    ahead of the walk is first followed (new entries) before it counts as a cut tail.
    """
    checked, previous = 0, GENESIS_HASH

    def broken(at: Break) -> Verification:
        return Verification(False, checked, checked, previous, at)

    while True:
        walked = 0
        async for rows in repository.stream_entries(session, after=checked, batch=batch):
            for row in rows:
                found = check_entry(row, checked + 1, previous)
                if found is not None:
                    return broken(found)
                checked, previous = checked + 1, row.hash
                walked += 1
        head = await repository.chain_head(session)
        if head is None:
            return broken(Break(checked + 1, "the chain head row is missing"))
        head_sequence, head_hash = head
        if head_sequence > checked and walked:
            continue  # entries committed while we walked: check them too
        if head_sequence > checked:
            return broken(
                Break(
                    checked + 1,
                    f"entry {checked + 1} is missing: the chain head says the trail ends at "
                    f"{head_sequence}, but its last entry is {checked}",
                )
            )
        if head_sequence < checked:
            return broken(
                Break(
                    head_sequence + 1,
                    f"entry {head_sequence + 1} lies beyond the chain head, which says the "
                    f"trail ends at {head_sequence}",
                )
            )
        if head_hash != previous:
            return broken(
                Break(checked, "the chain head's hash does not match the last entry's hash")
            )
        return Verification(True, checked, checked, previous, None)
