"""Exec evidence in the Report: it round-trips, and Reports written before it still load."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from audit.access import ExecPath
from audit.exec_evidence import ExecOutcome, SessionPath, summarize
from audit.model import Inventory
from audit.report import Report, ReportMeta, dumps, loads
from collectors.auditlog.reader import read_lines
from tests.collectors.auditlog.builder import AuditLogBuilder

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def evidence():  # type: ignore[no-untyped-def]
    log = AuditLogBuilder(NOW - timedelta(days=1))
    log.exec_("shop", "web-1", container="web", command=["sh"], user="alice")
    log.exec_("shop", "web-1", container="web", command=["id"], user="alice")
    log.exec_("shop", "web-1", container="web", command=["sh"], user="alice", code=403)
    log.refused_exec("shop", "web-1", user="bob", container="web")
    log.pod_stream("attach", "shop", "web-1", container="web", user="alice",
                   impersonate=("system:serviceaccount:shop:web", ["system:serviceaccounts"]))
    return read_lines([line.encode() for line in log.lines], since=NOW - timedelta(days=30), until=NOW)


def test_a_report_with_exec_evidence_round_trips() -> None:
    report = Report(meta=ReportMeta(tool_version="test"), inventory=Inventory(exec_evidence=evidence()))
    again = loads(dumps(report))
    assert again == report
    assert again.inventory.exec_evidence is not None
    assert len(again.inventory.exec_evidence.sessions) == 5


def test_a_report_written_before_exec_evidence_loads() -> None:
    old = msgspec.json.encode({"schema": "kubeward.report", "schema_version": 1,
                               "meta": {"tool_version": "0.1.0"}, "inventory": {"pods": []}})
    assert loads(old).inventory.exec_evidence is None


def test_summaries_per_container_identity_and_path() -> None:
    summaries = summarize(evidence().sessions)
    got = [(s.identity, s.path, s.opened, s.denied, s.commands, s.users) for s in summaries]
    assert got == [
        ("system:serviceaccount:shop:web", "pods/attach", 1, 0, (), ("alice",)),
        ("bob", "pods/exec", 0, 1, (), ()),
        ("alice", "pods/exec", 2, 1, (("sh",), ("id",)), ()),
    ]
    assert summaries[2].sessions == 3
    assert ExecOutcome.OPENED == "opened"


def test_session_paths_are_exec_paths() -> None:
    assert set(SessionPath.__args__) <= {p.value for p in ExecPath}  # type: ignore[attr-defined]
