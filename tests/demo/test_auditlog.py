"""The demo cluster's audit log: every kind of exec evidence kubeward reports, in the real format."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from checks.engine import all_checks, evaluate
from collectors.auditlog.reader import read_audit_logs
from collectors.kube import inventory_from_objects
from demo.auditlog import write_demo_audit_log
from demo.cluster import generate_cluster

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def test_the_demo_log_shows_every_kind_of_evidence(tmp_path: Path) -> None:
    objects = generate_cluster(pods=120, seed=7)
    directory = write_demo_audit_log(objects, tmp_path / "audit", now=NOW, seed=7)
    files = sorted(p.name for p in directory.iterdir())
    assert files == ["audit-2026-11-19T12-00-00.000.log.gz", "audit.log"]
    first = json.loads(gzip.decompress((directory / files[0]).read_bytes()).splitlines()[0])
    assert (first["kind"], first["apiVersion"], first["level"]) == ("Event", "audit.k8s.io/v1", "Metadata")

    result = read_audit_logs([directory], now=NOW)
    assert result.gaps == ()
    inventory = msgspec.structs.replace(inventory_from_objects(objects), exec_evidence=result.evidence)
    checks = {f.check_id for f in evaluate(inventory, checks=[c for c in all_checks() if c.id >= "KW-EXEC-006"
                                                               and c.id.startswith("KW-EXEC")]).findings}
    assert checks == {"KW-EXEC-006", "KW-EXEC-007", "KW-EXEC-008", "KW-EXEC-009", "KW-EXEC-010", "KW-EXEC-011"}
    paths = {s.path for s in result.evidence.sessions}
    assert paths == {"pods/exec", "pods/attach", "pods/portforward", "pods/ephemeralcontainers", "nodes/proxy"}
    # most of the log is ordinary traffic
    assert sum(f.lines for f in result.evidence.files) > 50 * len(result.evidence.sessions)


def test_the_same_seed_and_time_write_the_same_log(tmp_path: Path) -> None:
    objects = generate_cluster(pods=60, seed=3)
    one = write_demo_audit_log(objects, tmp_path / "one", now=NOW, seed=3)
    two = write_demo_audit_log(objects, tmp_path / "two", now=NOW, seed=3)
    assert [p.read_bytes() for p in sorted(one.iterdir())] == [p.read_bytes() for p in sorted(two.iterdir())]
