"""The hash chain: each entry's hash covers its content and the previous entry's hash.

Change any stored field of any entry, remove one, or reorder them, and from that
entry on the recomputed hashes no longer match what is stored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from app.audit.records import canonical_json, format_time


def entry_hash(entry: Any) -> str:
    """SHA-256 over every field of an entry (a `Change` row or one with its attributes)."""
    content = {
        "sequence": entry.sequence,
        "occurred_at": format_time(entry.occurred_at),
        "actor_name": entry.actor_name,
        "actor_role": entry.actor_role,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "initiative_id": entry.initiative_id,
        "operation": entry.operation,
        "before": entry.before,
        "after": entry.after,
        "reason": entry.reason,
        "previous_hash": entry.previous_hash,
    }
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first entry where the chain does not hold, and why."""

    sequence: int
    problem: str


def check_entry(entry: Any, expected_sequence: int, previous_hash: str) -> Break | None:
    """Whether `entry` follows an intact chain that ended at `previous_hash`."""
    if entry.sequence != expected_sequence:
        return Break(
            expected_sequence,
            f"entry {expected_sequence} is missing (the next stored is {entry.sequence})",
        )
    if entry.previous_hash != previous_hash:
        return Break(entry.sequence, "its previous hash does not match the entry before it")
    if entry_hash(entry) != entry.hash:
        return Break(entry.sequence, "its content does not match its hash")
    return None
