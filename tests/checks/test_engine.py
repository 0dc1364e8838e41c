"""The engine's own behaviour, with checks declared here (not registered)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audit.findings import Category, Severity
from audit.model import Pod
from checks.config import CheckOverride, Config
from checks.engine import Check, CheckContext, CheckDeclarationError, Hit, Registry, Target, evaluate
from collectors.kube import inventory_from_objects


def privileged_hits(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    for index, container in enumerate(pod.spec.containers):
        sc = container.security_context
        if sc is not None and sc.privileged:
            yield Hit(message=f"container {container.name} is privileged", container=container.name,
                      field_path=f"spec.containers[{index}].securityContext.privileged", observed=True)


PRIVILEGED = Check(
    id="KW-TEST-001", name="test-privileged", title="privileged", category=Category.ISOLATION,
    severity=Severity.CRITICAL, target=Target.POD, rationale="r", remediation="m", references=(),
    func=privileged_hits, escape=True,
)


def deployment(name: str, namespace: str = "shop", *, kind: str = "Deployment") -> dict:
    metadata = {"name": name, "namespace": namespace, "uid": f"u-{name}"}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": metadata,
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}}}}


def replica_set(name: str, owner: str, namespace: str = "shop") -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": namespace, "uid": f"u-{name}",
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner,
                                              "uid": f"u-{owner}", "controller": True}]}}


def pod(name: str, *, owner: tuple[str, str] | None = None, privileged: bool = True, namespace: str = "shop",
        runtime_class: str | None = None) -> dict:
    meta: dict = {"name": name, "namespace": namespace}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "controller": True}]
    spec: dict = {"containers": [{"name": "app", "image": "nginx:1.27",
                                  "securityContext": {"privileged": privileged}}]}
    if runtime_class:
        spec["runtimeClassName"] = runtime_class
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def test_one_finding_per_workload_lists_its_pods() -> None:
    inventory = inventory_from_objects([
        deployment("web"), replica_set("web-1", "web"),
        pod("web-1-a", owner=("ReplicaSet", "web-1")), pod("web-1-b", owner=("ReplicaSet", "web-1")),
        pod("web-1-c", owner=("ReplicaSet", "web-1"), privileged=False),
        pod("debug"),
    ])
    result = evaluate(inventory, checks=[PRIVILEGED])
    by_resource = {str(f.resource): f for f in result.findings}
    assert set(by_resource) == {"Deployment/shop/web", "Pod/shop/debug"}
    web = by_resource["Deployment/shop/web"]
    assert web.pods == ("web-1-a", "web-1-b")
    assert web.field_path == "spec.template.spec.containers[0].securityContext.privileged"
    assert by_resource["Pod/shop/debug"].field_path == "spec.containers[0].securityContext.privileged"
    assert result.stats[0].evaluated == 2 and result.stats[0].failed == 2
    assert result.stats[0].by_namespace == {"shop": (2, 2)}


def test_cronjob_findings_point_into_the_job_template() -> None:
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "shop"}}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "nightly-1", "namespace": "shop",
           "ownerReferences": [{"kind": "CronJob", "name": "nightly", "controller": True}]}}
    inventory = inventory_from_objects([cronjob, job, pod("nightly-1-x", owner=("Job", "nightly-1"))])
    [finding] = evaluate(inventory, checks=[PRIVILEGED]).findings
    assert str(finding.resource) == "CronJob/shop/nightly"
    assert finding.field_path == "spec.jobTemplate.spec.template.spec.containers[0].securityContext.privileged"


def test_sandboxed_pods_get_escape_findings_lowered_with_the_reason() -> None:
    gvisor = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "gvisor"},
              "handler": "runsc"}
    inventory = inventory_from_objects([gvisor, pod("boxed", runtime_class="gvisor"), pod("bare")])
    findings = {f.resource.name: f for f in evaluate(inventory, checks=[PRIVILEGED]).findings}
    assert findings["bare"].severity == Severity.CRITICAL
    assert findings["boxed"].severity == Severity.HIGH
    assert "runsc sandbox" in findings["boxed"].message
    assert findings["boxed"].fingerprint != findings["bare"].fingerprint


def test_configuration_disables_and_reseverities() -> None:
    inventory = inventory_from_objects([pod("debug")])
    off = Config(checks={"KW-TEST-001": CheckOverride(enabled=False)})
    assert evaluate(inventory, off, checks=[PRIVILEGED]).findings == ()
    low = Config(checks={"test-privileged": CheckOverride(severity=Severity.LOW)})
    [finding] = evaluate(inventory, low, checks=[PRIVILEGED]).findings
    assert finding.severity == Severity.LOW


def test_fingerprints_survive_a_redeploy() -> None:
    first = inventory_from_objects([deployment("web"), replica_set("web-1", "web"),
                                    pod("web-1-a", owner=("ReplicaSet", "web-1"))])
    second = inventory_from_objects([deployment("web"), replica_set("web-2", "web"),
                                     pod("web-2-z", owner=("ReplicaSet", "web-2"))])
    [a] = evaluate(first, checks=[PRIVILEGED]).findings
    [b] = evaluate(second, checks=[PRIVILEGED]).findings
    assert a.fingerprint == b.fingerprint
    assert a.pods != b.pods


def test_registry_refuses_duplicates_and_bad_metadata() -> None:
    registry = Registry()
    registry.add(PRIVILEGED)
    with pytest.raises(CheckDeclarationError, match="KW-TEST-001 is declared twice"):
        registry.add(PRIVILEGED)
    clone = Check(**{**PRIVILEGED.__dict__, "id": "KW-TEST-002"})
    with pytest.raises(CheckDeclarationError, match="name test-privileged is declared twice"):
        registry.add(clone)
    with pytest.raises(CheckDeclarationError, match="not of the form"):
        registry.add(Check(**{**PRIVILEGED.__dict__, "id": "ISO-1", "name": "other"}))
    with pytest.raises(CheckDeclarationError, match="kebab-case"):
        registry.add(Check(**{**PRIVILEGED.__dict__, "id": "KW-TEST-003", "name": "Not_Kebab"}))

    @registry.declare(id="KW-TEST-004", name="declared", title="t", category=Category.NODE,
                      severity=Severity.LOW, target=Target.NODE, rationale="r", remediation="m")
    def declared(node, ctx):  # pragma: no cover - never run
        return ()

    assert registry["KW-TEST-004"].func is declared
    assert len(registry) == 2
