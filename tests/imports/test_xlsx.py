"""A workbook's sheets read from their XML (app/imports/xlsx.py): the values openpyxl's
read-only mode gave before it, text however it is stored, dates in either date system,
percentages as the numbers shown, error cells refused, the gaps a sheet leaves, and
what a damaged or hostile sheet gets."""

from __future__ import annotations

import gc
import io
import re
import zipfile
from datetime import date, datetime, time, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from openpyxl import Workbook, load_workbook

from app.iati.reader import read_any
from app.imports import xlsx
from app.imports.cells import UNSAVED_FORMULA, ErrorCell, PercentCell
from tests.imports.documents import small
from tests.imports.test_sheets_reader import _edit, _places
from tests.imports.workbooks import as_workbook, with_shared_strings


def _sheet_xml(data: bytes, change: Any, sheet: str | None = None) -> bytes:
    """The workbook with `change` (bytes -> bytes) applied to one sheet's XML (the sheet
    holding `sheet`'s header, by its title), or to every part when `sheet` is None."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        part = None
        if sheet is not None:
            book = xlsx.open_workbook(source)
            part = dict(book.sheets)[sheet]
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as target:
            for member in source.infolist():
                content = source.read(member)
                if part is None or member.filename == part:
                    content = change(content)
                target.writestr(member, content)
    return out.getvalue()


def _typed(rows: list[tuple[int, tuple[Any, ...]]]) -> list[tuple[int, list[tuple[str, Any]]]]:
    # 1 == 1.0 == True in Python: the types are compared too
    return [(number, [(type(cell).__name__, cell) for cell in cells]) for number, cells in rows]


def _as_openpyxl(cell: Any) -> Any:
    # What openpyxl gave for the cells we tell apart: the number a percentage keeps, an
    # error's text, None for a formula with no saved result.
    if isinstance(cell, PercentCell):
        return cell.number
    if isinstance(cell, ErrorCell):
        return cell.text
    return None if cell is UNSAVED_FORMULA else cell


def _ours(data: bytes, raw: bool = False) -> dict[str, list[tuple[int, tuple[Any, ...]]]]:
    book = xlsx.open_workbook(zipfile.ZipFile(io.BytesIO(data)))
    found = {}
    for title, part in book.sheets:
        rows = [
            (number, cells if raw else tuple(_as_openpyxl(cell) for cell in cells))
            for number, cells in xlsx.sheet_rows(book, part)
        ]
        found[title] = [(number, cells) for number, cells in rows if any(cells)]
    return found


def _openpyxls(data: bytes) -> dict[str, list[tuple[int, tuple[Any, ...]]]]:
    """The rows openpyxl's read-only, values-only mode gives (what the import read with
    until it had a reader of its own), the empty ones left out."""
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    found = {}
    for sheet in workbook.worksheets:
        sheet.reset_dimensions()
        rows = enumerate(sheet.iter_rows(values_only=True), start=1)
        found[sheet.title] = [(number, cells) for number, cells in rows if any(cells)]
    workbook.close()
    return found


def _every_kind_of_cell(epoch: datetime | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "cells"
    if epoch is not None:
        workbook.epoch = epoch
    # fmt: off
    values = [
        "text", "  ", "a & b <c>", "Zürich 中", 1250.5, 0.1, 400000, -3, 1e20,
        12345678901234567, 0.30000000000000004, True, False,
        date(2024, 3, 1), datetime(2024, 5, 1, 9, 30), time(12, 0), timedelta(hours=30),
        "=1+1",
    ]
    # fmt: on
    for at, value in enumerate(values, start=1):
        sheet.cell(row=2, column=at, value=value)
        # the same a row lower, every other column skipped
        sheet.cell(row=4, column=2 * at, value=value)
    sheet.cell(row=4, column=1, value=59).number_format = "yyyy-mm-dd"  # 1900's leap day
    sheet.cell(row=4, column=3, value=0.25).number_format = "hh:mm"
    sheet.cell(row=4, column=5, value=0.575).number_format = "0.0%"
    sheet.cell(row=9, column=3, value="after a gap of rows")
    out = io.BytesIO()
    workbook.save(out)
    # What openpyxl does not write: rich text with a phonetic hint, an error cell, a row
    # whose cells come out of order (each in its own column; openpyxl, not told the
    # sheet's width, drops a cell right of the row's last: ours keeps it, as
    # test_cells_out_of_order_… shows), a row and cells that do not say their place,
    # and a row numbered twice (the second is dropped)
    rows = (
        b'<row r="10"><c r="C10" t="inlineStr"><is><t>placed</t></is></c>'
        b'<c r="B10" t="b"><v>1</v></c><c r="D10"><v>4</v></c></row>'
        b'<row><c t="str"><v>a formula\'s text</v></c><c><v>2.5</v></c><c r="E11" t="e">'
        b"<v>#DIV/0!</v></c><c><v>7</v></c></row>"
        b'<row r="11"><c r="A11"><v>1</v></c></row>'
    )
    return _sheet_xml(
        out.getvalue(),
        lambda xml: xml.replace(
            b'<c r="A2" t="inlineStr"><is><t>text</t></is></c>',
            b'<c r="A2" t="inlineStr"><is><r><t>te</t></r><rPh sb="0" eb="1"><t>hint</t>'
            b"</rPh><r><rPr><b/></rPr><t>xt</t></r></is></c>",
        ).replace(b"</sheetData>", rows + b"</sheetData>"),
        "cells",
    )


def test_every_kind_of_cell_reads_as_openpyxl_read_it() -> None:
    # given: text (inline, rich, shared), numbers, booleans, dates, times, durations, an
    # error, a formula; rows and columns skipped; in both date systems
    workbooks = {
        "1900": _every_kind_of_cell(),
        "1904": _every_kind_of_cell(datetime(1904, 1, 1)),
    }
    workbooks["shared strings"] = with_shared_strings(workbooks["1900"])
    for name, data in workbooks.items():
        # when
        ours, theirs = _ours(data), _openpyxls(data)
        # then
        assert _typed(ours["cells"]) == _typed(theirs["cells"]), name
    assert ours["cells"][0][1][:3] == ("text", "  ", "a & b <c>")
    assert [number for number, _cells in ours["cells"]] == [2, 4, 9, 10, 11]
    assert ours["cells"][-2][1] == (None, True, "placed", 4)
    assert ours["cells"][-1][1] == ("a formula's text", 2.5, None, None, "#DIV/0!", 7)
    # told apart: the error, the percentage (the number openpyxl gave under each)
    raw = _ours(workbooks["1900"], raw=True)["cells"]
    assert repr(raw[-1][1][4]) == "ErrorCell('#DIV/0!')"
    assert repr(raw[1][1][4]) == "PercentCell(0.575)"


def test_text_reads_the_same_from_a_shared_strings_table_or_its_cells() -> None:
    # given: the initiative's title as runs of rich text with a phonetic hint, once in
    # its cell and once in the shared strings table
    rich = (
        b'<r><t xml:space="preserve">New </t></r><r><rPr><b/></rPr><t>classrooms</t></r>'
        b'<rPh sb="0" eb="3"><t>nyu</t></rPh>'
    )
    plain = as_workbook(small())
    title = b"<is><t>New classrooms</t></is>"
    inline = _sheet_xml(plain, lambda xml: xml.replace(title, b"<is>" + rich + b"</is>"))
    shared = _sheet_xml(
        with_shared_strings(plain),
        lambda xml: xml.replace(
            b'<si><t xml:space="preserve">New classrooms</t></si>', b"<si>" + rich + b"</si>"
        ),
    )
    assert inline != plain and shared != with_shared_strings(plain)
    # when
    reads = [read_any(data) for data in (plain, inline, shared)]
    # then
    documents = [read.document for read in reads]
    assert all(documents), [read.problems for read in reads]
    assert documents[0] == documents[1] == documents[2]
    assert reads[1].document is not None
    assert reads[1].document.initiatives[0].title == "New classrooms"


def test_dates_of_the_1904_date_system_are_the_same_dates() -> None:
    # given: the workbook saved in the 1904 date system (as Excel for Mac once did):
    # each date cell holds a serial number 1,462 days smaller
    workbook = load_workbook(io.BytesIO(as_workbook(small())))
    workbook.epoch = datetime(1904, 1, 1)
    out = io.BytesIO()
    workbook.save(out)
    mac = out.getvalue()
    assert b"<v>43890</v>" in _part(mac, "transactions")  # 2024-03-01
    # when
    read = read_any(mac)
    # then
    assert read.document is not None, read.problems
    assert read.document == read_any(as_workbook(small())).document
    assert read.document.initiatives[0].transactions[0].transaction_date == date(2024, 3, 1)


def _part(data: bytes, sheet: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(dict(xlsx.open_workbook(archive).sheets)[sheet])


def test_rows_and_columns_a_sheet_skips_are_empty_and_places_keep_their_numbers() -> None:
    # given: four blank rows above AS-2's transactions (no <row> for them in the XML),
    # and a thousands separator in the last one's amount
    workbook = load_workbook(io.BytesIO(as_workbook(small(), numbers=False)))
    workbook["transactions"].insert_rows(4, 4)
    workbook["transactions"]["E9"] = "5,000.00"
    out = io.BytesIO()
    workbook.save(out)
    assert b'<row r="5"' not in _part(out.getvalue(), "transactions")
    # when
    read = read_any(out.getvalue())
    # then: refused at row 9, where a spreadsheet program shows it
    assert _places(read) == [("sheet transactions, row 9, column amount", "VALIDATION")]
    fixed = read_any(_edit(out.getvalue(), "transactions", {(9, "amount"): "7500.00"}))
    assert fixed.document is not None, fixed.problems
    assert fixed.document == read_any(as_workbook(small(), numbers=False)).document


def _formatted(data: bytes, sheet: str, cells: dict[tuple[int, str], tuple[Any, str]]) -> bytes:
    """The workbook with these cells of one sheet set ((row, column name): (value, number
    format)), as a spreadsheet program's user formats them."""
    workbook = load_workbook(io.BytesIO(data))
    table = workbook[sheet]
    header = [cell.value for cell in table[1]]
    for (row, name), (value, number_format) in cells.items():
        cell = table.cell(row=row, column=header.index(name) + 1)
        cell.value = value
        cell.number_format = number_format
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _styles(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("xl/styles.xml")


def test_a_share_formatted_as_a_percentage_reads_as_the_number_it_shows() -> None:
    # given: AS-1's share typed as Excel keeps what it shows as a percentage (100% is
    # kept as 1); 57.5 % is kept as 0.575, which times 100 in floating point is not
    # 57.5; a format of two sections (a negative share is the importer's to refuse);
    # and formats whose % is quoted or escaped, which show the number as it is
    cases = [
        (1.0, "0%", "100"),  # Excel's built-in format 9
        (0.6, "0.00%", "60"),  # built-in 10
        (0.575, "0.0%", "57.5"),
        (0.07, "0%", "7"),
        (-0.125, "0.0%;[Red]-0.0%", "-12.5"),
        (60.5, '0.0"%"', "60.5"),
        (60, "0\\%", "60"),
        (60, "General", "60"),
    ]
    plain = as_workbook(small())
    for value, number_format, shown in cases:
        data = _formatted(plain, "shares", {(2, "percentage"): (value, number_format)})
        if number_format == "0%":
            assert b'numFmtId="9"' in _styles(data)  # written as the built-in
        # when
        read = read_any(data)
        # then
        assert read.document is not None, (number_format, read.problems)
        assert str(read.document.initiatives[0].shares[0].percentage) == shown, number_format


def test_a_percentage_where_no_percentage_is_due_is_refused_at_its_cell() -> None:
    # given: an amount, a rate, a count and a title formatted as percentages ("5%" is
    # neither an amount of 5 nor one of 0.05)
    data = _formatted(as_workbook(small()), "transactions", {(2, "amount"): (0.05, "0%")})
    data = _formatted(data, "exchange_rates", {(2, "rate"): (0.9, "0.00%")})
    data = _formatted(data, "beneficiaries", {(2, "target_value"): (12, "0%")})
    data = _formatted(data, "milestones", {(2, "title"): (0.5, "0%")})
    # when
    read = read_any(data)
    # then: each refused where it is, nothing read
    assert read.document is None
    assert sorted(_places(read)) == [
        ("sheet beneficiaries, row 2, column target_value", "VALIDATION"),
        ("sheet exchange_rates, row 2, column rate", "VALIDATION"),
        ("sheet milestones, row 2, column title", "VALIDATION"),
        ("sheet transactions, row 2, column amount", "VALIDATION"),
    ]
    messages = {p.place.split(",")[0]: p.message for p in read.problems}
    assert messages["sheet transactions"].startswith("a percentage (5%) where no percentage")
    assert messages["sheet exchange_rates"].startswith("a percentage (90%)")
    assert messages["sheet beneficiaries"].startswith("a percentage (1200%)")
    # the same numbers formatted as numbers are read
    fixed = _formatted(data, "transactions", {(2, "amount"): (100000, "0.00")})
    fixed = _formatted(fixed, "exchange_rates", {(2, "rate"): (0.9, "General")})
    fixed = _formatted(fixed, "beneficiaries", {(2, "target_value"): (1200, "0")})
    fixed = _formatted(fixed, "milestones", {(2, "title"): ("Ground broken", "General")})
    assert read_any(fixed).document == read_any(as_workbook(small())).document


def test_an_error_cell_is_refused_in_every_column_and_typed_error_text_is_text() -> None:
    # given: cells showing errors (a failed lookup, a division by zero) in text columns
    # (a title, a description, a reference) and in a number column; openpyxl writes a
    # value such as "#N/A" as an error cell, as Excel saves a formula's error
    data = _edit(as_workbook(small()), "milestones", {(2, "title"): "#N/A"})
    data = _edit(data, "initiatives", {(3, "summary"): "#DIV/0!"})
    data = _edit(data, "transactions", {(3, "provider"): "#REF!"})
    data = _sheet_xml(
        data,
        lambda xml: re.sub(
            rb'<c r="E2" t="n"><v>[0-9.]+</v></c>', b'<c r="E2" t="e"><v>#N/A</v></c>', xml
        ),
        "transactions",
    )
    assert b'<c r="C2" t="e"><v>#N/A</v></c>' in _part(data, "milestones")
    assert b'<c r="E2" t="e"><v>#N/A</v></c>' in _part(data, "transactions")
    # when
    read = read_any(data)
    # then: each refused at its cell, as showing an error; nothing read
    assert read.document is None
    assert sorted(_places(read)) == [
        ("sheet initiatives, row 3, column summary", "VALIDATION"),
        ("sheet milestones, row 2, column title", "VALIDATION"),
        ("sheet transactions, row 2, column amount", "VALIDATION"),
        ("sheet transactions, row 3, column provider", "VALIDATION"),
    ]
    messages = {p.place: p.message for p in read.problems}
    assert messages["sheet milestones, row 2, column title"].startswith(
        "the sheet shows an error here (#N/A)"
    )
    assert "(#DIV/0!)" in messages["sheet initiatives, row 3, column summary"]
    # and "#N/A" typed as text (a text cell) is a title like any other
    workbook = load_workbook(io.BytesIO(as_workbook(small())))
    workbook["milestones"]["C2"] = "#N/A"
    workbook["milestones"]["C2"].data_type = "s"
    out = io.BytesIO()
    workbook.save(out)
    assert b'<c r="C2" t="inlineStr"><is><t>#N/A</t></is></c>' in _part(
        out.getvalue(), "milestones"
    )
    typed = read_any(out.getvalue())
    assert typed.document is not None, typed.problems
    assert typed.document.initiatives[0].milestones[0].title == "#N/A"


def test_a_formula_with_no_saved_result_and_no_reference_is_refused_at_its_cell() -> None:
    # given: a formula cell that does not name its place (r="…" is optional)
    data = _edit(as_workbook(small()), "budget_lines", {(2, "description"): '="Rooms "&2024'})
    formula = re.compile(rb'<c r="[A-Z]+2"(?=[^>]*><f>)')
    data = _sheet_xml(data, lambda xml: formula.sub(b"<c", xml), "budget_lines")
    assert b"<c><f>" in _part(data, "budget_lines")
    # when
    read = read_any(data)
    # then
    assert _places(read) == [("sheet budget_lines, row 2, column description", "VALIDATION")]
    assert "a formula with no saved result" in read.problems[0].message


def test_references_past_excels_sheet_or_not_references_are_refused_at_their_sheet() -> None:
    # given: one sheet at a time given a cell column past ZZZ, a row number that is no
    # number, a value in column XFD (16,384) with no <dimension>, a shared string that
    # is not in the table, and XML cut short
    plain = as_workbook(small())
    shared = with_shared_strings(plain)
    cases = {
        "AAAA2": (plain, lambda xml: xml.replace(b'r="A2"', b'r="AAAA2"'), "DOCUMENT_INVALID"),
        "row x": (plain, lambda xml: xml.replace(b'<row r="2"', b'<row r="x"'), "DOCUMENT_INVALID"),
        "XFD2": (
            plain,
            lambda xml: re.sub(rb'<dimension ref="[^"]+"/>', b"", xml).replace(
                b"</row>", b'<c r="XFD2" t="inlineStr"><is><t>far</t></is></c></row>', 2
            ),
            "DOCUMENT_TOO_LARGE",
        ),
        "string 999": (
            shared,
            lambda xml: re.sub(rb'(<c r="B2"[^>]* t="s"><v>)[0-9]+', rb"\g<1>999", xml),
            "DOCUMENT_INVALID",
        ),
        "cut short": (plain, lambda xml: xml[: len(xml) // 2], "DOCUMENT_INVALID"),
    }
    for name, (data, change, code) in cases.items():
        changed = _sheet_xml(data, change, "milestones")
        assert _part(changed, "milestones") != _part(data, "milestones"), name
        # when
        read = read_any(changed)
        # then: that sheet is refused, whole
        assert _places(read) == [("sheet milestones", code)], name


def test_a_workbook_whose_parts_cannot_be_read_is_refused() -> None:
    # given: the workbook part cut short, and a sheet naming a part that is not there
    plain = as_workbook(small())
    cut = _rewrite_member(plain, "xl/workbook.xml", lambda xml: xml[:200])
    lost = _rewrite_member(
        plain, "xl/workbook.xml", lambda xml: xml.replace(b'r:id="rId3"', b'r:id="rId99"')
    )
    # when / then
    for data in (cut, lost):
        read = read_any(data)
        assert _places(read) == [("", "DOCUMENT_INVALID")]
        assert read.problems[0].message.startswith("not a workbook that can be read")


def _rewrite_member(data: bytes, name: str, change: Any) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            content = source.read(member)
            target.writestr(member, change(content) if member.filename == name else content)
    return out.getvalue()


def _with_doctype(xml: bytes) -> bytes:
    # an internal entity, declared in a DOCTYPE and used in the part's first text
    declaration = b'<!DOCTYPE x [<!ENTITY boom "EXPANDED">]>'
    if xml.startswith(b"<?xml"):
        end = xml.index(b"?>") + 2
        xml = xml[:end] + declaration + xml[end:]
    else:
        xml = declaration + xml
    return re.sub(rb"<t>", b"<t>&boom;", xml, count=1)


def test_a_doctype_in_any_part_refuses_the_workbook_and_no_entity_reaches_a_cell() -> None:
    # given: a DOCTYPE with an internal entity in the shared strings, a sheet, the
    # workbook part, the styles or a relations part (also written as UTF-16)
    shared = with_shared_strings(as_workbook(small()))
    with zipfile.ZipFile(io.BytesIO(shared)) as archive:
        names = archive.namelist()
    parts = ["xl/sharedStrings.xml", "xl/workbook.xml", "xl/styles.xml"]
    parts += [
        "xl/_rels/workbook.xml.rels",
        dict(xlsx.open_workbook(zipfile.ZipFile(io.BytesIO(shared))).sheets)["milestones"],
    ]
    assert all(part in names for part in parts)
    cases = [(part, _rewrite_member(shared, part, _with_doctype)) for part in parts]
    utf16 = lambda xml: _with_doctype(xml).decode().replace("UTF-8", "UTF-16").encode("utf-16")  # noqa: E731
    cases.append(("utf-16", _rewrite_member(shared, "xl/sharedStrings.xml", utf16)))
    for part, data in cases:
        # when
        read = read_any(data)
        # then: refused, and the entity's text is nowhere
        assert [problem.code.value for problem in read.problems] == ["DOCUMENT_INVALID"], part
        assert "a DOCTYPE is not read" in read.problems[0].message, part
        assert read.document is None
        assert "EXPANDED" not in repr(read), part


_MAIN = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _book(sheet: str, styles: str | None = None, extra: dict[str, str] | None = None) -> bytes:
    """A workbook of one sheet ("transactions") whose XML is `sheet` (the rows only: the
    content of <sheetData>), written part by part as a hostile writer could."""
    parts = {
        "xl/workbook.xml": f'<workbook {_MAIN} xmlns:r="{_DOCUMENT}"><sheets>'
        '<sheet name="transactions" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org'
        f'/package/2006/relationships"><Relationship Id="rId1" Type="{_DOCUMENT}/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": (
            f"<worksheet {_MAIN}><sheetData>{sheet}</sheetData></worksheet>"
        ),
    }
    if styles is not None:
        parts["xl/styles.xml"] = f"<styleSheet {_MAIN}>{styles}</styleSheet>"
    parts |= extra or {}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


def _rows_of(data: bytes) -> list[tuple[int, tuple[Any, ...]]]:
    book = xlsx.open_workbook(zipfile.ZipFile(io.BytesIO(data)))
    return [row for _title, part in book.sheets for row in xlsx.sheet_rows(book, part)]


def _elements_alive() -> int:
    gc.collect()
    return sum(1 for thing in gc.get_objects() if isinstance(thing, ElementTree.Element))


def test_a_sheet_keeps_no_element_it_has_read_whatever_it_holds_besides_cells() -> None:
    # given: between two rows, 3,000 elements that are no rows (some with children),
    # 1,000 rows repeating row 1's number, and in a row 1,000 non-cells and 1,000 empty
    # cells past the columns read
    junk = "<x><y/><y/></x>" * 3000 + '<row r="1"/>' * 1000
    inside = '<row r="3">' + "<z/>" * 1000 + '<c r="A3"><v>3</v></c>' + '<c r="BZ3"/>' * 1000
    inside += "</row>"
    sheet = f'<row r="1"><c r="A1"><v>1</v></c></row>{junk}{inside}<row r="4"/>'
    book = xlsx.open_workbook(zipfile.ZipFile(io.BytesIO(_book(sheet))))
    rows = xlsx.sheet_rows(book, "xl/worksheets/sheet1.xml")
    before = _elements_alive()
    # when: the reader is paused at row 3, with all of that read
    assert next(rows) == (1, (1,))
    assert next(rows) == (3, (3,))
    # then: what it keeps is a few elements, not thousands
    assert _elements_alive() - before < 20
    assert list(rows) == [(4, ())]


def test_every_row_element_counts_against_the_rows_a_sheet_may_have(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: a sheet's row limit of 10 (Excel's is 1,048,576), and a sheet repeating row
    # 1 eleven times (each repeat is dropped, as openpyxl drops it) or naming row 11
    monkeypatch.setattr(xlsx, "SHEET_ROWS", 10)
    repeated = _book('<row r="1"><c r="A1"><v>1</v></c></row>' * 11)
    far = _book('<row r="11"><c r="A11"><v>1</v></c></row>')
    within = _book('<row r="1"><c r="A1"><v>1</v></c></row>' * 10)
    # when / then: the first two are refused, and the third gives its row once
    for data in (repeated, far):
        with pytest.raises(xlsx.Damaged, match="more than 10 rows"):
            _rows_of(data)
    assert _rows_of(within) == [(1, (1,))]


def test_a_cell_past_the_columns_read_refuses_the_sheet_only_if_it_shows_something() -> None:
    # given: rows whose last cell is in column ZZZ (18,278) or 65 (one past those read),
    # empty, or holding a number
    empty = _book('<row r="1"><c r="A1"><v>1</v></c><c r="ZZZ1"/><c r="BM1" s="0"/></row>')
    shown = _book('<row r="1"><c r="A1"><v>1</v></c><c r="BM1"><v>2</v></c></row>')
    # when / then: the empty ones are not there (the row is one column wide, not
    # 18,278), and the number refuses the sheet at its column
    assert xlsx.MAX_COLUMNS == 64
    assert _rows_of(empty) == [(1, (1,))]
    with pytest.raises(xlsx.TooWide) as refused:
        _rows_of(shown)
    assert refused.value.column == 65


def test_cells_out_of_order_are_each_in_their_own_column_and_one_column_twice_is_refused() -> None:
    # given: a row whose cells come as C, A, B (openpyxl, told the sheet's width, reads
    # them in their columns; not told it, it drops C, right of the last), and one naming
    # column A twice
    shuffled = _book(
        '<row r="1"><c r="C1"><v>3</v></c><c r="A1"><v>1</v></c><c r="B1"><v>2</v></c></row>'
        '<row r="2"><c r="B2"><v>2</v></c><c r="A2"><v>1</v></c></row>'
    )
    twice = _book('<row r="1"><c r="A1"><v>1</v></c><c r="B1"/><c r="A1"><v>9</v></c></row>')
    # when / then
    assert _rows_of(shuffled) == [(1, (1, 2, 3)), (2, (1, 2))]
    with pytest.raises(xlsx.Damaged, match="two cells of row 1 are in column 1"):
        _rows_of(twice)


def test_each_number_format_is_judged_once_and_one_longer_than_excels_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: 2,000 cell styles sharing a percentage format of 255 characters (Excel's
    # longest), and the same format one character longer
    from openpyxl.styles import numbers

    judged: list[str | None] = []
    is_date = numbers.is_date_format
    monkeypatch.setattr(
        numbers, "is_date_format", lambda code: judged.append(code) or is_date(code)
    )

    def styles(code: str) -> str:
        styles = '<xf numFmtId="164"/>' * 2000
        return (
            f'<numFmts count="1"><numFmt numFmtId="164" formatCode="{code}"/></numFmts>'
            f'<cellXfs count="2000">{styles}</cellXfs>'
        )

    longest = "0" * 253 + ".%"
    sheet = '<row r="1"><c r="A1" s="1999"><v>0.5</v></c></row>'
    # when / then: the format is judged once, and the cell is a percentage
    assert repr(_rows_of(_book(sheet, styles(longest)))) == "[(1, (PercentCell(0.5),))]"
    assert judged == [longest]
    with pytest.raises(xlsx.Damaged, match="256 characters long; at most 255"):
        _rows_of(_book(sheet, styles("0" + longest)))


def test_a_sheet_whose_rows_cannot_be_found_refuses_the_workbook_naming_it() -> None:
    # given: the sheet "transactions" pointing at a part that is not in the archive, at
    # one outside the workbook's folder, at a chart sheet, or at no part
    def pointing(kind: str, target: str) -> dict[str, str]:
        return {
            "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats'
            f'.org/package/2006/relationships"><Relationship Id="rId1" Type="{_DOCUMENT}/'
            f'{kind}" Target="{target}"/></Relationships>',
            "xl/chartsheets/sheet1.xml": f"<chartsheet {_MAIN}/>",
        }

    row = '<row r="1"><c r="A1" t="inlineStr"><is><t>ref</t></is></c></row>'
    cases = {
        "missing": _book(row, extra=pointing("worksheet", "worksheets/sheet9.xml")),
        "outside": _book(row, extra=pointing("worksheet", "../../etc/passwd")),
        "chart": _book(row, extra=pointing("chartsheet", "chartsheets/sheet1.xml")),
        "no part": _book(
            row,
            extra=pointing("worksheet", "worksheets/sheet1.xml")
            | {
                "xl/workbook.xml": f'<workbook {_MAIN}><sheets><sheet name="transactions" '
                'sheetId="1"/></sheets></workbook>'
            },
        ),
    }
    assert _rows_of(_book(row)) == [(1, ("ref",))]
    for name, data in cases.items():
        # when
        read = read_any(data)
        # then: refused, not read as a workbook with no transactions
        assert _places(read) == [("", "DOCUMENT_INVALID")], name
        assert "sheet 'transactions'" in read.problems[0].message, name
