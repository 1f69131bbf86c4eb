"""A file's bytes into a `Document`, within limits; what is wrong is a list of problems
located in the file ("initiatives[3].transactions[17].amount"), never an exception.

JSON or YAML: JSON when the whole file reads as JSON, else YAML (a YAML stream may begin
with a flow mapping, "{", as JSON does). A
backup of several programmes is a JSON array of documents or a YAML stream of them
(`---` between documents); its problems are placed as "documents[1].initiatives[0]". YAML
anchors and aliases are refused: an alias repeats a subtree without its bytes, so a
small file could stand for an enormous one. Rows are counted per kind before the
models validate anything, so an oversized file costs one pass over its structure.

A key written twice in one mapping (object) is refused where it is: YAML and JSON
readers keep the last silently, which would drop a whole list for a second
`initiatives:`. YAML tags (`!!binary`, `!!set`, `!!timestamp`, ...) are refused where they
are: the format holds text, numbers, booleans, lists and mappings. A date or time
written plain in YAML stays its text, so that the document's fields read it (or refuse
it, 2024-02-30 or a date and time where a date is due, by place) as they read JSON's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
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
# The one tag a value may carry: `!!str`, which says what quotes say (and `!`, which says
# nothing).
_PLAIN_TAGS = (None, "!", "tag:yaml.org,2002:str")
_ALIASES = "YAML anchors and aliases are not read ({}): write each record out"
_DOCUMENTS = f"a list holds 1 to {MAX_DOCUMENTS} documents"
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


def too_large(size: int, max_bytes: int) -> Read | None:
    """The refusal of a file of `size` bytes, when it has more than are read."""
    if size <= max_bytes:
        return None
    return _refused(
        ErrorCode.DOCUMENT_TOO_LARGE, f"the file has {size} bytes; at most {max_bytes} are read"
    )


def read_document(data: bytes, max_bytes: int = MAX_FILE_BYTES) -> Read:
    refused = too_large(len(data), max_bytes)
    if refused is not None:
        return refused
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return _refused(ErrorCode.DOCUMENT_INVALID, f"not UTF-8 text (byte {error.start})")
    try:
        raw = _parse(text)
    except _Unreadable as error:
        return Read(problems=[Problem(error.where, ErrorCode.DOCUMENT_INVALID, str(error))])
    return read_parsed(raw)


def read_parsed(raw: Any) -> Read:
    """The documents of a parsed file (one mapping, or a list of them), or their problems
    by place; another format's reader (app/iati/reader.py) hands its mapped documents
    here, so that they are held to the same limits and checks without a detour through
    text."""
    raws = raw if isinstance(raw, list) else [raw]
    if not raws or len(raws) > MAX_DOCUMENTS:
        return _refused(ErrorCode.DOCUMENT_INVALID, _DOCUMENTS)
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
    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.where = where


def _parse(text: str) -> Any:
    """JSON when the whole file is JSON, else YAML. Only a file that begins as JSON does
    (with "{" or "[") is tried as JSON first: a YAML stream may begin with a flow
    mapping ("{format: ...}" or JSON's own spelling, then "---"), which JSON's reader
    refuses after its first document. Each reader makes one pass over the text."""
    if text.lstrip()[:1] not in ("{", "["):
        return _parse_yaml(text)
    try:
        return _parse_json(text)
    except _NotJson as not_json:
        try:
            return _parse_yaml(text)
        except _NotYaml as not_yaml:  # neither: what each reader says
            raise _Unreadable(f"{not_json}; {not_yaml}") from None


def _parse_yaml(text: str) -> Any:
    try:
        _check_yaml_events(text)
        found = list(yaml.load_all(text, Loader=_Loader))
        # One document, or a stream of them (a backup of several programmes).
        return found[0] if len(found) == 1 else found
    except yaml.YAMLError as error:
        raise _NotYaml(f"not YAML: {error}") from None


class _NotJson(_Unreadable):
    """The text is no JSON at all (it may still be YAML)."""


class _NotYaml(_Unreadable):
    """The text is no YAML at all (what YAML is refused for is another _Unreadable)."""


def _parse_json(text: str) -> Any:
    twice: list[tuple[dict[str, Any], str]] = []

    def mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        built = dict(pairs)
        if len(built) < len(pairs):
            twice.append((built, _repeated(key for key, _ in pairs)))
        return built

    try:
        raw = json.loads(text, object_pairs_hook=mapping)
    except RecursionError:
        raise _Unreadable(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:
        raise _NotJson(f"not JSON: {error}") from None
    # Depth: JSON the format can hold is shallow; the models refuse the rest.
    if twice:
        built, key = twice[0]
        raise _Unreadable(
            f"the key {key!r} is written twice in one object; write it once",
            _document_place(raw, _where_in(raw, built)),
        )
    return raw


def _repeated(keys: Iterable[str]) -> str:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    return ""  # pragma: no cover - called only when a key repeats


def _where_in(raw: Any, wanted: dict[str, Any]) -> list[int | str]:
    """The place of the object `wanted` in the parsed `raw` (a walk without recursion)."""
    stack: list[tuple[Any, list[int | str]]] = [(raw, [])]
    while stack:
        value, at = stack.pop()
        if value is wanted:
            return at
        if isinstance(value, dict):
            stack.extend((child, [*at, key]) for key, child in value.items())
        elif isinstance(value, list):
            stack.extend((child, [*at, i]) for i, child in enumerate(value))
    return []  # pragma: no cover - `wanted` was built by the parse of `raw`


def _document_place(raw: Any, at: list[int | str]) -> str:
    """A place in a JSON file of one document or a list of them, told as `read_document`
    tells the models' places ("documents[1]..." when the list has more than one)."""
    if isinstance(raw, list) and at:
        rest = place(at[1:])
        return _within(f"documents[{at[0]}]", rest) if len(raw) > 1 else rest
    return place(at)


class _Loader(_SAFE_LOADER):  # type: ignore[misc]
    """PyYAML's safe loader (it builds no objects but YAML's plain kinds), building the
    format's values: a date or a time written plain stays its text (PyYAML's own reading
    raises on 2024-02-30, and gives a datetime where a date is due), as does a plain word
    YAML takes for a number but that is none ("0x_" for int("", 16)). Tags are refused
    before anything is built (`_check_yaml_events`), so no other kind reaches it."""


def _text(loader: Any, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


def _number_or_text(build: Callable[[Any, yaml.ScalarNode], Any]) -> Callable[..., Any]:
    def construct(loader: Any, node: yaml.ScalarNode) -> Any:
        try:
            return build(loader, node)
        except ValueError:
            return _text(loader, node)

    return construct


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _text)
# "=" alone: YAML 1.1's default-value key, which PyYAML cannot build.
_Loader.add_constructor("tag:yaml.org,2002:value", _text)
_Loader.add_constructor(
    "tag:yaml.org,2002:int", _number_or_text(yaml.SafeLoader.construct_yaml_int)
)
_Loader.add_constructor(
    "tag:yaml.org,2002:float", _number_or_text(yaml.SafeLoader.construct_yaml_float)
)


@dataclass
class _Level:
    """An open mapping or list of a YAML document, and the key or index of its node being
    read (the place of what is refused)."""

    mapping: bool
    # A mapping's keys read so far, each with its event (where it is written).
    keys: dict[str, Any] = field(default_factory=dict)
    at: int | str = -1
    wants_key: bool = True


def _check_yaml_events(text: str) -> None:
    """Refuse aliases, tags, keys written twice, deep nesting and a stream of more than
    MAX_DOCUMENTS documents before anything is built (one pass over the events, each set
    of keys held while its mapping is open; a long stream is left at its first document
    too many)."""
    events = iter(yaml.parse(text, Loader=_SAFE_LOADER))
    levels: list[_Level] = []
    documents = 0
    try:
        for event in events:
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > MAX_DOCUMENTS:
                    break
            elif isinstance(event, yaml.CollectionEndEvent):
                levels.pop()
            elif isinstance(event, yaml.NodeEvent):
                _check_node(event, levels)
    except _Unreadable as error:
        # Places name the document when the stream has more than one.
        if documents > 1 or _more_documents(events):
            error.where = _within(f"documents[{documents - 1}]", error.where)
        raise
    if documents > MAX_DOCUMENTS:
        raise _Unreadable(_DOCUMENTS)


def _more_documents(events: Iterator[Any]) -> bool:
    try:
        return any(isinstance(event, yaml.DocumentStartEvent) for event in events)
    except yaml.YAMLError:
        return False  # the rest is no YAML; what was refused is said first


def _check_node(event: Any, levels: list[_Level]) -> None:
    parent = levels[-1] if levels else None
    if parent is not None and parent.mapping and parent.wants_key:
        _check_key(event, parent, levels)
        return
    if parent is not None:
        if parent.mapping:
            parent.wants_key = True
        else:
            assert isinstance(parent.at, int)
            parent.at += 1
    if isinstance(event, yaml.AliasEvent) or event.anchor:
        raise _Unreadable(_ALIASES.format(_line(event)), _place_of(levels))
    if event.tag not in _PLAIN_TAGS:
        raise _Unreadable(
            f"YAML tags are not read ({event.tag} at {_line(event)}): write the value plain "
            "or quoted",
            _place_of(levels),
        )
    if isinstance(event, yaml.CollectionStartEvent):
        if len(levels) >= MAX_DEPTH:
            raise _Unreadable(f"YAML nested deeper than {MAX_DEPTH} levels ({_line(event)})")
        levels.append(_Level(isinstance(event, yaml.MappingStartEvent)))


def _check_key(event: Any, mapping: _Level, levels: list[_Level]) -> None:
    """A key of the open mapping `levels[-1]`: a plain word, once."""
    if isinstance(event, yaml.AliasEvent) or event.anchor:
        raise _Unreadable(_ALIASES.format(_line(event)), _place_of(levels[:-1]))
    if not isinstance(event, yaml.ScalarEvent) or event.tag not in _PLAIN_TAGS:
        raise _Unreadable(f"a key is a plain word ({_line(event)})", _place_of(levels[:-1]))
    key = event.value
    if key == "<<" and event.implicit[0]:
        raise _Unreadable(
            f"YAML merge keys (<<) are not read ({_line(event)})", _place_of(levels[:-1])
        )
    if key in mapping.keys:
        first, line = _line_number(mapping.keys[key]), _line_number(event)
        lines = f"line {line}" if line == first else f"lines {first} and {line}"
        raise _Unreadable(
            f"the key {key!r} is written twice in one mapping ({lines}); write it once",
            _place_of(levels[:-1]),
        )
    mapping.keys[key] = event
    mapping.at = key
    mapping.wants_key = False


def _place_of(levels: list[_Level]) -> str:
    return place(level.at for level in levels)


def _line_number(event: Any) -> int:
    mark = event.start_mark
    return 0 if mark is None else int(mark.line) + 1


def _line(event: Any) -> str:
    return f"line {_line_number(event)}"


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
