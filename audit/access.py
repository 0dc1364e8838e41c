"""Who can get a shell in a running container: the vocabulary of the exec matrix.

The exec matrix is computed from RBAC (`checks.rbac.exec_matrix`) and kept in
the Report: one `ExecGrant` per subject, namespace, path and the binding that
gives it. A grant is exact, never a summary: every verb in `verbs` is allowed
on every resource in `resources`, in `namespace` (or in every namespace when it
is `"*"`), on any object or only on those in `resource_names`. The API server
answers a SubjectAccessReview for any of these combinations with "allowed",
which the tests check against an RBAC authorizer.
"""

from __future__ import annotations

import enum
from typing import Literal

import msgspec

from audit.model import ObjectRef

CLUSTER_WIDE = "*"
"""The namespace of a grant that holds in every namespace (it comes from a ClusterRoleBinding)."""


class ExecPath(enum.StrEnum):
    """A way RBAC lets a subject run commands in, or as, a running container."""

    EXEC = "pods/exec"
    """`get` or `create` on pods/exec (kubectl ≥ 1.30 execs over WebSocket, which needs only `get`)."""
    ATTACH = "pods/attach"
    """`get` or `create` on pods/attach: the container's own stdin and tty."""
    PORT_FORWARD = "pods/portforward"
    """`get` or `create` on pods/portforward: reaches any port of the pod, not a shell (reported apart)."""
    EPHEMERAL_CONTAINERS = "pods/ephemeralcontainers"
    """`patch` or `update` on pods/ephemeralcontainers: adds a debug container with any image to a pod."""
    CREATE_PODS = "create-pods"
    """`create` on pods or a pod-template workload: runs any image with any of the namespace's service accounts."""
    NODES_PROXY = "nodes/proxy"
    """`get` or `create` on nodes/proxy: the kubelet API, whose exec endpoint reaches every pod on the node."""
    IMPERSONATE = "impersonate"
    """`impersonate` on users, groups, service accounts or user extras: acts as someone who may have a path."""
    ESCALATE_BIND = "escalate-bind"
    """`escalate` or `bind` on roles or clusterroles: grants oneself any permission, a path included."""

    @property
    def shell(self) -> bool:
        """Whether the path itself opens a shell in a container (port-forward and the escalations do not)."""
        return self in _SHELL_PATHS


_SHELL_PATHS = frozenset(
    {ExecPath.EXEC, ExecPath.ATTACH, ExecPath.EPHEMERAL_CONTAINERS, ExecPath.CREATE_PODS, ExecPath.NODES_PROXY}
)


class Subject(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who a binding names, as RBAC matches it.

    A User subject named `system:serviceaccount:<ns>:<name>` is a service
    account to the authorizer and is kept as one here.
    """

    kind: Literal["Group", "ServiceAccount", "User"]
    name: str
    namespace: str | None = None
    """The service account's namespace; None for users and groups."""

    def __str__(self) -> str:
        if self.kind == "ServiceAccount":
            return f"ServiceAccount {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"

    @property
    def username(self) -> str | None:
        """The user name the API server authenticates this subject as (None for a group)."""
        if self.kind == "ServiceAccount":
            return f"system:serviceaccount:{self.namespace}:{self.name}"
        if self.kind == "User":
            return self.name
        return None


class Via(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where a grant comes from: the binding, the role it refers to, and for an
    aggregated ClusterRole the ClusterRoles whose rules give it."""

    binding: ObjectRef
    role: ObjectRef
    aggregated_from: tuple[str, ...] = ()


class ExecGrant(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One subject's path to a shell in one namespace, through one binding."""

    subject: Subject
    namespace: str
    """The namespace the grant holds in, or `"*"` (CLUSTER_WIDE) for all of them."""
    path: ExecPath
    verbs: tuple[str, ...]
    """The path's verbs allowed, sorted (e.g. `("create", "get")`), never `*`."""
    resources: tuple[str, ...]
    """The resources they are allowed on, as kubectl names them: `pods/exec`, `deployments.apps`, `users` …"""
    via: Via
    resource_names: tuple[str, ...] = ()
    """Only these objects (pods, nodes, users …); empty for any."""

    @property
    def cluster_wide(self) -> bool:
        return self.namespace == CLUSTER_WIDE
