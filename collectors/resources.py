"""The Kubernetes resource kinds kubeward reads, and where they live in the API."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resource:
    """One API resource: enough to build its URL and name it in a coverage gap."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version_path(self) -> str:
        """`/api/v1` for the core group, `/apis/<group>/<version>` otherwise."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def list_path(self, namespace: str | None = None) -> str:
        if namespace is not None and self.namespaced:
            return f"{self.group_version_path}/namespaces/{namespace}/{self.plural}"
        return f"{self.group_version_path}/{self.plural}"

    def item_path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.list_path(namespace)}/{name}"

    @property
    def qualified(self) -> str:
        """`deployments.apps`, as kubectl and RBAC messages spell it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


NAMESPACES = Resource("", "v1", "namespaces", "Namespace", False)
NODES = Resource("", "v1", "nodes", "Node", False)
PODS = Resource("", "v1", "pods", "Pod", True)
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount", True)
SERVICES = Resource("", "v1", "services", "Service", True)
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment", True)
STATEFUL_SETS = Resource("apps", "v1", "statefulsets", "StatefulSet", True)
DAEMON_SETS = Resource("apps", "v1", "daemonsets", "DaemonSet", True)
REPLICA_SETS = Resource("apps", "v1", "replicasets", "ReplicaSet", True)
JOBS = Resource("batch", "v1", "jobs", "Job", True)
CRON_JOBS = Resource("batch", "v1", "cronjobs", "CronJob", True)
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", True)
CLUSTER_ROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False)
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True)
CLUSTER_ROLE_BINDINGS = Resource(
    "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False
)
NETWORK_POLICIES = Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True)
RUNTIME_CLASSES = Resource("node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", False)
POD_DISRUPTION_BUDGETS = Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True)

WORKLOADS = (DEPLOYMENTS, STATEFUL_SETS, DAEMON_SETS, REPLICA_SETS, JOBS, CRON_JOBS)

#: Everything the Kubernetes collector lists, in the order it starts them
#: (pods first: they are the largest list and everything hangs off them).
COLLECTED: tuple[Resource, ...] = (
    PODS,
    NAMESPACES,
    NODES,
    *WORKLOADS,
    SERVICE_ACCOUNTS,
    SERVICES,
    ROLES,
    CLUSTER_ROLES,
    ROLE_BINDINGS,
    CLUSTER_ROLE_BINDINGS,
    NETWORK_POLICIES,
    RUNTIME_CLASSES,
    POD_DISRUPTION_BUDGETS,
)

VULNERABILITY_REPORTS = Resource(
    "aquasecurity.github.io", "v1alpha1", "vulnerabilityreports", "VulnerabilityReport", True
)
"""Trivy Operator's per-workload image scans; read only where the operator is installed."""

#: Custom resources read when the cluster serves them: their API group missing from
#: discovery means "not installed", which is no coverage gap.
OPTIONAL: tuple[Resource, ...] = (VULNERABILITY_REPORTS,)

BY_KIND: dict[str, Resource] = {r.kind: r for r in (*COLLECTED, *OPTIONAL)}
