"""`--audit-log` and `--since` on the command line, run as a user runs them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from audit.report import load_report
from tests.audit.test_cli import assert_one_line_error, run
from tests.collectors.auditlog.builder import AuditLogBuilder


def test_a_missing_audit_log_is_one_line_before_the_cluster_is_read(serve, tmp_path: Path) -> None:
    double, kubeconfig = serve([])
    double.stop()  # nothing answers: the paths are checked first
    result = run("scan", "--no-images", "--kubeconfig", str(kubeconfig), "--audit-log", str(tmp_path / "nope.log"))
    assert_one_line_error(result, "audit log", "nope.log", "no such file or directory")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run("--audit-log", str(tmp_path / "empty"), "scan", "--kubeconfig", str(kubeconfig)),
                          "holds no audit log files")


def test_a_bad_since_is_one_line(serve, tmp_path: Path) -> None:
    _, kubeconfig = serve([])
    log = AuditLogBuilder().write(tmp_path / "audit.log")
    assert_one_line_error(run("scan", "--kubeconfig", str(kubeconfig), "--audit-log", str(log), "--since", "a while"),
                          "--since", "not a duration")


def test_scan_reads_the_audit_logs(serve, demo_objects, tmp_path: Path) -> None:
    _, kubeconfig = serve(demo_objects)
    pods = [o for o in demo_objects if o["kind"] == "Pod" and o["metadata"]["namespace"] == "payments"]
    target = pods[0]["metadata"]["name"]
    now = datetime.now(UTC)
    logs = tmp_path / "logs"
    logs.mkdir()
    older = AuditLogBuilder(now - timedelta(days=3))
    older.noise(50)
    older.exec_("payments", target, command=["bash"], user="priya@example.com", groups=["team-payments"])
    older.write(logs / f"audit-{now - timedelta(days=2):%Y-%m-%dT%H-%M-%S}.000.log.gz", compress=True)
    live = AuditLogBuilder(now - timedelta(hours=2))
    for _ in range(3):
        live.refused_exec("payments", target, user="mallory@example.com")
    live.write(logs / "audit.log")
    out = tmp_path / "report.json"

    result = run("scan", "--no-images", "--kubeconfig", str(kubeconfig), "--audit-log", str(logs), "-o", str(out))
    assert result.returncode == 0, result.stderr
    evidence = load_report(out).inventory.exec_evidence
    assert evidence is not None
    assert [(s.identity, s.outcome.value) for s in evidence.sessions] == [
        ("priya@example.com", "opened"), *[("mallory@example.com", "denied")] * 3]
    checks = {f.check_id for f in load_report(out).findings}
    assert {"KW-EXEC-006", "KW-EXEC-009", "KW-EXEC-011"} <= checks
    assert "Audit log: 4 exec sessions (1 opened, 3 denied, 0 failed) in 2 files" in result.stdout

    narrow = run("scan", "--no-images", "--kubeconfig", str(kubeconfig), "--audit-log", str(logs),
                 "--since", "12h", "-o", str(out))
    assert narrow.returncode == 0, narrow.stderr
    evidence = load_report(out).inventory.exec_evidence
    assert evidence is not None and [s.identity for s in evidence.sessions] == ["mallory@example.com"] * 3
