"""The review round trip: decisions typed into the exported spreadsheet become the waivers file.

`kubeward review import reviewed.xlsx` reads the Findings sheet's review block
(Status, Owner, Due, Justification, Ticket), matches each row to its finding by
the Fingerprint column, and writes one waiver per decided row (`accepted risk`,
`false positive`, `fixed`; `open` rows decide nothing). Columns are found by
their header, so reviewers may reorder or add columns.

Nothing is dropped silently: a decided row that lacks an Owner or a Due date,
whose fingerprint was damaged, whose finding no longer exists in a newer Report
(`--report`), or whose Check or object cells no longer agree with the finding
its fingerprint names, is reported with its row number and left out.

Merging into an existing waivers file (`--waivers`): a decision the file already
records for that finding is left as it is, a changed decision replaces the
waiver for that fingerprint, and a row set back to `open` removes it.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from audit.export.sheets import FINDINGS_SHEET, REVIEW_STATUSES, WAIVER_STATUS_OF
from audit.findings import Category, Finding, Severity, Waiver
from audit.model import Inventory, ObjectRef
from audit.report import Report
from audit.waivers import WaiverMatcher

_FINGERPRINT = re.compile(r"^[0-9a-f]{20}$")
REQUIRED_HEADERS = ("Check", "Kind", "Name", "Namespace", "Fingerprint", "Status", "Owner", "Due",
                    "Justification", "Ticket")


class ReviewError(Exception):
    """A reviewed spreadsheet kubeward cannot read at all; one line naming the file."""


@dataclass(frozen=True)
class RowProblem:
    """A decided row that could not become a waiver, and why."""

    row: int
    """The spreadsheet row number (the header is row 1)."""
    fingerprint: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}{f' ({self.fingerprint})' if self.fingerprint else ''}: {self.reason}"


@dataclass
class ReviewImport:
    waivers: list[Waiver]
    """The waivers file to write: the existing waivers kept, and the new decisions."""
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    reopened: int = 0
    open_rows: int = 0
    problems: list[RowProblem] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    number: int
    check_id: str
    resource: ObjectRef
    fingerprint: str
    status: str
    owner: str
    due: object
    justification: str
    ticket: str


def read_rows(path: str | os.PathLike[str]) -> list[_Row]:
    """The Findings sheet's rows, with the cells the import needs, found by header."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise ReviewError(f"{path}: no such file") from None
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ReviewError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        if FINDINGS_SHEET not in workbook.sheetnames:
            raise ReviewError(f"{path}: no {FINDINGS_SHEET} sheet (is it a kubeward export?)")
        rows = workbook[FINDINGS_SHEET].iter_rows(values_only=True)
        header = [str(cell).strip() if cell is not None else "" for cell in next(rows, ())]
        missing = [name for name in REQUIRED_HEADERS if name not in header]
        if missing:
            raise ReviewError(f"{path}: the {FINDINGS_SHEET} sheet has no {', '.join(missing)} column")
        at = {name: header.index(name) for name in REQUIRED_HEADERS}
        out = []
        for number, cells in enumerate(rows, 2):
            def cell(name: str, cells: tuple[object, ...] = cells) -> object:
                index = at[name]
                return cells[index] if index < len(cells) else None

            if all(value in (None, "") for value in cells):
                continue
            out.append(_Row(
                number=number, check_id=_text(cell("Check")),
                resource=ObjectRef(kind=_text(cell("Kind")), name=_text(cell("Name")),
                                   namespace=_text(cell("Namespace")) or None),
                fingerprint=_text(cell("Fingerprint")), status=_text(cell("Status")).lower() or "open",
                owner=_text(cell("Owner")), due=cell("Due"), justification=_text(cell("Justification")),
                ticket=_text(cell("Ticket")),
            ))
        return out
    finally:
        workbook.close()


def import_review(path: str | os.PathLike[str], existing: Sequence[Waiver] = (), *,
                  report: Report | None = None) -> ReviewImport:
    """The waivers a reviewed spreadsheet records, merged into `existing`. With `report` (a newer
    Report), rows whose finding it no longer has are reported instead of imported."""
    rows = read_rows(path)
    result = ReviewImport(waivers=list(existing))
    current = {f.fingerprint: f for f in report.findings} if report is not None else None
    matcher = WaiverMatcher(report.inventory if report is not None else Inventory())
    decided: dict[str, _Row] = {}
    for row in rows:
        status = row.status
        if status not in REVIEW_STATUSES:
            result.problems.append(RowProblem(row.number, row.fingerprint, f"status {row.status!r} is not one of "
                                                                          f"{', '.join(REVIEW_STATUSES)}"))
            continue
        if not _FINGERPRINT.match(row.fingerprint):
            if status != "open":
                reason = "no fingerprint" if not row.fingerprint else "the fingerprint was edited (20 hex digits)"
                result.problems.append(RowProblem(row.number, row.fingerprint, f"{reason}: cannot be matched"))
            continue
        earlier = decided.get(row.fingerprint)
        if earlier is not None and _decision(earlier) != _decision(row):
            result.problems.append(RowProblem(row.number, row.fingerprint,
                                              f"the same finding as row {earlier.number}, with another decision"))
            continue
        decided[row.fingerprint] = row
        if status == "open":
            result.open_rows += 1
            before = len(result.waivers)
            result.waivers = [w for w in result.waivers if not _only_this(w, row.fingerprint)]
            result.reopened += before - len(result.waivers)
            continue
        finding = _finding_of(row, current, result)
        if finding is None:
            continue
        waiver = _waiver(row, finding, result)
        if waiver is None:
            continue
        same = [w for w in result.waivers if _same_decision(w, waiver) and matcher.matches(w, finding)]
        if same:
            result.unchanged += 1
            continue
        before = len(result.waivers)
        result.waivers = [w for w in result.waivers if not _only_this(w, row.fingerprint)]
        result.replaced += before - len(result.waivers)
        result.added += before == len(result.waivers)
        result.waivers.append(waiver)
    return result


def _finding_of(row: _Row, current: dict[str, Finding] | None, result: ReviewImport) -> Finding | None:
    """The finding a row decides on: from the newer Report when there is one, else as the row shows it."""
    if current is None:
        return Finding(check_id=row.check_id, category=Category.COVERAGE, severity=Severity.INFO,
                       resource=row.resource, message="", fingerprint=row.fingerprint)
    finding = current.get(row.fingerprint)
    if finding is None:
        result.problems.append(RowProblem(row.number, row.fingerprint,
                                          f"{row.check_id} on {_describe(row.resource)}: the finding no longer "
                                          "exists in the report"))
        return None
    if (row.check_id, row.resource) != (finding.check_id, finding.resource):
        result.problems.append(RowProblem(
            row.number, row.fingerprint,
            f"the row was edited: it shows {row.check_id} on {_describe(row.resource)}, the fingerprint names "
            f"{finding.check_id} on {_describe(finding.resource)}"))
        return None
    return finding


def _waiver(row: _Row, finding: Finding, result: ReviewImport) -> Waiver | None:
    due = _date(row.due)
    missing = [name for name, value in (("an Owner", row.owner), ("a Due date", row.due)) if not value]
    if row.status != "fixed" and not row.justification:
        missing.append("a Justification")
    if missing:
        result.problems.append(RowProblem(row.number, row.fingerprint,
                                          f"{row.status} needs {' and '.join(missing)}"))
        return None
    if due is None:
        result.problems.append(RowProblem(row.number, row.fingerprint,
                                          f"Due {row.due!r} is not a date (YYYY-MM-DD)"))
        return None
    reason = row.justification or "marked fixed in review; expected gone by the due date"
    return Waiver(owner=row.owner, reason=reason, expires=due, status=WAIVER_STATUS_OF[row.status],
                  ticket=row.ticket, check_id=finding.check_id or None, fingerprint=row.fingerprint)


def _decision(row: _Row) -> tuple[object, ...]:
    return (row.status, row.owner, _date(row.due), row.justification, row.ticket)


def _same_decision(a: Waiver, b: Waiver) -> bool:
    return (a.status, a.owner, a.reason, a.expires, a.ticket) == (b.status, b.owner, b.reason, b.expires, b.ticket)


def _only_this(waiver: Waiver, fingerprint: str) -> bool:
    """A waiver for exactly this one finding (the kind the import writes)."""
    return waiver.fingerprint == fingerprint


def _describe(resource: ObjectRef) -> str:
    return str(resource) if resource.kind else "(no object)"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def waiver_summary(result: ReviewImport) -> str:
    return (f"{len(result.waivers)} waivers: {result.added} added, {result.replaced} replaced, "
            f"{result.unchanged} unchanged, {result.reopened} removed (reopened); {result.open_rows} rows open")
