"""The review spreadsheet as CSV: one file per sheet of `sheets.py`, in a directory or a .zip.

Files are UTF-8 with a header row, named after their sheet (`findings.csv`,
`layers-and-packages.csv` …). A link column becomes two: its text, and the URL
in a column of the same name with ` URL` after it. Dates are ISO 8601.

Text that a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
`@`, a tab or a carriage return) is written with a leading `'`, as OWASP
advises for CSV meant to be opened in a spreadsheet: names in a cluster are
chosen by whoever can create objects in it.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO

from audit.export.atomic import atomic_directory, atomic_file
from audit.export.sheets import Cell, Link, Sheet, build_sheets
from audit.report import Report

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def file_name(sheet: Sheet) -> str:
    """`Layers & packages` → `layers-and-packages.csv`."""
    slug = re.sub(r"[^a-z0-9]+", "-", sheet.name.lower().replace("&", "and")).strip("-")
    return f"{slug}.csv"


def write_csv(report: Report, path: str | os.PathLike[str]) -> Path:
    """A .zip when `path` ends in .zip, else a directory of CSV files; replaced only when complete."""
    target = Path(path)
    sheets = build_sheets(report)
    if target.suffix.lower() == ".zip":
        with atomic_file(target) as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for sheet in sheets:
                with archive.open(file_name(sheet), "w", force_zip64=True) as member, \
                        io.TextIOWrapper(member, encoding="utf-8", newline="") as text_out:
                    write_sheet(sheet, text_out)
        return target
    with atomic_directory(target) as directory:
        for sheet in sheets:
            with open(directory / file_name(sheet), "w", encoding="utf-8", newline="") as text_out:
                write_sheet(sheet, text_out)
    return target


def write_sheet(sheet: Sheet, out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    links = [column.kind == "link" for column in sheet.columns]
    header: list[str] = []
    for column, link in zip(sheet.columns, links, strict=True):
        header += [column.header, f"{column.header} URL"] if link else [column.header]
    writer.writerow(header)
    writer.writerows(_rows(sheet, links))


def _rows(sheet: Sheet, links: list[bool]) -> Iterator[list[str]]:
    for row in sheet.rows():
        out: list[str] = []
        for value, link in zip(row, links, strict=True):
            if link:
                out += [_cell(value.text), value.url] if isinstance(value, Link) else [_cell(value), ""]
            else:
                out.append(_cell(value))
        yield out


def _cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Link):
        return _cell(value.text)
    return str(value)
