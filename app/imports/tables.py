"""Tables of rows (a workbook's sheets, a folder's CSV files) put together as a ledger
document (app/imports/document.py), so that they are checked and imported as any
document is: this module only places rows, it judges no value.

The layout, one table per record kind (`LAYOUT`): a table's first row names its
columns, as the document names its fields; every further row is one record. A column
left out of a table is a field left out of the document: a stored record keeps its
value. An empty cell of a column that is there says "no value" (`EMPTY`): it clears an
optional field (null, as in YAML), sets a field with a default back to it (a figure's
qualifier: exact; a citation's estimate flag: no), and leaves a required field out, so
the document refuses the row at that cell.

Rows of an initiative's records (participants, budget lines …) name their initiative
in an `initiative` column; the programme's pledge is two columns, `pledged_amount`
and `pledged_currency`; citations are a table of their own,
each row naming the record it cites by kind and key (`CITED`).

Every record's place in the document is remembered with its table and row, so that
what the document's checks and the importer say about "initiatives[0].transactions[3]
.amount" is told as "sheet transactions, row 5, column amount" (`Origins.locate`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import Any, get_args

from pydantic import BaseModel

from app.errors import ErrorCode
from app.imports import document as d
from app.imports.reader import Read, read_mapping
from app.imports.report import Problem

# A cell holds at most this many characters (Excel's own limit for a cell).
MAX_CELL = 32_767
# A table has at most this many columns (the widest record has 14 fields).
MAX_COLUMNS = 64

_NESTED = ("participants", "budget_lines", "transactions", "milestones", "beneficiaries", "shares")
_MODELS: dict[str, type[BaseModel]] = {
    "program": d.Program,
    "sources": d.Source,
    "organizations": d.Organization,
    "exchange_rates": d.ExchangeRate,
    "beneficiary_groups": d.BeneficiaryGroup,
    "initiatives": d.Initiative,
    "participants": d.Participant,
    "budget_lines": d.BudgetLine,
    "transactions": d.Transaction,
    "milestones": d.Milestone,
    "beneficiaries": d.BeneficiaryFigure,
    "shares": d.Share,
    "citations": d.Cite,
}
# The columns of the citations table that find the record cited; the others are the
# citation's own fields.
CITATION_KEYS = ("record", "initiative", "key", "unit")
# The record kinds a citation may name, and what its `key` is for each.
CITED = {
    "program": "none: leave it empty",
    "organizations": "the organisation's ref",
    "exchange_rates": "base/quote/rate_date, e.g. EUR/USD/2026-01-01",
    "beneficiary_groups": "the group's code",
    "initiatives": "the initiative's code",
    "budget_lines": "the line's ref (and its initiative)",
    "transactions": "the transaction's ref (and its initiative)",
    "milestones": "the milestone's ref (and its initiative)",
    "beneficiaries": "the figure's group code (and its initiative and unit)",
}
# The most rows a table may have, by its kind (the document's own limits).
ROW_LIMITS = {kind: d.MAX_ROWS.get(kind, 0) for kind in _MODELS} | {
    "program": 1,
    "citations": d.MAX_ROWS["cite"],
}


# A figure's approval and draft, which a backup (YAML or JSON) carries: no columns of a
# sheet (a draft is a record of its own; a cell's time has no timezone).
_BACKUP_ONLY = ("approved_by", "approved_at", "draft")


def _columns(kind: str) -> tuple[str, ...]:
    names = [
        n
        for n in _MODELS[kind].model_fields
        if n != "cite" and n not in _NESTED and n not in _BACKUP_ONLY
    ]
    if kind == "program":
        at = names.index("pledged")
        names[at : at + 1] = ["pledged_amount", "pledged_currency"]
    if kind == "citations":
        names = [*CITATION_KEYS, *names]
    if kind in _NESTED:
        names = ["initiative", *names]
    return tuple(names)


# Each table's columns, in the order a template lists them (and the tables, in the
# order a workbook has them: what a row names comes before it).
LAYOUT: dict[str, tuple[str, ...]] = {kind: _columns(kind) for kind in _MODELS}


def _is_percentage(model: type[BaseModel], name: str) -> bool:
    info = model.model_fields.get(name)
    if info is None:
        return False
    # A required field keeps its marks in `metadata`; an optional one (X | None) in
    # its annotation's members.
    marks = [*info.metadata]
    for member in get_args(info.annotation):
        marks += getattr(member, "__metadata__", ())
    return any(mark is d.PERCENTAGE for mark in marks)


# Each table's columns whose field is a percentage (document.PercentText: a share's
# percentage): a workbook's cell formatted as a percentage is read as the number it
# shows there, and refused in every other column (app/imports/cells.py).
PERCENTAGES: dict[str, frozenset[str]] = {
    kind: frozenset(name for name in LAYOUT[kind] if _is_percentage(_MODELS[kind], name))
    for kind in _MODELS
}


class Empty(Enum):
    """What an empty cell does to its field (see the module's notes)."""

    CLEARS = "clears"  # null: an optional field
    DEFAULT = "default"  # back to the field's default
    REFUSED = "refused"  # left out: the document says the field is required
    KEPT = "kept"  # None, read by the table's own columns (initiative, citation keys)


def _empty(model: type[BaseModel], name: str) -> tuple[Empty, Any]:
    info = model.model_fields.get(name)
    if info is None:
        return Empty.KEPT, None
    if info.is_required():
        return Empty.REFUSED, None
    default = info.get_default(call_default_factory=True)
    return (Empty.CLEARS, None) if default is None else (Empty.DEFAULT, default)


def _empty_cells(kind: str) -> dict[str, tuple[Empty, Any]]:
    found = {}
    for name in LAYOUT[kind]:
        if kind == "program" and name.startswith("pledged_"):
            found[name] = _empty(d.Pledge, name.removeprefix("pledged_"))
        else:
            found[name] = _empty(_MODELS[kind], name)
    return found


# Each table's columns: what an empty cell of it does.
EMPTY: dict[str, dict[str, tuple[Empty, Any]]] = {kind: _empty_cells(kind) for kind in LAYOUT}


def emptied(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """The row with its empty cells (None) as the document takes them; an empty cell of
    a column the layout lacks says nothing and is dropped (a filled one is refused)."""
    rules = EMPTY[kind]
    for name in [name for name, value in row.items() if value is None]:
        what, default = rules.get(name, (Empty.REFUSED, None))
        if what is Empty.REFUSED:
            del row[name]
        elif what is Empty.DEFAULT:
            row[name] = default
    return row


@dataclass
class Table:
    """One sheet or CSV file: its kind, how the report names it ("sheet transactions",
    "transactions.csv") and its rows by their number in the file (the header is 1)."""

    kind: str
    label: str
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def cell_place(label: str, row: int, column: str | None = None) -> str:
    return f"{label}, row {row}" + (f", column {column}" if column else "")


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass
class Origins:
    """Where each record of the document came from: its path in the document
    ("initiatives", 0, "transactions", 3) → its table's label and row."""

    rows: dict[tuple[str | int, ...], tuple[str, int]] = field(default_factory=dict)

    def locate(self, place: str) -> str:
        """A place in the document ("initiatives[0].transactions[3].amount") as a place
        in the tables ("sheet transactions, row 5, column amount"); a place of no row
        ("program" of a workbook without one) stays as it is."""
        path: tuple[str | int, ...] = tuple(
            int(index) if index else name for name, index in _PART.findall(place)
        )
        for end in range(len(path), 0, -1):
            found = self.rows.get(path[:end])
            if found is not None:
                rest = "_".join(str(part) for part in path[end:])
                return cell_place(*found, "pledged_amount" if rest == "pledged" else rest)
        return place


class _Problems(list[Problem]):
    # Every problem is kept: the report lists MAX_LISTED and counts the rest.
    def add(self, place: str, code: ErrorCode, message: str) -> None:
        self.append(Problem(place, code, message))


def _text(value: Any) -> str:
    if value is None:  # an empty cell
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


class _Assembly:
    def __init__(self) -> None:
        self.raw: dict[str, Any] = {"format": d.FORMAT}
        self.origins = Origins()
        self.problems = _Problems()
        self.initiatives: dict[str, tuple[dict[str, Any], int]] = {}
        # (kind, initiative code, key) → the record a citation of it is added to, and
        # its path; the first row of a key wins (the importer refuses the second).
        self.cited: dict[tuple[str, str, str], tuple[dict[str, Any], tuple[str | int, ...]]] = {}

    def record(self, kind: str, label: str, number: int, row: dict[str, Any]) -> None:
        if kind == "program":
            pledged = {
                name: row.pop(f"pledged_{name}")
                for name in ("amount", "currency")
                if f"pledged_{name}" in row
            }
            if pledged:
                row["pledged"] = pledged
            self.raw["program"] = row
            self.origins.rows[("program",)] = (label, number)
            self.cited[("program", "", "")] = (row, ("program",))
            return
        if kind in _NESTED:
            self.nested(kind, label, number, row)
            return
        rows = self.raw.setdefault(kind, [])
        path: tuple[str | int, ...] = (kind, len(rows))
        rows.append(row)
        self.origins.rows[path] = (label, number)
        if kind == "initiatives":
            self.initiatives.setdefault(_text(row.get("code", "")), (row, len(rows) - 1))
        if kind in CITED:
            key = _key_of(kind, row)
            self.cited.setdefault((kind, "", key), (row, path))

    def nested(self, kind: str, label: str, number: int, row: dict[str, Any]) -> None:
        code = row.pop("initiative", None)
        if code is None:
            self.problems.add(
                cell_place(label, number, "initiative"),
                ErrorCode.VALIDATION,
                "names the code of the initiative the row belongs to: required",
            )
            return
        found = self.initiatives.get(_text(code))
        if found is None:
            self.problems.add(
                cell_place(label, number, "initiative"),
                ErrorCode.NOT_FOUND,
                f"no row of the initiatives table has the code {_text(code)!r}",
            )
            return
        initiative, n = found
        rows = initiative.setdefault(kind, [])
        path: tuple[str | int, ...] = ("initiatives", n, kind, len(rows))
        rows.append(row)
        self.origins.rows[path] = (label, number)
        if kind in CITED:
            self.cited.setdefault((kind, _text(code), _key_of(kind, row)), (row, path))

    def citation(self, label: str, number: int, row: dict[str, Any]) -> None:
        kind = _text(row.pop("record", "")).strip().lower()
        where = (_text(row.pop("initiative", "")), _text(row.pop("key", "")))
        unit = row.pop("unit", None)
        if kind not in CITED:
            self.problems.add(
                cell_place(label, number, "record"),
                ErrorCode.VALIDATION,
                f"names the table of the record cited, one of {', '.join(CITED)}",
            )
            return
        initiative, key = where if kind in _NESTED else ("", where[1])
        if kind == "beneficiaries":
            key = f"{key}\n{'' if unit is None else _text(unit)}"
        if kind == "program":
            key = ""
        found = self.cited.get((kind, initiative, key))
        if found is None:
            self.problems.add(
                cell_place(label, number, "key"),
                ErrorCode.NOT_FOUND,
                f"no row of the {kind} table has this key ({CITED[kind]})",
            )
            return
        record, path = found
        cites = record.setdefault("cite", [])
        self.origins.rows[(*path, "cite", len(cites))] = (label, number)
        cites.append(row)


def _key_of(kind: str, row: dict[str, Any]) -> str:
    if kind == "exchange_rates":
        return "/".join(_text(row.get(name, "")) for name in ("base", "quote", "rate_date"))
    if kind == "beneficiaries":
        return f"{_text(row.get('group', ''))}\n{_text(row.get('unit', ''))}"
    name = "code" if kind in ("initiatives", "beneficiary_groups") else "ref"
    return _text(row.get(name, ""))


def assemble(tables: Iterable[Table]) -> Read:
    """The document the tables make, checked as any document is, its problems told by
    table, row and column; `locate` of the answer tells the importer's so too."""
    by_kind: dict[str, Table] = {}
    problems = _Problems()
    for table in tables:
        if table.kind in by_kind:
            problems.add(
                table.label,
                ErrorCode.DOCUMENT_INVALID,
                f"a second table of {table.kind} (the first is {by_kind[table.kind].label})",
            )
        by_kind.setdefault(table.kind, table)
    if "program" not in by_kind or not by_kind["program"].rows:
        problems.add(
            "program",
            ErrorCode.DOCUMENT_INVALID,
            "no programme: a program sheet (program.csv) with its header and one row is required",
        )
    if problems:
        return Read(problems=problems)
    assembly = _Assembly()
    for kind in LAYOUT:
        found = by_kind.get(kind)
        if found is None:
            continue
        for number, row in found.rows:
            emptied(kind, row)
            if kind == "citations":
                assembly.citation(found.label, number, row)
            else:
                assembly.record(kind, found.label, number, row)
    if assembly.problems:
        return Read(problems=assembly.problems)
    read = read_mapping(assembly.raw)
    locate = assembly.origins.locate
    read.problems = [Problem(locate(p.place), p.code, p.message) for p in read.problems]
    read.locate = locate
    return read
