"""The key a file names a stored record by, when the record has no ref.

Budget lines, transactions and milestones written through the API or by the generator
have no ref. A file of the ledger (its IATI export, its backup) still has to name
them, and an import of that file into the same ledger has to find them again, or a
round trip would double them. Such a record is named by its id: `line-{id}`,
`transaction-{id}`, `milestone-{id}`. The importer finds a key first among the refs of
the initiative's records, then among these names of its records without a ref; a
record found by its id keeps having no ref.

Imported into another ledger, the key names no record there (or, by chance, one
without a ref whose id it is: the same initiative code, the same id); a new record is
created with the key as its ref, and the next import of the file finds it by that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

LINE = "line"
TRANSACTION = "transaction"
MILESTONE = "milestone"


def file_key(kind: str, ref: str | None, record_id: int) -> str:
    """The record's key in a file: its ref, else its id as `{kind}-{id}`."""
    return ref if ref else f"{kind}-{record_id}"


def by_file_key(kind: str, records: Iterable[Any]) -> dict[tuple[int, str], Any]:
    """Records (with `id`, `initiative_id`, `ref`) by (initiative, key in a file). A ref
    wins over the same spelling of another record's id: refs are listed last."""
    records = list(records)
    found = {(r.initiative_id, file_key(kind, None, int(r.id))): r for r in records if not r.ref}
    found.update({(r.initiative_id, r.ref): r for r in records if r.ref})
    return found
