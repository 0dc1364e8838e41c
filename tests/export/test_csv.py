"""CSV: one file per sheet, in a directory or a zip, with the same rows as the spreadsheet."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import msgspec
import pytest

from audit.export import ExportError, export_report, guess_format
from audit.export.csv import file_name
from audit.export.sheets import build_sheets
from audit.report import Report


def read_zip(path: Path) -> dict[str, list[list[str]]]:
    with zipfile.ZipFile(path) as archive:
        return {name: list(csv.reader(io.StringIO(archive.read(name).decode()))) for name in archive.namelist()}


def test_zip_holds_one_file_per_sheet_with_the_sheet_rows(report: Report, tmp_path: Path) -> None:
    files = read_zip(export_report(report, tmp_path / "sheets.csv.zip"))
    sheets = build_sheets(report)
    assert sorted(files) == sorted(file_name(s) for s in sheets)
    assert "layers-and-packages.csv" in files and "exec-access.csv" in files
    for sheet in sheets:
        rows = files[file_name(sheet)]
        expected_header = []
        for c in sheet.columns:
            expected_header += [c.header, f"{c.header} URL"] if c.kind == "link" else [c.header]
        assert rows[0] == expected_header
        assert len(rows) - 1 == sum(1 for _ in sheet.rows())
    findings = files["findings.csv"]
    fingerprint = findings[0].index("Fingerprint")
    assert {row[fingerprint] for row in findings[1:]} == {f.fingerprint for f in report.findings}
    url = findings[0].index("Reference URL")
    assert all(row[url].startswith("https://") for row in findings[1:] if row[url])


def test_directory_is_the_same_as_the_zip(report: Report, tmp_path: Path) -> None:
    directory = export_report(report, tmp_path / "sheets", fmt="csv")
    zipped = read_zip(export_report(report, tmp_path / "sheets.zip", fmt="csv"))
    assert sorted(p.name for p in directory.iterdir()) == sorted(zipped)
    for name, rows in zipped.items():
        assert list(csv.reader(io.StringIO((directory / name).read_text()))) == rows
    # exporting again replaces the directory whole
    export_report(report, directory, fmt="csv")
    assert sorted(p.name for p in directory.iterdir()) == sorted(zipped)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_formula_text_is_defused(report: Report, tmp_path: Path) -> None:
    hostile = msgspec.structs.replace(report.findings[0], message="=cmd|' /C calc'!A0", container="@SUM(1)")
    rows = read_zip(export_report(msgspec.structs.replace(report, findings=(hostile,)), tmp_path / "h.csv.zip"))
    findings = rows["findings.csv"]
    assert findings[1][findings[0].index("Message")] == "'=cmd|' /C calc'!A0"
    assert findings[1][findings[0].index("Container")] == "'@SUM(1)"


def test_format_from_the_name() -> None:
    assert [guess_format(p) for p in ("a.xlsx", "a.csv.zip", "a.json", "a.sarif", "a.sarif.json", "sbom.cdx.zip",
                                      "a.zip", "a")] == ["xlsx", "csv", "json", "sarif", "sarif", "cyclonedx",
                                                         None, None]


def test_unknown_or_unguessable_format_is_one_line(report: Report, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="cannot tell the export format"):
        export_report(report, tmp_path / "out")
    with pytest.raises(ExportError, match="unknown export format 'pdf'"):
        export_report(report, tmp_path / "out", fmt="pdf")
    with pytest.raises(ExportError, match="cannot write"):
        export_report(report, tmp_path / "missing" / "r.xlsx")
