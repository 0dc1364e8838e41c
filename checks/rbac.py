"""RBAC, expanded: every subject's paths to a shell in a running container.

Pure functions of the Inventory. They follow the kube-apiserver's RBAC
authorizer rule for rule, so that the exec matrix says "allowed" exactly where
a SubjectAccessReview would (the tests ask the API server double):

- a rule allows a request when one of its verbs is the verb or `*`, one of its
  apiGroups the group or `*`, and one of its resources is `*`, the resource
  (`pods`), the resource and subresource (`pods/exec`) or `*/` and the
  subresource (`*/exec`). `pods/*` is NOT a wildcard: the authorizer compares
  it literally, so it allows nothing but a subresource named `*`;
- `resourceNames` restrict the rule to those objects. A `create` on a
  collection carries no name, so a rule with resourceNames never lets anyone
  create pods or workloads;
- a RoleBinding grants its role's rules in its own namespace (a ClusterRole
  referred to by a RoleBinding included); a ClusterRoleBinding grants them in
  every namespace (`"*"`) and on cluster-scoped resources. nodes/proxy,
  impersonating users, groups and user extras, and escalating ClusterRoles are
  cluster-scoped: only a ClusterRoleBinding grants them. `bind` is checked in
  the namespace of the binding being written, so a RoleBinding granting `bind`
  on clusterroles lets its subject bind any ClusterRole in that namespace;
- a service-account subject without a namespace is in the RoleBinding's own
  namespace (and matches nothing in a ClusterRoleBinding); a User subject named
  `system:serviceaccount:<ns>:<name>` is that service account;
- a ClusterRole with an aggregationRule has the rules of every other
  ClusterRole its selectors match, the aggregated ones' in turn. The
  clusterrole-aggregation controller writes them into the object, replacing
  whatever was there; kubeward recomputes them the same way rather than trust
  the stored rules, which a collector may read stale or half-written. This is
  what the API server enforces once the controller has synced.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from audit.access import CLUSTER_WIDE, ExecGrant, ExecPath, Subject, Via
from audit.model import Inventory, ObjectRef, PolicyRule, Role, RoleBinding

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"

_RBAC_GROUP = "rbac.authorization.k8s.io"
_AUTHN_GROUP = "authentication.k8s.io"


class PathRequest(NamedTuple):
    """One request that is (part of) a path: a verb on a group's resource and subresource."""

    path: ExecPath
    verb: str
    group: str
    resource: str
    subresource: str = ""
    cluster_scoped: bool = False
    """Checked at namespace "" by the API server: only a ClusterRoleBinding can grant it."""

    @property
    def qualified(self) -> str:
        """The resource as kubectl names it: `pods/exec`, `deployments.apps`."""
        name = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{name}/{self.subresource}" if self.subresource else name


def _path_requests() -> tuple[PathRequest, ...]:
    out: list[PathRequest] = []
    for path in (ExecPath.EXEC, ExecPath.ATTACH, ExecPath.PORT_FORWARD):
        subresource = path.value.split("/")[1]
        out += [PathRequest(path, verb, "", "pods", subresource) for verb in ("create", "get")]
    debug = ExecPath.EPHEMERAL_CONTAINERS
    out += [PathRequest(debug, verb, "", "pods", "ephemeralcontainers") for verb in ("patch", "update")]
    for group, resource in (
        ("", "pods"), ("", "replicationcontrollers"), ("apps", "deployments"), ("apps", "statefulsets"),
        ("apps", "daemonsets"), ("apps", "replicasets"), ("batch", "jobs"), ("batch", "cronjobs"),
    ):
        out.append(PathRequest(ExecPath.CREATE_PODS, "create", group, resource))
    proxy = ExecPath.NODES_PROXY
    out += [PathRequest(proxy, verb, "", "nodes", "proxy", cluster_scoped=True) for verb in ("create", "get")]
    out += [
        PathRequest(ExecPath.IMPERSONATE, "impersonate", "", "users", cluster_scoped=True),
        PathRequest(ExecPath.IMPERSONATE, "impersonate", "", "groups", cluster_scoped=True),
        PathRequest(ExecPath.IMPERSONATE, "impersonate", "", "serviceaccounts"),
        # The extra's key is the subresource; `_covered` reads which keys a rule allows.
        PathRequest(ExecPath.IMPERSONATE, "impersonate", _AUTHN_GROUP, "userextras", cluster_scoped=True),
        PathRequest(ExecPath.ESCALATE_BIND, "escalate", _RBAC_GROUP, "roles"),
        PathRequest(ExecPath.ESCALATE_BIND, "bind", _RBAC_GROUP, "roles"),
        PathRequest(ExecPath.ESCALATE_BIND, "escalate", _RBAC_GROUP, "clusterroles", cluster_scoped=True),
        PathRequest(ExecPath.ESCALATE_BIND, "bind", _RBAC_GROUP, "clusterroles"),
    ]
    return tuple(out)


PATH_REQUESTS: tuple[PathRequest, ...] = _path_requests()
"""Every request that opens a path, as the API server authorizes it."""
_NAMESPACED_REQUESTS = tuple(t for t in PATH_REQUESTS if not t.cluster_scoped)
_REQUEST_VERBS = frozenset(t.verb for t in PATH_REQUESTS)


# --- the authorizer's rule matching ----------------------------------------------


def rule_allows(rule: PolicyRule, verb: str, group: str, resource: str, subresource: str = "", name: str = "") -> bool:
    """Whether one RBAC rule allows this resource request (the authorizer's RuleAllows)."""
    return (
        _verb_matches(rule, verb)
        and _group_matches(rule, group)
        and _resource_matches(rule, resource, subresource)
        and (not rule.resource_names or name in rule.resource_names)
    )


def _verb_matches(rule: PolicyRule, verb: str) -> bool:
    return "*" in rule.verbs or verb in rule.verbs


def _group_matches(rule: PolicyRule, group: str) -> bool:
    return "*" in rule.api_groups or group in rule.api_groups


def _resource_matches(rule: PolicyRule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for allowed in rule.resources:
        if allowed == "*" or allowed == combined:
            return True
        if subresource and allowed == "*/" + subresource:
            return True
    return False


def _extra_keys(rule: PolicyRule) -> set[str]:
    """The user-extra keys a rule's resources cover for impersonation (`*`: every key)."""
    keys = set()
    for allowed in rule.resources:
        if allowed == "*":
            keys.add("*")
        elif allowed.startswith("userextras/"):
            keys.add(allowed.removeprefix("userextras/"))
        elif allowed.startswith("*/"):
            keys.add(allowed.removeprefix("*/"))
    return keys


def is_full_access(rule: PolicyRule) -> bool:
    """Every verb on every resource of every group, on any object: cluster-admin's rule."""
    return "*" in rule.verbs and "*" in rule.api_groups and "*" in rule.resources and not rule.resource_names


# --- roles ------------------------------------------------------------------------


class SourcedRule(NamedTuple):
    rule: PolicyRule
    source: str | None
    """The ClusterRole the rule was aggregated from; None for the role's own rules."""


RoleKey = tuple[str, str, str]
"""(kind, namespace or "", name)."""


def role_key(role: Role) -> RoleKey:
    return (role.kind, role.metadata.namespace or "", role.metadata.name)


def effective_rules(roles: Iterable[Role]) -> dict[RoleKey, tuple[SourcedRule, ...]]:
    """Each role's rules as the authorizer sees them, aggregated ClusterRoles computed."""
    roles = list(roles)
    cluster_roles = {r.metadata.name: r for r in roles if r.kind == "ClusterRole"}
    out: dict[RoleKey, tuple[SourcedRule, ...]] = {}
    for role in roles:
        if role.kind == "ClusterRole" and role.aggregation_rule is not None:
            out[role_key(role)] = _aggregated(role, cluster_roles)
        else:
            out[role_key(role)] = tuple(SourcedRule(rule, None) for rule in role.rules)
    return out


def _selected(role: Role, cluster_roles: dict[str, Role]) -> list[Role]:
    """The other ClusterRoles an aggregationRule's selectors match, by name."""
    assert role.aggregation_rule is not None
    selectors = role.aggregation_rule.cluster_role_selectors
    return [
        other for name, other in sorted(cluster_roles.items())
        if name != role.metadata.name and any(s.matches(other.metadata.labels) for s in selectors)
    ]


def _aggregated(role: Role, cluster_roles: dict[str, Role]) -> tuple[SourcedRule, ...]:
    """The rules the aggregation controller converges on: those of every non-aggregated
    ClusterRole reachable through selectors (an aggregated one contributes what it aggregates)."""
    seen = {role.metadata.name}
    stack = [role]
    rules: list[SourcedRule] = []
    while stack:
        for other in _selected(stack.pop(), cluster_roles):
            if other.metadata.name in seen:
                continue
            seen.add(other.metadata.name)
            if other.aggregation_rule is not None:
                stack.append(other)
            else:
                rules += [SourcedRule(rule, other.metadata.name) for rule in other.rules]
    return tuple(rules)


class GrantTemplate(NamedTuple):
    """A grant without its subject: what one role gives in one kind of binding."""

    path: ExecPath
    verbs: tuple[str, ...]
    resources: tuple[str, ...]
    resource_names: tuple[str, ...]
    aggregated_from: tuple[str, ...]


def role_templates(rules: Iterable[SourcedRule], *, cluster_binding: bool) -> tuple[GrantTemplate, ...]:
    """The paths a role's rules open, bound by a ClusterRoleBinding or a RoleBinding.

    Grants are exact: a template's verbs are allowed on each of its resources, so
    resources are grouped only when they share the same verbs and resourceNames.
    """
    allowed: dict[tuple[ExecPath, tuple[str, ...], str], tuple[set[str], set[str]]] = {}
    requests = PATH_REQUESTS if cluster_binding else _NAMESPACED_REQUESTS
    for rule, source in rules:
        if "*" not in rule.verbs and not _REQUEST_VERBS.intersection(rule.verbs):
            continue  # most rules (get, list, watch …) open no path: skip the request walk
        names = tuple(sorted(set(rule.resource_names)))
        for request in requests:
            if not (_verb_matches(rule, request.verb) and _group_matches(rule, request.group)):
                continue
            if request.verb == "create" and not request.subresource and names:
                continue  # creating in a collection has no name for resourceNames to match
            for resource in _covered(rule, request):
                verbs, sources = allowed.setdefault((request.path, names, resource), (set(), set()))
                verbs.add(request.verb)
                if source is not None:
                    sources.add(source)
    grouped: dict[tuple[ExecPath, tuple[str, ...], tuple[str, ...]], tuple[list[str], set[str]]] = {}
    for (path, names, resource), (verbs, sources) in allowed.items():
        resources, all_sources = grouped.setdefault((path, names, tuple(sorted(verbs))), ([], set()))
        resources.append(resource)
        all_sources |= sources
    return tuple(sorted(
        GrantTemplate(path, verbs, tuple(sorted(resources)), names, tuple(sorted(sources)))
        for (path, names, verbs), (resources, sources) in grouped.items()
    ))


def _covered(rule: PolicyRule, request: PathRequest) -> list[str]:
    """The resource names (kubectl style) a rule covers for one request; empty when none."""
    if request.resource == "userextras":
        base = request.qualified
        return [base if key == "*" else f"{base}/{key}" for key in sorted(_extra_keys(rule))]
    if _resource_matches(rule, request.resource, request.subresource):
        return [request.qualified]
    return []


# --- bindings ------------------------------------------------------------------------


def binding_subjects(binding: RoleBinding) -> Iterator[tuple[int, Subject]]:
    """The binding's subjects as the authorizer matches them, with their index in `subjects`."""
    for index, subject in enumerate(binding.subjects):
        if subject.kind == "ServiceAccount":
            namespace = subject.namespace or (binding.metadata.namespace if binding.kind == "RoleBinding" else None)
            if namespace:
                yield index, Subject(kind="ServiceAccount", name=subject.name, namespace=namespace)
        elif subject.kind == "User" and subject.name.startswith(SERVICE_ACCOUNT_PREFIX):
            namespace, sep, name = subject.name.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
            if sep and namespace and name and ":" not in name:
                yield index, Subject(kind="ServiceAccount", name=name, namespace=namespace)
            else:
                yield index, Subject(kind="User", name=subject.name)
        elif subject.kind in ("User", "Group"):
            yield index, Subject(kind=subject.kind, name=subject.name)


@dataclass(frozen=True, slots=True)
class BoundSubject:
    """One subject of one binding, and every path that binding gives it."""

    binding: RoleBinding
    ref: ObjectRef
    """The binding."""
    index: int
    """Where the subject is in the binding's `subjects`."""
    subject: Subject
    role: ObjectRef
    namespace: str
    """Where the grants hold: the RoleBinding's namespace, or `"*"` for a ClusterRoleBinding."""
    grants: tuple[ExecGrant, ...]
    full_access: bool
    """The role allows every verb on every resource (cluster-admin, or a `*`/`*`/`*` role)."""


def _role_ref(binding: RoleBinding) -> tuple[RoleKey, ObjectRef] | None:
    ref = binding.role_ref
    if ref.kind == "ClusterRole":
        return ("ClusterRole", "", ref.name), ObjectRef(kind="ClusterRole", name=ref.name)
    if ref.kind == "Role" and binding.kind == "RoleBinding" and binding.metadata.namespace:
        namespace = binding.metadata.namespace
        return ("Role", namespace, ref.name), ObjectRef(kind="Role", name=ref.name, namespace=namespace)
    return None  # a ClusterRoleBinding cannot refer to a Role


def bound_subjects(inventory: Inventory) -> tuple[BoundSubject, ...]:
    """Every (binding, subject) pair with the grants it makes, in binding order."""
    rules = effective_rules(inventory.roles)
    templates: dict[tuple[RoleKey, bool], tuple[GrantTemplate, ...]] = {}
    full: dict[RoleKey, bool] = {}
    out: list[BoundSubject] = []
    for binding in inventory.role_bindings:
        resolved = _role_ref(binding)
        if resolved is None or resolved[0] not in rules:
            continue
        key, role = resolved
        cluster_binding = binding.kind == "ClusterRoleBinding"
        namespace = CLUSTER_WIDE if cluster_binding else binding.metadata.namespace
        if not namespace:
            continue  # a RoleBinding always has one; a malformed object grants nothing
        if (key, cluster_binding) not in templates:
            templates[key, cluster_binding] = role_templates(rules[key], cluster_binding=cluster_binding)
            full[key] = any(is_full_access(r.rule) for r in rules[key])
        ref = ObjectRef(kind=binding.kind, name=binding.metadata.name, namespace=binding.metadata.namespace)
        vias: dict[tuple[str, ...], Via] = {}
        for index, subject in binding_subjects(binding):
            grants = []
            for t in templates[key, cluster_binding]:
                via = vias.get(t.aggregated_from)
                if via is None:
                    via = vias[t.aggregated_from] = Via(binding=ref, role=role, aggregated_from=t.aggregated_from)
                grants.append(ExecGrant(
                    subject=subject, namespace=namespace, path=t.path, verbs=t.verbs, resources=t.resources,
                    resource_names=t.resource_names, via=via,
                ))
            out.append(BoundSubject(binding=binding, ref=ref, index=index, subject=subject, role=role,
                                    namespace=namespace, grants=tuple(grants), full_access=full[key]))
    return tuple(out)


def subject_sort_key(subject: Subject) -> tuple[str, str, str]:
    return (subject.kind, subject.namespace or "", subject.name)


def grant_sort_key(grant: ExecGrant) -> tuple[object, ...]:
    binding = grant.via.binding
    return (
        subject_sort_key(grant.subject), grant.namespace, grant.path.value, grant.resources, grant.verbs,
        grant.resource_names, binding.kind, binding.namespace or "", binding.name,
    )


def exec_matrix(inventory: Inventory) -> tuple[ExecGrant, ...]:
    """Every subject's paths to a shell, per namespace and binding: sorted, without duplicates."""
    grants = {grant for bound in bound_subjects(inventory) for grant in bound.grants}
    return tuple(sorted(grants, key=grant_sort_key))
