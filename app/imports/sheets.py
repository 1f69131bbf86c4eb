"""A spreadsheet workbook (xlsx) or a zip of CSV files read as the tables of
app/imports/tables.py: one sheet (one file) per record kind, named by it.

Both are zip archives, and untrusted: the archive is at most `max_bytes`, what it
unpacks to at most MAX_UNZIPPED_BYTES and MAX_RATIO times its size (a zip bomb
unpacks a few kilobytes into gigabytes), of at most MAX_MEMBERS files. Python's zip
reader never unpacks more than a member declares, so the declared sizes bound the
work. A workbook is streamed (openpyxl's read-only mode) with the values its cells
last showed (a formula is not run again); rows are counted as they come, and a sheet
with more rows than its kind may have is refused before the rest is read.
Cells are read as app/imports/cells.py says.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import PurePosixPath
from typing import Any

from app.errors import ErrorCode
from app.imports.cells import (
    UNSAVED_FORMULA,
    UNSAVED_MESSAGE,
    header_of,
    row_of,
    too_many,
    too_wide,
)
from app.imports.csvfiles import read_csv_tables
from app.imports.reader import MAX_FILE_BYTES, Read
from app.imports.report import Problem
from app.imports.tables import LAYOUT, MAX_COLUMNS, ROW_LIMITS, Table, assemble

MAX_UNZIPPED_BYTES = 2 * 1024**3
MAX_RATIO = 100
MAX_MEMBERS = 10_000
# The most rows a sheet can have (Excel's limit): the rows a sheet skips are read as
# empty ones, so a sheet naming row 999,999,999 is refused rather than walked through.
SHEET_ROWS = 1_048_576
ZIP = b"PK\x03\x04"
# A formula element (<f>, or <x:f> under a prefix) in a worksheet's XML.
_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
_CHUNK = 1 << 20
_NOWHERE = 0  # the row of a formula cell that does not say its place (no r="…")


def is_zip(data: bytes) -> bool:
    return data[:4] == ZIP


def read_archive(data: bytes, max_bytes: int = MAX_FILE_BYTES) -> Read:
    """A workbook (it has xl/workbook.xml) or a zip of CSV files."""
    if len(data) > max_bytes:
        return _refused(
            ErrorCode.DOCUMENT_TOO_LARGE, f"the file has {len(data)} bytes; at most {max_bytes}"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as error:
        return _refused(ErrorCode.DOCUMENT_INVALID, f"not a zip archive: {error}")
    too_big = _unzipped_too_big(members, len(data))
    if too_big:
        return _refused(ErrorCode.DOCUMENT_TOO_LARGE, too_big)
    if any(member.filename == "xl/workbook.xml" for member in members):
        return read_workbook(data)
    files: dict[str, bytes] = {}
    try:
        for member in members:
            path = PurePosixPath(member.filename)
            if member.is_dir() or path.parts[:1] == ("__MACOSX",):
                continue
            if path.suffix.lower() == ".csv":
                files[member.filename] = archive.read(member)
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as error:
        return _refused(ErrorCode.DOCUMENT_INVALID, f"a damaged zip archive: {error}")
    if not files:
        return _refused(
            ErrorCode.DOCUMENT_INVALID, "neither a workbook (xlsx) nor a zip of CSV files"
        )
    return read_csv_tables(files)


def _unzipped_too_big(members: list[zipfile.ZipInfo], size: int) -> str | None:
    if len(members) > MAX_MEMBERS:
        return f"the archive has {len(members)} files; at most {MAX_MEMBERS}"
    unzipped = sum(member.file_size for member in members)
    cap = min(MAX_UNZIPPED_BYTES, MAX_RATIO * size)
    if unzipped > cap:
        return (
            f"the archive unpacks to {unzipped} bytes; at most {cap} "
            f"({MAX_RATIO} times its size, and never more than {MAX_UNZIPPED_BYTES})"
        )
    return None


def read_workbook(data: bytes) -> Read:
    # openpyxl is loaded only when a workbook comes (it takes a while to import).
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception as error:  # openpyxl raises whatever its parts meet in a bad file
        return _refused(ErrorCode.DOCUMENT_INVALID, f"not a workbook that can be read: {error}")
    try:
        problems: list[Problem] = []
        tables = []
        for sheet in workbook.worksheets:
            label = f"sheet {sheet.title}"
            kind = sheet.title.strip().lower()
            if kind not in LAYOUT:
                problems.append(
                    Problem(
                        label,
                        ErrorCode.DOCUMENT_INVALID,
                        f"not a sheet of the format; its sheets are {', '.join(LAYOUT)}",
                    )
                )
                continue
            try:
                tables.append(_table(sheet, Table(kind, label), problems))
            except Exception as error:  # a damaged sheet, met while streaming it
                message = f"a sheet that cannot be read: {error}"
                problems.append(Problem(label, ErrorCode.DOCUMENT_INVALID, message))
    finally:
        workbook.close()
    if problems:
        return Read(problems=problems)
    return assemble(tables)


def _table(sheet: Any, table: Table, problems: list[Problem]) -> Table:
    width = sheet.max_column
    if isinstance(width, int) and width > MAX_COLUMNS:
        problems.append(too_wide(table.label, width))
        return table
    # Read-only mode would stop at the last row the sheet's dimension names, and some
    # writers name too few: every row is read (SHEET_ROWS bounds them).
    sheet.reset_dimensions()
    header: list[str | None] = []
    limit = ROW_LIMITS[table.kind]
    unsaved = _unsaved_formulas(sheet)
    if _NOWHERE in unsaved:
        problems.append(Problem(table.label, ErrorCode.VALIDATION, UNSAVED_MESSAGE))
        return table
    # A row comes as wide as its last cell (not padded to a width: most rows are narrow).
    for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
        if number in unsaved:
            cells = _marked(cells, unsaved[number])
        if number > SHEET_ROWS:
            problems.append(
                Problem(table.label, ErrorCode.DOCUMENT_INVALID, f"more than {SHEET_ROWS} rows")
            )
            break
        if len(cells) > MAX_COLUMNS and any(cell is not None for cell in cells[MAX_COLUMNS:]):
            problems.append(too_wide(table.label, MAX_COLUMNS + 1))
            break
        if number == 1:
            header = header_of(table.label, cells, problems)
            continue
        if cells.count(None) == len(cells):
            continue  # an empty row, or one the sheet skips (read as empty)
        row = row_of(table.label, number, header, cells, problems)
        if row:
            table.rows.append((number, row))
            if len(table.rows) > limit:
                problems.append(too_many(table.label, limit))
                break
    return table


def _unsaved_formulas(sheet: Any) -> dict[int, set[int]]:
    """The cells (row: columns) holding a formula with no saved result.

    Read with the values cells last showed, such a cell (a workbook written by a
    program that does not calculate, such as openpyxl) reads as empty, and an empty
    cell clears a value: it is told apart here. Most sheets have no formula, and
    finding that out is a byte search of the sheet's XML (no second parse); only a
    sheet with formulas is parsed again, for theirs.
    """
    if not _has_formula(sheet):
        return {}
    from openpyxl.utils.cell import coordinate_to_tuple
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    cell, formula, value = (f"{{{SHEET_MAIN_NS}}}{tag}" for tag in ("c", "f", "v"))
    found: dict[int, set[int]] = {}
    with sheet._get_source() as source:
        for _event, element in iterparse(source):
            if element.tag != cell:
                continue
            # A saved result is a <v>; an empty one is the empty text only for a
            # formula whose result is text (t="str"), as Excel writes ="".
            if (
                element.find(formula) is not None
                and not element.findtext(value)
                and element.get("t") not in ("str", "s", "inlineStr")
            ):
                place = element.get("r")
                row, column = coordinate_to_tuple(place) if place else (_NOWHERE, 0)
                found.setdefault(row, set()).add(column)
            element.clear()
    return found


def _has_formula(sheet: Any) -> bool:
    with sheet._get_source() as source:
        tail = b""
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            if _FORMULA.search(tail + chunk):
                return True
            tail = chunk[-64:]
    return False


def _marked(cells: tuple[Any, ...], columns: set[int]) -> tuple[Any, ...]:
    return tuple(
        UNSAVED_FORMULA if at in columns and cell is None else cell
        for at, cell in enumerate(cells, start=1)
    )


def _refused(code: ErrorCode, message: str) -> Read:
    return Read(problems=[Problem("", code, message)])
