"""Reading audit logs: sessions, not lines; every file form; damage counted, never fatal."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.exec_evidence import ExecOutcome, ExecSession
from collectors.auditlog import reader
from collectors.auditlog.files import AuditLogPathError
from collectors.auditlog.reader import read_audit_logs
from tests.collectors.auditlog.builder import AuditLogBuilder

START = datetime(2026, 11, 20, 10, tzinfo=UTC)
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def read(*paths: Path, now: datetime = NOW, **options: object) -> reader.AuditLogResult:
    return read_audit_logs(list(paths), now=now, **options)  # type: ignore[arg-type]


def sessions_of(log: AuditLogBuilder, tmp_path: Path) -> list[ExecSession]:
    return list(read(log.write(tmp_path / "audit.log")).evidence.sessions)


def test_one_session_per_request_not_per_stage(tmp_path: Path) -> None:
    log = AuditLogBuilder(START)
    log.noise(20)
    audit_id = log.exec_("shop", "web-1", container="web", command=["/bin/sh", "-c", "cat /etc/passwd | wc -l"])
    log.noise(20)
    [session] = sessions_of(log, tmp_path)
    assert session.path == "pods/exec"
    assert session.outcome is ExecOutcome.OPENED
    assert (session.namespace, session.pod, session.container) == ("shop", "web-1", "web")
    assert session.command == ("/bin/sh", "-c", "cat /etc/passwd | wc -l")
    assert (session.user, session.groups) == ("kubernetes-admin", ("system:masters", "system:authenticated"))
    assert session.source_ips == ("10.0.4.17",)
    assert session.user_agent.startswith("kubectl/v1.32.4")
    assert (session.verb, session.code, session.stage) == ("get", 101, "ResponseComplete")
    assert session.audit_ids == (audit_id,)
    assert session.time == START + timedelta(seconds=21)


def test_kubectl_get_then_create_retry_is_one_session(tmp_path: Path) -> None:
    log = AuditLogBuilder(START)
    log.refused_exec("shop", "web-1", user="mallory", container="web", command=["sh"])
    log.tick(timedelta(minutes=1))
    log.refused_exec("shop", "web-2", user="mallory", container="web", command=["sh"])
    sessions = sessions_of(log, tmp_path)
    assert [(s.pod, s.outcome, s.verb, len(s.audit_ids)) for s in sessions] == [
        ("web-1", ExecOutcome.DENIED, "create", 2), ("web-2", ExecOutcome.DENIED, "create", 2)]
    assert sessions[0].time == START + timedelta(seconds=1)  # the first attempt's


def test_a_create_that_retries_nothing_is_its_own_session(tmp_path: Path) -> None:
    log = AuditLogBuilder(START)
    log.exec_("shop", "web-1", container="web", verb="create")  # an older kubectl: SPDY only
    log.exec_("shop", "web-1", container="web")  # WebSocket, opened …
    log.exec_("shop", "web-1", container="web", verb="create")  # … so this create is a new session
    log.exec_("shop", "web-1", container="web", code=403, user="bob")
    log.tick(timedelta(minutes=5))
    log.exec_("shop", "web-1", container="web", code=403, user="bob", verb="create")  # too late to be the retry
    sessions = sessions_of(log, tmp_path)
    assert [(s.verb, s.outcome, s.user) for s in sessions] == [
        ("create", ExecOutcome.OPENED, "kubernetes-admin"), ("get", ExecOutcome.OPENED, "kubernetes-admin"),
        ("create", ExecOutcome.OPENED, "kubernetes-admin"), ("get", ExecOutcome.DENIED, "bob"),
        ("create", ExecOutcome.DENIED, "bob")]


def test_every_kind_of_event(tmp_path: Path) -> None:
    log = AuditLogBuilder(START)
    log.pod_stream("attach", "shop", "web-1", container="sidecar")
    log.pod_stream("portforward", "shop", "db-0", code=500)
    log.pod_stream("portforward", "shop", "db-0", code=500, verb="create", at=log.tick(timedelta(milliseconds=5)))
    log.debug("shop", "web-1")
    log.request(verb="get", uri="/api/v1/namespaces/shop/pods/web-1/ephemeralcontainers", code=200,
                object_ref={"resource": "pods", "namespace": "shop", "name": "web-1",
                            "subresource": "ephemeralcontainers"})  # reading them opens nothing
    log.kubelet("node-1:10250", "exec", "shop/web-1/0b1f6c1e-7a43-4a1e-9f0e-2d8c6b7a5e41/web",
                query="command=id&command=-u&output=1", code=400)
    log.kubelet("https:node-2:10250", "run", "shop/web%2D2/web", verb="create", code=200)
    log.kubelet("node-1", "attach", "shop/web-1/web")
    log.kubelet("node-1", "portForward", "shop/db-0")
    log.kubelet("node-1", "metrics", "cadvisor", code=200)  # nodes/proxy, but no container
    sessions = sessions_of(log, tmp_path)
    summary = [(s.path, s.kubelet_endpoint, s.node, s.namespace, s.pod, s.container, s.command, s.outcome.value)
               for s in sessions]
    assert summary == [
        ("pods/attach", "", "", "shop", "web-1", "sidecar", (), "opened"),
        ("pods/portforward", "", "", "shop", "db-0", "", (), "failed"),
        ("pods/ephemeralcontainers", "", "", "shop", "web-1", "", (), "opened"),
        ("nodes/proxy", "exec", "node-1", "shop", "web-1", "web", ("id", "-u"), "failed"),
        ("nodes/proxy", "run", "node-2", "shop", "web-2", "web", (), "opened"),
        ("nodes/proxy", "attach", "node-1", "shop", "web-1", "web", (), "opened"),
        ("nodes/proxy", "portForward", "node-1", "shop", "db-0", "", (), "opened"),
    ]
    assert len(sessions[1].audit_ids) == 2  # the port-forward's get and create retry


def test_impersonation_is_judged_as_the_impersonated_user(tmp_path: Path) -> None:
    log = AuditLogBuilder(START)
    account = ("system:serviceaccount:shop:deployer", ["system:serviceaccounts", "system:authenticated"])
    log.exec_("shop", "web-1", container="web", impersonate=account, code=403)
    [session] = sessions_of(log, tmp_path)
    assert (session.user, session.impersonated_user, session.identity) == (
        "kubernetes-admin", "system:serviceaccount:shop:deployer", "system:serviceaccount:shop:deployer")
    assert session.identity_groups == ("system:serviceaccounts", "system:authenticated")
    assert session.service_account == ("shop", "deployer")
    assert session.outcome is ExecOutcome.DENIED


def test_credentials_in_commands_are_masked(tmp_path: Path) -> None:
    log = AuditLogBuilder(START)
    log.exec_("db", "pg-0", container="pg", command=["psql", "--password=hunter2", "-c", "select 1"])
    log.exec_("db", "pg-0", container="pg", command=["env", "PGPASSWORD=hunter2", "API_TOKEN=abc", "psql"])
    commands = [s.command for s in sessions_of(log, tmp_path)]
    assert commands == [("psql", "--password=***", "-c", "select 1"),
                        ("env", "PGPASSWORD=***", "API_TOKEN=***", "psql")]
    assert b"hunter2" in log.data()


def test_the_window(tmp_path: Path) -> None:
    log = AuditLogBuilder(START)
    log.exec_("shop", "old", at=NOW - timedelta(days=31))
    log.exec_("shop", "recent", at=NOW - timedelta(days=29))
    log.exec_("shop", "latest", at=NOW - timedelta(hours=11))
    log.exec_("shop", "future", at=NOW + timedelta(hours=1))
    path = log.write(tmp_path / "audit.log")
    assert [s.pod for s in read(path).evidence.sessions] == ["recent", "latest"]
    assert [s.pod for s in read(path, window=timedelta(hours=12)).evidence.sessions] == ["latest"]
    evidence = read(path, window=timedelta(hours=12)).evidence
    assert (evidence.since, evidence.until) == (NOW - timedelta(hours=12), NOW)
    # without `now`, the window ends at the current time
    assert read_audit_logs([path]).evidence.until > NOW


def test_a_directory_of_rotated_gzip_and_live_files(tmp_path: Path) -> None:
    logs = tmp_path / "audit"
    logs.mkdir()
    older = AuditLogBuilder(NOW - timedelta(days=3))
    older.exec_("shop", "web-1", container="web", stages=("ResponseStarted",), audit_id="split-across-files")
    older.noise(10)
    older.write(logs / "audit-2026-11-23T12-00-05.123.log.gz", compress=True)
    middle = AuditLogBuilder(NOW - timedelta(days=2))
    middle.exec_("shop", "web-1", container="web", stages=("ResponseComplete",), audit_id="split-across-files",
                 at=NOW - timedelta(days=3, seconds=-1))
    middle.exec_("shop", "web-2", container="web")
    middle.write(logs / "audit-2026-11-24T12-00-00.000.log")
    live = AuditLogBuilder(NOW - timedelta(hours=5))
    live.pod_stream("attach", "shop", "web-3", container="web")
    live.write(logs / "audit.log")
    ancient = AuditLogBuilder(NOW - timedelta(days=90))
    ancient.raw('{"requestURI": "/api/v1/namespaces/x/pods/y/exec", damaged')
    ancient.write(logs / "audit-2026-08-01T00-00-00.000.log.gz", compress=True)
    (logs / "policy.yaml").write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\n")

    result = read(logs)
    evidence = result.evidence
    assert [Path(f.path).name for f in evidence.files] == [
        "audit-2026-08-01T00-00-00.000.log.gz", "audit-2026-11-23T12-00-05.123.log.gz",
        "audit-2026-11-24T12-00-00.000.log", "audit.log"]
    assert evidence.files[0].skipped == "rotated before the window"
    assert evidence.files[0].lines == 0  # never opened: its damaged line went unseen
    assert result.gaps == ()
    assert [(s.pod, s.stage, s.code) for s in evidence.sessions] == [
        ("web-1", "ResponseComplete", 101), ("web-2", "ResponseComplete", 101), ("web-3", "ResponseComplete", 101)]
    assert evidence.files[1].lines == 11
    assert evidence.covered_from == NOW - timedelta(days=3, seconds=-1)


def test_damaged_lines_are_counted_and_reported(tmp_path: Path) -> None:
    log = AuditLogBuilder(START)
    log.exec_("shop", "web-1", container="web")
    good = log.lines[-1]
    log.raw(good[: len(good) // 2])  # a line cut short
    log.raw('{"kind": "Event", "requestURI": "/api/v1/namespaces/shop/pods/web-1/exec", "user": "alice"}')
    log.raw("not json at all /exec")
    log.raw("not json and not about exec either")  # never decoded: not a candidate
    log.noise(5)
    log.exec_("shop", "web-2", container="web")
    result = read(log.write(tmp_path / "audit.log"))
    [file] = result.evidence.files
    assert (file.damaged, file.first_damaged_line, file.lines) == (3, 3, 13)
    assert [s.pod for s in result.evidence.sessions] == ["web-1", "web-2"]
    [gap] = result.gaps
    assert (gap.source, gap.reason, gap.resource) == ("auditlog", "damaged", str(tmp_path / "audit.log"))
    assert gap.message == "3 damaged lines skipped (the first at line 3)"


def test_a_truncated_gzip_stream_keeps_what_was_read(tmp_path: Path) -> None:
    log = AuditLogBuilder(START)
    log.exec_("shop", "web-1", container="web")
    log.noise(3000)
    path = tmp_path / "audit.log.gz"
    data = gzip.compress(log.data())
    path.write_bytes(data[: len(data) * 2 // 3])
    result = read(path)
    [gap] = result.gaps
    assert gap.reason == "error"
    assert "the compressed stream ends early" in gap.message
    assert [s.pod for s in result.evidence.sessions] == ["web-1"]


def test_small_chunks_read_the_same_as_large_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLogBuilder(START)
    for index in range(30):
        log.noise(3)
        log.refused_exec("shop", f"web-{index}", user="mallory")
        log.exec_("shop", f"web-{index}", container="web", command=["sh"])
    path = log.write(tmp_path / "audit.log")
    whole = read(path).evidence
    monkeypatch.setattr(reader, "CHUNK", 101)
    chunked = read(path).evidence
    assert chunked.sessions == whole.sessions
    assert chunked.files[0].lines == whole.files[0].lines == len(log.lines)
    assert len(whole.sessions) == 60


def test_the_byte_test_keeps_ordinary_lines_from_being_decoded(tmp_path: Path) -> None:
    log = AuditLogBuilder(START)
    log.noise(500)
    log.exec_("shop", "web-1", container="web")
    [file] = read(log.write(tmp_path / "audit.log")).evidence.files
    assert (file.lines, file.candidates, file.events) == (502, 2, 2)


def test_a_last_line_without_newline_and_an_overlong_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_LINE", 4096)
    monkeypatch.setattr(reader, "CHUNK", 1024)
    log = AuditLogBuilder(START)
    log.exec_("shop", "web-1", container="web")
    log.raw("x" * 10_000)
    log.exec_("shop", "web-2", container="web")
    path = tmp_path / "audit.log"
    path.write_bytes(log.data().rstrip(b"\n"))  # the API server is writing the last line right now
    result = read(path)
    assert [s.pod for s in result.evidence.sessions] == ["web-1", "web-2"]
    [file] = result.evidence.files
    assert (file.damaged, file.lines) == (1, 5)


def test_paths_that_are_not_logs(tmp_path: Path) -> None:
    with pytest.raises(AuditLogPathError, match="no such file or directory"):
        read(tmp_path / "missing.log")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AuditLogPathError, match="holds no audit log files"):
        read(tmp_path / "empty")


def test_events_without_times_or_of_other_kinds(tmp_path: Path) -> None:
    log = AuditLogBuilder(START)
    log.exec_("shop", "web-1", container="web", stages=("ResponseComplete",))
    event = json.loads(log.lines[-1])
    log.raw(json.dumps({**event, "kind": "EventList"}))
    del event["requestReceivedTimestamp"], event["stageTimestamp"]
    log.raw(json.dumps(event))
    result = read(log.write(tmp_path / "audit.log"))
    assert len(result.evidence.sessions) == 1
    assert result.evidence.files[0].damaged == 2
