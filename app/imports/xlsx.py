"""The sheets of an xlsx workbook, row by row, as the values their cells last showed.

An xlsx file is a zip of XML parts: xl/workbook.xml names the sheets (in order) and,
through xl/_rels/workbook.xml.rels, the part holding each; a shared strings part holds
the text cells point to by number; xl/styles.xml says which cell styles show a number
as a date or a percentage. Each sheet's XML is streamed (the standard library's parser
and its start and end events, one <row> at a time, each element emptied and dropped
once read), so reading takes time in proportion to the rows, and memory in proportion
to the widest row, with no object of ours per cell.

The values are those openpyxl's read-only, values-only mode gives (this replaced it,
as it was ten times slower; openpyxl still decides which number formats are dates and
turns serial numbers into dates, in the 1900 or 1904 date system the workbook says):
- a number cell is an int when its text has no point or exponent, else a float; one
  whose style is a percentage format (a "%" that is not quoted or escaped: "0%",
  "0.00%") is that number in a PercentCell (openpyxl gave the number); one whose style
  is a date format is a datetime (a date with a time of midnight), a time
  of day below 1, or a duration for an elapsed-time format ([h]:mm); one whose date
  is out of range reads as the text "#VALUE!";
- a text cell (shared, inline or a formula's text result) is its text; a boolean cell
  True or False; an ISO date cell (t="d") a date, time or datetime; an error cell its
  text ("#DIV/0!") in an ErrorCell (openpyxl gave the text); a cell of another type its
  text as written;
- a cell with no value is None, and so is a cell the row skips (a row is as wide as its
  cell furthest right; cells out of order are each in their own column, as openpyxl
  placed them, and two in one column raise); a formula cell with no saved result is
  UNSAVED_FORMULA (app/imports/cells.py);
- a row the sheet skips is not given (the caller reads it as empty); a row numbered at
  or below one already given is dropped, as openpyxl drops it; a row numbered past
  SHEET_ROWS, or more than SHEET_ROWS <row> elements, raises.

Anything in a part that cannot be read (XML that is not well formed, a cell reference
that is not one, a shared string that is not there) raises: the caller refuses that
sheet or the workbook.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from operator import length_hint
from typing import Any
from xml.etree import ElementTree

from app.imports.cells import UNSAVED_FORMULA, ErrorCell, PercentCell
from app.imports.tables import MAX_COLUMNS

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELATIONS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
_SHARED_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"

_ROW, _CELL, _VALUE, _FORMULA, _INLINE, _TEXT, _RUN, _DIMENSION, _DATA = (
    f"{{{MAIN}}}{tag}" for tag in ("row", "c", "v", "f", "is", "t", "r", "dimension", "sheetData")
)
_DIGITS = "0123456789"
# The longest number format code Excel takes: a longer one is none Excel wrote, and
# openpyxl's date test takes time growing with the square of a code's length.
FORMAT_CODE = 255
# The most rows a sheet can have (Excel's limit): the rows a sheet skips are read as
# empty ones, so a sheet naming row 999,999,999 is refused rather than walked through.
SHEET_ROWS = 1_048_576
# Types whose formula cell, with an empty or no <v>, has a saved result all the same:
# the empty text (Excel writes ="" as t="str" with an empty value).
_TEXT_TYPES = ("str", "s", "inlineStr")


class Damaged(ValueError):
    """A part of the workbook that cannot be read as the format says."""


class TooWide(Damaged):
    """A sheet with a value in a column past those read."""

    def __init__(self, column: int) -> None:
        super().__init__(f"a value in column {column}")
        self.column = column


@dataclass
class Workbook:
    archive: zipfile.ZipFile
    # (title, part) of each worksheet, in the workbook's order
    sheets: list[tuple[str, str]]
    strings: list[str] = field(default_factory=list)
    dates: frozenset[int] = frozenset()  # the cell styles (s="…") showing a date
    durations: frozenset[int] = frozenset()  # … an elapsed time ([h]:mm)
    percents: frozenset[int] = frozenset()  # … a percentage (and no date)
    epoch: datetime = datetime(1899, 12, 30)  # day 0 of the 1900 date system


class _Prolog:
    """A parser's target that reads a part only up to its first element, refusing a
    DOCTYPE there: no part of a workbook has one, and its entities would be expanded
    into the text read (as app/iati/reader.py refuses one). The parser decodes the
    part first, so a DOCTYPE in UTF-16 is met all the same."""

    def __init__(self) -> None:
        self.started = False
        self.parser = ElementTree.XMLParser(target=self)

    def feed(self, piece: bytes) -> None:
        if not self.started:
            self.parser.feed(piece)

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise Damaged("a DOCTYPE is not read")

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.started = True  # past the prolog, where a DOCTYPE can be

    def end(self, tag: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


# The standard library's parser (expat): it loads no external entity; a DOCTYPE, where
# entities are declared, is refused before the part is parsed.
def _parse(data: bytes) -> ElementTree.Element:
    _Prolog().feed(data)
    return ElementTree.fromstring(data)


def _pieces(archive: zipfile.ZipFile, part: str) -> Iterator[bytes]:
    """A part in pieces to feed a parser, a DOCTYPE at its start refused."""
    prolog = _Prolog()
    with archive.open(part) as source:
        while piece := source.read(_PIECE):
            prolog.feed(piece)
            yield piece


def open_workbook(archive: zipfile.ZipFile) -> Workbook:
    """The workbook's sheets, strings, date styles and date system (raises on a part
    that cannot be read)."""
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

    members = set(archive.namelist())
    root = _parse(archive.read("xl/workbook.xml"))
    targets = _relations(archive, "xl/workbook.xml", members)
    epoch = CALENDAR_WINDOWS_1900
    properties = root.find(f"{{{MAIN}}}workbookPr")
    if properties is not None and _true(properties.get("date1904")):
        epoch = CALENDAR_MAC_1904
    sheets = []
    # A sheet is never left out (openpyxl left out one naming no part, or a part that
    # is not there): its rows would be missing from the import with no word of it.
    for sheet in root.iterfind(f"{{{MAIN}}}sheets/{{{MAIN}}}sheet"):
        name = sheet.get("name") or ""
        key = sheet.get(f"{{{_RELATIONS}}}id")
        if not key or key not in targets:
            raise Damaged(f"sheet {name!r} names no part of the workbook")
        kind, part = targets[key]
        if "chartsheet" in kind:
            raise Damaged(f"sheet {name!r} is a chart, not a sheet of rows")
        if not part.startswith("xl/") or part not in members:
            raise Damaged(f"sheet {name!r} names {part!r}, which is not in the workbook")
        sheets.append((name, part))
    book = Workbook(archive, sheets, epoch=epoch)
    strings = _shared_strings_part(archive, targets, members)
    if strings is not None:
        book.strings = _shared_strings(archive, strings)
    if "xl/styles.xml" in members:
        book.dates, book.durations, book.percents = _number_styles(archive.read("xl/styles.xml"))
    return book


def _true(value: str | None) -> bool:
    # An xsd:boolean, read as openpyxl reads one.
    return bool(value) and value not in ("false", "f", "0")


def _relations(
    archive: zipfile.ZipFile, part: str, members: set[str]
) -> dict[str, tuple[str, str]]:
    """A part's relations: id -> (type, the target's path in the archive)."""
    folder, name = posixpath.split(part)
    path = posixpath.join(folder, "_rels", f"{name}.rels")
    if path not in members:
        return {}
    found = {}
    for relation in _parse(archive.read(path)).iterfind(f"{{{_PACKAGE}}}Relationship"):
        target = relation.get("Target") or ""
        if relation.get("TargetMode") == "External":
            continue
        if target.startswith("/"):
            target = target[1:]
        else:
            target = posixpath.normpath(posixpath.join(folder, target))
        found[relation.get("Id") or ""] = (relation.get("Type") or "", target)
    return found


def _shared_strings_part(
    archive: zipfile.ZipFile, targets: dict[str, tuple[str, str]], members: set[str]
) -> str | None:
    for kind, target in targets.values():
        if kind.endswith("/sharedStrings") and target in members:
            return target
    # A writer may declare the part only in the package's content types.
    if "[Content_Types].xml" in members:
        types = _parse(archive.read("[Content_Types].xml"))
        for override in types.iterfind(f"{{{_CONTENT_TYPES}}}Override"):
            name = (override.get("PartName") or "").lstrip("/")
            if override.get("ContentType") == _SHARED_TYPE and name in members:
                return name
    return None


def _shared_strings(archive: zipfile.ZipFile, part: str) -> list[str]:
    strings = []
    item = f"{{{MAIN}}}si"
    parser: Any = ElementTree.XMLPullParser(("end",))
    for piece in [*_pieces(archive, part), b""]:
        if piece:
            parser.feed(piece)
        else:
            parser.close()  # raises on XML cut short
        for _event, element in parser.read_events():
            if element.tag == item:
                # openpyxl drops "x005F_" from shared text (the escape of an underscore)
                strings.append(_text(element).replace("x005F_", ""))
                element.clear()
    return strings


def _text(element: ElementTree.Element) -> str:
    """The text of a string item (<si> or <is>): its own <t> (the last, if several),
    then each run's <t>; the phonetic hints (<rPh>) are not the text."""
    plain = None
    runs = []
    for child in element:
        if child.tag == _TEXT:
            plain = child.text
        elif child.tag == _RUN:
            text = None
            for part in child.iterfind(_TEXT):
                text = part.text
            if text is not None:
                runs.append(text)
    if plain is not None:
        runs.insert(0, plain)
    return "".join(runs)


def _number_styles(data: bytes) -> tuple[frozenset[int], frozenset[int], frozenset[int]]:
    """The cell styles (their positions in cellXfs) whose number format shows a date,
    those of them showing an elapsed time, and those showing a percentage."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format

    root = _parse(data)
    custom = {}
    for declared in root.iterfind(f"{{{MAIN}}}numFmts/{{{MAIN}}}numFmt"):
        code = declared.get("formatCode")
        if code is not None and len(code) > FORMAT_CODE:
            raise Damaged(
                f"number format {declared.get('numFmtId')} is {len(code)} characters long; "
                f"at most {FORMAT_CODE}"
            )
        custom[int(declared.get("numFmtId") or 0)] = code
    # Each number format is judged once, however many styles use it.
    judged: dict[int, tuple[bool, bool, bool]] = {}
    dates, durations, percents = set(), set(), set()
    for at, style in enumerate(root.iterfind(f"{{{MAIN}}}cellXfs/{{{MAIN}}}xf")):
        number = int(style.get("numFmtId") or 0)
        kinds = judged.get(number)
        if kinds is None:
            code = custom[number] if number in custom else BUILTIN_FORMATS.get(number)
            date, duration = is_date_format(code), is_timedelta_format(code)
            percent = not date and not duration and is_percent_format(code)
            kinds = judged[number] = (date, duration, percent)
        date, duration, percent = kinds
        if date:
            dates.add(at)
        if duration:
            durations.add(at)
        elif percent:
            percents.add(at)
    return frozenset(dates), frozenset(durations), frozenset(percents)


def is_percent_format(code: str | None) -> bool:
    """A number format that shows the number times 100: it has a % of its own, not one
    quoted (0.0"%" shows the number as it is, then a percent sign), escaped (0.0\\%),
    spaced (_%: a space as wide as a % is), filling (*%) or in brackets ([…]). One pass,
    each character looked at once."""
    if not code:
        return False
    quoted = bracketed = False
    at = 0
    while at < len(code):
        letter = code[at]
        if quoted:
            quoted = letter != '"'
        elif bracketed:
            bracketed = letter != "]"
        elif letter == '"':
            quoted = True
        elif letter == "[":
            bracketed = True
        elif letter in "\\_*":
            at += 1  # the next character is shown, spaced or repeated, not read
        elif letter == "%":
            return True
        at += 1
    return False


def sheet_width(book: Workbook, part: str) -> int | None:
    """The last column the sheet's <dimension> names, if it has one (it comes before
    the rows, so only the start of the sheet is read)."""
    from openpyxl.utils.cell import range_boundaries

    parser: Any = ElementTree.XMLPullParser(("start",))
    for piece in _pieces(book.archive, part):
        parser.feed(piece)
        for _event, element in parser.read_events():
            if element.tag == _DATA:
                return None
            if element.tag == _DIMENSION:
                _col, _row, width, _last = range_boundaries(element.get("ref") or "")
                return width
    return None


_COLUMNS: dict[str, int] = {}


def _column(reference: str) -> int:
    """The column (from 1) of a cell reference such as "AB12"."""
    letters = reference.rstrip(_DIGITS)
    column = _COLUMNS.get(letters)
    if column is None:
        if letters == reference or not 1 <= len(letters) <= 3:
            raise Damaged(f"{reference!r} is not a cell reference")
        column = 0
        for letter in letters.upper():
            if not "A" <= letter <= "Z":
                raise Damaged(f"{reference!r} is not a cell reference")
            column = column * 26 + ord(letter) - 64
        if column > 18278:  # ZZZ
            raise Damaged(f"{reference!r} is not a cell reference")
        _COLUMNS[letters] = column
    return column


def _row_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        number = float(text)  # openpyxl takes "12.0"
        if not number.is_integer():
            raise Damaged(f"{text!r} is not a row number") from None
        return int(number)


# The parser's events, as the reader asks for them: the very objects given here come
# back with each event, so an event is told by identity.
_START, _END = "start", "end"


def _event_parser() -> tuple[ElementTree.XMLParser, list[tuple[str, ElementTree.Element]]]:
    """A parser that adds a (start or end, element) pair to the list it comes with for
    each element as it starts and ends. This is what XMLPullParser does itself (with a
    deque, whose events it gives one by one through a generator of its own); the list
    is read by a plain loop and emptied after each piece fed: on 100,000 transaction
    rows (three million elements) that took 0.3 s of CPU less."""
    parser = ElementTree.XMLParser(target=ElementTree.TreeBuilder())
    events: list[tuple[str, ElementTree.Element]] = []
    parser._setevents(events, (_START, _END))  # type: ignore[attr-defined]
    return parser, events


def sheet_rows(
    book: Workbook, part: str, columns: int = MAX_COLUMNS
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(row number, cells) of each row the sheet has, in order; the cells as wide as the
    row's cell furthest right. A cell past `columns` raises TooWide if it has a value,
    and is not there if it has none.

    Every element is emptied and taken from its parent once read (a row's cells and
    what is not a cell as each ends): whatever a sheet holds besides cells, what is
    kept is the row being read, less the cells already placed. Each cell is placed as
    it ends: a cell is in the next column, or where its reference says (cells out of
    order are each in their own column, as openpyxl placed them)."""
    values = _Values(book)
    value_of = values.of
    strings = values.strings
    parser, events = _event_parser()
    started: list[ElementTree.Element] = []  # the elements started and not ended, outside rows
    row: ElementTree.Element | None = None  # the row being read
    inside = 0  # how many of the row's descendants have started and not ended
    number = given = seen = 0
    wanted = False  # the row being read is given (not one dropped)
    cells: list[Any] = []  # its cells so far, while each is in the next column
    placed: dict[int, Any] | None = None  # … once one is not: by column
    column = 0  # the column of its last cell
    for piece in [*_pieces(book.archive, part), b""]:
        failed = None
        if piece:
            try:
                parser.feed(piece)
            except SyntaxError as error:  # raised once the events before it are read
                failed = error
        else:
            parser.close()  # raises on XML cut short
        pending = iter(events)
        blanked = 0  # the events of this piece let go already
        for event, element in pending:
            if row is not None:
                if event is _START:
                    inside += 1
                    continue
                if inside > 1:  # deeper than the row's children: read with its cell
                    inside -= 1
                    continue
                if inside == 0:  # the row itself ended
                    row = None
                    element.clear()
                    if started:
                        del started[-1][:]
                    if wanted:
                        given = number
                        # While the row is given, the events read are let go: they
                        # hold elements already taken from the sheet. Only those since
                        # the last row given: all of them at every row would be
                        # quadratic in the rows of one piece (review of h16x).
                        read = len(events) - length_hint(pending)
                        events[blanked:read] = [None] * (read - blanked)  # type: ignore[list-item]
                        blanked = read
                        if placed is None:
                            yield number, tuple(cells)
                        else:
                            yield number, _placed(placed)
                    continue
                # A child of the row: its earlier siblings were taken as they ended;
                # after it is what the parser has read of the piece already.
                inside = 0
                del row[0]
                if not wanted or element.tag != _CELL:
                    continue
                place = element.get("r")
                if place:
                    column = _COLUMNS.get(place.rstrip(_DIGITS)) or _column(place)
                else:
                    column += 1
                # The value: most cells are text, inline (<is><t>) or shared (<v>).
                value: Any = _NOT_READ
                if len(element) == 1:
                    kind = element.get("t")
                    only = element[0]
                    if kind == "inlineStr":
                        if only.tag == _INLINE and len(only) == 1 and only[0].tag == _TEXT:
                            value = only[0].text or ""
                    elif kind == "s" and only.tag == _VALUE and only.text:
                        value = strings[int(only.text)]
                if column > columns:
                    # past the columns read: refused if it shows something, else not there
                    if (value_of(element) if value is _NOT_READ else value) is not None:
                        raise TooWide(column)
                    continue
                if placed is None:
                    if column == len(cells) + 1:
                        cells.append(value_of(element) if value is _NOT_READ else value)
                        continue
                    placed = dict(enumerate(cells, start=1))
                if column in placed:
                    raise Damaged(f"two cells of row {number} are in column {column}")
                placed[column] = value_of(element) if value is _NOT_READ else value
                continue
            if event is _START:
                if element.tag != _ROW:
                    started.append(element)
                    continue
                # Every <row> counts, those dropped too: a sheet repeating one row
                # number millions of times is refused as a sheet with too many rows.
                seen += 1
                if seen > SHEET_ROWS:
                    raise Damaged(f"more than {SHEET_ROWS} rows")
                place = element.get("r")
                number = _row_number(place) if place is not None else number + 1
                if number > SHEET_ROWS:
                    raise Damaged(f"more than {SHEET_ROWS} rows")
                row = element
                wanted = number > given  # a row numbered at or below one given is dropped
                cells = []
                placed = None
                column = 0
                continue
            started.pop()
            element.clear()
            if started:
                # Its earlier siblings were taken as they ended; later ones the parser
                # has read already are still given by their events.
                del started[-1][:]
        events.clear()
        if failed is not None:
            raise failed


_NOT_READ = object()  # a cell whose value is not read by the quick ways


def _placed(placed: dict[int, Any]) -> tuple[Any, ...]:
    # As openpyxl placed them: each cell in its own column, whatever their order, and
    # the row as wide as its cell furthest right.
    cells: list[Any] = [None] * max(placed, default=0)
    for at, value in placed.items():
        cells[at - 1] = value
    return tuple(cells)


# The sheet is fed to the parser in small pieces: measured on 100,000 transaction rows,
# 4 KiB pieces took 1.5 s of CPU, iterparse's 16 KiB 2.1 s and 64 KiB 4 s (1-8 KiB
# were alike; why larger pieces cost more was not found out).
_PIECE = 4096


class _Values:
    def __init__(self, book: Workbook) -> None:
        self.strings = book.strings
        self.dates = book.dates
        self.durations = book.durations
        self.percents = book.percents
        self.epoch = book.epoch

    def of(self, cell: ElementTree.Element) -> Any:
        kind = cell.get("t", "n")
        text: str | None = None
        inline: str | None = None
        formula = False
        # Children by plain iteration (a tag filter costs more than it saves).
        for child in cell:
            tag = child.tag
            if tag == _VALUE:
                if text is None:
                    text = child.text or ""
            elif tag == _INLINE:
                if inline is None:
                    # most inline text is one <t>; runs and hints take the long way
                    only = child[0] if len(child) == 1 else None
                    inline = (
                        only.text or "" if only is not None and only.tag == _TEXT else _text(child)
                    )
            elif tag == _FORMULA:
                formula = True
        if kind == "inlineStr":
            return inline
        if not text:
            return UNSAVED_FORMULA if formula and kind not in _TEXT_TYPES else None
        if kind == "s":
            return self.strings[int(text)]
        if kind == "n":
            number = float(text) if "." in text or "e" in text or "E" in text else int(text)
            style = cell.get("s")
            if style:
                at = int(style)
                if at in self.dates:
                    return self._date(number, at)
                if at in self.percents:
                    return PercentCell(number)
            return number
        if kind == "b":
            return bool(int(text))
        if kind == "d":
            from openpyxl.utils.datetime import from_ISO8601

            return from_ISO8601(text)  # type: ignore[no-untyped-call]
        if kind == "e":
            return ErrorCell(text)  # "#N/A"
        return text  # str (a formula's text), or another type

    def _date(self, number: float, style: int) -> Any:
        from openpyxl.utils.datetime import from_excel

        try:
            return from_excel(number, self.epoch, timedelta=style in self.durations)
        except (OverflowError, ValueError):
            return "#VALUE!"  # a serial number beyond the dates there are
