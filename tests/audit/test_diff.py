"""diff: findings matched by fingerprint survive pods being replaced; new, resolved and changed
findings per category and namespace; images whose vulnerabilities changed; --fail-on."""

from __future__ import annotations

import copy
from pathlib import Path

import msgspec

from audit.diff import diff_reports
from audit.findings import Severity
from audit.report import load_report
from tests.audit.test_cli import run
from tests.export.conftest import demo_report, kubeward


def replaced_pods(objects: list[dict]) -> list[dict]:
    """The same cluster after every ReplicaSet replaced its pods: new names, uids, IPs and nodes."""
    nodes = [o["metadata"]["name"] for o in objects if o["kind"] == "Node"]
    out = []
    for obj in objects:
        obj = copy.deepcopy(obj)
        owners = obj["metadata"].get("ownerReferences", [])
        if obj["kind"] == "Pod" and any(o["kind"] == "ReplicaSet" for o in owners):
            obj["metadata"]["name"] = obj["metadata"]["name"][:-5] + "zz9q" + obj["metadata"]["name"][-1]
            obj["metadata"]["uid"] = "f" + obj["metadata"].get("uid", "0")[1:]
            node = obj["spec"].get("nodeName")
            if node in nodes:
                obj["spec"]["nodeName"] = nodes[(nodes.index(node) + 1) % len(nodes)]
            obj.get("status", {}).pop("podIP", None)
        out.append(obj)
    return out


def test_replaced_pods_are_the_same_findings(serve, demo_objects, tmp_path: Path) -> None:
    _, before = serve(demo_objects)
    _, after = serve(replaced_pods(demo_objects))
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    for kubeconfig, out in ((before, old), (after, new)):
        result = run("scan", "--no-images", "--kubeconfig", str(kubeconfig), "-o", str(out))
        assert result.returncode == 0, result.stderr
    old_report, new_report = load_report(old), load_report(new)
    assert {p.name for p in old_report.inventory.pods} != {p.name for p in new_report.inventory.pods}
    diff = diff_reports(old_report, new_report)
    moved = {"KW-ISO-049"}  # node co-tenancy: rescheduling really changes which pods share a node
    assert [f for f in diff.new if f.check_id not in moved] == []
    assert [f for f in diff.resolved if f.check_id not in moved] == []
    assert diff.unchanged > 100
    result = run("diff", str(old), str(new), "--fail-on", "info")
    assert result.returncode == (1 if [f for f in diff.new if f.waiver is None] else 0), result.stderr


def test_new_resolved_changed_and_images(tmp_path: Path) -> None:
    report = load_report(demo_report(tmp_path))
    first, second, third = report.findings[:3]
    image = report.inventory.images[0]
    added = msgspec.structs.replace(report.inventory.vulnerabilities[0], image=image.digest,
                                    vuln_id="CVE-2099-0001", aliases=())
    vulns = (*(m for m in report.inventory.vulnerabilities if m.image != image.digest), added)
    newer = msgspec.structs.replace(
        report, findings=(msgspec.structs.replace(second, severity=Severity.LOW), *report.findings[2:],
                          msgspec.structs.replace(third, fingerprint="f" * 20, severity=Severity.CRITICAL)),
        inventory=msgspec.structs.replace(report.inventory, vulnerabilities=vulns))
    diff = diff_reports(report, newer)
    assert [f.fingerprint for f in diff.resolved] == [first.fingerprint]
    assert [f.fingerprint for f in diff.new] == ["f" * 20]
    assert [(c.old.severity, c.new.severity) for c in diff.changed] == [(second.severity, Severity.LOW)]
    assert diff.by_category[third.category.value].new == 1
    assert diff.by_namespace[third.resource.namespace or "(cluster)"].new == 1
    changed = {c.reference: c for c in diff.images}
    reference = image.references[0]
    assert "CVE-2099-0001" in changed[reference].appeared
    assert diff.new_at_or_above(Severity.CRITICAL) == list(diff.new)
    assert diff.new_at_or_above(Severity.CRITICAL, include_waived=True) == list(diff.new)

    old_path, new_path = tmp_path / "old.json", tmp_path / "new.json"
    old_path.write_bytes(msgspec.json.encode(report))
    new_path.write_bytes(msgspec.json.encode(newer))
    result = kubeward("diff", str(old_path), str(new_path), "--fail-on", "critical")
    assert result.returncode == 1, result.stderr
    assert "1 new" in result.stdout and "1 unwaived new finding(s) at or above critical" in result.stderr
    assert kubeward("diff", str(old_path), str(old_path), "--fail-on", "info").returncode == 0
