"""The three-way join per container: who can exec (RBAC), could they (a shell in the image), who did (the log)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from audit.access import ExecPath
from audit.container_access import container_exec_access, join_exec_access
from audit.images import Executable, ImageInventory
from audit.report import Report, ReportMeta
from checks.rbac import exec_matrix
from collectors.auditlog.reader import read_lines
from collectors.kube import inventory_from_objects
from tests.collectors.auditlog.builder import AuditLogBuilder

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
SHELL, DISTROLESS = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def pod(name: str, containers: dict[str, str | None], *, node: str = "node-1",
        annotations: dict[str, str] | None = None) -> dict:
    statuses = [{"name": c, "image": "x", "imageID": f"x@{digest}"} for c, digest in containers.items() if digest]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations or {}},
            "spec": {"nodeName": node, "containers": [{"name": c, "image": "x"} for c in containers]},
            "status": {"phase": "Running", "containerStatuses": statuses}}


def binding(kind: str, name: str, role: str, subjects: list[dict], rules: list[dict],
            namespace: str | None = None) -> list[dict]:
    role_kind = "Role" if kind == "RoleBinding" else "ClusterRole"
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": role_kind, "metadata": {**meta, "name": role},
         "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
         "subjects": subjects},
    ]


OBJECTS = [
    pod("web-1", {"app": SHELL, "sidecar": DISTROLESS},
        annotations={"kubectl.kubernetes.io/default-container": "sidecar"}),
    pod("api-1", {"app": DISTROLESS}),
    pod("db-0", {"db": SHELL}, node="node-2"),
    pod("job-1", {"run": None}, node="node-3"),
    *binding("RoleBinding", "sre-exec", "exec", [{"kind": "Group", "name": "sre"}],
             [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"],
               "resourceNames": ["web-1", "api-1"]}], namespace="shop"),
    *binding("ClusterRoleBinding", "kubelet", "kubelet-proxy", [{"kind": "User", "name": "ops@example.com"}],
             [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"], "resourceNames": ["node-2"]}]),
    *binding("ClusterRoleBinding", "viewers", "view-only", [{"kind": "Group", "name": "everyone"}],
             [{"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["get"]}]),
]
IMAGES = (ImageInventory(digest=SHELL, executables=(Executable(path="bin/bash", kind="shell", name="bash"),
                                                    Executable(path="usr/bin/apt", kind="package-manager",
                                                               name="apt"))),
          ImageInventory(digest=DISTROLESS))


def report(log: AuditLogBuilder | None) -> Report:
    inventory = msgspec.structs.replace(inventory_from_objects(OBJECTS), images=IMAGES)
    if log is not None:
        lines = [line.encode() for line in log.lines]
        inventory = msgspec.structs.replace(
            inventory, exec_evidence=read_lines(lines, since=NOW - timedelta(days=30), until=NOW))
    return Report(meta=ReportMeta(tool_version="test"), inventory=inventory, exec_matrix=exec_matrix(inventory))


def sessions_log() -> AuditLogBuilder:
    log = AuditLogBuilder(NOW - timedelta(days=2))
    sre = {"user": "dana@example.com", "groups": ["sre", "system:authenticated"]}
    log.exec_("shop", "web-1", container="app", command=["bash"], **sre)
    log.exec_("shop", "web-1", container="app", command=["cat", "/etc/hosts"], **sre)
    log.exec_("shop", "web-1", command=["sh"], **sre)  # no container: the annotated default, sidecar
    log.exec_("shop", "api-1", container="app", code=403, user="mallory", groups=["system:authenticated"])
    log.exec_("shop", "gone-7", container="app", **sre)  # a pod deleted since
    return log


def test_rows_are_ranked_can_shell_did_first() -> None:
    rows = container_exec_access(report(sessions_log()))
    summary = [(r.pod, r.container, r.score, r.has_shell, r.did) for r in rows]
    assert summary == [
        ("web-1", "app", 7, True, True),        # can (sre), has a shell, and did
        ("web-1", "sidecar", 5, False, True),   # can and did, no shell in its image
        ("gone-7", "app", 4, None, True),       # did, the pod is gone: nobody can now
        ("db-0", "db", 3, True, False),         # can (nodes/proxy on node-2), has a shell
        ("api-1", "app", 1, False, False),      # can; a denied attempt is not "did"
        ("job-1", "run", 0, None, False),       # image not read, nobody can
    ]
    top = rows[0]
    assert [g.path for g in top.grants] == [ExecPath.EXEC]
    assert [str(s) for s in top.subjects] == ["Group sre"]
    assert (top.shells, top.has_package_manager, top.opened, top.denied) == (("bash",), True, 2, 0)
    [summary_of_top] = top.sessions
    assert (summary_of_top.identity, summary_of_top.opened) == ("dana@example.com", 2)
    assert summary_of_top.commands == (("cat", "/etc/hosts"), ("bash",))
    assert top.workload is not None and str(top.workload) == "Pod/shop/web-1"
    assert rows[2].workload is None
    assert rows[4].denied == 1
    assert [g.path for g in rows[3].grants] == [ExecPath.NODES_PROXY]


def test_without_an_audit_log_nobody_did() -> None:
    rows = container_exec_access(report(None))
    assert [(r.pod, r.container, r.score) for r in rows] == [
        ("db-0", "db", 3), ("web-1", "app", 3), ("api-1", "app", 1), ("web-1", "sidecar", 1), ("job-1", "run", 0)]


def test_narrowed_to_one_pod() -> None:
    built = report(sessions_log())
    rows = container_exec_access(built, namespace="shop", pod="web-1")
    assert [(r.pod, r.container) for r in rows] == [("web-1", "app"), ("web-1", "sidecar")]
    assert join_exec_access(built.inventory, built.exec_matrix, pod="gone-7")[0].sessions[0].pod == "gone-7"
