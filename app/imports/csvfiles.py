"""A folder of CSV files (or a zip of them, app/imports/sheets.py) read as the tables
of app/imports/tables.py: `transactions.csv` holds the transactions, and so on.

A file is UTF-8 (Excel's "CSV UTF-8" writes a byte-order mark, which is skipped), its
fields separated by commas, or by semicolons when its first line has semicolons and no
comma (as spreadsheets set to a decimal comma save them). Every cell is text: amounts
and dates are read as written, and an empty cell is "no value", as in a workbook
(app/imports/tables.py). Limits: the files together at most `max_bytes`, a field at
most MAX_CELL characters, a file at most MAX_COLUMNS columns and the rows its kind
may have.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path, PurePosixPath

from app.errors import ErrorCode
from app.imports.cells import header_of, row_of, too_many, too_wide
from app.imports.reader import MAX_FILE_BYTES, Read
from app.imports.report import Problem
from app.imports.tables import LAYOUT, MAX_COLUMNS, ROW_LIMITS, Table, assemble


def read_csv_folder(folder: Path, max_bytes: int = MAX_FILE_BYTES) -> Read:
    """The CSV files directly in `folder` (other files are not looked at)."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    if not paths:
        return _refused(ErrorCode.DOCUMENT_INVALID, f"{folder} has no CSV files")
    size = sum(p.stat().st_size for p in paths)
    if size > max_bytes:
        return _refused(
            ErrorCode.DOCUMENT_TOO_LARGE,
            f"the CSV files have {size} bytes together; at most {max_bytes} are read",
        )
    return read_csv_tables({p.name: p.read_bytes() for p in paths})


def read_csv_tables(files: dict[str, bytes]) -> Read:
    """CSV files by name ("transactions.csv", or "export/transactions.csv" in a zip: its
    bytes) as one document; the name's last part says the kind."""
    problems: list[Problem] = []
    tables = []
    for name, data in files.items():
        kind = PurePosixPath(name).stem.strip().lower()
        if kind not in LAYOUT:
            problems.append(
                Problem(
                    name,
                    ErrorCode.DOCUMENT_INVALID,
                    f"not a file of the format; its files are {', '.join(LAYOUT)} (.csv)",
                )
            )
            continue
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            problems.append(
                Problem(
                    name,
                    ErrorCode.DOCUMENT_INVALID,
                    f"not UTF-8 text (byte {error.start}): save it as CSV UTF-8",
                )
            )
            continue
        tables.append(_table(text, Table(kind, name), problems))
    if problems:
        return Read(problems=problems)
    return assemble(tables)


def _table(text: str, table: Table, problems: list[Problem]) -> Table:
    first = text.partition("\n")[0]
    delimiter = ";" if ";" in first and "," not in first else ","
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    limit = ROW_LIMITS[table.kind]
    header: list[str | None] = []
    number = 0
    try:
        for number, fields in enumerate(rows, start=1):
            if len(fields) > MAX_COLUMNS:
                problems.append(too_wide(table.label, len(fields)))
                break
            cells = tuple(fields)
            if number == 1:
                header = header_of(table.label, cells, problems)
                continue
            row = row_of(table.kind, table.label, number, header, cells, problems)
            if row:
                table.rows.append((number, row))
                if len(table.rows) > limit:
                    problems.append(too_many(table.label, limit))
                    break
    except csv.Error as error:  # a field over the csv module's own limit, a stray quote
        problems.append(
            Problem(f"{table.label}, row {number + 1}", ErrorCode.DOCUMENT_INVALID, str(error))
        )
    return table


def _refused(code: ErrorCode, message: str) -> Read:
    return Read(problems=[Problem("", code, message)])
