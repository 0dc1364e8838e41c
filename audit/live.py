"""Keeping a Report current as pods change (`--watch`), without evaluating the cluster again.

A change to a pod can alter only the findings of the POD and WORKLOAD checks about its
workload: those checks see one workload and its pods (and indexes of objects a pod watch
does not change). So a batch of pod changes re-runs just those checks for just the
affected workloads and swaps their findings and stats in; every other finding stays as
collected. `evaluate` over the whole new inventory is the oracle the tests hold this to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from audit.findings import CheckStat, Finding
from audit.model import Inventory, ObjectRef, Pod
from audit.report import Report
from checks.config import Config
from checks.engine import WORKLOAD_TARGETS, Target, all_checks, evaluate

PodKey = tuple[str, str]
"""(namespace, name)"""


@dataclass(frozen=True)
class PodChanges:
    """One batch of pod changes, as their net effect.

    Applied in this order: the pods of every `replaced` scope are dropped (a relist: its pods
    are all in `pods`), then `deleted` are removed, then `pods` are added or replace the pod of
    the same namespace and name.
    """

    pods: tuple[Pod, ...] = ()
    """Added or modified pods, each in its latest version, owner chain resolved."""
    deleted: tuple[PodKey, ...] = ()
    replaced: tuple[str, ...] = ()
    """Namespaces listed again from scratch ("" for every namespace)."""
    events: int = 0
    """How many watch events (or relisted pods) the batch sums up."""

    def __bool__(self) -> bool:
        return bool(self.pods or self.deleted or self.replaced)


def apply_pod_changes(report: Report, changes: PodChanges, config: Config | None = None) -> Report:
    """The report with its pods changed and the affected workloads' POD and WORKLOAD findings
    (and check stats) evaluated again; all other findings are kept as they were."""
    config = config or Config()
    old = report.inventory
    old_pods = {_key(pod): pod for pod in old.pods}
    new_pods = dict(old_pods)
    touched: set[PodKey] = set()
    for scope in changes.replaced:
        gone = [key for key in new_pods if not scope or key[0] == scope]
        touched.update(gone)
        for key in gone:
            del new_pods[key]
    for key in changes.deleted:
        touched.add(key)
        new_pods.pop(key, None)
    for pod in changes.pods:
        key = _key(pod)
        touched.add(key)
        new_pods[key] = pod

    affected: set[ObjectRef] = set()
    for key in touched:
        before, after = old_pods.get(key), new_pods.get(key)
        if before is after or (before is not None and after is not None and before == after):
            continue
        affected.update(pod.workload for pod in (before, after) if pod is not None)
    if not affected:
        return report

    inventory = msgspec.structs.replace(old, pods=tuple(new_pods.values()))
    partial = evaluate(inventory, config, only_workloads=affected)
    order = {check.id: index for index, check in enumerate(all_checks())}
    targets = {check.id: check.target for check in all_checks()}
    kept = [f for f in report.findings if not (targets.get(f.check_id) in WORKLOAD_TARGETS and f.resource in affected)]
    findings = sorted((*kept, *partial.findings), key=lambda f: order.get(f.check_id, len(order)))
    stats = _restated(report.check_stats, report.findings, old, affected, targets, partial.stats)
    return msgspec.structs.replace(report, inventory=inventory, findings=tuple(findings), check_stats=stats)


def _key(pod: Pod) -> PodKey:
    return pod.namespace, pod.name


def _restated(
    stats: Iterable[CheckStat],
    old_findings: Iterable[Finding],
    old: Inventory,
    affected: set[ObjectRef],
    targets: dict[str, Target],
    partial: Iterable[CheckStat],
) -> tuple[CheckStat, ...]:
    """Each POD/WORKLOAD check's stat with the affected workloads' old counts taken out and their
    new ones put in; the engine counts one target per workload, failed when it had a finding."""
    failed_before: dict[str, set[ObjectRef]] = {}
    for finding in old_findings:
        if finding.resource in affected:
            failed_before.setdefault(finding.check_id, set()).add(finding.resource)
    with_pods = {ref for ref in affected if ref in old.pods_by_workload}
    top = {w.ref for w in old.workloads if not any(o.controller for o in w.metadata.owner_references)}
    evaluated_before = {Target.POD: with_pods, Target.WORKLOAD: {ref for ref in affected if ref in top}}
    fresh = {stat.check_id: stat for stat in partial}
    out = []
    for stat in stats:
        target = targets.get(stat.check_id)
        if target not in WORKLOAD_TARGETS:
            out.append(stat)
            continue
        evaluated, failed = stat.evaluated, stat.failed
        by_namespace = {ns: list(counts) for ns, counts in stat.by_namespace.items()}
        for ref in evaluated_before[target]:  # type: ignore[index]
            was_failed = ref in failed_before.get(stat.check_id, ())
            evaluated, failed = evaluated - 1, failed - was_failed
            if ref.namespace:
                entry = by_namespace.setdefault(ref.namespace, [0, 0])
                entry[0] -= 1
                entry[1] -= was_failed
        new = fresh.get(stat.check_id)
        if new is not None:
            evaluated, failed = evaluated + new.evaluated, failed + new.failed
            for ns, (e, f) in new.by_namespace.items():
                entry = by_namespace.setdefault(ns, [0, 0])
                entry[0] += e
                entry[1] += f
        out.append(CheckStat(
            check_id=stat.check_id, evaluated=evaluated, failed=failed,
            by_namespace={ns: (e, f) for ns, (e, f) in sorted(by_namespace.items()) if e},
        ))
    return tuple(out)
