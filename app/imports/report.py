"""What an import did, or would do: row by row, each refused row with its place in the
file and a stable code. The same report comes from a dry run, a refused import and a
written one; the CLI prints it as text, the upload answers it as JSON."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from app.errors import ErrorCode
from app.imports.document import FORMAT

# A report lists at most this many rows and this many problems; it counts the rest.
MAX_LISTED = 1000

LEFT_ALONE = (
    "records the file does not name are left as they are: an import creates and "
    "changes, it never deletes"
)


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Problem:
    # Where in the file: "initiatives[3].transactions[17].amount"; "" for the whole file.
    place: str
    code: ErrorCode
    message: str

    def as_json(self) -> dict[str, str]:
        return {"place": self.place, "code": self.code.value, "message": self.message}


@dataclass(frozen=True)
class RowChange:
    place: str
    kind: str
    key: str
    action: Action
    # The changed fields of an update, as the file names them.
    fields: tuple[str, ...] = ()
    # What else a reader of the report should know of the row (a create whose key an
    # archived record had: app/imports/archived.py).
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "place": self.place,
            "kind": self.kind,
            "key": self.key,
            "action": self.action.value,
        }
        if self.fields:
            found["fields"] = list(self.fields)
        if self.note:
            found["note"] = self.note
        return found


@dataclass
class Report:
    dry_run: bool
    written: bool = False
    counts: dict[str, Counter[Action]] = field(default_factory=lambda: defaultdict(Counter))
    rows: list[RowChange] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    omitted_rows: int = 0
    omitted_problems: int = 0
    # What the file's reader could not map into the document (an IATI file's extras).
    notes: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return bool(self.problems) or self.omitted_problems > 0

    @property
    def changes(self) -> int:
        return sum(c[Action.CREATE] + c[Action.UPDATE] for c in self.counts.values())

    def count(self, kind: str, action: Action, n: int = 1) -> None:
        if n:
            self.counts[kind][action] += n

    @property
    def listing(self) -> bool:
        """Whether the next row is listed (else only counted)."""
        return len(self.rows) < MAX_LISTED

    def unlisted(self, kind: str, action: Action) -> None:
        """A row counted, past the rows a report lists."""
        self.counts[kind][action] += 1
        self.omitted_rows += 1

    def row(self, change: RowChange) -> None:
        self.count(change.kind, change.action)
        if len(self.rows) < MAX_LISTED:
            self.rows.append(change)
        else:
            self.omitted_rows += 1

    def problem(self, place: str, code: ErrorCode, message: str) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(Problem(place, code, message))
        else:
            self.omitted_problems += 1

    def refuse(self, place: str, kind: str, key: str, problems: list[Problem]) -> None:
        """A row refused for these problems (at least one)."""
        self.count(kind, Action.REFUSE)
        for found in problems:
            self.problem(found.place, found.code, found.message)

    def absorb(self, other: Report, prefix: str) -> None:
        """Add the report of one document of a list, its places under `prefix`."""
        for kind, counts in other.counts.items():
            self.counts[kind].update(counts)
        for row in other.rows:
            place = f"{prefix}.{row.place}" if row.place else prefix
            if len(self.rows) < MAX_LISTED:
                self.rows.append(replace(row, place=place))
            else:
                self.omitted_rows += 1
        self.omitted_rows += other.omitted_rows
        for problem in other.problems:
            self.problem(
                f"{prefix}.{problem.place}" if problem.place else prefix,
                problem.code,
                problem.message,
            )
        self.omitted_problems += other.omitted_problems

    def relocate(self, where: Callable[[str], str]) -> None:
        """Tell every place as the file has it (a sheet's row, not a document's path)."""
        self.rows = [replace(row, place=where(row.place)) for row in self.rows]
        self.problems = [replace(found, place=where(found.place)) for found in self.problems]

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "dryRun": self.dry_run,
            "written": self.written,
            "refused": self.refused,
            "summary": {
                kind: {action.value: counts[action] for action in Action}
                for kind, counts in self.counts.items()
            },
            "rows": [row.as_json() for row in self.rows],
            "omittedRows": self.omitted_rows,
            "errors": [problem.as_json() for problem in self.problems],
            "omittedErrors": self.omitted_problems,
            "notes": self.notes,
            "note": LEFT_ALONE,
        }

    def lines(self) -> Iterator[str]:
        """The report for people, one line each."""
        for problem in self.problems:
            yield f"refused {problem.place or '(file)'}: {problem.code.value}: {problem.message}"
        if self.omitted_problems:
            yield f"... and {self.omitted_problems} more problems"
        for row in self.rows:
            fields = f" ({', '.join(row.fields)})" if row.fields else ""
            note = f": {row.note}" if row.note else ""
            yield f"{row.action.value} {row.place} {row.kind} {row.key}{fields}{note}"
        if self.omitted_rows:
            yield f"... and {self.omitted_rows} more rows"
        for kind, counts in self.counts.items():
            done = ", ".join(f"{counts[a]} {a.value}" for a in Action if counts[a])
            yield f"{kind}: {done}"
        if self.refused:
            yield "nothing was written: the file has refused rows"
        elif self.dry_run:
            yield f"dry run: nothing was written ({self.changes} rows would be)"
        else:
            yield f"written: {self.changes} rows" if self.changes else "nothing to write"
        for note in self.notes:
            yield f"not read: {note}"
        yield f"note: {LEFT_ALONE}"
