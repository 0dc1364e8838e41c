"""Every check against its fixtures: `fixtures/<CHECK-ID>/pass/*.yaml` must yield no
finding of that check, `fixtures/<CHECK-ID>/fail/*.yaml` exactly the findings its
`ExpectedFindings` document lists.

A fixture file is multi-document YAML: Kubernetes objects as `kubectl get -o yaml`
shows them (owner references included: a Deployment's pods need its ReplicaSet),
optionally a `kind: KubewardConfig` document (the check configuration), a
`kind: KubewardCluster` document (the API server `version` as /version reports it, and
`collected_at`, the date end-of-life checks judge against), `kind: KubewardImage` documents (each
an ImageInventory of audit/images.py as JSON-shaped YAML: digest, config, os_release, executables …,
matched to containers through the digest in their status imageID), `kind: KubewardAuditEvent`
documents (each one line of an API server audit log: an audit.k8s.io/v1 Event with its own field
names; together the audit log reader reads them as a log of the 30 days before `collected_at`;
with none there is no log at all), for the waiver checks a
`kind: KubewardWaivers` document (`waivers:` as in a waivers file, and `today:`, the day they are
applied on; every check runs, then the waivers are applied), and in a
fail fixture one `kind: ExpectedFindings` document:

    kind: ExpectedFindings
    findings:
      - resource: Deployment/shop/web          # kind/namespace/name, or kind/name
        container: web                          # omit when none
        field_path: spec.template.spec.containers[0].securityContext.privileged
        severity: critical
        pods: [web-5d8f7-abcde, web-5d8f7-fghij]   # omit for none
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from audit.images import ImageInventory
from audit.model import ClusterInfo, Inventory
from audit.report import Report, ReportMeta
from audit.vulns import VulnDBInfo, VulnMatch
from audit.waivers import apply_waivers, parse_waivers
from checks.config import Config
from checks.engine import REGISTRY, Evaluation, Target, all_checks, evaluate
from collectors.auditlog.reader import DEFAULT_WINDOW, read_lines
from collectors.kube import inventory_from_objects

FIXTURES = Path(__file__).parent / "fixtures"
AUDIT_LOG = "fixture audit log"


SPECIAL = ("ExpectedFindings", "KubewardConfig", "KubewardCluster", "KubewardWaivers")


def load_fixture(path: Path) -> tuple[list[dict[str, Any]], Config, ClusterInfo, list[dict[str, Any]] | None]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    objects = [d for d in docs if d.get("kind") not in SPECIAL]

    def special(kind: str, into: type) -> Any:
        found = [{k: v for k, v in d.items() if k != "kind"} for d in docs if d.get("kind") == kind]
        return msgspec.convert(found[0], type=into, strict=False) if found else into()

    expected = next((d.get("findings") or [] for d in docs if d.get("kind") == "ExpectedFindings"), None)
    return objects, special("KubewardConfig", Config), special("KubewardCluster", ClusterInfo), expected


def summary(resource: str, container: str | None, field_path: str | None, severity: str,
            pods: list[str] | tuple[str, ...]) -> tuple[Any, ...]:
    return (resource, container or "", field_path or "", severity, tuple(sorted(pods)))


def cases() -> list[Any]:
    out = []
    for check_dir in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for outcome in ("pass", "fail"):
            for path in sorted((check_dir / outcome).glob("*.yaml")):
                out.append(pytest.param(check_dir.name, outcome, path, id=f"{check_dir.name}/{outcome}/{path.stem}"))
    return out


COLLECTED_KINDS: dict[str, tuple[str, type, bool]] = {
    "KubewardImage": ("images", ImageInventory, True),
    "KubewardVulnerability": ("vulnerabilities", VulnMatch, True),
    "KubewardVulnDB": ("vulndb", VulnDBInfo, False),
}
"""Documents that stand for what collectors other than the Kubernetes one read: kind → (Inventory
field, type, whether the field holds many)."""


def collected(objects: list[dict[str, Any]], cluster: ClusterInfo | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    events = [{**d, "kind": "Event", "apiVersion": "audit.k8s.io/v1"}
              for d in objects if d.get("kind") == "KubewardAuditEvent"]
    if events:
        until = cluster.collected_at if cluster is not None and cluster.collected_at else datetime.now(UTC)
        lines = [json.dumps(event, default=lambda value: value.isoformat()).encode() for event in events]
        fields["exec_evidence"] = read_lines(lines, since=until - DEFAULT_WINDOW, until=until, source=AUDIT_LOG)
    for kind, (field, kind_type, many) in COLLECTED_KINDS.items():
        values = [msgspec.convert({k: v for k, v in d.items() if k != "kind"}, type=kind_type, strict=False)
                  for d in objects if d.get("kind") == kind]
        if values:
            fields[field] = tuple(values) if many else values[0]
    return fields


@pytest.mark.parametrize(("check_id", "outcome", "path"), cases())
def test_fixture(check_id: str, outcome: str, path: Path) -> None:
    all_checks()
    assert check_id in REGISTRY, f"fixtures for unknown check {check_id}"
    objects, config, cluster, expected = load_fixture(path)
    inventory = msgspec.structs.replace(inventory_from_objects(objects, cluster=cluster),
                                        **collected(objects, cluster))
    if REGISTRY[check_id].target == Target.WAIVERS:
        result = evaluate_waivers(path, inventory, config, check_id)
    else:
        result = evaluate(inventory, config, checks=[REGISTRY[check_id]])
    got = sorted(
        summary(str(f.resource), f.container, f.field_path, f.severity.value, f.pods) for f in result.findings
    )
    if outcome == "pass":
        assert expected is None, "a pass fixture lists no expected findings"
        assert got == []
    else:
        assert expected is not None, "a fail fixture needs an ExpectedFindings document"
        want = sorted(
            summary(e["resource"], e.get("container"), e.get("field_path"), e["severity"], e.get("pods", []))
            for e in expected
        )
        assert got == want
        assert result.stats[0].failed > 0


def evaluate_waivers(path: Path, inventory: Inventory, config: Config, check_id: str) -> Evaluation:
    """Every check, then the fixture's waivers applied: the waiver checks judge those."""
    [document] = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "KubewardWaivers"]
    waivers = parse_waivers(yaml.safe_dump({"waivers": document["waivers"]}), source=path.name)
    evaluation = evaluate(inventory, config)
    report = apply_waivers(Report(meta=ReportMeta(tool_version="test"), inventory=inventory,
                                  findings=evaluation.findings, check_stats=evaluation.stats),
                           waivers, document["today"])
    return Evaluation(findings=tuple(f for f in report.findings if f.check_id == check_id),
                      stats=tuple(s for s in report.check_stats if s.check_id == check_id), seconds=0.0)


def test_every_check_has_passing_and_failing_fixtures() -> None:
    missing = [
        f"{c.id}/{outcome}"
        for c in all_checks()
        for outcome in ("pass", "fail")
        if not list((FIXTURES / c.id / outcome).glob("*.yaml"))
    ]
    assert missing == []
