"""The review spreadsheet, read back with openpyxl: every sheet, its header, rows, panes, filter,
widths, colours, links and the review block."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import msgspec
import openpyxl
import pytest

from audit.export import export_report
from audit.export.sheets import REVIEW_COLUMNS, build_sheets
from audit.export.xlsx import SEVERITY_COLOURS
from audit.findings import Waiver
from audit.report import Report

SHEETS = ["Summary", "Findings", "Exec access", "Images", "Layers & packages", "Vulnerabilities", "Nodes",
          "Waivers", "Run"]


@pytest.fixture(scope="module")
def workbook(report: Report, tmp_path_factory: pytest.TempPathFactory) -> openpyxl.Workbook:
    path = export_report(report, tmp_path_factory.mktemp("xlsx") / "review.xlsx")
    return openpyxl.load_workbook(path)


def column(ws, header: str) -> int:  # type: ignore[no-untyped-def]
    return [c.value for c in ws[1]].index(header) + 1


def test_every_sheet_in_order_with_its_header_and_rows(report: Report, workbook: openpyxl.Workbook) -> None:
    assert workbook.sheetnames == SHEETS
    for sheet in build_sheets(report):
        ws = workbook[sheet.name]
        assert tuple(c.value for c in ws[1]) == sheet.headers
        rows = sum(1 for _ in sheet.rows())
        assert ws.max_row == rows + 1 or (rows == 0 and ws.max_row == 1), sheet.name
        assert ws.freeze_panes == "A2", sheet.name
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, len(sheet.columns)).column_letter}{max(rows, 1) + 1}"
        widths = {index: dim.width for dim in ws.column_dimensions.values()
                  for index in range(dim.min, dim.max + 1)}  # equal neighbours share one <col> element
        for index, col in enumerate(sheet.columns, 1):
            assert widths[index] == pytest.approx(col.width, abs=1), (sheet.name, col.header)


def test_row_counts_follow_the_report(report: Report, workbook: openpyxl.Workbook) -> None:
    inventory = report.inventory
    assert report.findings and inventory.vulnerabilities and inventory.images and report.exec_matrix
    assert workbook["Findings"].max_row - 1 == len(report.findings)
    assert workbook["Vulnerabilities"].max_row - 1 == len(inventory.vulnerabilities)
    assert workbook["Layers & packages"].max_row - 1 == sum(len(i.packages) for i in inventory.images)
    assert workbook["Images"].max_row - 1 == len(inventory.images)
    assert workbook["Exec access"].max_row - 1 == len(report.exec_matrix)
    assert workbook["Nodes"].max_row - 1 == len(inventory.nodes)
    assert workbook["Summary"]["A2"].value == "cluster"


def test_findings_carry_fingerprints_severity_colours_and_reference_links(
        report: Report, workbook: openpyxl.Workbook) -> None:
    ws = workbook["Findings"]
    fingerprints = {ws.cell(r, column(ws, "Fingerprint")).value for r in range(2, ws.max_row + 1)}
    assert fingerprints == {f.fingerprint for f in report.findings}
    severity = column(ws, "Severity")
    for row in range(2, ws.max_row + 1):
        cell = ws.cell(row, severity)
        assert cell.fill.fgColor.rgb.endswith(SEVERITY_COLOURS[cell.value][1].lstrip("#")), (row, cell.value)
    assert ws.cell(2, severity).value == "critical"  # worst first
    reference = ws.cell(2, column(ws, "Reference"))
    assert reference.hyperlink is not None and reference.hyperlink.target.startswith("https://")
    vulns = workbook["Vulnerabilities"]
    link = vulns.cell(2, column(vulns, "Vulnerability"))
    record = vulns.cell(2, column(vulns, "Record")).value
    assert link.hyperlink.target == f"https://osv.dev/vulnerability/{record}"


def test_review_block_is_a_drop_down_and_dates(report: Report, workbook: openpyxl.Workbook) -> None:
    ws = workbook["Findings"]
    headers = [c.value for c in ws[1]]
    assert headers[-len(REVIEW_COLUMNS):] == list(REVIEW_COLUMNS)
    status = ws.cell(1, column(ws, "Status")).column_letter
    validations = {str(v.sqref): v for v in ws.data_validations.dataValidation}
    dropdown = validations[f"{status}2:{status}{ws.max_row}"]
    assert dropdown.type == "list"
    assert dropdown.formula1 == '"open,accepted risk,false positive,fixed"'
    assert {ws.cell(r, column(ws, "Status")).value for r in range(2, ws.max_row + 1)} == {"open"}


def test_a_waived_finding_shows_its_decision(report: Report, tmp_path: Path) -> None:
    waiver = Waiver(owner="alice", reason="needed by the node agent", expires=date(2030, 1, 31),
                    status="false-positive", ticket="SEC-9", check_id=report.findings[0].check_id)
    waived = msgspec.structs.replace(report, findings=(
        msgspec.structs.replace(report.findings[0], waiver=waiver), *report.findings[1:]))
    ws = openpyxl.load_workbook(export_report(waived, tmp_path / "w.xlsx"))["Findings"]
    row = next(r for r in range(2, ws.max_row + 1)
               if ws.cell(r, column(ws, "Fingerprint")).value == report.findings[0].fingerprint)
    got = [ws.cell(row, column(ws, name)).value for name in REVIEW_COLUMNS]
    assert got[0] == "false positive" and got[1] == "alice" and got[2].date() == date(2030, 1, 31)
    assert got[3:] == ["needed by the node agent", "SEC-9"]
    assert ws.cell(row, column(ws, "Due")).number_format == "yyyy-mm-dd"


def test_text_is_never_a_formula_or_a_link(report: Report, tmp_path: Path) -> None:
    hostile = msgspec.structs.replace(report.findings[0], message="=HYPERLINK(\"http://evil.example\",\"x\")",
                                      container="https://evil.example/")
    ws = openpyxl.load_workbook(export_report(
        msgspec.structs.replace(report, findings=(hostile,)), tmp_path / "h.xlsx"))["Findings"]
    message = ws.cell(2, column(ws, "Message"))
    assert message.data_type == "s" and message.value.startswith("=HYPERLINK")
    assert ws.cell(2, column(ws, "Container")).hyperlink is None
