"""Audit snapshot export: one Report, written in the format a reader needs.

    export_report(report, "review.xlsx")             # the review spreadsheet
    export_report(report, "out", fmt="csv")          # a directory of CSV files (or out.zip)
    export_report(report, "report.json")             # the Report itself, reopenable with `kubeward open`
    export_report(report, "kubeward.sarif")          # SARIF 2.1.0 for code-scanning dashboards
    export_report(report, "sbom.zip", fmt="cyclonedx")   # a CycloneDX SBOM per image

Every export replaces its target only once it is complete (`atomic.py`). The
command line and the dashboard both call `export_report`; nothing here imports
Textual.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from audit.report import Report, save_report

FORMATS = ("xlsx", "csv", "json", "sarif", "cyclonedx")
"""The export formats, by name."""

SUFFIXES = {".xlsx": "xlsx", ".csv": "csv", ".json": "json", ".sarif": "sarif", ".cdx": "cyclonedx"}
"""The formats a path's suffix names (`report.sarif.json` is SARIF, `sbom.cdx.zip` CycloneDX,
`sheets.csv.zip` CSV)."""


class ExportError(Exception):
    """An export that cannot be written; one line naming the target."""


def guess_format(path: str | os.PathLike[str]) -> str | None:
    """The format a path names by its suffixes, or None when it names none."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    for marker in (".sarif", ".cdx"):
        if marker in suffixes:
            return SUFFIXES[marker]
    if suffixes and suffixes[-1] == ".zip":
        suffixes.pop()  # out.csv.zip: CSV files in a zip
    return SUFFIXES.get(suffixes[-1]) if suffixes else None


def export_report(report: Report, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write `report` to `path` as `fmt` (default: from the path's suffix) and return the path written.

    Raises ExportError for an unknown or unguessable format, or a target that cannot be written;
    an existing target is replaced only by a complete export.
    """
    name = fmt or guess_format(path)
    if name is None:
        raise ExportError(f"{path}: cannot tell the export format from the name; choose one of {', '.join(FORMATS)}")
    if name not in FORMATS:
        raise ExportError(f"unknown export format {name!r}; choose one of {', '.join(FORMATS)}")
    try:
        return _writer(name)(report, path)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None


def _writer(name: str) -> Callable[[Report, str | os.PathLike[str]], Path]:
    if name == "json":
        return save_report
    if name == "xlsx":
        from audit.export.xlsx import write_xlsx

        return write_xlsx
    if name == "csv":
        from audit.export.csv import write_csv

        return write_csv
    if name == "sarif":
        from audit.export.sarif import write_sarif

        return write_sarif
    from audit.export.cyclonedx import write_cyclonedx

    return write_cyclonedx
