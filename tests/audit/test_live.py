"""Pod changes applied to a Report, held to a full evaluation of the new inventory."""

from __future__ import annotations

from collections import Counter

import msgspec

from audit.live import PodChanges, apply_pod_changes
from audit.model import ObjectMeta, Pod, SecurityContext
from audit.report import Report
from checks.config import Config
from checks.engine import WORKLOAD_TARGETS, all_checks, evaluate

replace = msgspec.structs.replace
TARGETS = {c.id: c.target for c in all_checks()}


def privileged(pod: Pod) -> Pod:
    first, *rest = pod.spec.containers
    context = replace(first.security_context or SecurityContext(), privileged=True)
    return replace(pod, spec=replace(pod.spec, containers=(replace(first, security_context=context), *rest)))


def renamed(pod: Pod, name: str) -> Pod:
    return replace(pod, metadata=replace(pod.metadata, name=name, uid=f"uid-{name}"))


def by_workload_target(findings) -> Counter:  # type: ignore[no-untyped-def]
    return Counter(msgspec.json.encode(f) for f in findings if TARGETS[f.check_id] in WORKLOAD_TARGETS)


def others(findings) -> list:  # type: ignore[no-untyped-def]
    return [f for f in findings if TARGETS[f.check_id] not in WORKLOAD_TARGETS]


def assert_matches_full_evaluation(before: Report, after: Report) -> None:
    oracle = evaluate(after.inventory, Config())
    assert by_workload_target(after.findings) == by_workload_target(oracle.findings)
    oracle_stats = {s.check_id: s for s in oracle.stats if TARGETS[s.check_id] in WORKLOAD_TARGETS}
    assert {s.check_id: s for s in after.check_stats if s.check_id in oracle_stats} == oracle_stats
    assert others(after.findings) == others(before.findings)  # other targets' findings untouched


def multi_pod_workload(report: Report) -> list[Pod]:
    groups = report.inventory.pods_by_workload
    return max((pods for ref, pods in groups.items() if ref.kind == "Deployment"), key=len)


def test_privileged_deleted_and_added_pods_match_a_full_evaluation(demo_report: Report) -> None:
    base = demo_report
    deployment = multi_pod_workload(base)
    assert len(deployment) >= 2
    standalone = next(p for p in base.inventory.pods if p.workload.kind == "Pod")
    doomed = next(p for p in base.inventory.pods if p.workload.kind == "StatefulSet")
    made_privileged = privileged(deployment[0])
    added = [privileged(renamed(deployment[1], "web-extra")), renamed(standalone, "debug-shell")]
    changes = PodChanges(pods=(made_privileged, *added), deleted=((doomed.namespace, doomed.name),), events=4)

    after = apply_pod_changes(base, changes, Config())

    pods = {(p.namespace, p.name): p for p in after.inventory.pods}
    assert pods[(made_privileged.namespace, made_privileged.name)] == made_privileged
    assert (doomed.namespace, doomed.name) not in pods
    assert len(after.inventory.pods) == len(base.inventory.pods) + 1
    assert_matches_full_evaluation(base, after)
    privileged_findings = [f for f in after.findings if f.check_id == "KW-ISO-001"
                           and f.resource == deployment[0].workload]
    assert privileged_findings and made_privileged.name in privileged_findings[0].pods
    assert "web-extra" in privileged_findings[0].pods  # merged into the Deployment's one finding
    assert not [f for f in base.findings if f.check_id == "KW-ISO-001" and f.resource == deployment[0].workload
                and made_privileged.name in f.pods]


def test_deleting_every_pod_of_a_workload_removes_its_pod_findings(demo_report: Report) -> None:
    pods = multi_pod_workload(demo_report)
    ref = pods[0].workload
    changes = PodChanges(deleted=tuple((p.namespace, p.name) for p in pods))
    after = apply_pod_changes(demo_report, changes)
    assert ref not in after.inventory.pods_by_workload
    assert not [f for f in after.findings if f.resource == ref and TARGETS[f.check_id].value == "pod"]
    assert_matches_full_evaluation(demo_report, after)


def test_a_relist_replaces_the_scope_and_an_unchanged_one_changes_nothing(demo_report: Report) -> None:
    namespace = multi_pod_workload(demo_report)[0].namespace
    same = tuple(p for p in demo_report.inventory.pods if p.namespace == namespace)
    assert apply_pod_changes(demo_report, PodChanges(pods=same, replaced=(namespace,))) is demo_report

    kept = tuple(privileged(p) for p in same[1:])
    after = apply_pod_changes(demo_report, PodChanges(pods=kept, replaced=(namespace,)))
    assert {p.name for p in after.inventory.pods if p.namespace == namespace} == {p.name for p in kept}
    assert len(after.inventory.pods) == len(demo_report.inventory.pods) - 1
    assert_matches_full_evaluation(demo_report, after)


def test_a_pod_of_an_unknown_owner_stands_for_its_own_workload(demo_report: Report) -> None:
    orphan = Pod(metadata=ObjectMeta(name="orphan", namespace="default"), spec=demo_report.inventory.pods[0].spec)
    after = apply_pod_changes(demo_report, PodChanges(pods=(orphan,)))
    assert any(f.resource.name == "orphan" for f in after.findings)
    assert_matches_full_evaluation(demo_report, after)
