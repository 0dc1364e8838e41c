"""An export killed midway (SIGKILL: no handler, no cleanup) leaves the previous file intact and
nothing half-written beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from audit.export import export_report
from audit.report import Report

# The child runs the real export; the Findings sheet's rows stop after 100 rows, say so on stdout and
# wait on stdin, so the parent kills it at a known point in the middle of writing.
CHILD = """
import dataclasses, os, sys, importlib
from audit.export import export_report
from audit.report import load_report
writer = importlib.import_module(sys.argv[3])
real = writer.build_sheets
def paused(report):
    sheets = real(report)
    findings = sheets[1]
    def rows():
        for number, row in enumerate(findings.rows()):
            if number == 100:
                os.write(1, b"midway\\n")
                sys.stdin.read()
            yield row
    sheets[1] = dataclasses.replace(findings, rows=rows)
    return sheets
writer.build_sheets = paused
export_report(load_report(sys.argv[1]), sys.argv[2])
"""


def open_files_in(pid: int, directory: Path) -> list[str]:
    """What the process has open in `directory` (an unnamed O_TMPFILE file shows as `#inode (deleted)`)."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory) + "/"):
            out.append(target)
    return out


@pytest.mark.parametrize(("name", "module"), [("review.xlsx", "audit.export.xlsx"),
                                              ("sheets.csv.zip", "audit.export.csv")])
def test_killed_export_leaves_the_old_file(report: Report, demo_report_path: Path, tmp_path: Path,
                                           name: str, module: str) -> None:
    target = export_report(report, tmp_path / name)
    before = target.read_bytes()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(demo_report_path), str(target), module],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"midway\n", child.stderr.read() if child.stderr else b""
        writing = open_files_in(child.pid, tmp_path)
        assert writing and all(path.endswith("(deleted)") for path in writing), writing
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_an_export_that_fails_leaves_the_old_file(report: Report, tmp_path: Path) -> None:
    target = export_report(report, tmp_path / "review.xlsx")
    before = target.read_bytes()
    broken = report.__class__(meta=report.meta, findings=(report.findings[0].__class__(
        check_id="KW-ISO-001", category=report.findings[0].category, severity=report.findings[0].severity,
        resource=report.findings[0].resource, message="m", fingerprint="f", observed=object()),))
    with pytest.raises(TypeError):
        export_report(broken, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["review.xlsx"]


def test_a_killed_directory_export_is_cleaned_by_the_next(report: Report, tmp_path: Path) -> None:
    from audit.export.atomic import atomic_directory

    target = export_report(report, tmp_path / "sheets", fmt="csv")
    names = sorted(p.name for p in target.iterdir())
    # what a killed export leaves: a half-built directory, and the previous one moved aside
    (tmp_path / ".sheets.0123456789ab.partial").mkdir()
    (tmp_path / ".sheets.0123456789ab.partial" / "findings.csv").write_text("half")
    os.replace(target, tmp_path / ".sheets.ba9876543210.previous")
    with atomic_directory(tmp_path / "other"):
        pass
    with atomic_directory(target) as building:
        assert sorted(p.name for p in target.iterdir()) == names  # the previous export is back
        (building / "x.csv").write_text("x\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "sheets"]
    assert [p.name for p in target.iterdir()] == ["x.csv"]
