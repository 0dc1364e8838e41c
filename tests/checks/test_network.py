"""The pure logic behind the network and tenancy checks: NetworkPolicy selection and
default-deny semantics, the escape-capable predicate, Pod Security versions, and
how co-tenancy messages stay bounded."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from audit.findings import Severity
from audit.model import ClusterInfo, Inventory, NetworkPolicy, Node, Pod, ServerVersion
from checks.engine import REGISTRY, all_checks, evaluate
from checks.network import (
    applies_to,
    cluster_minor,
    escape_capabilities,
    is_default_deny,
    kube_minor,
    lower,
    pinned_minor,
    some,
)
from collectors.kube import inventory_from_objects


def policy(spec: dict[str, Any], namespace: str = "shop", name: str = "p") -> NetworkPolicy:
    return msgspec.convert({"metadata": {"name": name, "namespace": namespace}, "spec": spec}, NetworkPolicy)


def pod(spec: dict[str, Any], name: str = "p", namespace: str = "shop", **metadata: Any) -> Pod:
    return msgspec.convert({"metadata": {"name": name, "namespace": namespace, **metadata}, "spec": spec}, Pod)


# --- NetworkPolicy selection -------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "labels", "selected"),
    [
        ({"key": "tier", "operator": "In", "values": ["api", "web"]}, {"tier": "web"}, True),
        ({"key": "tier", "operator": "In", "values": ["api", "web"]}, {"tier": "db"}, False),
        ({"key": "tier", "operator": "In", "values": ["api"]}, {}, False),
        ({"key": "env", "operator": "NotIn", "values": ["dev"]}, {"env": "prod"}, True),
        ({"key": "env", "operator": "NotIn", "values": ["dev"]}, {"env": "dev"}, False),
        ({"key": "env", "operator": "NotIn", "values": ["dev"]}, {}, True),  # a missing key is not in the set
        ({"key": "team", "operator": "Exists"}, {"team": ""}, True),
        ({"key": "team", "operator": "Exists"}, {}, False),
        ({"key": "legacy", "operator": "DoesNotExist"}, {}, True),
        ({"key": "legacy", "operator": "DoesNotExist"}, {"legacy": "true"}, False),
        ({"key": "x", "operator": "Gt", "values": ["1"]}, {"x": "2"}, False),  # unknown operator selects nothing
    ],
)
def test_match_expressions(expression: dict[str, Any], labels: dict[str, str], selected: bool) -> None:
    rule = policy({"podSelector": {"matchExpressions": [expression]}, "policyTypes": ["Ingress"]})
    assert applies_to(rule, labels, "Ingress") is selected


def test_empty_selector_selects_every_pod() -> None:
    rule = policy({"podSelector": {}, "policyTypes": ["Ingress"]})
    assert applies_to(rule, {}, "Ingress")
    assert applies_to(rule, {"app": "anything"}, "Ingress")


def test_match_labels_and_expressions_are_anded() -> None:
    rule = policy({"podSelector": {"matchLabels": {"app": "api"},
                                   "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}})
    assert applies_to(rule, {"app": "api", "env": "prod"}, "Ingress")
    assert not applies_to(rule, {"app": "api", "env": "dev"}, "Ingress")
    assert not applies_to(rule, {"app": "web", "env": "prod"}, "Ingress")


@pytest.mark.parametrize(
    ("spec", "ingress", "egress"),
    [
        ({"podSelector": {}}, True, False),  # no types, no rules: Ingress
        ({"podSelector": {}, "ingress": [{}]}, True, False),
        ({"podSelector": {}, "egress": [{"to": [{"podSelector": {}}]}]}, True, True),  # egress rules add Egress
        ({"podSelector": {}, "policyTypes": ["Egress"]}, False, True),
        ({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}, False, True),  # types win over rules
        ({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, True, True),
    ],
)
def test_policy_types_default_as_the_api_server_does(spec: dict[str, Any], ingress: bool, egress: bool) -> None:
    rule = policy(spec)
    assert applies_to(rule, {}, "Ingress") is ingress
    assert applies_to(rule, {}, "Egress") is egress


@pytest.mark.parametrize(
    ("spec", "ingress", "egress"),
    [
        ({"podSelector": {}}, True, False),
        ({"podSelector": {"matchExpressions": []}, "policyTypes": ["Ingress", "Egress"]}, True, True),
        ({"podSelector": {}, "policyTypes": ["Egress"]}, False, True),
        ({"podSelector": {}, "ingress": [{}]}, False, False),  # allow-all, not deny
        ({"podSelector": {}, "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}, True, False),
        ({"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"]}, False, False),
        ({"podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}}, False, False),
        ({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}, False, True),
    ],
)
def test_default_deny(spec: dict[str, Any], ingress: bool, egress: bool) -> None:
    assert is_default_deny(policy(spec), "Ingress") is ingress
    assert is_default_deny(policy(spec), "Egress") is egress


def test_policies_of_another_namespace_do_not_isolate() -> None:
    objects = [
        {"kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "other"},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
        {"kind": "Pod", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"containers": [{"name": "w"}]}},
        {"kind": "Pod", "metadata": {"name": "tool", "namespace": "other"}, "spec": {"containers": [{"name": "t"}]}},
    ]
    all_checks()
    result = evaluate(inventory_from_objects(objects), checks=[REGISTRY["KW-ISO-040"], REGISTRY["KW-ISO-041"]])
    assert sorted((f.check_id, str(f.resource)) for f in result.findings) == [
        ("KW-ISO-040", "Pod/shop/web"), ("KW-ISO-041", "Pod/shop/web"),
    ]


# --- escape-capable ------------------------------------------------------------------


def test_an_ordinary_pod_cannot_escape() -> None:
    assert escape_capabilities(pod({"containers": [{"name": "web", "securityContext": {
        "privileged": False, "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}}}]})) == ()


@pytest.mark.parametrize(
    ("spec", "reasons"),
    [
        ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}, ("privileged container c",)),
        ({"initContainers": [{"name": "sysctl", "securityContext": {"privileged": True}}],
          "containers": [{"name": "c"}]}, ("privileged container sysctl",)),
        ({"ephemeralContainers": [{"name": "dbg", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]},
         ("SYS_ADMIN in dbg",)),
        ({"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["cap_sys_admin"]}}}]},
         ("SYS_ADMIN in c",)),
        ({"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["ALL"]}}}]}, ("ALL in c",)),
        ({"hostPID": True, "hostIPC": True, "hostNetwork": True, "containers": [{"name": "c"}]},
         ("hostPID", "hostIPC", "hostNetwork")),
        ({"securityContext": {"windowsOptions": {"hostProcess": True}}, "containers": [{"name": "c"}]},
         ("hostProcess container c",)),
    ],
)
def test_escape_capable_pods(spec: dict[str, Any], reasons: tuple[str, ...]) -> None:
    assert escape_capabilities(pod(spec)) == reasons


@pytest.mark.parametrize(
    ("path", "capable"),
    [
        ("/", True),
        ("//", True),
        ("/var/run/docker.sock", True),
        ("/run/containerd/containerd.sock", True),
        ("/var/run/crio/crio.sock", True),
        ("/run/k3s/containerd/containerd.sock", True),
        ("/var/run", True),
        ("/run/containerd/", True),
        ("/var/log", False),
        ("/etc", False),  # risky, and flagged by the hostPath check in checks.isolation, but not node-level
        ("/var/lib/kubelet", False),
        ("/data/docker.sock.d", False),
    ],
)
def test_host_path_reaches_the_node(path: str, capable: bool) -> None:
    mounted = pod({"containers": [{"name": "c", "volumeMounts": [{"name": "h", "mountPath": "/h"}]}],
                   "volumes": [{"name": "h", "hostPath": {"path": path}}]})
    assert bool(escape_capabilities(mounted)) is capable


def test_a_host_path_nobody_mounts_does_not_count() -> None:
    declared = pod({"containers": [{"name": "c"}], "volumes": [{"name": "root", "hostPath": {"path": "/"}}]})
    assert escape_capabilities(declared) == ()


# --- versions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "minor"),
    [("v1.24", 24), ("v1.0", 0), ("latest", None), ("1.24", None), ("v1.24.3", None), ("v1.024", None),
     ("v2.1", None), ("", None)],
)
def test_pinned_minor_parses_as_pod_security_admission(label: str, minor: int | None) -> None:
    assert pinned_minor(label) == minor


@pytest.mark.parametrize(
    ("version", "minor"),
    [("v1.31.4", 31), ("v1.29.8-eks-a737599", 29), ("1.30.2+k3s1", 30), ("", None), ("v2.0.0", None)],
)
def test_kube_minor(version: str, minor: int | None) -> None:
    assert kube_minor(version) == minor


def _node(name: str, kubelet: str) -> Node:
    return msgspec.convert({"metadata": {"name": name}, "status": {"nodeInfo": {"kubeletVersion": kubelet}}}, Node)


def test_cluster_minor_prefers_the_api_server_then_the_newest_kubelet() -> None:
    nodes = (_node("a", "v1.29.1"), _node("b", "v1.30.0"))
    assert cluster_minor(Inventory(nodes=nodes)) == 30
    server = ClusterInfo(version=ServerVersion(git_version="v1.31.2"))
    assert cluster_minor(Inventory(cluster=server, nodes=nodes)) == 31
    assert cluster_minor(Inventory()) is None


# --- messages --------------------------------------------------------------------------------


def test_some_names_a_few_and_counts_the_rest() -> None:
    assert some([]) == ""
    assert some(["a", "b", "c"]) == "a, b, c"
    assert some(["a", "b", "c", "d", "e"]) == "a, b, c and 2 more"


def test_lower() -> None:
    assert lower(Severity.CRITICAL) == Severity.HIGH
    assert lower(Severity.LOW) == Severity.INFO
    assert lower(Severity.INFO) == Severity.INFO


def _pod_object(name: str, namespace: str, node: str, **spec: Any) -> dict[str, Any]:
    containers = spec.pop("containers", [{"name": "app"}])
    return {"kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"nodeName": node, "containers": containers, **spec}, "status": {"phase": "Running"}}


def test_co_tenancy_is_one_bounded_finding_per_node() -> None:
    """An escape-capable DaemonSet with two pods on the node and 40 tenant pods: one finding,
    naming the DaemonSet once and three namespaces, counting the rest."""
    owner = [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": True}]
    privileged = [{"name": "agent", "securityContext": {"privileged": True}}]
    objects: list[dict[str, Any]] = [
        {"kind": "Node", "metadata": {"name": "n1"}},
        {"kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "ops"}},
    ]
    for suffix in ("a", "b"):
        agent = _pod_object(f"agent-{suffix}", "ops", "n1", containers=privileged)
        agent["metadata"]["ownerReferences"] = owner
        objects.append(agent)
    objects += [_pod_object(f"app-{i}", f"team-{i % 8}", "n1") for i in range(40)]
    all_checks()
    findings = evaluate(inventory_from_objects(objects), checks=[REGISTRY["KW-ISO-049"]]).findings
    assert len(findings) == 1
    finding = findings[0]
    assert finding.severity == Severity.HIGH
    assert finding.message == (
        "Node n1 runs escape-capable DaemonSet ops/agent (privileged container agent, 2 pods) beside 40 pods of"
        " 8 other namespaces (team-0, team-1, team-2 and 5 more): an escape from the first reaches the others."
    )
    assert finding.observed["escape"] == ["ops/agent-a", "ops/agent-b"]
    assert len(finding.observed["exposed"]) == 40
    assert finding.observed["sensitive"] == []
