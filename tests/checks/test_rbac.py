"""RBAC expansion and the exec matrix: the authorizer's matching rules as plain functions, and
the oracle — for a grid of (subject, namespace, request, name), granted or not, the matrix must
say what the API server answers to a SubjectAccessReview over real HTTP."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import msgspec
import pytest
import yaml
from kubernetes.client import V1ResourceAttributes, V1SubjectAccessReview
from kubernetes.client import V1SubjectAccessReviewSpec as ReviewSpec

from audit.access import CLUSTER_WIDE, ExecGrant, ExecPath, Subject
from audit.model import PolicyRule, Role, RoleBinding
from checks.rbac import (
    binding_subjects,
    effective_rules,
    exec_matrix,
    role_key,
    role_templates,
    rule_allows,
)
from collectors.kube import inventory_from_objects

RBAC = "rbac.authorization.k8s.io/v1"


def rule(verbs: Iterable[str], groups: Iterable[str], resources: Iterable[str], names: Iterable[str] = ()) -> dict:
    out: dict[str, Any] = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        out["resourceNames"] = list(names)
    return out


def policy(*args: Any, **kwargs: Any) -> PolicyRule:
    return msgspec.convert(rule(*args, **kwargs), PolicyRule)


def cluster_role(name: str, rules: list[dict] = (), *, labels: dict | None = None,
                 selectors: list[dict] | None = None) -> dict:
    obj: dict[str, Any] = {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": name}, "rules": list(rules)}
    if labels:
        obj["metadata"]["labels"] = labels
    if selectors is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": selectors}
    return obj


def role(namespace: str, name: str, rules: list[dict]) -> dict:
    return {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": rules}


def user(name: str) -> dict:
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def group(name: str) -> dict:
    return {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def account(name: str, namespace: str | None = None) -> dict:
    return {"kind": "ServiceAccount", "name": name, **({"namespace": namespace} if namespace else {})}


def cluster_binding(name: str, role_name: str, subjects: list[dict], *, role_kind: str = "ClusterRole") -> dict:
    return {
        "apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": subjects,
    }


def binding(namespace: str, name: str, role_name: str, subjects: list[dict], *, role_kind: str = "ClusterRole") -> dict:
    return {
        "apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
        "subjects": subjects,
    }


def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def matrix_of(objects: list[dict]) -> tuple[ExecGrant, ...]:
    return exec_matrix(inventory_from_objects(objects))


def paths(grants: Iterable[ExecGrant], subject: Subject) -> set[tuple[str, ExecPath, tuple[str, ...]]]:
    return {(g.namespace, g.path, g.verbs) for g in grants if g.subject == subject}


ALICE = Subject(kind="User", name="alice")


# --- the authorizer's matching --------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_resources", "resource", "subresource", "allowed"),
    [
        (["pods/exec"], "pods", "exec", True),
        (["pods"], "pods", "exec", False),  # the parent does not cover its subresources
        (["pods/exec"], "pods", "", False),
        (["*"], "pods", "exec", True),
        (["*/exec"], "pods", "exec", True),
        (["*/exec"], "pods", "attach", False),
        (["*/exec"], "pods", "", False),
        (["pods/*"], "pods", "exec", False),  # compared literally: not a subresource wildcard
        (["pods/*"], "pods", "*", True),
        (["*/*"], "pods", "exec", False),
    ],
)
def test_resource_matching_follows_the_authorizer(
    rule_resources: list[str], resource: str, subresource: str, allowed: bool
) -> None:
    assert rule_allows(policy(["get"], [""], rule_resources), "get", "", resource, subresource) is allowed


def test_verbs_groups_and_resource_names() -> None:
    assert rule_allows(policy(["*"], [""], ["pods/exec"]), "create", "", "pods", "exec")
    assert not rule_allows(policy(["get"], [""], ["pods/exec"]), "create", "", "pods", "exec")
    assert rule_allows(policy(["create"], ["*"], ["deployments"]), "create", "apps", "deployments")
    assert not rule_allows(policy(["create"], [""], ["deployments"]), "create", "apps", "deployments")
    named = policy(["get"], [""], ["pods/exec"], names=["web-0"])
    assert rule_allows(named, "get", "", "pods", "exec", "web-0")
    assert not rule_allows(named, "get", "", "pods", "exec", "web-1")
    assert not rule_allows(named, "get", "", "pods", "exec")  # any pod: the restriction denies it


# --- roles -----------------------------------------------------------------------------


def roles_of(objects: list[dict]) -> dict[str, tuple[str, ...]]:
    """ClusterRole name → the resources its effective rules name (for compact assertions)."""
    inventory = inventory_from_objects(objects)
    rules = effective_rules(inventory.roles)
    return {
        r.metadata.name: tuple(res for sourced in rules[role_key(r)] for res in sourced.rule.resources)
        for r in inventory.roles
    }


def test_aggregation_replaces_stored_rules_and_nests() -> None:
    objects = [
        cluster_role("parent", [rule(["get"], [""], ["stale"])], selectors=[{"matchLabels": {"to-parent": "true"}}]),
        cluster_role("child", [rule(["create"], [""], ["pods/exec"])], labels={"to-parent": "true"}),
        cluster_role("middle", [rule(["get"], [""], ["middle-stale"])], labels={"to-parent": "true"},
                     selectors=[{"matchExpressions": [{"key": "tier", "operator": "In", "values": ["leaf"]}]}]),
        cluster_role("leaf", [rule(["patch"], [""], ["pods/ephemeralcontainers"])], labels={"tier": "leaf"}),
        cluster_role("unrelated", [rule(["get"], [""], ["secrets"])]),
    ]
    effective = roles_of(objects)
    assert sorted(effective["parent"]) == ["pods/ephemeralcontainers", "pods/exec"]
    assert effective["middle"] == ("pods/ephemeralcontainers",)
    assert effective["child"] == ("pods/exec",)


def test_aggregation_cycles_and_selectors() -> None:
    objects = [
        cluster_role("a", [rule(["get"], [""], ["a-stale"])], labels={"ring": "x"},
                     selectors=[{"matchLabels": {"ring": "x"}}]),
        cluster_role("b", [], labels={"ring": "x"}, selectors=[{"matchLabels": {"ring": "x"}}]),
        cluster_role("leaf", [rule(["get"], [""], ["pods/attach"])], labels={"ring": "x"}),
        cluster_role("nothing", [rule(["get"], [""], ["pods/exec"])], selectors=[]),
        cluster_role("everything", [], selectors=[{}]),
        cluster_role("odd-operator", [rule(["get"], [""], ["x"])],
                     selectors=[{"matchExpressions": [{"key": "ring", "operator": "Gt", "values": ["1"]}]}]),
    ]
    effective = roles_of(objects)
    assert effective["a"] == effective["b"] == ("pods/attach",)
    assert effective["nothing"] == ()  # an aggregationRule selecting nothing empties the role
    # `{}` selects every other ClusterRole; aggregated ones give only what they aggregate
    assert effective["everything"] == ("pods/attach",)
    assert effective["odd-operator"] == ()


def test_resource_names_restrict_and_never_allow_create() -> None:
    sourced = effective_rules([msgspec.convert(cluster_role("r", [
        rule(["get", "create"], [""], ["pods", "pods/exec"], names=["web-0", "web-1"]),
        rule(["create"], ["apps"], ["deployments"]),
    ]), Role)])[("ClusterRole", "", "r")]
    templates = role_templates(sourced, cluster_binding=False)
    assert [(t.path, t.verbs, t.resources, t.resource_names) for t in templates] == [
        (ExecPath.CREATE_PODS, ("create",), ("deployments.apps",), ()),
        (ExecPath.EXEC, ("create", "get"), ("pods/exec",), ("web-0", "web-1")),
    ]


def test_cluster_scoped_requests_need_a_cluster_role_binding() -> None:
    sourced = effective_rules([msgspec.convert(cluster_role("r", [
        rule(["get"], [""], ["nodes/proxy"]),
        rule(["impersonate"], [""], ["users", "serviceaccounts"]),
        rule(["impersonate"], ["authentication.k8s.io"], ["userextras/scopes"]),
        rule(["escalate", "bind"], ["rbac.authorization.k8s.io"], ["clusterroles"]),
    ]), Role)])[("ClusterRole", "", "r")]
    in_namespace = {(t.path, t.verbs, t.resources) for t in role_templates(sourced, cluster_binding=False)}
    assert in_namespace == {
        (ExecPath.IMPERSONATE, ("impersonate",), ("serviceaccounts",)),
        # bind is checked in the namespace of the binding being written
        (ExecPath.ESCALATE_BIND, ("bind",), ("clusterroles.rbac.authorization.k8s.io",)),
    }
    cluster = {(t.path, t.verbs, t.resources) for t in role_templates(sourced, cluster_binding=True)}
    assert cluster == {
        (ExecPath.NODES_PROXY, ("get",), ("nodes/proxy",)),
        (ExecPath.IMPERSONATE, ("impersonate",),
         ("serviceaccounts", "userextras.authentication.k8s.io/scopes", "users")),
        (ExecPath.ESCALATE_BIND, ("bind", "escalate"), ("clusterroles.rbac.authorization.k8s.io",)),
    }


# --- bindings ------------------------------------------------------------------------------


def test_binding_subjects_as_the_authorizer_matches_them() -> None:
    rolebinding = msgspec.convert(binding("team-a", "b", "edit", [
        account("builder"), account("other", "team-b"), user("system:serviceaccount:ci:runner"),
        user("system:serviceaccount:bad"), group("devs"), {"kind": "Robot", "name": "r2"},
    ]), RoleBinding)
    assert list(binding_subjects(rolebinding)) == [
        (0, Subject(kind="ServiceAccount", name="builder", namespace="team-a")),
        (1, Subject(kind="ServiceAccount", name="other", namespace="team-b")),
        (2, Subject(kind="ServiceAccount", name="runner", namespace="ci")),
        (3, Subject(kind="User", name="system:serviceaccount:bad")),
        (4, Subject(kind="Group", name="devs")),
    ]
    clusterbinding = msgspec.convert(cluster_binding("c", "edit", [account("orphan"), user("alice")]), RoleBinding)
    assert list(binding_subjects(clusterbinding)) == [(1, ALICE)]  # an account needs a namespace here


def test_role_binding_to_a_cluster_role_holds_in_its_namespace() -> None:
    objects = [
        cluster_role("exec", [rule(["get"], [""], ["pods/exec"])]),
        role("team-b", "local", [rule(["create"], [""], ["pods/attach"])]),
        binding("team-a", "rb", "exec", [user("alice")]),
        binding("team-b", "local", "local", [user("alice")], role_kind="Role"),
        binding("team-a", "wrong-namespace", "local", [user("alice")], role_kind="Role"),
        cluster_binding("crb-to-role", "local", [user("alice")], role_kind="Role"),
        cluster_binding("missing", "no-such-role", [user("alice")]),
    ]
    assert paths(matrix_of(objects), ALICE) == {
        ("team-a", ExecPath.EXEC, ("get",)),
        ("team-b", ExecPath.ATTACH, ("create",)),
    }


def test_matrix_is_sorted_deterministic_and_without_duplicates() -> None:
    objects = [
        cluster_role("exec", [rule(["get", "create"], [""], ["pods/exec"]), rule(["get"], [""], ["pods/exec"])]),
        cluster_binding("b1", "exec", [user("zed"), user("alice"), user("alice")]),
        binding("ns", "b2", "exec", [group("devs"), account("bot")]),
    ]
    matrix = matrix_of(objects)
    shuffled = list(objects)
    random.Random(3).shuffle(shuffled)
    assert matrix_of(shuffled) == matrix
    assert len(set(matrix)) == len(matrix)
    assert [(g.subject.kind, g.subject.name, g.namespace) for g in matrix] == [
        ("Group", "devs", "ns"), ("ServiceAccount", "bot", "ns"), ("User", "alice", "*"), ("User", "zed", "*"),
    ]
    assert matrix[2].verbs == ("create", "get") and matrix[2].via.binding.name == "b1"


def test_matrix_round_trips_through_json() -> None:
    objects = [
        cluster_role("named", [rule(["get"], [""], ["pods/exec"], names=["web-0"])]),
        cluster_binding("named", "named", [user("alice"), account("bot", "ci")]),
    ]
    matrix = matrix_of(objects)
    assert msgspec.json.decode(msgspec.json.encode(matrix), type=tuple[ExecGrant, ...]) == matrix
    assert msgspec.json.decode(msgspec.json.encode(matrix[0])) == {
        "subject": {"kind": "ServiceAccount", "name": "bot", "namespace": "ci"},
        "namespace": "*",
        "path": "pods/exec",
        "verbs": ["get"],
        "resources": ["pods/exec"],
        "via": {"binding": {"kind": "ClusterRoleBinding", "name": "named"},
                "role": {"kind": "ClusterRole", "name": "named"}},
        "resource_names": ["web-0"],
    }


def test_aggregated_grants_name_their_sources() -> None:
    objects = [
        cluster_role("platform", [], selectors=[{"matchLabels": {"platform": "true"}}]),
        cluster_role("platform-exec", [rule(["create"], [""], ["pods/exec"])], labels={"platform": "true"}),
        cluster_role("platform-read", [rule(["get"], [""], ["pods"])], labels={"platform": "true"}),
        cluster_binding("platform", "platform", [group("platform-team")]),
    ]
    (grant,) = matrix_of(objects)
    assert grant.path == ExecPath.EXEC and grant.namespace == CLUSTER_WIDE
    assert grant.via.role.name == "platform" and grant.via.aggregated_from == ("platform-exec",)


# --- the oracle: the matrix against SubjectAccessReviews ------------------------------------


@dataclass(frozen=True)
class Request:
    """One request the API server authorizes on the way to a shell (written out here,
    independently of checks.rbac's own table)."""

    path: ExecPath
    verb: str
    group: str
    resource: str
    subresource: str = ""
    cluster_scoped: bool = False

    def label(self, extra_key: str = "") -> str:
        name = f"{self.resource}.{self.group}" if self.group else self.resource
        sub = extra_key or self.subresource
        return f"{name}/{sub}" if sub else name


REQUESTS: tuple[Request, ...] = (
    *(Request(ExecPath.EXEC, v, "", "pods", "exec") for v in ("get", "create")),
    *(Request(ExecPath.ATTACH, v, "", "pods", "attach") for v in ("get", "create")),
    *(Request(ExecPath.PORT_FORWARD, v, "", "pods", "portforward") for v in ("get", "create")),
    *(Request(ExecPath.EPHEMERAL_CONTAINERS, v, "", "pods", "ephemeralcontainers") for v in ("patch", "update")),
    Request(ExecPath.CREATE_PODS, "create", "", "pods"),
    Request(ExecPath.CREATE_PODS, "create", "", "replicationcontrollers"),
    *(Request(ExecPath.CREATE_PODS, "create", "apps", r) for r in ("deployments", "statefulsets", "daemonsets",
                                                                   "replicasets")),
    Request(ExecPath.CREATE_PODS, "create", "batch", "jobs"),
    Request(ExecPath.CREATE_PODS, "create", "batch", "cronjobs"),
    *(Request(ExecPath.NODES_PROXY, v, "", "nodes", "proxy", cluster_scoped=True) for v in ("get", "create")),
    Request(ExecPath.IMPERSONATE, "impersonate", "", "users", cluster_scoped=True),
    Request(ExecPath.IMPERSONATE, "impersonate", "", "groups", cluster_scoped=True),
    Request(ExecPath.IMPERSONATE, "impersonate", "", "serviceaccounts"),
    Request(ExecPath.IMPERSONATE, "impersonate", "authentication.k8s.io", "userextras", cluster_scoped=True),
    Request(ExecPath.ESCALATE_BIND, "escalate", "rbac.authorization.k8s.io", "roles"),
    Request(ExecPath.ESCALATE_BIND, "bind", "rbac.authorization.k8s.io", "roles"),
    Request(ExecPath.ESCALATE_BIND, "escalate", "rbac.authorization.k8s.io", "clusterroles", cluster_scoped=True),
    Request(ExecPath.ESCALATE_BIND, "bind", "rbac.authorization.k8s.io", "clusterroles"),
)

TRICKY_RBAC = """
# wildcards
- {kind: ClusterRole, name: all-verbs-exec, rules: [{verbs: ["*"], apiGroups: [""], resources: [pods/exec]}]}
- {kind: ClusterRole, name: pods-slash-star, rules: [{verbs: ["*"], apiGroups: [""], resources: ["pods/*"]}]}
- {kind: ClusterRole, name: star-slash-sub, rules: [{verbs: [get], apiGroups: [""], resources: ["*/exec", "*/attach"]}]}
- {kind: ClusterRole, name: create-anything-core, rules: [{verbs: [create], apiGroups: [""], resources: ["*"]}]}
- {kind: ClusterRole, name: any-group-workloads,
   rules: [{verbs: [create, list], apiGroups: ["*"], resources: [deployments, cronjobs, statefulsets]}]}
- {kind: ClusterRole, name: cluster-admin,
   rules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"]}, {verbs: ["*"], nonResourceURLs: ["*"]}]}
# resourceNames
- {kind: ClusterRole, name: named-exec, rules: [{verbs: [get, create], apiGroups: [""], resources: [pods/exec],
                                                 resourceNames: [web-0, web-1]}]}
- {kind: ClusterRole, name: named-create, rules: [{verbs: [create], apiGroups: ["", apps],
                                                   resources: [pods, deployments], resourceNames: [web-0]}]}
- {kind: ClusterRole, name: named-node-proxy, rules: [{verbs: [get], apiGroups: [""], resources: [nodes/proxy],
                                                       resourceNames: [node-1]}]}
# aggregation: nested, stale stored rules, a cycle, matchExpressions
- {kind: ClusterRole, name: agg-parent, rules: [{verbs: [get], apiGroups: [""], resources: [pods/portforward]}],
   aggregationRule: {clusterRoleSelectors: [{matchExpressions: [{key: agg, operator: In, values: [parent]}]}]}}
- {kind: ClusterRole, name: agg-child-exec, labels: {agg: parent},
   rules: [{verbs: [create], apiGroups: [""], resources: [pods/exec]}]}
- {kind: ClusterRole, name: agg-middle, labels: {agg: parent},
   aggregationRule: {clusterRoleSelectors: [{matchLabels: {agg: middle}}]}}
- {kind: ClusterRole, name: agg-leaf-debug, labels: {agg: middle},
   rules: [{verbs: [patch], apiGroups: [""], resources: [pods/ephemeralcontainers]}]}
- {kind: ClusterRole, name: agg-stale, rules: [{verbs: [create], apiGroups: [""], resources: [pods/exec]}],
   aggregationRule: {clusterRoleSelectors: [{matchLabels: {agg: nobody}}]}}
- {kind: ClusterRole, name: ring-a, labels: {ring: "yes"},
   aggregationRule: {clusterRoleSelectors: [{matchLabels: {ring: "yes"}}]}}
- {kind: ClusterRole, name: ring-b, labels: {ring: "yes"},
   aggregationRule: {clusterRoleSelectors: [{matchLabels: {ring: "yes"}}]}}
- {kind: ClusterRole, name: ring-leaf, labels: {ring: "yes"},
   rules: [{verbs: [get], apiGroups: [""], resources: [pods/attach]}]}
# the other paths
- {kind: ClusterRole, name: node-proxy, rules: [{verbs: [get, list], apiGroups: [""], resources: [nodes, nodes/proxy]}]}
- {kind: ClusterRole, name: impersonator, rules: [
    {verbs: [impersonate], apiGroups: [""], resources: [users], resourceNames: [admin@example.com]},
    {verbs: [impersonate], apiGroups: [""], resources: [groups, serviceaccounts]},
    {verbs: [impersonate], apiGroups: [authentication.k8s.io], resources: [userextras/scopes]}]}
- {kind: ClusterRole, name: rbac-power, rules: [{verbs: [escalate, bind, get], apiGroups: [rbac.authorization.k8s.io],
                                                  resources: [roles, clusterroles]}]}
- {kind: ClusterRole, name: debugger,
   rules: [{verbs: [update], apiGroups: [""], resources: [pods/ephemeralcontainers]}]}
- {kind: Role, namespace: team-a, name: team-role, rules: [
    {verbs: [create], apiGroups: [""], resources: [pods]},
    {verbs: [get], apiGroups: [""], resources: [pods/portforward]},
    {verbs: [create], apiGroups: [batch], resources: [jobs]}]}
- {kind: Role, namespace: team-b, name: full-access, rules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"]}]}

- {kind: ClusterRoleBinding, name: admins, role: cluster-admin, subjects: [{kind: Group, name: ops-admins}]}
- {kind: ClusterRoleBinding, name: exec-everywhere, role: all-verbs-exec, subjects: [
    {kind: User, name: alice}, {kind: ServiceAccount, name: runner, namespace: ci},
    {kind: Group, name: "system:serviceaccounts:ci"}, {kind: User, name: "system:serviceaccount:team-b:legacy"},
    {kind: ServiceAccount, name: orphan}]}
- {kind: RoleBinding, namespace: team-a, name: sub-wildcard, role: star-slash-sub, subjects: [
    {kind: User, name: bob}, {kind: ServiceAccount, name: builder}]}
- {kind: RoleBinding, namespace: team-a, name: team, role: team-role, role_kind: Role,
   subjects: [{kind: Group, name: team-a-devs}]}
- {kind: RoleBinding, namespace: team-a, name: wrong-namespace, role: full-access, role_kind: Role,
   subjects: [{kind: Group, name: team-a-devs}]}
- {kind: RoleBinding, namespace: team-b, name: full, role: full-access, role_kind: Role,
   subjects: [{kind: Group, name: team-b-devs}]}
- {kind: RoleBinding, namespace: team-a, name: proxy-in-namespace, role: node-proxy,
   subjects: [{kind: User, name: carol}]}
- {kind: ClusterRoleBinding, name: prometheus, role: node-proxy, subjects: [
    {kind: ServiceAccount, name: prometheus, namespace: monitoring}]}
- {kind: ClusterRoleBinding, name: impersonation, role: impersonator, subjects: [{kind: User, name: support}]}
- {kind: RoleBinding, namespace: team-a, name: impersonation, role: impersonator, subjects: [{kind: User, name: dave}]}
- {kind: ClusterRoleBinding, name: rbac-power, role: rbac-power, subjects: [{kind: User, name: erin}]}
- {kind: RoleBinding, namespace: team-b, name: rbac-power, role: rbac-power, subjects: [{kind: User, name: frank}]}
- {kind: ClusterRoleBinding, name: not-a-wildcard, role: pods-slash-star, subjects: [{kind: User, name: gina}]}
- {kind: ClusterRoleBinding, name: core-creator, role: create-anything-core, subjects: [{kind: User, name: hank}]}
- {kind: RoleBinding, namespace: team-b, name: workloads, role: any-group-workloads,
   subjects: [{kind: Group, name: deployers}]}
- {kind: ClusterRoleBinding, name: named, role: named-exec, subjects: [{kind: User, name: ivy}]}
- {kind: RoleBinding, namespace: team-a, name: named-create, role: named-create, subjects: [{kind: User, name: jack}]}
- {kind: ClusterRoleBinding, name: named-node, role: named-node-proxy, subjects: [{kind: User, name: ivy}]}
- {kind: ClusterRoleBinding, name: platform, role: agg-parent, subjects: [{kind: Group, name: platform}]}
- {kind: RoleBinding, namespace: team-b, name: platform, role: agg-middle, subjects: [{kind: User, name: kim}]}
- {kind: ClusterRoleBinding, name: stale, role: agg-stale, subjects: [{kind: User, name: kim}]}
- {kind: ClusterRoleBinding, name: ring, role: ring-a, subjects: [{kind: User, name: lee}]}
- {kind: ClusterRoleBinding, name: missing-role, role: no-such-role, subjects: [{kind: User, name: mia}]}
- {kind: ClusterRoleBinding, name: to-a-role, role: team-role, role_kind: Role, subjects: [{kind: User, name: ned}]}
- {kind: RoleBinding, namespace: playground, name: everyone, role: debugger, subjects: [
    {kind: Group, name: "system:authenticated"}, {kind: User, name: "system:anonymous"}]}
- {kind: RoleBinding, namespace: ci, name: default-account, role: all-verbs-exec,
   subjects: [{kind: ServiceAccount, name: default}]}
"""


def tricky_objects() -> list[dict]:
    """TRICKY_RBAC in Kubernetes form, plus the namespaces."""
    objects = [namespace(ns) for ns in ("team-a", "team-b", "ci", "monitoring", "playground", "quiet")]
    for entry in yaml.safe_load(TRICKY_RBAC):
        kind = entry["kind"]
        if kind == "ClusterRole":
            objects.append(cluster_role(entry["name"], entry.get("rules", []), labels=entry.get("labels"),
                                        selectors=(entry.get("aggregationRule") or {}).get("clusterRoleSelectors")))
        elif kind == "Role":
            objects.append(role(entry["namespace"], entry["name"], entry["rules"]))
        elif kind == "ClusterRoleBinding":
            objects.append(cluster_binding(entry["name"], entry["role"], entry["subjects"],
                                           role_kind=entry.get("role_kind", "ClusterRole")))
        else:
            objects.append(binding(entry["namespace"], entry["name"], entry["role"], entry["subjects"],
                                   role_kind=entry.get("role_kind", "ClusterRole")))
    return objects


def raw_rules(objects: list[dict]) -> Iterator[dict]:
    for obj in objects:
        if obj.get("kind") in ("Role", "ClusterRole"):
            yield from obj.get("rules") or []


def extra_keys(objects: list[dict]) -> list[str]:
    """User-extra keys to ask about: one nobody names, and those the rules name."""
    keys = {"some-key"}
    for r in raw_rules(objects):
        for resource in r.get("resources", []):
            if resource.startswith(("userextras/", "*/")):
                keys.add(resource.split("/", 1)[1])
    return sorted(keys)


def names_to_ask(objects: list[dict], request: Request, key: str) -> list[str]:
    """"" (any object) and the names of every rule that names this resource (or `*`) and restricts to names.

    A create in a collection is authorized with no name (the object has none yet), so it is asked
    that way only: a SubjectAccessReview naming one would be about a request that never happens.
    """
    if request.verb == "create" and not request.subresource:
        return [""]
    sub = key or request.subresource
    spelled = {"*", f"{request.resource}/{sub}" if sub else request.resource, *([f"*/{sub}"] if sub else [])}
    return ["", *sorted({n for r in raw_rules(objects) if spelled & set(r.get("resources", []))
                         for n in r.get("resourceNames", [])})]


def raw_subjects(objects: list[dict]) -> set[Subject]:
    """Every subject named anywhere, as given (a User stays a User), plus one nobody binds."""
    out = {Subject(kind="User", name="nobody@example.com")}
    for obj in objects:
        if obj.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        for s in obj.get("subjects") or []:
            if s["kind"] == "ServiceAccount":
                ns = s.get("namespace") or obj["metadata"].get("namespace")
                if ns:
                    out.add(Subject(kind="ServiceAccount", name=s["name"], namespace=ns))
            elif s["kind"] in ("User", "Group"):
                out.add(Subject(kind=s["kind"], name=s["name"]))
    return out


def review_identity(subject: Subject) -> dict[str, Any]:
    """Who to ask about: exactly the subject, with no other group (so only its own bindings count)."""
    if subject.kind == "Group":
        return {"user": "", "groups": [subject.name]}
    return {"user": subject.username, "groups": []}


def matrix_subject(subject: Subject) -> Subject:
    """How the matrix names a raw subject (a User named like an account is that account)."""
    prefix = "system:serviceaccount:"
    if subject.kind == "User" and subject.name.startswith(prefix):
        ns, _, name = subject.name.removeprefix(prefix).partition(":")
        if ns and name and ":" not in name:
            return Subject(kind="ServiceAccount", name=name, namespace=ns)
    return subject


def matrix_says(grants: list[ExecGrant], namespace: str, request: Request, name: str, key: str = "") -> set[str]:
    """The bindings (`Kind name[/ns]`) through which the matrix allows this request; empty: not allowed."""
    labels = {request.label(key), request.label()} if request.resource == "userextras" else {request.label()}
    out = set()
    for g in grants:
        if g.path != request.path or request.verb not in g.verbs or not labels & set(g.resources):
            continue
        if g.namespace != CLUSTER_WIDE and g.namespace != namespace:
            continue
        if g.resource_names and name not in g.resource_names:
            continue
        b = g.via.binding
        out.add(f"{b.kind} {b.name}/{b.namespace}" if b.namespace else f"{b.kind} {b.name}")
    return out


def binding_in_reason(reason: str) -> str:
    """`RBAC: allowed by RoleBinding "name/ns" of …` → `RoleBinding name/ns`."""
    kind, quoted = reason.removeprefix("RBAC: allowed by ").split(" ")[:2]
    return f"{kind} {quoted.strip(chr(34))}"


@dataclass
class Oracle:
    """Asks the API server double through the kubernetes client, and counts."""

    api: kubernetes.client.AuthorizationV1Api
    asked: int = 0

    def review(self, subject: Subject, namespace: str, request: Request, name: str, key: str) -> tuple[bool, str]:
        attributes = V1ResourceAttributes(
            namespace=namespace, verb=request.verb, group=request.group, resource=request.resource,
            subresource=key or request.subresource, name=name,
        )
        reply = self.api.create_subject_access_review(
            V1SubjectAccessReview(spec=ReviewSpec(resource_attributes=attributes, **review_identity(subject)))
        )
        self.asked += 1
        return bool(reply.status.allowed), reply.status.reason or ""


def check_agreement(oracle: Oracle, objects: list[dict],
                    namespaces_for: Callable[[Subject], list[str]]) -> tuple[int, int]:
    """Every (subject, namespace, request, name) of the grid asked; returns (allowed, denied) counts."""
    matrix = matrix_of(objects)
    by_subject: dict[Subject, list[ExecGrant]] = {}
    for grant in matrix:
        by_subject.setdefault(grant.subject, []).append(grant)
    keys = extra_keys(objects)
    disagreements: list[str] = []
    counts = [0, 0]
    for subject in sorted(raw_subjects(objects), key=lambda s: (s.kind, s.namespace or "", s.name)):
        grants = by_subject.get(matrix_subject(subject), [])
        for ns in namespaces_for(subject):
            for request in REQUESTS:
                if request.cluster_scoped and ns:
                    continue  # the API server asks about these at namespace "" only
                for key in keys if request.resource == "userextras" else [""]:
                    for name in names_to_ask(objects, request, key):
                        expected = matrix_says(grants, ns, request, name, key)
                        allowed, reason = oracle.review(subject, ns, request, name, key)
                        counts[allowed is False] += 1
                        where = f"{subject} ns={ns or '(all)'} {request.verb} {request.label(key)} name={name!r}"
                        if allowed != bool(expected):
                            disagreements.append(f"{where}: API server {allowed} ({reason}), matrix {sorted(expected)}")
                        elif allowed and binding_in_reason(reason) not in expected:
                            disagreements.append(f"{where}: allowed by {reason}, matrix says via {sorted(expected)}")
    # Cluster-scoped requests carry no namespace: a grant of one held in a namespace would be
    # about a request the API server never authorizes.
    cluster_scoped = {(r.verb, r.label()) for r in REQUESTS if r.cluster_scoped}
    disagreements += [
        f"{g.subject} {g.path} in {g.namespace}: {verb} {resource} is cluster-scoped"
        for g in matrix if not g.cluster_wide for verb in g.verbs for resource in g.resources
        if (verb, resource.split("/")[0] if resource.startswith("userextras") else resource) in cluster_scoped
    ]
    assert disagreements == []
    return counts[0], counts[1]


@pytest.fixture
def oracle(serve: Callable[..., tuple[Any, Path]]) -> Callable[[list[dict]], Oracle]:
    apis: list[kubernetes.client.ApiClient] = []

    def start(objects: list[dict]) -> Oracle:
        _, kubeconfig = serve(objects)
        api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        apis.append(api)
        return Oracle(kubernetes.client.AuthorizationV1Api(api))

    yield start
    for api in apis:
        api.close()


def test_matrix_agrees_with_subject_access_reviews_on_tricky_rbac(oracle: Callable[[list[dict]], Oracle]) -> None:
    objects = tricky_objects()
    server = oracle(objects)
    every_namespace = ["", "team-a", "team-b", "ci", "playground", "quiet"]  # quiet: no RoleBinding at all
    allowed, denied = check_agreement(server, objects, lambda subject: every_namespace)
    assert server.asked == allowed + denied
    assert allowed > 200 and denied > 5 * allowed  # both answers are well represented


def test_tricky_rbac_grants_what_the_api_server_would() -> None:
    """A few of the tricky cases spelled out, so a regression reads as more than a disagreement count."""
    matrix = matrix_of(tricky_objects())

    def grants_of(kind: str, name: str, ns: str | None = None) -> set[tuple[str, str, tuple[str, ...]]]:
        subject = Subject(kind=kind, name=name, namespace=ns)  # type: ignore[arg-type]
        return {(g.namespace, g.path.value, g.resource_names) for g in matrix if g.subject == subject}

    assert grants_of("User", "gina") == set()  # pods/* is not a wildcard
    assert grants_of("User", "carol") == set()  # nodes/proxy through a RoleBinding: cluster-scoped, nothing
    assert grants_of("User", "jack") == set()  # create with resourceNames: nothing
    assert grants_of("User", "mia") == grants_of("User", "ned") == set()
    assert grants_of("User", "ivy") == {("*", "pods/exec", ("web-0", "web-1")), ("*", "nodes/proxy", ("node-1",))}
    assert grants_of("User", "kim") == {("team-b", "pods/ephemeralcontainers", ())}  # agg-stale: nothing
    assert grants_of("User", "lee") == {("*", "pods/attach", ())}
    assert grants_of("ServiceAccount", "legacy", "team-b") == {("*", "pods/exec", ())}
    assert grants_of("ServiceAccount", "builder", "team-a") == {("team-a", "pods/exec", ()),
                                                                 ("team-a", "pods/attach", ())}
    assert grants_of("User", "dave") == {("team-a", "impersonate", ())}
    # agg-parent's own (stored) portforward rule is replaced by what it aggregates, nested included
    assert {p for _, p, _ in grants_of("Group", "platform")} == {"pods/exec", "pods/ephemeralcontainers"}


def test_matrix_agrees_with_subject_access_reviews_on_the_demo_cluster(
    oracle: Callable[[list[dict]], Oracle], demo_objects: list[dict]
) -> None:
    objects = [o for o in demo_objects if o["kind"] in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")]
    server = oracle(objects)
    bound_in: dict[str, set[str]] = {}
    for obj in objects:
        if obj["kind"] == "RoleBinding":
            for s in obj.get("subjects") or []:
                bound_in.setdefault(s["name"], set()).add(obj["metadata"]["namespace"])

    def namespaces_for(subject: Subject) -> list[str]:
        # Namespaces with no RoleBinding naming the subject all answer alike: ask one of them.
        return ["", "kube-system", *sorted(bound_in.get(subject.name, set()) - {"kube-system"})]

    allowed, denied = check_agreement(server, objects, namespaces_for)
    assert allowed > 100 and denied > allowed


# --- the checks over the demo cluster --------------------------------------------------------


def test_exec_checks_find_every_planted_exec_risk_of_the_demo_cluster() -> None:
    from audit.findings import Category
    from checks.engine import all_checks, evaluate
    from demo.cluster import build_cluster

    built = build_cluster(pods=300)
    inventory = inventory_from_objects(built.objects)
    checks = [c for c in all_checks() if c.category == Category.EXEC_ACCESS]
    findings = evaluate(inventory, checks=checks).findings
    role_of = {
        (b.kind, b.metadata.namespace, b.metadata.name): (b.role_ref.kind, b.role_ref.name)
        for b in inventory.role_bindings
    }
    found: set[tuple[str, str | None, str]] = set()
    for f in findings:
        found.add((f.resource.kind, f.resource.namespace, f.resource.name))
        kind, name = role_of[(f.resource.kind, f.resource.namespace, f.resource.name)]
        found.add((kind, f.resource.namespace if kind == "Role" else None, name))
    planted = [r for r in built.planted if r.category == Category.EXEC_ACCESS]
    assert len(planted) >= 8
    missed = [str(r.target) for r in planted if (r.target.kind, r.target.namespace, r.target.name) not in found]
    assert missed == []
