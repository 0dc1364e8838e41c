"""The audit log in the pipeline (read in a thread, progress back on the loop) and the headless core."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from audit.pipeline import AuditOptions, run_audit
from audit.progress import Progress
from audit.report import dumps, loads
from collectors.kubeconfig import load_kube_target
from tests.collectors.auditlog.builder import AuditLogBuilder

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop"},
       "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}, "status": {"phase": "Running"}}


async def test_the_pipeline_reads_the_audit_logs(serve, tmp_path: Path) -> None:
    _, kubeconfig = serve([POD])
    log = AuditLogBuilder(datetime.now(UTC) - timedelta(days=1))
    log.noise(30)
    log.exec_("shop", "web-1", container="web", command=["sh"], user="alice@example.com",
              groups=["system:authenticated"])
    log.raw('{"requestURI": "/api/v1/namespaces/shop/pods/web-1/exec" cut short')
    path = log.write(tmp_path / "audit.log")
    events: list[tuple[Progress, int]] = []
    options = AuditOptions(images=None, audit_logs=(path,), since=timedelta(days=2))
    report = await run_audit(load_kube_target(str(kubeconfig), environ={}), options,
                             on_progress=lambda e: events.append((e, threading.get_ident())))
    evidence = report.inventory.exec_evidence
    assert evidence is not None and [s.identity for s in evidence.sessions] == ["alice@example.com"]
    assert evidence.until - evidence.since == timedelta(days=2)
    assert [(g.source, g.reason) for g in report.gaps] == [("auditlog", "damaged")]
    assert "KW-EXEC-010" in {f.check_id for f in report.findings}  # nobody is bound to exec in this cluster
    done = [e for e, _ in events if e.source == "auditlog" and e.done]
    assert [e.count for e in done] == [33]  # lines read
    assert {thread for _, thread in events} == {threading.get_ident()}  # handed back to the event loop
    assert loads(dumps(report)) == report


async def test_no_audit_log_no_evidence(serve) -> None:
    _, kubeconfig = serve([POD])
    report = await run_audit(load_kube_target(str(kubeconfig), environ={}), AuditOptions(images=None))
    assert report.inventory.exec_evidence is None
    assert not any(f.check_id in ("KW-EXEC-006", "KW-EXEC-011") for f in report.findings)
