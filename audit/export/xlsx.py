"""The review spreadsheet (XLSX): the sheets of `sheets.py`, written by xlsxwriter in constant-memory mode.

Every sheet gets a frozen header row, an autofilter over its rows, column widths,
severity colouring and references as hyperlinks. The Findings sheet carries the
review block (Status, Owner, Due, Justification, Ticket) that `kubeward review
import` reads back, matched by the Fingerprint column; Status is a drop-down.

Text is always written as text: a cell that starts with `=` is not a formula and a
string that looks like a URL is not a link, whatever a pod or an image is named.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from audit.export.atomic import atomic_file
from audit.export.sheets import REVIEW_STATUSES, Cell, Column, Link, Sheet, build_sheets
from audit.report import Report

MAX_ROWS = 1_048_576
"""Excel's rows per sheet (the header included)."""
MAX_LINKS = 65_530
"""Excel's hyperlinks per sheet; past it, references are written as plain text."""
MAX_URL = 2_079

SEVERITY_COLOURS = {
    "critical": ("#FFFFFF", "#C00000"),
    "high": ("#000000", "#F8A488"),
    "medium": ("#000000", "#FFE699"),
    "low": ("#000000", "#BDD7EE"),
    "info": ("#000000", "#EDEDED"),
    "unknown": ("#000000", "#EDEDED"),
}
REVIEW_FILL = "#FFF9E5"
"""The review block's cells are tinted: they are the ones reviewers fill in."""

_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "remove_timezone": True,
    "default_date_format": "yyyy-mm-dd",
}


def write_xlsx(report: Report, path: str | os.PathLike[str]) -> Path:
    """Write the workbook; `path` is replaced only by a complete one (`atomic.py`)."""
    with atomic_file(path) as out:
        # xlsxwriter keeps constant-memory rows in files of the system temporary directory
        # (never beside the target, where a killed export would leave them)
        workbook = xlsxwriter.Workbook(out, _OPTIONS)
        _Renderer(workbook).render(build_sheets(report))
        workbook.close()
    return Path(path)


class _Renderer:
    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self.workbook = workbook
        fmt = workbook.add_format
        self.header = fmt({"bold": True, "bg_color": "#1F3864", "font_color": "#FFFFFF", "valign": "top",
                           "text_wrap": True, "border": 1})
        self.review_header = fmt({"bold": True, "bg_color": "#7F6000", "font_color": "#FFFFFF", "valign": "top",
                                  "text_wrap": True, "border": 1})
        self.date = fmt({"num_format": "yyyy-mm-dd"})
        self.datetime = fmt({"num_format": "yyyy-mm-dd hh:mm"})
        self.link = fmt({"font_color": "#0563C1", "underline": 1})
        self.severity = {name: fmt({"font_color": fg, "bg_color": bg, "bold": name == "critical"})
                         for name, (fg, bg) in SEVERITY_COLOURS.items()}
        self.review = fmt({"bg_color": REVIEW_FILL, "border": 1, "border_color": "#D9D9D9"})
        self.review_date = fmt({"bg_color": REVIEW_FILL, "border": 1, "border_color": "#D9D9D9",
                                "num_format": "yyyy-mm-dd"})

    def render(self, sheets: list[Sheet]) -> None:
        for sheet in sheets:
            self._sheet(sheet)

    def _sheet(self, sheet: Sheet) -> None:
        ws = self.workbook.add_worksheet(sheet.name)
        review = sheet.name == "Findings"
        review_from = next((i for i, c in enumerate(sheet.columns) if c.kind == "status"), len(sheet.columns))
        for index, column in enumerate(sheet.columns):
            ws.set_column(index, index, column.width)
            ws.write_string(0, index, column.header, self.review_header if index >= review_from else self.header)
        ws.freeze_panes(1, 0)
        writers = [self._writer(ws, column, review and index >= review_from)
                   for index, column in enumerate(sheet.columns)]
        self.links = 0
        row_number = 0
        for row_number, row in enumerate(sheet.rows(), 1):
            if row_number == MAX_ROWS - 1:
                ws.write_string(row_number, 0, "… more rows than a worksheet holds: see the CSV or JSON export")
                break
            for col, (value, write) in enumerate(zip(row, writers, strict=True)):
                write(row_number, col, value)
        last = max(row_number, 1)
        ws.autofilter(0, 0, last, len(sheet.columns) - 1)
        if review:
            status = review_from
            ws.data_validation(1, status, last, status, {
                "validate": "list", "source": list(REVIEW_STATUSES),
                "input_title": "Review decision",
                "input_message": "open, accepted risk, false positive or fixed. Every one but open needs an "
                                 "Owner and a Due date (the waiver's expiry).",
                "error_title": "Status", "error_message": "Choose one of: " + ", ".join(REVIEW_STATUSES),
            })
            due = next(i for i, c in enumerate(sheet.columns) if c.header == "Due")
            ws.data_validation(1, due, last, due, {
                "validate": "date", "criteria": ">=", "value": date(2000, 1, 1), "error_type": "warning",
                "input_title": "Due", "input_message": "The date the decision expires (YYYY-MM-DD).",
            })

    def _writer(self, ws: Any, column: Column, review: bool) -> Callable[[int, int, Cell], None]:
        """How to write one column's cells: chosen once per column, not per cell."""
        blank_format = self.review if review else None
        text_format = self.review if review else None
        date_format = self.review_date if review else self.date

        def write(row: int, col: int, value: Cell) -> None:
            if value is None or value == "":
                if blank_format is not None:
                    ws.write_blank(row, col, None, blank_format)
                return
            if isinstance(value, str):
                if column.kind == "severity":
                    ws.write_string(row, col, value, self.severity.get(value))
                else:
                    ws.write_string(row, col, value, text_format)
            elif isinstance(value, bool):
                ws.write_string(row, col, "yes" if value else "no", text_format)
            elif isinstance(value, int | float):
                ws.write_number(row, col, value, text_format)
            elif isinstance(value, datetime):
                ws.write_datetime(row, col, value, self.datetime)
            elif isinstance(value, date):
                ws.write_datetime(row, col, datetime(value.year, value.month, value.day), date_format)
            elif isinstance(value, Link):
                if self.links < MAX_LINKS and len(value.url) <= MAX_URL:
                    self.links += 1
                    ws.write_url(row, col, value.url, self.link, string=value.text)
                else:
                    ws.write_string(row, col, value.text)
            else:
                ws.write_string(row, col, str(value), text_format)

        return write
