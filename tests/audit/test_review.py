"""The review round trip, end to end with the real command line: export the spreadsheet, a reviewer
edits cells (openpyxl), `review import` writes the waivers file, the next scan shows them waived."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl

from audit.report import load_report
from audit.waivers import load_waivers
from tests.export.conftest import demo_report, kubeward


def edit(workbook: Path, out: Path, decisions: dict[int, dict[str, object]]) -> list[str]:
    """Fill in review cells by row number; returns the fingerprints of those rows."""
    book = openpyxl.load_workbook(workbook)
    ws = book["Findings"]
    at = {cell.value: cell.column for cell in ws[1]}
    for row, cells in decisions.items():
        for header, value in cells.items():
            ws.cell(row, at[header]).value = value
    book.save(out)
    return [ws.cell(row, at["Fingerprint"]).value for row in decisions]


def test_review_round_trip(tmp_path: Path) -> None:
    exported = tmp_path / "review.xlsx"
    result = kubeward("demo", "--pods", "200", "--seed", "11", "-o", str(exported))
    assert result.returncode == 0, result.stderr
    reviewed = tmp_path / "reviewed.xlsx"
    decided = edit(exported, reviewed, {
        2: {"Status": "accepted risk", "Owner": "alice", "Due": date(2099, 3, 31),
            "Justification": "break-glass access, reviewed", "Ticket": "SEC-101"},
        3: {"Status": "false positive", "Owner": "bob", "Due": "2099-01-15", "Justification": "read-only socket"},
        4: {"Status": "fixed", "Owner": "carol", "Due": date(2099, 2, 1)},
    })
    problems = edit(reviewed, reviewed, {
        5: {"Status": "accepted risk", "Owner": "dave"},  # no Due, no Justification
        6: {"Status": "fixed", "Owner": "erin", "Due": date(2099, 1, 1), "Fingerprint": "edited"},
    })
    waivers_path = tmp_path / "waivers.yaml"
    result = kubeward("review", "import", str(reviewed), "-o", str(waivers_path))
    assert result.returncode == 1, result.stderr  # rows that could not be imported are reported
    assert "Traceback" not in result.stderr
    assert f"row 5 ({problems[0]}): accepted risk needs a Due date and a Justification" in result.stderr
    assert "row 6 (edited): the fingerprint was edited" in result.stderr
    waivers = load_waivers(waivers_path)
    assert [(w.fingerprint, w.status, w.owner, w.expires) for w in waivers] == [
        (decided[0], "accepted-risk", "alice", date(2099, 3, 31)),
        (decided[1], "false-positive", "bob", date(2099, 1, 15)),
        (decided[2], "fixed", "carol", date(2099, 2, 1)),
    ]
    assert waivers[0].ticket == "SEC-101" and waivers[0].reason == "break-glass access, reviewed"

    # the next scan applies them: the three findings are waived, still there, nothing else is
    rescanned = demo_report(tmp_path, "--waivers", str(waivers_path), name="next.json")
    report = load_report(rescanned)
    waived = {f.fingerprint: f.waiver for f in report.findings if f.waiver is not None}
    assert set(waived) == set(decided)
    assert waived[decided[1]].owner == "bob"
    assert not any(f.check_id.startswith("KW-WAIVE") for f in report.findings)

    # exporting again shows the decisions; importing that unchanged sheet into the file changes nothing
    again = tmp_path / "again.xlsx"
    assert kubeward("export", str(rescanned), "-o", str(again)).returncode == 0
    result = kubeward("review", "import", str(again), "--waivers", str(waivers_path))
    assert result.returncode == 0, result.stderr
    assert "3 unchanged" in result.stdout and load_waivers(waivers_path) == waivers

    # a row set back to open removes its waiver
    edit(again, again, {2: {"Status": "open"}})
    assert kubeward("review", "import", str(again), "--waivers", str(waivers_path)).returncode == 0
    assert [w.fingerprint for w in load_waivers(waivers_path)] == decided[1:]


def test_rows_whose_finding_is_gone_are_reported(tmp_path: Path) -> None:
    exported = tmp_path / "review.xlsx"
    assert kubeward("demo", "--pods", "200", "--seed", "11", "-o", str(exported)).returncode == 0
    edit(exported, exported, {2: {"Status": "accepted risk", "Owner": "a", "Due": date(2099, 1, 1),
                                                  "Justification": "j"}})
    other = demo_report(tmp_path, "--no-images", name="other.json")
    book = openpyxl.load_workbook(exported)
    ws = book["Findings"]
    at = {cell.value: cell.column for cell in ws[1]}
    ws.cell(2, at["Fingerprint"]).value = "0" * 20  # a well-formed fingerprint no finding has
    book.save(exported)
    result = kubeward("review", "import", str(exported), "--report", str(other), "-o", str(tmp_path / "w.yaml"))
    assert result.returncode == 1
    assert "the finding no longer exists in the report" in result.stderr
    assert load_waivers(tmp_path / "w.yaml") == ()


def test_not_a_workbook_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_text("not a zip")
    result = kubeward("review", "import", str(path))
    assert result.returncode == 2 and result.stderr.startswith(f"kubeward: error: {path}: not a readable .xlsx")
