"""A file's bytes into a `Document`, within limits; what is wrong is a list of problems
located in the file ("initiatives[3].transactions[17].amount"), never an exception.

JSON or YAML, told apart by the first character (a JSON document is an object). A
backup of several programmes is a JSON array of documents or a YAML stream of them
(`---` between documents); its problems are placed as "documents[1].initiatives[0]". YAML
anchors and aliases are refused: an alias repeats a subtree without its bytes, so a
small file could stand for an enormous one. Rows are counted per kind before the
models validate anything, so an oversized file costs one pass over its structure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from app.errors import ErrorCode
from app.imports.document import MAX_ROWS, Document
from app.imports.report import MAX_LISTED, Problem

# The largest file the command line reads (an upload's cap is MAX_BODY_BYTES).
MAX_FILE_BYTES = 512 * 1024 * 1024
# The format nests six levels (document, initiatives, a list, a record, a citation
# list, a citation); YAML and JSON deeper than this are no document of it.
MAX_DEPTH = 12
# The most documents one backup (a list of them) may hold: programmes of one ledger.
MAX_DOCUMENTS = 1000

_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NESTED = ("participants", "budget_lines", "transactions", "milestones", "beneficiaries", "shares")


@dataclass
class Read:
    document: Document | None = None
    problems: list[Problem] = field(default_factory=list)
    # What a reader of another format could not map (app/iati/reader.py): said, not dropped.
    notes: list[str] = field(default_factory=list)
    # The documents after the first of a backup's list (app/imports/apply.py imports
    # them all in one transaction).
    more: list[Document] = field(default_factory=list)
    # How the importer's places in the document ("initiatives[0].transactions[3]") are
    # told in the file, when the file is not laid out as the document (app/imports/tables.py:
    # a sheet or CSV file holds one document, never a list).
    locate: Callable[[str], str] | None = None

    @property
    def documents(self) -> list[Document]:
        return [] if self.document is None else [self.document, *self.more]


def place(loc: Iterable[int | str]) -> str:
    """("initiatives", 3, "amount") as "initiatives[3].amount"."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def read_document(data: bytes, max_bytes: int = MAX_FILE_BYTES) -> Read:
    if len(data) > max_bytes:
        return _refused(
            ErrorCode.DOCUMENT_TOO_LARGE,
            f"the file has {len(data)} bytes; at most {max_bytes} are read",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return _refused(ErrorCode.DOCUMENT_INVALID, f"not UTF-8 text (byte {error.start})")
    try:
        raw = _parse(text)
    except _Unreadable as error:
        return _refused(ErrorCode.DOCUMENT_INVALID, str(error))
    raws = raw if isinstance(raw, list) else [raw]
    if not raws or len(raws) > MAX_DOCUMENTS:
        return _refused(ErrorCode.DOCUMENT_INVALID, f"a list holds 1 to {MAX_DOCUMENTS} documents")
    documents: list[Document] = []
    problems: list[Problem] = []
    for i, one in enumerate(raws):
        prefix = f"documents[{i}]" if len(raws) > 1 else ""
        if not isinstance(one, dict):
            problems.append(
                Problem(prefix, ErrorCode.DOCUMENT_INVALID, "a document is a mapping (an object)")
            )
            continue
        read = read_mapping(one)
        if read.document is not None:
            documents.append(read.document)
        problems.extend(Problem(_within(prefix, p.place), p.code, p.message) for p in read.problems)
    if problems:
        return Read(problems=problems[:MAX_LISTED])
    return Read(document=documents[0], more=documents[1:])


def read_mapping(raw: dict[str, Any]) -> Read:
    """The document a mapping of the format's shape holds (a parsed file's, or one put
    together from another format's parts), or its problems by place."""
    too_many = _too_many(raw)
    if too_many:
        return Read(problems=too_many)
    try:
        return Read(document=Document.model_validate(raw))
    except ValidationError as error:
        return Read(problems=_problems(error))


def _within(prefix: str, where: str) -> str:
    if not prefix:
        return where
    return f"{prefix}.{where}" if where else prefix


class _Unreadable(Exception):
    pass


def _parse(text: str) -> Any:
    if text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except RecursionError:
            raise _Unreadable(f"JSON nested deeper than {MAX_DEPTH} levels") from None
        except ValueError as error:
            raise _Unreadable(f"not JSON: {error}") from None
        # Depth: JSON the format can hold is shallow; the models refuse the rest.
    try:
        _check_yaml_events(text)
        found = list(yaml.load_all(text, Loader=_SAFE_LOADER))
        # One document, or a stream of them (a backup of several programmes).
        return found[0] if len(found) == 1 else found
    except yaml.YAMLError as error:
        raise _Unreadable(f"not YAML: {error}") from None


def _check_yaml_events(text: str) -> None:
    """Refuse aliases and deep nesting before anything is built (one pass over events)."""
    depth = 0
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Unreadable(
                f"YAML anchors and aliases are not read ({_line(event)}): write each record out"
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Unreadable(f"YAML nested deeper than {MAX_DEPTH} levels ({_line(event)})")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _line(event: Any) -> str:
    mark = event.start_mark
    return "" if mark is None else f"line {mark.line + 1}"


def _length(value: Any) -> int:
    return len(value) if isinstance(value, list) else 0


def _cites(record: Any) -> int:
    return _length(record.get("cite")) if isinstance(record, dict) else 0


def _too_many(raw: dict[str, Any]) -> list[Problem]:
    """Rows per kind over MAX_ROWS, counted on the raw structure (linear in its size)."""
    counts: dict[str, int] = {}
    cites = _cites(raw.get("program"))
    for kind in ("sources", "organizations", "exchange_rates", "beneficiary_groups"):
        rows = raw.get(kind)
        counts[kind] = _length(rows)
        cites += sum(_cites(row) for row in rows) if isinstance(rows, list) else 0
    initiatives = raw.get("initiatives")
    initiatives = initiatives if isinstance(initiatives, list) else []
    counts["initiatives"] = len(initiatives)
    for initiative in initiatives:
        if not isinstance(initiative, dict):
            continue
        cites += _cites(initiative)
        for kind in _NESTED:
            rows = initiative.get(kind)
            counts[kind] = counts.get(kind, 0) + _length(rows)
            if isinstance(rows, list):
                cites += sum(_cites(row) for row in rows)
    counts["cite"] = cites
    return [
        Problem(
            kind,
            ErrorCode.DOCUMENT_TOO_LARGE,
            f"the file has {count} rows of {kind}; at most {MAX_ROWS[kind]} are imported at once",
        )
        for kind, count in counts.items()
        if count > MAX_ROWS[kind]
    ]


def _problems(error: ValidationError) -> list[Problem]:
    found = []
    for detail in error.errors(include_url=False)[:MAX_LISTED]:
        where = place(detail["loc"])
        code = ErrorCode.DOCUMENT_INVALID if where == "format" else ErrorCode.VALIDATION
        message = detail["msg"].removeprefix("Value error, ")
        found.append(Problem(where, code, message))
    return found


def _refused(code: ErrorCode, message: str) -> Read:
    return Read(problems=[Problem("", code, message)])
