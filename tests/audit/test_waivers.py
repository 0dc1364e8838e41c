"""The waivers file: what it refuses (one line naming file and entry), what its selectors match,
and that waived findings stay in the Report."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from audit.report import Report, load_report
from audit.waivers import WaiverError, apply_waivers, dump_waivers, load_waivers, parse_waivers
from checks.catalogue import ordered
from tests.audit.test_cli import assert_one_line_error, run
from tests.export.conftest import demo_report

TODAY = date(2026, 11, 26)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return load_report(demo_report(tmp_path_factory.mktemp("waivers")))


@pytest.mark.parametrize(("text", "message"), [
    ("waivers:\n  - check_id: KW-ISO-001\n    reason: r\n    expires: 2027-01-01\n",
     "w.yaml: waiver 1 (KW-ISO-001): no owner; every waiver needs an owner, a reason and an expiry date"),
    ("waivers:\n  - {check_id: KW-ISO-001, owner: a, reason: r}\n  - {fingerprint: abc, owner: a, reason: r}\n",
     "w.yaml: waiver 1 (KW-ISO-001): no expiry date; every waiver needs `expires: YYYY-MM-DD`"),
    ("waivers:\n  - {namspace: shop, owner: a, reason: r, expires: 2027-01-01}\n",
     "w.yaml: waiver 1: unknown field namspace"),
    ("waivers:\n  - {owner: a, reason: r, expires: 2027-01-01}\n", "w.yaml: waiver 1: selects nothing"),
    ("waivers:\n  - {check_id: KW-ISO-001, owner: a, reason: r, expires: soon}\n",
     "w.yaml: waiver 1 (KW-ISO-001): expires 'soon' is not a date"),
    ("waivers:\n  - {fingerprint: 12345, owner: a, reason: r, expires: 2027-01-01}\n",
     "w.yaml: waiver 1: fingerprint must be text (quote it)"),
    ("waivers:\n  - {check_id: X, owner: a, reason: r, expires: 2027-01-01, status: maybe}\n",
     "w.yaml: waiver 1 (X): status 'maybe' is not one of accepted-risk, false-positive, fixed"),
    ("waivers: [\n", "w.yaml: not a YAML waivers file"),
    ("- a\n- b\n", "w.yaml: a waivers file is a mapping with one key"),
])
def test_refused_with_one_line(text: str, message: str) -> None:
    with pytest.raises(WaiverError) as raised:
        parse_waivers(text, source="w.yaml")
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_round_trips_through_its_own_text() -> None:
    waivers = parse_waivers("waivers:\n  - {fingerprint: '0123456789abcdef0123', owner: a, reason: r,"
                            " expires: 2027-01-01, ticket: SEC-1, status: fixed}\n"
                            "  - {image: 'nginx:1.27', namespace: shop, owner: b, reason: s, expires: 2027-02-01}\n")
    assert parse_waivers(dump_waivers(waivers)) == waivers
    assert parse_waivers("") == () and parse_waivers("waivers: []\n") == ()


def test_waived_findings_are_marked_not_hidden(report: Report) -> None:
    target = next(f for f in report.findings if f.resource.kind == "Deployment")
    waivers = parse_waivers(f"waivers:\n  - {{fingerprint: '{target.fingerprint}', owner: a, reason: r,"
                            " expires: 2027-01-01}\n")
    waived = apply_waivers(report, waivers, TODAY)
    assert len(waived.findings) == len(report.findings)
    assert [f.fingerprint for f in waived.findings if f.waiver is not None] == [target.fingerprint]
    # applying again (another day, the waiver expired) undoes the first application
    expired = apply_waivers(waived, waivers, date(2027, 1, 2))
    assert all(f.waiver is None for f in expired.findings)
    assert [f.check_id for f in expired.findings if f.check_id.startswith("KW-WAIVE")] == ["KW-WAIVE-001"]
    assert len(expired.findings) == len(report.findings) + 1


def test_selectors(report: Report) -> None:
    vuln = next(f for f in report.findings if f.check_id == "KW-VULN-001")
    image = vuln.resource.name
    workloads = {f.resource for f in apply_waivers(report, parse_waivers(
        f"waivers:\n  - {{image: '{image}', owner: a, reason: r, expires: 2027-01-01}}\n"), TODAY).findings
        if f.waiver is not None}
    assert any(r.kind == "Image" and r.name == image for r in workloads)
    runners = {p.workload for p in report.inventory.pods for c in p.spec.containers if c.image == image}
    assert {r for r in workloads if r.kind != "Image"} <= runners
    assert {r for r in workloads if r.kind != "Image"}  # a workload's own findings match its image too
    namespace = next(f.resource.namespace for f in report.findings if f.resource.namespace)
    by_ns = apply_waivers(report, parse_waivers(
        f"waivers:\n  - {{namespace: {namespace}, check_id: KW-ROLL-008, owner: a, reason: r,"
        " expires: 2027-01-01}\n"), TODAY)
    assert {(f.check_id, f.resource.namespace) for f in by_ns.findings if f.waiver} <= {("KW-ROLL-008", namespace)}


def test_waiver_checks_are_in_the_catalogue() -> None:
    ids = {c.id: c for c in ordered()}
    assert ids["KW-WAIVE-001"].category == "coverage" and ids["KW-WAIVE-002"].category == "coverage"
    assert "waiver-expired" in run("checks").stdout and "waiver-matches-nothing" in run("checks").stdout
    markdown = run("checks", "--markdown").stdout
    assert "## KW-WAIVE-001" in markdown and "## KW-WAIVE-002" in markdown


def test_a_bad_waivers_file_stops_the_scan_before_it_starts(tmp_path: Path) -> None:
    bad = tmp_path / "waivers.yaml"
    bad.write_text("waivers:\n  - {check_id: KW-ISO-001, reason: r, expires: 2027-01-01}\n")
    assert_one_line_error(run("demo", "--pods", "60", "--no-images", "-o", str(tmp_path / "r.json"),
                              "--waivers", str(bad)), f"{bad}: waiver 1 (KW-ISO-001): no owner")
    assert not (tmp_path / "r.json").exists()
    assert_one_line_error(run("demo", "--pods", "60", "--waivers", str(tmp_path / "none.yaml"), "-o",
                              str(tmp_path / "r.json")), "cannot read waivers file")


def test_load_waivers_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("waivers:\n  - {check_id: KW-ISO-001, owner: a, reason: r, expires: 2027-01-01}\n")
    assert load_waivers(path)[0].check_id == "KW-ISO-001"
