"""Exec access per container: who can get a shell in it, could they, and who did.

The three-way join the Access pane and the pod detail show, one row per
running container (and per container the audit log names that is no longer
running):

- **can**: the grants of the exec matrix (`Report.exec_matrix`) that reach
  into this container: pods/exec, pods/attach and pods/ephemeralcontainers in
  its namespace (or cluster-wide), nodes/proxy on its node, each honouring
  `resourceNames`. Built-in subjects (`system:masters` …) are included; the
  viewer may hide them.
- **could**: whether the container's image ships a shell or a package manager
  (`Inventory.images`; None when the image was not read).
- **did**: the exec sessions the audit log shows into it
  (`Inventory.exec_evidence`), summarised per identity and path. A session
  that named no container (the pod's default one), and a debug container added
  by patch (the log does not say its name), count for the pod's default
  container: the `kubectl.kubernetes.io/default-container` annotation, else
  the first container.

Rows are ranked by `score`: a session opened (4) above a shell in the image
(2) above a grant (1), so "can, has a shell, and did" (7) comes before "can"
alone (1).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from audit.access import CLUSTER_WIDE, ExecGrant, ExecPath, Subject
from audit.exec_evidence import ExecSummary, summarize
from audit.model import Inventory, ObjectRef, Pod

if TYPE_CHECKING:
    from audit.report import Report

INTO_CONTAINER = frozenset({ExecPath.EXEC, ExecPath.ATTACH, ExecPath.EPHEMERAL_CONTAINERS, ExecPath.NODES_PROXY})
"""The paths that reach into a running container (creating a pod brings its own; port-forward is no shell)."""
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


class ContainerExecAccess(msgspec.Struct, frozen=True, kw_only=True):
    """One container: who can exec into it, whether its image has a shell, and who did."""

    namespace: str
    pod: str
    container: str
    """Empty only for sessions into a pod that is gone and named no container."""
    workload: ObjectRef | None = None
    """The pod's top workload; None when the pod is not in the inventory (deleted since the session)."""
    node: str = ""
    grants: tuple[ExecGrant, ...] = ()
    """Who can: every grant of the exec matrix that reaches into this container."""
    has_shell: bool | None = None
    """Whether the image ships a shell; None when the image was not read."""
    has_package_manager: bool | None = None
    shells: tuple[str, ...] = ()
    """The shells the image ships (`bash`, `busybox` …)."""
    sessions: tuple[ExecSummary, ...] = ()
    """Who did: the audit log's sessions into this container, per identity and path, most recent first."""

    @property
    def can(self) -> bool:
        return bool(self.grants)

    @property
    def did(self) -> bool:
        """Whether a session was opened (denied and failed attempts do not count)."""
        return any(s.opened for s in self.sessions)

    @property
    def opened(self) -> int:
        return sum(s.opened for s in self.sessions)

    @property
    def denied(self) -> int:
        return sum(s.denied for s in self.sessions)

    @property
    def last_session(self) -> datetime | None:
        return max((s.last for s in self.sessions), default=None)

    @property
    def subjects(self) -> tuple[Subject, ...]:
        """Who can, each subject once, in the matrix's order."""
        return tuple(dict.fromkeys(g.subject for g in self.grants))

    @property
    def score(self) -> int:
        """4 if a session was opened + 2 if the image ships a shell + 1 if someone can exec: 0 … 7."""
        return 4 * self.did + 2 * (self.has_shell is True) + 1 * self.can

    @property
    def rank_key(self) -> tuple[object, ...]:
        """Sorts the riskiest first (descending): score, then sessions opened, denied, most recent."""
        last = self.last_session
        return (self.score, self.opened, self.denied, last.timestamp() if last else 0.0)


def container_exec_access(
    report: Report, *, namespace: str | None = None, pod: str | None = None
) -> list[ContainerExecAccess]:
    """The join for a Report, riskiest first; `namespace` and `pod` narrow it (the pod detail)."""
    return join_exec_access(report.inventory, report.exec_matrix, namespace=namespace, pod=pod)


def join_exec_access(
    inventory: Inventory, matrix: Iterable[ExecGrant], *, namespace: str | None = None, pod: str | None = None
) -> list[ContainerExecAccess]:
    """The join over an Inventory and its exec matrix (`checks.rbac.exec_matrix`)."""
    by_namespace: dict[str, list[ExecGrant]] = {}
    node_grants: list[ExecGrant] = []
    for grant in matrix:
        if grant.path not in INTO_CONTAINER:
            continue
        if grant.path == ExecPath.NODES_PROXY:
            node_grants.append(grant)
        else:
            by_namespace.setdefault(grant.namespace, []).append(grant)

    def wanted(ns: str, name: str) -> bool:
        return (namespace is None or ns == namespace) and (pod is None or name == pod)

    sessions: dict[tuple[str, str], list[ExecSummary]] = {}
    evidence = inventory.exec_evidence
    if evidence is not None:
        for summary in summarize(s for s in evidence.sessions if wanted(s.namespace, s.pod)):
            sessions.setdefault((summary.namespace, summary.pod), []).append(summary)

    rows: list[ContainerExecAccess] = []
    for running in inventory.pods:
        if not wanted(running.namespace, running.name):
            continue
        grants = [
            g for g in (*by_namespace.get(running.namespace, ()), *by_namespace.get(CLUSTER_WIDE, ()))
            if not g.resource_names or running.name in g.resource_names
        ] + [g for g in node_grants if not g.resource_names or running.spec.node_name in g.resource_names]
        pod_sessions = sessions.pop((running.namespace, running.name), [])
        default = default_container(running)
        for container in (*running.spec.containers, *running.spec.ephemeral_containers):
            image = inventory.image_of(running, container.name)
            rows.append(ContainerExecAccess(
                namespace=running.namespace, pod=running.name, container=container.name,
                workload=running.workload, node=running.spec.node_name or "", grants=tuple(grants),
                has_shell=image.has_shell if image is not None else None,
                has_package_manager=image.has_package_manager if image is not None else None,
                shells=tuple(sorted({e.name for e in image.executables if e.kind == "shell"})) if image else (),
                sessions=tuple(s for s in pod_sessions
                               if s.container == container.name or (not s.container and container.name == default)),
            ))
    # sessions into pods that are gone: evidence without a running container
    for (ns, name), summaries in sessions.items():
        for container in sorted({s.container for s in summaries}):
            grants = [
                g for g in (*by_namespace.get(ns, ()), *by_namespace.get(CLUSTER_WIDE, ()))
                if not g.resource_names or name in g.resource_names
            ]
            rows.append(ContainerExecAccess(
                namespace=ns, pod=name, container=container, grants=tuple(grants),
                node=next((s.node for s in summaries if s.node), ""),
                sessions=tuple(s for s in summaries if s.container == container),
            ))
    rows.sort(key=lambda r: (r.namespace, r.pod, r.container))
    rows.sort(key=lambda r: r.rank_key, reverse=True)
    return rows


def default_container(pod: Pod) -> str:
    """The container kubectl picks when none is named."""
    names = [c.name for c in pod.spec.containers]
    annotated = pod.metadata.annotations.get(DEFAULT_CONTAINER_ANNOTATION)
    if annotated in names:
        return annotated  # type: ignore[return-value]
    return names[0] if names else ""
