"""Scores and grades follow the documented formula."""

from __future__ import annotations

from audit.findings import Category, CheckStat, Finding, Severity
from audit.model import ObjectRef
from checks.scoring import grade_for, score

SEVERITIES = {"KW-A-001": Severity.CRITICAL, "KW-B-001": Severity.LOW, "KW-C-001": Severity.INFO}


def finding(check_id: str, namespace: str | None, severity: Severity) -> Finding:
    return Finding.create(check_id=check_id, category=Category.ISOLATION, severity=severity,
                          resource=ObjectRef(kind="Deployment", name="x", namespace=namespace), message="m")


def test_weighted_pass_ratio_per_namespace_and_cluster() -> None:
    stats = [
        CheckStat(check_id="KW-A-001", evaluated=10, failed=1, by_namespace={"a": (5, 1), "b": (5, 0)}),
        CheckStat(check_id="KW-B-001", evaluated=10, failed=5, by_namespace={"a": (5, 5), "b": (5, 0)}),
        CheckStat(check_id="KW-C-001", evaluated=4, failed=4),  # info weighs nothing
    ]
    findings = [finding("KW-A-001", "a", Severity.CRITICAL)] + [finding("KW-B-001", "a", Severity.LOW)] * 5
    cluster, namespaces = score(findings, stats, SEVERITIES.get)
    # cluster: weights 10×10 + 1×10 = 110 evaluated, 10×1 + 1×5 = 15 failed → 86.4 → 86
    assert cluster.score == 86
    assert cluster.grade == "C"  # B by the number, capped at C by the open critical finding
    assert (cluster.evaluated, cluster.failed) == (24, 10)
    assert cluster.counts == {"critical": 1, "high": 0, "medium": 0, "low": 5, "info": 0}
    # a: 10×5 + 1×5 = 55, failed 10 + 5 = 15 → 72.7 → 73, C
    assert (namespaces["a"].score, namespaces["a"].grade) == (73, "C")
    assert (namespaces["b"].score, namespaces["b"].grade) == (100, "A")
    assert namespaces["b"].counts["critical"] == 0


def test_grades() -> None:
    assert [grade_for(s, False) for s in (100, 90, 89, 80, 79, 70, 69, 60, 59, 0)] == [
        "A", "A", "B", "B", "C", "C", "D", "D", "F", "F"]
    assert grade_for(95, True) == "C"
    assert grade_for(65, True) == "D"


def test_nothing_evaluated_is_a_clean_hundred() -> None:
    cluster, namespaces = score([], [], SEVERITIES.get)
    assert (cluster.score, cluster.grade, namespaces) == (100, "A", {})
