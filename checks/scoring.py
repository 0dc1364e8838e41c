"""Scores: 0–100 and a letter, per namespace and for the cluster.

The score is the severity-weighted share of evaluations that passed:

    score = 100 × Σ w(check) over passed evaluations / Σ w(check) over all evaluations

where an evaluation is one check on one target (a workload, a node, a
namespace) and w is 10 for a critical check, 5 high, 2 medium, 1 low, 0 info.
A namespace's score counts the evaluations of targets in it; the cluster's
counts all of them, nodes and cluster-wide checks included.

Letters: A ≥ 90, B ≥ 80, C ≥ 70, D ≥ 60, F below. A scope with an open
critical finding grades no better than C, however well the rest passes:
one privileged pod with the runtime socket is a cluster takeover.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

import msgspec

from audit.findings import CheckStat, Finding, Severity
from checks.engine import REGISTRY

WEIGHTS = {Severity.CRITICAL: 10, Severity.HIGH: 5, Severity.MEDIUM: 2, Severity.LOW: 1, Severity.INFO: 0}
GRADES = ((90, "A"), (80, "B"), (70, "C"), (60, "D"))


class Score(msgspec.Struct, frozen=True, kw_only=True):
    scope: str
    """`cluster` or a namespace name."""
    score: int
    grade: str
    evaluated: int
    failed: int
    counts: dict[str, int]
    """Findings by severity."""


def grade_for(score: int, has_critical: bool) -> str:
    letter = next((g for threshold, g in GRADES if score >= threshold), "F")
    if has_critical and letter in ("A", "B"):
        return "C"
    return letter


def _score(scope: str, weighted_total: float, weighted_failed: float, evaluated: int, failed: int,
           findings: Iterable[Finding]) -> Score:
    counts = Counter(f.severity.value for f in findings)
    value = 100 if weighted_total == 0 else round(100 * (weighted_total - weighted_failed) / weighted_total)
    return Score(scope=scope, score=value, grade=grade_for(value, counts.get("critical", 0) > 0),
                 evaluated=evaluated, failed=failed,
                 counts={s.value: counts.get(s.value, 0) for s in Severity})


def _declared_severity(check_id: str) -> Severity | None:
    declared = REGISTRY.get(check_id)
    return declared.severity if declared else None


def score(
    findings: Iterable[Finding],
    stats: Iterable[CheckStat],
    severity_of: Callable[[str], Severity | None] = _declared_severity,
) -> tuple[Score, dict[str, Score]]:
    """The cluster's score and each namespace's. `severity_of` gives a check's declared severity."""
    findings = list(findings)
    totals = [0.0, 0.0, 0, 0]
    per_ns: dict[str, list[float]] = {}
    for stat in stats:
        severity = severity_of(stat.check_id)
        weight = WEIGHTS[severity] if severity else 1
        totals[0] += weight * stat.evaluated
        totals[1] += weight * stat.failed
        totals[2] += stat.evaluated
        totals[3] += stat.failed
        for namespace, (evaluated, failed) in stat.by_namespace.items():
            entry = per_ns.setdefault(namespace, [0.0, 0.0, 0, 0])
            entry[0] += weight * evaluated
            entry[1] += weight * failed
            entry[2] += evaluated
            entry[3] += failed
    by_ns_findings: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.resource.namespace:
            by_ns_findings.setdefault(finding.resource.namespace, []).append(finding)
    cluster = _score("cluster", totals[0], totals[1], int(totals[2]), int(totals[3]), findings)
    namespaces = {
        ns: _score(ns, t[0], t[1], int(t[2]), int(t[3]), by_ns_findings.get(ns, []))
        for ns, t in sorted(per_ns.items())
    }
    return cluster, namespaces
