"""A spreadsheet workbook (xlsx) or a zip of CSV files read as the tables of
app/imports/tables.py: one sheet (one file) per record kind, named by it.

Both are zip archives, and untrusted: the archive is at most `max_bytes`, what it
unpacks to at most MAX_UNZIPPED_BYTES and MAX_RATIO times its size (a zip bomb
unpacks a few kilobytes into gigabytes), of at most MAX_MEMBERS files. Python's zip
reader never unpacks more than a member declares, so the declared sizes bound the
work. A workbook is streamed (app/imports/xlsx.py) with the values its cells last
showed (a formula is not run again); rows are counted as they come, and a sheet with
more rows than its kind may have is refused before the rest is read.
Cells are read as app/imports/cells.py says.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath

from app.errors import ErrorCode
from app.imports.cells import header_of, row_of, too_many, too_wide
from app.imports.csvfiles import read_csv_tables
from app.imports.reader import MAX_FILE_BYTES, Read
from app.imports.report import Problem
from app.imports.tables import LAYOUT, MAX_COLUMNS, ROW_LIMITS, Table, assemble
from app.imports.xlsx import TooWide, Workbook, open_workbook, sheet_rows, sheet_width

MAX_UNZIPPED_BYTES = 2 * 1024**3
MAX_RATIO = 100
MAX_MEMBERS = 10_000
ZIP = b"PK\x03\x04"


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
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        book = open_workbook(archive)
    except Exception as error:  # any part met that cannot be read: XML, a reference, a zip
        return _refused(ErrorCode.DOCUMENT_INVALID, f"not a workbook that can be read: {error}")
    problems: list[Problem] = []
    tables = []
    with archive:
        for title, part in book.sheets:
            label = f"sheet {title}"
            kind = title.strip().lower()
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
                tables.append(_table(book, part, Table(kind, label), problems))
            except Exception as error:  # a damaged sheet, met while streaming it
                message = f"a sheet that cannot be read: {error}"
                problems.append(Problem(label, ErrorCode.DOCUMENT_INVALID, message))
    if problems:
        return Read(problems=problems)
    return assemble(tables)


def _table(book: Workbook, part: str, table: Table, problems: list[Problem]) -> Table:
    # A <dimension> naming more columns than are read refuses the sheet; one naming too
    # few rows is not believed (some writers name too few): every row is read, and
    # xlsx.SHEET_ROWS bounds them.
    width = sheet_width(book, part)
    if width is not None and width > MAX_COLUMNS:
        problems.append(too_wide(table.label, width))
        return table
    # The rows the sheet skips are not given: they are empty ones.
    try:
        _rows(book, part, table, problems)
    except TooWide as error:  # a value past the columns read; empty cells there are not
        problems.append(too_wide(table.label, error.column))
    return table


def _rows(book: Workbook, part: str, table: Table, problems: list[Problem]) -> None:
    header: list[str | None] = []  # no row 1: no column has a name
    limit = ROW_LIMITS[table.kind]
    for number, cells in sheet_rows(book, part, MAX_COLUMNS):
        if number == 1:
            header = header_of(table.label, cells, problems)
            continue
        if cells.count(None) == len(cells):
            continue  # an empty row
        row = row_of(table.kind, table.label, number, header, cells, problems)
        if row:
            table.rows.append((number, row))
            if len(table.rows) > limit:
                problems.append(too_many(table.label, limit))
                break


def _refused(code: ErrorCode, message: str) -> Read:
    return Read(problems=[Problem("", code, message)])
