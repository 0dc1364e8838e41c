"""The check engine: declaration, registry and runner.

A check is a pure function of one target (a pod, a top-level workload, a node,
a namespace, or the whole cluster) and the CheckContext. It yields a `Hit` for
each problem it sees, with the evidence. The runner turns hits into Findings:
pod hits are merged per workload (one finding for a Deployment of 50 pods,
listing the pods), field paths are rewritten to point into the workload's pod
template, severities follow the configuration, and escape-class findings on
pods in a sandboxed runtime are lowered one step with the reason given.

The runner also counts, per check and namespace, how many targets it evaluated
and how many failed, so the UI can show passes and scoring can weigh them.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from audit.findings import Category, CheckStat, Finding, Severity
from audit.model import Inventory, Namespace, Node, ObjectRef, Pod, Workload
from checks.config import Config

_ID = re.compile(r"^KW-[A-Z]+-\d{3}$")
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

SANDBOX_HANDLERS = ("runsc", "gvisor", "kata")
"""RuntimeClass handlers (prefixes) that put a VM-grade boundary around the pod."""


class Target(enum.StrEnum):
    POD = "pod"
    """Every pod; findings are merged per workload."""
    WORKLOAD = "workload"
    """Every top-level workload (a Deployment, not its ReplicaSets; a CronJob, not its Jobs)."""
    NODE = "node"
    NAMESPACE = "namespace"
    CLUSTER = "cluster"
    """Called once; every hit names its own resource."""
    WAIVERS = "waivers"
    """Judged after the other checks, on each entry of the waivers file and the findings it
    matched (`audit/waivers.py` runs these; `evaluate` does not)."""


@dataclass(frozen=True)
class Reference:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Hit:
    """One problem a check saw, with its evidence."""

    message: str
    field_path: str | None = None
    """Relative to the target object, e.g. `spec.containers[0].securityContext.privileged`."""
    observed: object = None
    container: str | None = None
    detail: str | None = None
    """Tells two hits on one object apart for the fingerprint (default: the field path)."""
    severity: Severity | None = None
    """Overrides the check's severity for this hit (e.g. a writable mount is worse)."""
    resource: ObjectRef | None = None
    """The object at fault, when it is not the target (CLUSTER and NODE checks)."""
    pods: tuple[str, ...] = ()


CheckFunc = Callable[[Any, "CheckContext"], Iterable[Hit]]


@dataclass(frozen=True)
class Check:
    """A check's declaration: its metadata beside its logic."""

    id: str
    name: str
    title: str
    category: Category
    severity: Severity
    target: Target
    rationale: str
    remediation: str
    references: tuple[Reference, ...]
    func: CheckFunc = field(repr=False, compare=False)
    escape: bool = False
    """An escape-class problem: a sandboxed runtime (gVisor, Kata) contains it, so lower it."""


class CheckDeclarationError(Exception):
    """A check declared twice or with malformed metadata (raised at import)."""


class Registry:
    """Checks by id. Refuses a second check with the same id or name, at import."""

    def __init__(self) -> None:
        self._by_id: dict[str, Check] = {}
        self._ids_by_name: dict[str, str] = {}

    def __contains__(self, check_id: object) -> bool:
        return check_id in self._by_id

    def __getitem__(self, check_id: str) -> Check:
        return self._by_id[check_id]

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, check_id: str) -> Check | None:
        return self._by_id.get(check_id)

    def values(self) -> list[Check]:
        return list(self._by_id.values())

    def add(self, declared: Check) -> Check:
        if not _ID.match(declared.id):
            raise CheckDeclarationError(f"check id {declared.id!r} is not of the form KW-CAT-123")
        if not _NAME.match(declared.name):
            raise CheckDeclarationError(f"check name {declared.name!r} is not kebab-case")
        if declared.id in self._by_id:
            raise CheckDeclarationError(f"check id {declared.id} is declared twice")
        if declared.name in self._ids_by_name:
            raise CheckDeclarationError(
                f"check name {declared.name} is declared twice ({self._ids_by_name[declared.name]} and {declared.id})"
            )
        if not (declared.title and declared.rationale and declared.remediation):
            raise CheckDeclarationError(f"check {declared.id} needs a title, a rationale and a remediation")
        self._by_id[declared.id] = declared
        self._ids_by_name[declared.name] = declared.id
        return declared

    def declare(
        self,
        *,
        id: str,
        name: str,
        title: str,
        category: Category,
        severity: Severity,
        target: Target,
        rationale: str,
        remediation: str,
        references: Iterable[Reference] = (),
        escape: bool = False,
    ) -> Callable[[CheckFunc], CheckFunc]:
        """Declare and register a check (use as a decorator). Ids and names are never reused."""

        def register(func: CheckFunc) -> CheckFunc:
            self.add(Check(
                id=id, name=name, title=title, category=category, severity=severity, target=target,
                rationale=" ".join(rationale.split()), remediation=" ".join(remediation.split()),
                references=tuple(references), func=func, escape=escape,
            ))
            return func

        return register


REGISTRY = Registry()
"""Every check kubeward ships."""

check = REGISTRY.declare


def all_checks() -> list[Check]:
    """Every registered check, in id order (importing the check modules first)."""
    import checks.catalogue  # noqa: F401  (registers the check modules)

    return sorted(REGISTRY.values(), key=lambda c: c.id)


# --- context ----------------------------------------------------------------


class CheckContext:
    """What every check sees: the Inventory, the configuration, and shared indexes.

    `memo(key, build)` lets a check module compute an index once per run
    (network-policy selection, RBAC expansion …) without the engine knowing it.
    """

    def __init__(self, inventory: Inventory, config: Config) -> None:
        self.inventory = inventory
        self.config = config
        self._memo: dict[str, Any] = {}

    def memo(self, key: str, build: Callable[[CheckContext], Any]) -> Any:
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = build(self)
            return value

    @property
    def today(self) -> date:
        """The date end-of-life checks compare against: the day the inventory was collected,
        or today's (UTC) for an inventory that does not say. The only clock a check reads."""
        collected = self.inventory.cluster.collected_at
        return collected.date() if collected is not None else datetime.now(UTC).date()

    def runtime_handler(self, pod: Pod) -> str | None:
        """The RuntimeClass handler that runs this pod, when it names one."""
        if not pod.spec.runtime_class_name:
            return None
        handlers = self.memo(
            "engine.runtime-handlers",
            lambda ctx: {rc.metadata.name: rc.handler for rc in ctx.inventory.runtime_classes},
        )
        return handlers.get(pod.spec.runtime_class_name)

    def sandbox(self, pod: Pod) -> str | None:
        """The sandboxing handler (gVisor, Kata) a pod runs in, or None."""
        handler = self.runtime_handler(pod)
        if handler and handler.startswith(SANDBOX_HANDLERS):
            return handler
        return None

    def is_sensitive(self, labels: dict[str, str]) -> bool:
        return self.config.sensitive.matches(labels)

    def is_untrusted_namespace(self, namespace: str) -> bool:
        ns = self.inventory.namespaces_by_name.get(namespace)
        labels = ns.metadata.labels if ns is not None else {}
        return namespace in self.config.untrusted.namespaces or self.config.untrusted.matches(labels)


# --- results -----------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    findings: tuple[Finding, ...]
    stats: tuple[CheckStat, ...]
    seconds: float


# --- runner --------------------------------------------------------------------


WORKLOAD_TARGETS = (Target.POD, Target.WORKLOAD)
"""The targets whose findings name a workload and depend only on it and its pods."""


def evaluate(
    inventory: Inventory,
    config: Config | None = None,
    checks: Iterable[Check] | None = None,
    *,
    only_workloads: Collection[ObjectRef] | None = None,
) -> Evaluation:
    """Run every enabled check over the Inventory.

    `only_workloads` runs just the POD and WORKLOAD checks, over just those workloads and their
    pods: what a change to some pods can alter (`audit.live`). Its stats count those alone.
    """
    started = time.perf_counter()
    config = config or Config()
    ctx = CheckContext(inventory, config)
    findings: list[Finding] = []
    stats: list[CheckStat] = []
    only = frozenset(only_workloads) if only_workloads is not None else None
    selected = [c for c in (all_checks() if checks is None else checks)
                if config.enabled(c) and c.target in _RUNNERS and (only is None or c.target in WORKLOAD_TARGETS)]
    for declared in selected:
        if only is None:
            check_findings, stat = _RUNNERS[declared.target](declared, ctx)
        elif declared.target is Target.POD:
            check_findings, stat = _run_pods(declared, ctx, only)
        else:
            wanted = (w for w in _top_workloads(inventory) if w.ref in only)
            check_findings, stat = _run_objects(declared, ctx, wanted, namespaced=True)
        findings.extend(check_findings)
        stats.append(stat)
    return Evaluation(findings=tuple(findings), stats=tuple(stats), seconds=time.perf_counter() - started)


class _Counter:
    def __init__(self, check_id: str) -> None:
        self.check_id = check_id
        self.evaluated = 0
        self.failed = 0
        self.by_namespace: dict[str, list[int]] = {}

    def count(self, namespace: str | None, failed: bool) -> None:
        self.evaluated += 1
        self.failed += failed
        if namespace:
            entry = self.by_namespace.setdefault(namespace, [0, 0])
            entry[0] += 1
            entry[1] += failed

    def stat(self) -> CheckStat:
        return CheckStat(
            check_id=self.check_id, evaluated=self.evaluated, failed=self.failed,
            by_namespace={ns: (e, f) for ns, (e, f) in sorted(self.by_namespace.items())},
        )


def _finding(declared: Check, ctx: CheckContext, resource: ObjectRef, hit: Hit, *,
             severity: Severity | None = None, field_path: str | None = None,
             message: str | None = None, pods: tuple[str, ...] = ()) -> Finding:
    return Finding.create(
        check_id=declared.id,
        category=declared.category,
        severity=severity or ctx.config.severity(declared, hit.severity),
        resource=resource,
        message=message or hit.message,
        container=hit.container,
        field_path=field_path if field_path is not None else hit.field_path,
        observed=hit.observed,
        detail=hit.detail,
        pods=pods or hit.pods,
    )


def _run_pods(
    declared: Check, ctx: CheckContext, only: Collection[ObjectRef] | None = None
) -> tuple[list[Finding], CheckStat]:
    counter = _Counter(declared.id)
    findings: list[Finding] = []
    workloads = ctx.inventory.workloads_by_ref
    for ref, pods in ctx.inventory.pods_by_workload.items():
        if only is not None and ref not in only:
            continue
        merged: dict[tuple[Any, ...], tuple[Hit, Severity, str, list[str]]] = {}
        for pod in pods:
            for hit in declared.func(pod, ctx):
                severity = ctx.config.severity(declared, hit.severity)
                message = hit.message
                if declared.escape:
                    handler = ctx.sandbox(pod)
                    if handler is not None:
                        severity = _lower(severity)
                        note = f"severity lowered: the pod runs in the {handler} sandbox"
                        message = f"{message.rstrip('.')} ({note})."
                key = (hit.container, hit.detail, hit.field_path, severity, message)
                if key in merged:
                    merged[key][3].append(pod.name)
                else:
                    merged[key] = (hit, severity, message, [pod.name])
        counter.count(ref.namespace, bool(merged))
        prefix = template_prefix(ref.kind if ref in workloads else "Pod")
        for hit, severity, message, names in merged.values():
            path = hit.field_path
            if path is not None and prefix:
                path = prefix + path
            findings.append(_finding(declared, ctx, ref, hit, severity=severity, field_path=path,
                                     message=message, pods=tuple(names)))
    return findings, counter.stat()


def _top_workloads(inventory: Inventory) -> Iterator[Workload]:
    """Workloads nobody else controls: a Deployment's ReplicaSets and a CronJob's Jobs are left out."""
    for workload in inventory.workloads:
        if any(ref.controller for ref in workload.metadata.owner_references):
            continue
        yield workload


def _run_objects(
    declared: Check, ctx: CheckContext, objects: Iterable[Workload | Node | Namespace], *, namespaced: bool
) -> tuple[list[Finding], CheckStat]:
    counter = _Counter(declared.id)
    findings: list[Finding] = []
    for obj in objects:
        kind = obj.kind if isinstance(obj, Workload) else type(obj).__name__
        ref = ObjectRef(kind=kind, name=obj.metadata.name, namespace=obj.metadata.namespace)
        hits = list(declared.func(obj, ctx))
        namespace = obj.metadata.namespace if namespaced else (
            obj.metadata.name if isinstance(obj, Namespace) else None)
        counter.count(namespace, bool(hits))
        findings.extend(_finding(declared, ctx, hit.resource or ref, hit) for hit in hits)
    return findings, counter.stat()


def _run_cluster(declared: Check, ctx: CheckContext) -> tuple[list[Finding], CheckStat]:
    counter = _Counter(declared.id)
    findings = []
    for hit in declared.func(ctx.inventory, ctx):
        if hit.resource is None:
            raise CheckDeclarationError(f"cluster check {declared.id} yielded a hit without a resource")
        findings.append(_finding(declared, ctx, hit.resource, hit))
    counter.count(None, bool(findings))
    return findings, counter.stat()


_RUNNERS: dict[Target, Callable[[Check, CheckContext], tuple[list[Finding], CheckStat]]] = {
    Target.POD: _run_pods,
    Target.WORKLOAD: lambda c, ctx: _run_objects(c, ctx, _top_workloads(ctx.inventory), namespaced=True),
    Target.NODE: lambda c, ctx: _run_objects(c, ctx, ctx.inventory.nodes, namespaced=False),
    Target.NAMESPACE: lambda c, ctx: _run_objects(c, ctx, ctx.inventory.namespaces, namespaced=False),
    Target.CLUSTER: _run_cluster,
}

_ORDER = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def _lower(severity: Severity) -> Severity:
    return _ORDER[max(0, _ORDER.index(severity) - 1)]


def template_prefix(kind: str) -> str:
    """Where a workload keeps its pod spec, so evidence points into the object the finding names."""
    if kind == "Pod":
        return ""
    if kind == "CronJob":
        return "spec.jobTemplate.spec.template."
    return "spec.template."
