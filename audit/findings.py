"""Findings (what is wrong, with evidence) and coverage gaps (what could not be seen)."""

from __future__ import annotations

import enum
import hashlib
from datetime import date

import msgspec

from audit.model import ObjectRef


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse: critical 4 … info 0."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class Category(enum.StrEnum):
    ISOLATION = "isolation"
    EXEC_ACCESS = "exec-access"
    VULNERABILITY = "vulnerability"
    IMAGE = "image"
    NODE = "node"
    PATCH_READINESS = "patch-readiness"
    COVERAGE = "coverage"


def fingerprint(check_id: str, resource: ObjectRef, container: str | None, detail: str) -> str:
    """Stable across runs: the same object, check and detail give the same value.

    It deliberately leaves out uids and resource versions, which change when an
    object is recreated, so a waiver or a review decision survives a redeploy.
    """
    key = "\x1f".join(
        (check_id, resource.kind, resource.namespace or "", resource.name, container or "", detail)
    )
    return hashlib.sha256(key.encode()).hexdigest()[:20]


class Waiver(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A reviewer's decision on findings, from the waivers file (`audit/waivers.py`).

    The selector fields that are set must all match a finding; a waived finding
    is shown as waived, never hidden.
    """

    owner: str
    reason: str
    expires: date
    status: str = "accepted-risk"
    """`accepted-risk`, `false-positive` or `fixed` (the review sheet's Status column)."""
    ticket: str = ""
    check_id: str | None = None
    fingerprint: str | None = None
    namespace: str | None = None
    workload: str | None = None
    """`Kind/name` or just the name of the finding's resource."""
    image: str | None = None


class Finding(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One problem on one object (one workload, not one replica), with its evidence."""

    check_id: str
    category: Category
    severity: Severity
    resource: ObjectRef
    message: str
    fingerprint: str
    container: str | None = None
    field_path: str | None = None
    """Where in the object the evidence is, e.g. `spec.containers[0].securityContext.privileged`."""
    observed: object = None
    """The value found at `field_path` (any JSON value)."""
    pods: tuple[str, ...] = ()
    """For a workload finding, the names of its pods that show the problem."""
    waiver: Waiver | None = None
    """The waiver that covers this finding, if any (set by `audit.waivers.apply_waivers`)."""

    @classmethod
    def create(
        cls,
        *,
        check_id: str,
        category: Category,
        severity: Severity,
        resource: ObjectRef,
        message: str,
        container: str | None = None,
        field_path: str | None = None,
        observed: object = None,
        detail: str | None = None,
        pods: tuple[str, ...] = (),
    ) -> Finding:
        """Build a finding; `detail` (default: the field path) distinguishes several on one object."""
        return cls(
            check_id=check_id,
            category=category,
            severity=severity,
            resource=resource,
            message=message,
            container=container,
            field_path=field_path,
            observed=observed,
            pods=pods,
            fingerprint=fingerprint(
                check_id, resource, container, detail if detail is not None else field_path or ""
            ),
        )


class CoverageGap(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Something kubeward could not read, and why; shown, never silently dropped."""

    source: str
    """Which collector: `kube`, `images`, `vulndb`, `auditlog` …"""
    verb: str
    resource: str
    """What could not be read: `pods`, `deployments.apps`, an image reference …"""
    reason: str
    """Short machine-friendly cause: `forbidden`, `not-found`, `timeout`, `error` …"""
    message: str
    namespace: str | None = None
    status: int | None = None

    def __str__(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        return f"{self.verb} {self.resource}{where}: {self.message}"


class CheckStat(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How many targets one check evaluated and how many failed, overall and per namespace,
    so that passes can be shown and scored, not just failures."""

    check_id: str
    evaluated: int = 0
    failed: int = 0
    by_namespace: dict[str, tuple[int, int]] = {}
    """namespace → (evaluated, failed), for namespaced targets."""
