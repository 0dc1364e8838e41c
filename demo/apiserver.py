"""A local Kubernetes API server double, spoken to over real HTTP(S).

`ApiServerDouble` serves the read side of the Kubernetes API from objects held
in memory: version and discovery documents, get, paginated list (`limit` and
`continue`), watch (chunked JSON events, bookmarks, 410 for an expired
resourceVersion), bearer-token authentication and per-user denials with the
API server's own Status bodies. Faults (429, 5xx, expired continue tokens,
slow and truncated responses) can be injected per path. The official
`kubernetes` Python client and `kubectl` both work against it, which is the
point: tests and `kubeward demo` exercise the same client code a real cluster
does.

Protocol details kept faithful on purpose:

- Lists are ordered by storage key (`<namespace>/<name>`, or `<name>` for
  cluster-scoped kinds), as etcd orders them, and items of built-in kinds
  carry no `apiVersion`/`kind` (the real server strips them from typed list
  items; custom resources keep them).
- `continue` tokens are the API server's own format (base64url JSON with
  `v`, `rv` and `start`), and continuing serves the snapshot the first page
  came from while it is retained, else 410 Expired with an inconsistent
  continue token in the error's list metadata.
- `resourceVersion=0` lists come "from the watch cache", which ignores
  `limit` and answers with everything in one page.
- Watch events carry full objects (with `apiVersion`/`kind`); a
  resourceVersion older than the retained history gets one ERROR event with a
  410 Expired Status.

Besides GET, the double answers one POST: a SubjectAccessReview
(`authorization.k8s.io/v1`), which it decides with the RBAC authorizer's own
algorithm over the Roles, ClusterRoles and bindings it holds — ClusterRoleBindings
then the namespace's RoleBindings, wildcards, `*/subresource`, resourceNames,
and aggregated ClusterRoles with the rules the aggregation controller would
have written into them. That makes it an oracle for anything computing access
from RBAC. Every other method answers 405 MethodNotAllowed.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import dataclasses
import datetime
import email.utils
import http.server
import logging
import pathlib
import queue
import re
import select
import socket
import socketserver
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec
import yaml

from collectors.resources import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, COLLECTED, ROLE_BINDINGS, ROLES, Resource
from demo.tls import issue_certificate

__all__ = [
    "CONFIG_MAPS",
    "DEFAULT_USERS",
    "DEFAULT_VERSION",
    "SECRETS",
    "SERVED",
    "SUBJECT_ACCESS_REVIEWS",
    "SUBJECT_ACCESS_REVIEWS_PATH",
    "ApiServerDouble",
    "Fault",
    "RecordedRequest",
]

_log = logging.getLogger(__name__)

SECRETS = Resource("", "v1", "secrets", "Secret", True)
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap", True)

SUBJECT_ACCESS_REVIEWS = Resource("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False)
#: The one path the double answers POST on (not listed in discovery: nothing stored, nothing to list).
SUBJECT_ACCESS_REVIEWS_PATH = SUBJECT_ACCESS_REVIEWS.list_path()

#: What every double serves: the collected kinds plus Secrets and ConfigMaps.
SERVED: tuple[Resource, ...] = (*COLLECTED, SECRETS, CONFIG_MAPS)

#: Bearer token -> user name when the constructor is given no `users`.
DEFAULT_USERS: Mapping[str, str] = {"kubeward-admin-token": "admin"}

#: The `/version` document when the constructor is given no `version`.
DEFAULT_VERSION: Mapping[str, str] = {
    "major": "1",
    "minor": "35",
    "gitVersion": "v1.35.2",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-02-26T00:00:00Z",
    "goVersion": "go1.25.7",
    "compiler": "gc",
    "platform": "linux/amd64",
}

#: kubectl's short names, keyed by qualified resource (`deployments.apps`).
SHORT_NAMES: Mapping[str, tuple[str, ...]] = {
    "pods": ("po",),
    "namespaces": ("ns",),
    "nodes": ("no",),
    "serviceaccounts": ("sa",),
    "services": ("svc",),
    "configmaps": ("cm",),
    "deployments.apps": ("deploy",),
    "statefulsets.apps": ("sts",),
    "daemonsets.apps": ("ds",),
    "replicasets.apps": ("rs",),
    "cronjobs.batch": ("cj",),
    "networkpolicies.networking.k8s.io": ("netpol",),
    "poddisruptionbudgets.policy": ("pdb",),
}

#: Resources in the `all` category, so `kubectl get all` works.
ALL_CATEGORY: frozenset[str] = frozenset(
    {
        "pods",
        "services",
        "deployments.apps",
        "statefulsets.apps",
        "daemonsets.apps",
        "replicasets.apps",
        "jobs.batch",
        "cronjobs.batch",
    }
)

#: API groups compiled into kube-apiserver; any other group is a custom resource.
BUILT_IN_GROUPS: frozenset[str] = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
    }
)

#: Paths the API server lets anonymous clients read (system:public-info-viewer).
PUBLIC_PATHS: frozenset[str] = frozenset({"/version", "/healthz", "/livez", "/readyz"})

_VERBS = frozenset({"get", "list", "watch", "*"})
_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "demo.kubeward")
_CONTINUE_VERSION = "meta.k8s.io/v1"
_CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token results "
    "in an inconsistent list - objects that were created, modified, or deleted between the time "
    "the first chunk was returned and now may show up in the list."
)
#: Status reason and default message per HTTP status, as the API server spells them.
_STATUS_TEXT: Mapping[int, tuple[str, str]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Expired", "the resource version is too old"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    502: ("InternalError", "the server returned a bad gateway response"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "Timeout: request did not complete within the allotted timeout"),
}
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_WATCH_POLL = 0.25
_SNAPSHOTS_RETAINED = 32
_MAX_BODY = 1 << 20
_STOP = object()

_encode = msgspec.json.encode
_decode = msgspec.json.decode


# ---------------------------------------------------------------------------
# Public records


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the double received, and how it answered."""

    method: str
    path: str
    """The URL path, without the query string."""
    query: dict[str, list[str]]
    user: str | None
    """The authenticated user, or None when the request carried no valid token."""
    status: int
    accept: str | None = None
    """The request's Accept header."""
    watch: bool = False
    """Whether the request was answered with a watch stream."""


@dataclass
class Fault:
    """A failure injected into requests whose path contains `path_contains`.

    `kind`:

    - ``status``: answer `status` with the API server's Status body (and a
      ``Retry-After`` header when `retry_after` is set);
    - ``expire-continue``: answer 410 Expired to a list carrying a continue
      token, with an inconsistent continue token in the error's metadata;
    - ``slow``: wait `delay` seconds, then answer normally;
    - ``truncate``: send the headers and half the body promised by
      ``Content-Length``, then close the connection.

    A fault applies `times` times (None: every time), only to requests with a
    ``continue`` query parameter when `only_continue` is set. `hits` counts the
    requests it was applied to.
    """

    path_contains: str
    kind: Literal["status", "expire-continue", "slow", "truncate"]
    status: int = 500
    retry_after: int | None = None
    delay: float = 0.0
    times: int | None = 1
    only_continue: bool = False
    hits: int = field(default=0, init=False, compare=False)


# ---------------------------------------------------------------------------
# Storage


@dataclass(frozen=True, slots=True)
class _Item:
    """One stored object: its storage key, what selectors need, and its JSON."""

    key: str
    namespace: str
    name: str
    uid: str
    created: str
    labels: Mapping[str, str]
    raw: bytes
    """The object's JSON, starting with `{"kind":…,"apiVersion":…,`."""


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """An immutable, key-sorted view of one resource as of resourceVersion `rv`."""

    rv: int
    keys: list[str]
    items: list[_Item]


class _Store:
    """The objects of one resource, kept as copy-on-write sorted snapshots."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        #: Whether list items keep apiVersion/kind (custom resources do, built-ins do not).
        self.typed_list_items = resource.group not in BUILT_IN_GROUPS
        self.type_prefix = (
            b'{"kind":' + _encode(resource.kind) + b',"apiVersion":' + _encode(resource.api_version) + b","
        )
        self.list_prefix = (
            b'{"kind":'
            + _encode(resource.kind + "List")
            + b',"apiVersion":'
            + _encode(resource.api_version)
            + b',"metadata":{"resourceVersion":'
        )
        self.snapshots: deque[_Snapshot] = deque([_Snapshot(0, [], [])], maxlen=_SNAPSHOTS_RETAINED)

    @property
    def current(self) -> _Snapshot:
        return self.snapshots[-1]

    def at(self, rv: int) -> _Snapshot | None:
        """The snapshot that was current at `rv`, or None when it is no longer retained."""
        for snapshot in reversed(self.snapshots):
            if snapshot.rv <= rv:
                return snapshot
        return None

    def get(self, key: str) -> _Item | None:
        snapshot = self.current
        index = bisect.bisect_left(snapshot.keys, key)
        if index < len(snapshot.keys) and snapshot.keys[index] == key:
            return snapshot.items[index]
        return None

    def replace_all(self, items: Iterable[_Item], rv: int) -> None:
        ordered = sorted(items, key=lambda item: item.key)
        self.snapshots.clear()
        self.snapshots.append(_Snapshot(rv, [item.key for item in ordered], ordered))

    def put(self, item: _Item, rv: int) -> _Item | None:
        """Insert or replace `item`; returns the object it replaced."""
        snapshot = self.current
        keys, items = list(snapshot.keys), list(snapshot.items)
        index = bisect.bisect_left(keys, item.key)
        previous = None
        if index < len(keys) and keys[index] == item.key:
            previous = items[index]
            items[index] = item
        else:
            keys.insert(index, item.key)
            items.insert(index, item)
        self.snapshots.append(_Snapshot(rv, keys, items))
        return previous

    def delete(self, key: str, rv: int) -> None:
        snapshot = self.current
        index = bisect.bisect_left(snapshot.keys, key)
        keys, items = list(snapshot.keys), list(snapshot.items)
        del keys[index], items[index]
        self.snapshots.append(_Snapshot(rv, keys, items))


def _key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


# ---------------------------------------------------------------------------
# Selectors


class _BadRequest(Exception):
    """A request the API server would reject with 400 BadRequest."""


_LABEL_TERM = re.compile(
    r"""\s*(?P<not>!)?\s*(?P<key>[A-Za-z0-9][-A-Za-z0-9_./]*)\s*
    (?:(?P<op>==|=|!=)\s*(?P<value>[-A-Za-z0-9_.]*)
      |\s(?P<setop>in|notin)\s*\((?P<values>[^)]*)\)
    )?\s*""",
    re.VERBOSE,
)


def _split_terms(selector: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms, depth, start = [], 0, 0
    for index, char in enumerate(selector):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            terms.append(selector[start:index])
            start = index + 1
    terms.append(selector[start:])
    return [term for term in terms if term.strip()]


def parse_label_selector(selector: str) -> Callable[[Mapping[str, str]], bool] | None:
    """A predicate over labels for a label selector (equality- and set-based), None when empty."""
    checks: list[Callable[[Mapping[str, str]], bool]] = []
    for term in _split_terms(selector):
        match = _LABEL_TERM.fullmatch(term)
        if not match or (match["not"] and (match["op"] or match["setop"])):
            raise _BadRequest(f"unable to parse requirement: found '{term.strip()}', expected: selector")
        key = match["key"]
        if match["not"]:
            checks.append(lambda labels, key=key: key not in labels)
        elif match["op"] in ("=", "=="):
            checks.append(lambda labels, key=key, value=match["value"]: labels.get(key) == value)
        elif match["op"] == "!=":
            checks.append(lambda labels, key=key, value=match["value"]: labels.get(key) != value)
        elif match["setop"]:
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            if match["setop"] == "in":
                checks.append(lambda labels, key=key, values=values: labels.get(key) in values)
            else:
                checks.append(lambda labels, key=key, values=values: labels.get(key) not in values)
        else:
            checks.append(lambda labels, key=key: key in labels)
    if not checks:
        return None
    return lambda labels: all(check(labels) for check in checks)


def _field_value(item: _Item, path: str, decoded: list[Any]) -> str:
    if path == "metadata.name":
        return item.name
    if path == "metadata.namespace":
        return item.namespace
    if not decoded:
        decoded.append(_decode(item.raw))
    value: Any = decoded[0]
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_field_selector(selector: str) -> Callable[[_Item], bool] | None:
    """A predicate over stored items for a field selector (`path=value`, `==`, `!=`)."""
    terms: list[tuple[str, bool, str]] = []
    for term in _split_terms(selector):
        match = re.fullmatch(r"\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*", term)
        if not match:
            raise _BadRequest(f"invalid selector: '{selector}'; can't understand '{term}'")
        terms.append((match[1], match[2] != "!=", match[3]))
    if not terms:
        return None

    def matches(item: _Item) -> bool:
        decoded: list[Any] = []
        return all((_field_value(item, path, decoded) == value) == equal for path, equal, value in terms)

    return matches


# ---------------------------------------------------------------------------
# RBAC: the SubjectAccessReview authorizer


@dataclass(frozen=True, slots=True)
class _Attributes:
    """What a SubjectAccessReview asks: who, and a resource or non-resource request."""

    user: str
    groups: frozenset[str]
    verb: str
    namespace: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str | None = None
    """The URL path of a non-resource request; None for a resource request."""


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A label selector in object form (`matchLabels`, `matchExpressions`); empty selects everything,
    an unknown operator nothing (the API server cannot build the selector)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator = requirement.get("key"), requirement.get("operator")
        values = requirement.get("values") or []
        if operator == "In":
            matched = key in labels and labels[key] in values
        elif operator == "NotIn":
            matched = key not in labels or labels[key] not in values
        elif operator == "Exists":
            matched = key in labels
        elif operator == "DoesNotExist":
            matched = key not in labels
        else:
            return False
        if not matched:
            return False
    return True


def _aggregate(cluster_roles: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Every ClusterRole's rules once the clusterrole-aggregation controller has synced.

    The controller replaces an aggregated role's rules with those of the other
    ClusterRoles its selectors match, by name order, without duplicates. It is
    run here from the selectors alone, sync after sync, until nothing changes.
    """
    rules = {name: list(role.get("rules") or []) for name, role in cluster_roles.items()}
    aggregated = sorted(name for name, role in cluster_roles.items() if role.get("aggregationRule"))
    for name in aggregated:
        rules[name] = []
    changed = True
    while changed:
        changed = False
        for name in aggregated:
            selectors = cluster_roles[name]["aggregationRule"].get("clusterRoleSelectors") or []
            synced: list[Any] = []
            for selector in selectors:
                for other in sorted(cluster_roles):
                    labels = cluster_roles[other]["metadata"].get("labels") or {}
                    if other == name or not _selector_matches(selector, labels):
                        continue
                    synced.extend(rule for rule in rules[other] if rule not in synced)
            if synced != rules[name]:
                rules[name] = synced
                changed = True
    return rules


def _rule_allows(rule: Mapping[str, Any], attributes: _Attributes) -> bool:
    """The RBAC authorizer's RuleAllows."""
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attributes.verb not in verbs:
        return False
    if attributes.path is not None:
        for url in rule.get("nonResourceURLs") or []:
            if url in ("*", attributes.path) or (url.endswith("*") and attributes.path.startswith(url[:-1])):
                return True
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attributes.group not in groups:
        return False
    combined = attributes.resource
    if attributes.subresource:
        combined += "/" + attributes.subresource
    resources = rule.get("resources") or []
    if not any(
        resource in ("*", combined) or (bool(attributes.subresource) and resource == "*/" + attributes.subresource)
        for resource in resources
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or attributes.name in names


def _subject_applies(subject: Mapping[str, Any], attributes: _Attributes, binding_namespace: str) -> bool:
    """Whether a binding's subject is the requesting user (a service account defaults to the binding's namespace)."""
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return attributes.user == name
    if kind == "Group":
        return name in attributes.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and attributes.user == f"system:serviceaccount:{namespace}:{name}"
    return False


def _describe_subject(subject: Mapping[str, Any], binding_namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name")}/{subject.get("namespace") or binding_namespace}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


class _RbacAuthorizer:
    """Kubernetes' RBAC authorizer over one snapshot of the double's Roles, ClusterRoles and bindings.

    As the API server's: ClusterRoleBindings are visited first, then, for a
    namespaced request, the RoleBindings of that namespace; the first rule that
    allows the request decides, and the reason names its binding the way
    kube-apiserver does. Nothing allowing it is "no opinion" (not allowed),
    with the missing roles met on the way as the reason.
    """

    def __init__(
        self,
        cluster_roles: Iterable[Mapping[str, Any]],
        roles: Iterable[Mapping[str, Any]],
        cluster_role_bindings: Iterable[Mapping[str, Any]],
        role_bindings: Iterable[Mapping[str, Any]],
    ) -> None:
        by_name = {role["metadata"]["name"]: role for role in cluster_roles}
        self._cluster_rules = _aggregate(by_name)
        self._role_rules = {
            (role["metadata"]["namespace"], role["metadata"]["name"]): role.get("rules") or [] for role in roles
        }
        self._cluster_role_bindings = list(cluster_role_bindings)
        self._role_bindings: dict[str, list[Mapping[str, Any]]] = {}
        for binding in role_bindings:
            self._role_bindings.setdefault(binding["metadata"]["namespace"], []).append(binding)

    def _rules(self, role_ref: Mapping[str, Any], namespace: str) -> list[Any]:
        kind, name = role_ref.get("kind"), role_ref.get("name")
        if kind == "ClusterRole":
            if name not in self._cluster_rules:
                raise LookupError(f'clusterrole.rbac.authorization.k8s.io "{name}" not found')
            return self._cluster_rules[name]
        if kind == "Role":
            if (namespace, name) not in self._role_rules:
                raise LookupError(f'role.rbac.authorization.k8s.io "{name}" not found')
            return self._role_rules[(namespace, name)]
        raise LookupError(f'unsupported role reference kind: "{kind}"')

    def authorize(self, attributes: _Attributes) -> tuple[bool, str]:
        """(allowed, reason) for one request."""
        visits = [("ClusterRoleBinding", "", binding) for binding in self._cluster_role_bindings]
        if attributes.namespace:
            visits += [
                ("RoleBinding", attributes.namespace, binding)
                for binding in self._role_bindings.get(attributes.namespace, [])
            ]
        errors: list[str] = []
        for kind, namespace, binding in visits:
            for subject in binding.get("subjects") or []:
                if not _subject_applies(subject, attributes, namespace):
                    continue
                try:
                    rules = self._rules(binding.get("roleRef") or {}, namespace)
                except LookupError as error:
                    errors.append(str(error.args[0]))
                    break
                if any(_rule_allows(rule, attributes) for rule in rules):
                    name = binding["metadata"]["name"] + (f"/{namespace}" if namespace else "")
                    role_ref = binding["roleRef"]
                    return True, (
                        f'RBAC: allowed by {kind} "{name}" of {role_ref["kind"]} "{role_ref["name"]}" '
                        f"to {_describe_subject(subject, namespace)}"
                    )
                break
        if not errors:
            return False, ""
        return False, "RBAC: " + (errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")


def _review_attributes(spec: Mapping[str, Any]) -> _Attributes:
    """The request a SubjectAccessReview's spec describes; raises _Invalid like the API server's validation."""
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    causes: list[tuple[str, str]] = []
    if resource is not None and non_resource is not None:
        causes.append(("spec.nonResourceAttributes", "cannot be specified in combination with resourceAttributes"))
    if resource is None and non_resource is None:
        causes.append(
            ("spec.resourceAttributes", "exactly one of nonResourceAttributes or resourceAttributes must be specified")
        )
    if not spec.get("user") and not spec.get("groups"):
        causes.append(("spec.user", "at least one of user or group must be specified"))
    if causes:
        raise _Invalid(causes)
    who = {"user": str(spec.get("user") or ""), "groups": frozenset(spec.get("groups") or ())}
    if resource is not None:
        return _Attributes(
            **who,
            verb=str(resource.get("verb") or ""),
            namespace=str(resource.get("namespace") or ""),
            group=str(resource.get("group") or ""),
            resource=str(resource.get("resource") or ""),
            subresource=str(resource.get("subresource") or ""),
            name=str(resource.get("name") or ""),
        )
    return _Attributes(**who, verb=str(non_resource.get("verb") or ""), path=str(non_resource.get("path") or ""))


class _Invalid(Exception):
    """A request the API server would reject with 422 Invalid: (field, message) causes."""

    def __init__(self, causes: list[tuple[str, str]]) -> None:
        super().__init__(causes)
        self.causes = causes


# ---------------------------------------------------------------------------
# Requests and replies


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    accept: str | None
    body: bytes = b""
    """The request body, kept only for the one POST the double answers."""

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(slots=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class _Outcome:
    """What the handler must do: send `reply`, or stream `watch`; maybe truncated."""

    user: str | None
    reply: _Reply | None = None
    watch: _WatchStream | None = None
    truncate: bool = False
    abort: bool = False


@dataclass(frozen=True, slots=True)
class _Denial:
    user: str
    verb: str
    resource: str
    namespace: str | None

    def applies(self, user: str | None, verb: str, resource: Resource, namespace: str | None) -> bool:
        if user != self.user or self.verb not in (verb, "*"):
            return False
        if self.resource not in ("*", resource.plural, resource.qualified):
            return False
        # A namespaced denial also denies requests across all namespaces, which include it.
        return self.namespace is None or namespace is None or self.namespace == namespace


def status_body(
    code: int,
    message: str | None = None,
    *,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
    continue_token: str | None = None,
) -> bytes:
    """A `Status` object as the API server sends it for a failed request."""
    default_reason, default_message = _STATUS_TEXT.get(code, ("", "error"))
    metadata: dict[str, Any] = {"continue": continue_token} if continue_token else {}
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": metadata,
        "status": "Failure",
        "message": message if message is not None else default_message,
        "reason": reason if reason is not None else default_reason,
    }
    if details:
        status["details"] = dict(details)
    status["code"] = code
    return _encode(status)


def _status_reply(code: int, message: str | None = None, **kwargs: Any) -> _Reply:
    return _Reply(code, status_body(code, message, **kwargs))


def _resource_details(resource: Resource, name: str | None = None) -> dict[str, str]:
    details: dict[str, str] = {}
    if name is not None:
        details["name"] = name
    if resource.group:
        details["group"] = resource.group
    details["kind"] = resource.plural
    return details


def encode_continue(rv: int, start: str) -> str:
    """The API server's continue token: base64url(JSON{v, rv, start})."""
    token = _encode({"v": _CONTINUE_VERSION, "rv": rv, "start": start})
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode()


def decode_continue(token: str) -> tuple[int, str]:
    """(resourceVersion, start key) from a continue token; raises _BadRequest when invalid."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        decoded = _decode(raw)
        version, rv, start = decoded["v"], decoded["rv"], decoded["start"]
    except (binascii.Error, ValueError, msgspec.DecodeError, KeyError, TypeError) as error:
        raise _BadRequest(f"continue key is not valid: {error}") from None
    if version != _CONTINUE_VERSION:
        raise _BadRequest(f'continue key is not valid: server does not recognize this encoded version "{version}"')
    if not isinstance(rv, int) or not isinstance(start, str) or rv == 0 or not start:
        raise _BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    if start.startswith("/") or "/../" in f"/{start}" or start.startswith(".."):
        raise _BadRequest(f"continue key is not valid: {start}")
    return rv, start


def _version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (0, 0, 0, version)
    stage = {None: 3, "beta": 2, "alpha": 1}[match[2]]
    return (stage, int(match[1]), int(match[3] or 0), version)


def _with_resource_version(raw: bytes, rv: int) -> bytes:
    """An object's JSON with metadata.resourceVersion replaced."""
    obj = _decode(raw)
    obj["metadata"]["resourceVersion"] = str(rv)
    return _encode(obj)


def _now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------
# Watch


@dataclass(frozen=True, slots=True)
class _Event:
    rv: int
    store: _Store
    type: str
    item: _Item
    previous: _Item | None


class _WatchStream:
    """One open watch: its filter, its event queue and how it renders events."""

    def __init__(
        self,
        double: ApiServerDouble,
        store: _Store,
        namespace: str | None,
        labels: Callable[[Mapping[str, str]], bool] | None,
        fields: Callable[[_Item], bool] | None,
        *,
        timeout: float | None,
        bookmarks: bool,
    ) -> None:
        self.double = double
        self.store = store
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.timeout = timeout
        self.bookmarks = bookmarks
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.prelude: list[bytes] = []
        self.last_rv = 0
        #: Set when the prelude is all there is to send (an ERROR event).
        self.finished = False

    def matches(self, item: _Item) -> bool:
        if self.namespace is not None and item.namespace != self.namespace:
            return False
        if self.labels is not None and not self.labels(item.labels):
            return False
        return self.fields is None or self.fields(item)

    @staticmethod
    def event(kind: str, raw: bytes) -> bytes:
        return b'{"type":"' + kind.encode() + b'","object":' + raw + b"}\n"

    def bookmark(self, rv: int, *, initial_events_end: bool = False) -> bytes:
        metadata: dict[str, Any] = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_events_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        resource = self.store.resource
        obj = {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": metadata}
        return self.event("BOOKMARK", _encode(obj))

    def render(self, event: _Event) -> bytes | None:
        """The event as this watcher sees it: moving in or out of its filter is ADDED/DELETED."""
        self.last_rv = event.rv
        now = self.matches(event.item)
        if event.type == "DELETED":
            return self.event("DELETED", event.item.raw) if now else None
        before = event.previous is not None and self.matches(event.previous)
        if now and before:
            return self.event("MODIFIED", event.item.raw)
        if now:
            return self.event("ADDED", event.item.raw)
        if before and event.previous is not None:
            # Leaving the filter reads as a deletion of what the watcher last saw.
            return self.event("DELETED", _with_resource_version(event.previous.raw, event.rv))
        return None

    def _idle_bookmark(self) -> bytes:
        # With nothing queued, every change up to the double's current version was seen.
        with self.double._lock:
            if self.queue.empty():
                self.last_rv = max(self.last_rv, self.double._rv)
        return self.bookmark(self.last_rv)

    def events(self, peer_closed: Callable[[], bool]) -> Iterator[bytes]:
        """The stream's lines until timeout, stop() or the client going away."""
        yield from self.prelude
        self.prelude = []
        if self.finished:
            return
        start = time.monotonic()
        deadline = start + self.timeout if self.timeout else None
        interval = self.double.bookmark_interval
        next_bookmark = start + interval if self.bookmarks else None
        stopping = self.double._stopping
        while not stopping.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                while True:
                    try:
                        event = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if event is _STOP:
                        return
                    line = self.render(event)
                    if line:
                        yield line
                if self.bookmarks:
                    yield self._idle_bookmark()
                return
            wait = _WATCH_POLL
            if deadline is not None:
                wait = min(wait, deadline - now)
            if next_bookmark is not None:
                wait = min(wait, max(0.0, next_bookmark - now))
            try:
                event = self.queue.get(timeout=wait)
            except queue.Empty:
                if peer_closed():
                    return
                if next_bookmark is not None and time.monotonic() >= next_bookmark:
                    yield self._idle_bookmark()
                    next_bookmark = time.monotonic() + interval
                continue
            if event is _STOP:
                return
            line = self.render(event)
            if line:
                yield line

    def close(self) -> None:
        with self.double._lock:
            self.double._watchers.discard(self)


# ---------------------------------------------------------------------------
# HTTP plumbing


class _Handler(http.server.BaseHTTPRequestHandler):
    """Reads HTTP/1.1 requests (keep-alive) and writes what the double decides."""

    protocol_version = "HTTP/1.1"
    server_version = "kubeward-apiserver-double"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        context = self.server.tls_context
        if context is not None:
            raw = self.request
            raw.settimeout(10.0)
            try:
                self.request = context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                raw.close()
                raise
            self.request.settimeout(None)
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.untrack(self.connection)
            if self.server.tls_context is not None:
                self.connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log."""

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _read_body(self, keep: bool) -> bytes:
        """Consume the request body; return it when `keep` (up to _MAX_BODY bytes), else b""."""
        length = self.headers.get("Content-Length")
        kept: list[bytes] = []
        if length and length.isdigit():
            remaining = int(length)
            keep = keep and remaining <= _MAX_BODY
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                if keep:
                    kept.append(chunk)
                remaining -= len(chunk)
        elif self.headers.get("Transfer-Encoding"):
            self.close_connection = True
        return b"".join(kept)

    def _serve(self) -> None:
        double = self.server.double
        split = urlsplit(self.path)
        path = unquote(split.path) or "/"
        body = b""
        if self.command != "GET":
            body = self._read_body(keep=self.command == "POST" and path == SUBJECT_ACCESS_REVIEWS_PATH)
        request = _Request(
            method=self.command,
            path=path,
            query=parse_qs(split.query, keep_blank_values=True),
            authorization=self.headers.get("Authorization"),
            accept=self.headers.get("Accept"),
            body=body,
        )
        outcome = double._dispatch(request)
        if outcome.abort:
            self.close_connection = True
            return
        if outcome.watch is not None:
            double._record(request, outcome.user, 200, watch=True)
            self._stream(outcome.watch, truncate=outcome.truncate)
            return
        reply = outcome.reply
        assert reply is not None
        double._record(request, outcome.user, reply.status)
        head = self._head(reply.status, reply.content_type, len(reply.body), reply.headers)
        if self.command == "HEAD":
            self._write(head)
        elif outcome.truncate:
            self.close_connection = True
            self._write(head + reply.body[: len(reply.body) // 2])
            self._shutdown_write()
        else:
            self._write(head + reply.body)

    def _head(
        self, status: int, content_type: str, length: int | None, headers: Iterable[tuple[str, str]] = ()
    ) -> bytes:
        phrase = http.server.BaseHTTPRequestHandler.responses.get(status, ("",))[0]
        lines = [
            f"HTTP/1.1 {status} {phrase}",
            "Audit-Id: " + str(uuid.uuid4()),
            "Cache-Control: no-cache, private",
            f"Content-Type: {content_type}",
            "Date: " + email.utils.formatdate(usegmt=True),
        ]
        lines.extend(f"{name}: {value}" for name, value in headers)
        lines.append("Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}")
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _shutdown_write(self) -> None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)

    def _peer_closed(self) -> bool:
        # A client never sends more on a connection while its watch is open:
        # readable means it closed (or reset) the connection.
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _stream(self, watch: _WatchStream, *, truncate: bool) -> None:
        try:
            self.wfile.write(self._head(200, "application/json", None))
            for line in watch.events(self._peer_closed):
                chunk = f"{len(line):x}\r\n".encode() + line + b"\r\n"
                if truncate:
                    self.wfile.write(chunk[: len(chunk) // 2])
                    self.close_connection = True
                    self._shutdown_write()
                    return
                self.wfile.write(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
        finally:
            watch.close()
        if self.server.double._stopping.is_set():
            self.close_connection = True


class _HTTPServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server that remembers its connections so stop() can close them."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], double: ApiServerDouble, tls_context: ssl.SSLContext | None) -> None:
        self.double = double
        self.tls_context = tls_context
        self.connections: dict[socket.socket, threading.Thread] = {}
        self.connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket) -> None:
        with self.connections_lock:
            self.connections[connection] = threading.current_thread()

    def untrack(self, connection: socket.socket) -> None:
        with self.connections_lock:
            self.connections.pop(connection, None)

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection down and wait (bounded) for its thread."""
        with self.connections_lock:
            connections = list(self.connections.items())
        for connection, _ in connections:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _, thread in connections:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("connection from %s failed", client_address, exc_info=True)


# ---------------------------------------------------------------------------
# The double


class ApiServerDouble:
    """An in-memory Kubernetes API server (read verbs, and RBAC's SubjectAccessReview) on a local port.

    ``objects`` are loaded before the server starts; every served kind is
    listable, gettable and watchable. Use it as a context manager, or call
    `start()` and `stop()`.
    """

    def __init__(
        self,
        objects: Iterable[Mapping[str, Any]] = (),
        *,
        tls: bool = False,
        users: Mapping[str, str] | None = None,
        version: Mapping[str, str] | None = None,
        extra_resources: Iterable[Resource] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        watch_history: int = 10_000,
        bookmark_interval: float = 60.0,
    ) -> None:
        """Load `objects` (dicts with apiVersion, kind and metadata.name) without serving yet.

        ``users`` maps bearer tokens to user names; ``version`` is the
        ``/version`` document; ``extra_resources`` (custom resources, other
        built-ins) are served beside `SERVED`. ``watch_history`` is how many
        change events are retained for watches resuming from a
        resourceVersion; ``bookmark_interval`` is how often an idle watch that
        allows bookmarks gets one.
        """
        self.users: dict[str, str] = dict(DEFAULT_USERS if users is None else users)
        self.version: dict[str, str] = dict(DEFAULT_VERSION if version is None else version)
        self.host = host
        self.bookmark_interval = bookmark_interval
        self._certificate = issue_certificate() if tls else None
        self.ca_pem: bytes | None = self._certificate.ca_pem if self._certificate else None
        """The CA certificate (PEM) clients must trust, when serving TLS; each double has its own."""
        self.requests: list[RecordedRequest] = []
        """Every request received, in the order answered."""

        self._tls = tls
        self._port = port
        self._lock = threading.Lock()
        self._requests_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._rv = 0
        self._history: deque[_Event] = deque()
        self._history_limit = max(0, watch_history)
        self._history_floor = 0
        self._watchers: set[_WatchStream] = set()
        self._denials: list[_Denial] = []
        self._faults: list[Fault] = []
        self._authorizer: tuple[tuple[_Snapshot, ...], _RbacAuthorizer] | None = None

        self._stores: dict[tuple[str, str, str], _Store] = {}
        for resource in (*SERVED, *extra_resources):
            self._stores[(resource.group, resource.version, resource.plural)] = _Store(resource)
        self._by_type = {(s.resource.api_version, s.resource.kind): s for s in self._stores.values()}
        self._by_group_version: dict[tuple[str, str], dict[str, _Store]] = {}
        for (group, ver, plural), store in self._stores.items():
            self._by_group_version.setdefault((group, ver), {})[plural] = store
        self._load(objects)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> ApiServerDouble:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        context = self._certificate.server_context() if self._certificate else None
        self._server = _HTTPServer((self.host, self._port), self, context)
        self._port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"apiserver-double:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close watches and connections and stop serving; returns promptly."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        with self._lock:
            for watcher in self._watchers:
                watcher.queue.put(_STOP)
        # Let open watches end their streams cleanly before connections are cut.
        deadline = time.monotonic() + 1.0
        while self._watchers and time.monotonic() < deadline:
            time.sleep(0.005)
        server.shutdown()
        server.server_close()
        server.close_connections(timeout=2.0)
        if thread is not None:
            thread.join(2.0)
        self._server = self._thread = None

    def __enter__(self) -> ApiServerDouble:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (the requested one before start())."""
        return self._port

    @property
    def url(self) -> str:
        """The server URL, e.g. ``https://127.0.0.1:43121``."""
        if self._server is None:
            raise RuntimeError("the API server double is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self._tls else 'http'}://{host}:{self._port}"

    @property
    def resource_version(self) -> int:
        """The current (latest) resourceVersion."""
        with self._lock:
            return self._rv

    @property
    def resources(self) -> tuple[Resource, ...]:
        """Every resource served."""
        return tuple(store.resource for store in self._stores.values())

    # -- configuration -----------------------------------------------------

    def write_kubeconfig(
        self,
        path: str | pathlib.Path,
        *,
        user: str = "admin",
        token: str | None = None,
        context: str = "kubeward-demo",
        cluster: str = "kubeward-demo",
        namespace: str | None = None,
        ca_pem: bytes | None = None,
        insecure_skip_tls_verify: bool = False,
    ) -> pathlib.Path:
        """Write a kubeconfig for this server and `user`, whose token comes from `users` by default."""
        if token is None:
            tokens = [t for t, name in self.users.items() if name == user]
            if not tokens:
                raise ValueError(f"no token for user {user!r}: pass token=")
            token = tokens[0]
        cluster_entry: dict[str, Any] = {"server": self.url}
        if insecure_skip_tls_verify:
            cluster_entry["insecure-skip-tls-verify"] = True
        else:
            authority = ca_pem if ca_pem is not None else self.ca_pem
            if authority is not None:
                cluster_entry["certificate-authority-data"] = base64.b64encode(authority).decode()
        context_entry: dict[str, Any] = {"cluster": cluster, "user": user}
        if namespace is not None:
            context_entry["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": cluster_entry}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": context, "context": context_entry}],
            "current-context": context,
            "preferences": {},
        }
        target = pathlib.Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        target.chmod(0o600)
        return target

    def deny(self, user: str, verb: str, resource: str, namespace: str | None = None) -> None:
        """Forbid `user` to `verb` (get/list/watch/*) `resource` (plural or "*") in `namespace` (None: anywhere).

        A namespaced denial also forbids the request across all namespaces,
        as RBAC would for a user who lacks that namespace.
        """
        if verb not in _VERBS:
            raise ValueError(f"verb must be one of {sorted(_VERBS)}, not {verb!r}")
        with self._lock:
            self._denials.append(_Denial(user, verb, resource, namespace))

    def inject(self, fault: Fault) -> None:
        """Apply `fault` to matching requests from now on (first injected, first applied)."""
        if fault.kind not in ("status", "expire-continue", "slow", "truncate"):
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Forget every injected fault."""
        with self._lock:
            self._faults.clear()

    def compact(self) -> None:
        """Drop the watch history, as etcd compaction does: older resourceVersions get 410."""
        with self._lock:
            self._history.clear()
            self._history_floor = self._rv

    # -- objects -----------------------------------------------------------

    def _store_for(self, obj: Mapping[str, Any]) -> _Store:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        store = self._by_type.get((api_version, kind))  # type: ignore[arg-type]
        if store is None:
            raise ValueError(f"the double does not serve {kind!r} in {api_version!r}")
        return store

    def _resolve(self, kind_or_plural: str) -> _Store:
        for store in self._stores.values():
            resource = store.resource
            if kind_or_plural in (resource.plural, resource.qualified, resource.kind):
                return store
        raise KeyError(f"the double does not serve {kind_or_plural!r}")

    def _prepare(self, store: _Store, obj: Mapping[str, Any], rv: int, created: str) -> _Item:
        """Copy `obj` with uid, resourceVersion and creationTimestamp set, and serialise it once."""
        resource = store.resource
        metadata = obj.get("metadata")
        if not isinstance(metadata, Mapping) or not metadata.get("name"):
            raise ValueError(f"{resource.kind} needs metadata.name")
        name = str(metadata["name"])
        namespace = str(metadata.get("namespace") or "default") if resource.namespaced else ""
        key = _key(namespace, name)
        previous = store.get(key)
        uid = metadata.get("uid") or (
            previous.uid if previous else str(uuid.uuid5(_UID_NAMESPACE, f"{resource.kind}/{namespace}/{name}"))
        )
        timestamp = metadata.get("creationTimestamp") or (previous.created if previous else created)
        meta: dict[str, Any] = {"name": name}
        if namespace:
            meta["namespace"] = namespace
        meta.update(uid=uid, resourceVersion=str(rv), creationTimestamp=timestamp)
        for field_name, value in metadata.items():
            if field_name not in meta and field_name != "namespace":
                meta[field_name] = value
        body: dict[str, Any] = {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": meta}
        for field_name, value in obj.items():
            if field_name not in body:
                body[field_name] = value
        labels = meta.get("labels") or {}
        return _Item(
            key=key,
            namespace=namespace,
            name=name,
            uid=str(uid),
            created=str(timestamp),
            labels={str(k): str(v) for k, v in labels.items()},
            raw=_encode(body),
        )

    def _load(self, objects: Iterable[Mapping[str, Any]]) -> None:
        created = _now_rfc3339()
        pending: dict[_Store, dict[str, _Item]] = {}
        with self._lock:
            for obj in objects:
                store = self._store_for(obj)
                self._rv += 1
                item = self._prepare(store, obj, self._rv, created)
                pending.setdefault(store, {})[item.key] = item
            for store, items in pending.items():
                merged = {item.key: item for item in store.current.items}
                merged.update(items)
                store.replace_all(merged.values(), self._rv)
            self._history_floor = self._rv

    def _emit(self, event: _Event) -> None:
        """Record `event` in the history and hand it to matching watches (lock held)."""
        if self._history_limit:
            if len(self._history) >= self._history_limit:
                self._history_floor = self._history.popleft().rv
            self._history.append(event)
        else:
            self._history_floor = event.rv
        for watcher in self._watchers:
            if watcher.store is event.store:
                watcher.queue.put(event)

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace `obj`; returns it as stored. Open watches see ADDED or MODIFIED."""
        store = self._store_for(obj)
        with self._lock:
            self._rv += 1
            item = self._prepare(store, obj, self._rv, _now_rfc3339())
            previous = store.put(item, self._rv)
            self._emit(_Event(self._rv, store, "MODIFIED" if previous else "ADDED", item, previous))
        return _decode(item.raw)

    def remove(self, kind_or_plural: str, name: str, namespace: str | None = None) -> None:
        """Delete an object; open watches see DELETED. Raises KeyError when it does not exist."""
        store = self._resolve(kind_or_plural)
        namespace = (namespace or "default") if store.resource.namespaced else ""
        key = _key(namespace, name)
        with self._lock:
            previous = store.get(key)
            if previous is None:
                raise KeyError(f'{store.resource.qualified} "{name}" not found')
            self._rv += 1
            gone = dataclasses.replace(previous, raw=_with_resource_version(previous.raw, self._rv))
            store.delete(key, self._rv)
            self._emit(_Event(self._rv, store, "DELETED", gone, previous))

    def objects(self, plural: str) -> list[dict[str, Any]]:
        """Fresh copies of what the double holds for `plural` (or kind), in list order."""
        store = self._resolve(plural)
        return [_decode(item.raw) for item in store.current.items]

    # -- requests ----------------------------------------------------------

    def _record(self, request: _Request, user: str | None, status: int, *, watch: bool = False) -> None:
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.query,
            user=user,
            status=status,
            accept=request.accept,
            watch=watch,
        )
        with self._requests_lock:
            self.requests.append(recorded)

    def _authenticate(self, request: _Request) -> tuple[bool, str | None]:
        header = request.authorization
        if header is None:
            return request.path in PUBLIC_PATHS, None
        scheme, _, token = header.partition(" ")
        user = self.users.get(token.strip()) if scheme.lower() == "bearer" else None
        return user is not None, user

    def _take_fault(self, request: _Request) -> Fault | None:
        has_continue = bool(request.param("continue"))
        with self._lock:
            for fault in self._faults:
                if fault.path_contains not in request.path:
                    continue
                if (fault.only_continue or fault.kind == "expire-continue") and not has_continue:
                    continue
                if fault.times is not None and fault.hits >= fault.times:
                    continue
                fault.hits += 1
                return fault
        return None

    def _dispatch(self, request: _Request) -> _Outcome:
        """Authenticate, apply faults, route; never raises."""
        authenticated, user = self._authenticate(request)
        if not authenticated:
            return _Outcome(user, _status_reply(401))
        fault = self._take_fault(request)
        truncate = False
        if fault is not None:
            if fault.kind == "slow":
                if self._stopping.wait(fault.delay):
                    return _Outcome(user, abort=True)
            elif fault.kind == "truncate":
                truncate = True
            elif fault.kind == "expire-continue":
                return _Outcome(user, self._expired_continue(request))
            else:
                return _Outcome(user, self._fault_reply(fault))
        if request.method == "POST" and request.path == SUBJECT_ACCESS_REVIEWS_PATH:
            try:
                return _Outcome(user, self._subject_access_review(request, user), truncate=truncate)
            except Exception as error:  # as below: answer 500, keep the connection thread alive
                _log.exception("API server double failed on %s", request.path)
                return _Outcome(user, _status_reply(500, f"Internal error occurred: {error}"), truncate=truncate)
        if request.method != "GET":
            return _Outcome(user, _status_reply(405), truncate=truncate)
        try:
            routed = self._route(request, user)
        except _BadRequest as error:
            routed = _status_reply(400, str(error))
        except Exception as error:  # a bug here must not kill the connection thread silently
            _log.exception("API server double failed on %s", request.path)
            routed = _status_reply(500, f"Internal error occurred: {error}")
        if isinstance(routed, _WatchStream):
            return _Outcome(user, watch=routed, truncate=truncate)
        return _Outcome(user, routed, truncate=truncate)

    @staticmethod
    def _fault_reply(fault: Fault) -> _Reply:
        details: dict[str, Any] = {}
        headers: tuple[tuple[str, str], ...] = ()
        if fault.status in (500, 502):
            details["causes"] = [{"message": "injected fault"}]
        if fault.retry_after is not None:
            details["retryAfterSeconds"] = fault.retry_after
            headers = (("Retry-After", str(fault.retry_after)),)
        return _Reply(fault.status, status_body(fault.status, details=details or None), headers=headers)

    def _rbac(self) -> _RbacAuthorizer:
        """The authorizer for the current RBAC objects, rebuilt only when one of them changed."""
        stores = [
            self._stores[(r.group, r.version, r.plural)]
            for r in (CLUSTER_ROLES, ROLES, CLUSTER_ROLE_BINDINGS, ROLE_BINDINGS)
        ]
        with self._lock:
            snapshots = tuple(store.current for store in stores)
        cached = self._authorizer
        if cached is not None and all(a is b for a, b in zip(cached[0], snapshots, strict=True)):
            return cached[1]
        authorizer = _RbacAuthorizer(*([_decode(item.raw) for item in snapshot.items] for snapshot in snapshots))
        self._authorizer = (snapshots, authorizer)
        return authorizer

    def _subject_access_review(self, request: _Request, user: str | None) -> _Reply:
        """Decide a SubjectAccessReview (201 with its status), as kube-apiserver with only RBAC would."""
        forbidden = self._forbidden(user, "create", SUBJECT_ACCESS_REVIEWS, None, None)
        if forbidden is not None:
            return forbidden
        try:
            review = _decode(request.body)
        except msgspec.DecodeError as error:
            return _status_reply(400, f"the body of the request was in an unknown format: {error}")
        spec = review.get("spec") if isinstance(review, dict) else None
        if not isinstance(spec, dict):
            spec = {}
        try:
            attributes = _review_attributes(spec)
        except _Invalid as invalid:
            return self._invalid(invalid)
        allowed, reason = self._rbac().authorize(attributes)
        status: dict[str, Any] = {"allowed": allowed}
        if reason:
            status["reason"] = reason
        return self._json(
            201,
            {
                "kind": SUBJECT_ACCESS_REVIEWS.kind,
                "apiVersion": SUBJECT_ACCESS_REVIEWS.api_version,
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": status,
            },
        )

    @staticmethod
    def _invalid(invalid: _Invalid) -> _Reply:
        """422 Invalid, worded as the API server's field validation words it."""
        causes = [
            {"reason": "FieldValueInvalid", "message": message, "field": name} for name, message in invalid.causes
        ]
        errors = [f'{name}: Invalid value: "": {message}' for name, message in invalid.causes]
        text = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        resource = SUBJECT_ACCESS_REVIEWS
        return _status_reply(
            422,
            f'{resource.kind}.{resource.group} "" is invalid: {text}',
            details={"group": resource.group, "kind": resource.kind, "causes": causes},
        )

    def _expired_continue(self, request: _Request) -> _Reply:
        token = request.param("continue") or ""
        try:
            _, start = decode_continue(token)
        except _BadRequest:
            start = ""
        return _status_reply(
            410,
            _CONTINUE_EXPIRED,
            continue_token=encode_continue(-1, start) if start else None,
        )

    # -- routing -----------------------------------------------------------

    def _route(self, request: _Request, user: str | None) -> _Reply | _WatchStream:
        path = request.path
        segments = [segment for segment in path.split("/") if segment]
        if not segments:
            return self._json(200, {"paths": self._root_paths()})
        head = segments[0]
        if len(segments) == 1 and head == "version":
            return self._json(200, self.version)
        if len(segments) == 1 and head in ("healthz", "livez", "readyz"):
            return _Reply(200, b"ok", content_type="text/plain; charset=utf-8")
        if head == "api":
            if len(segments) == 1:
                return self._json(200, self._api_versions())
            group, version, rest = "", segments[1], segments[2:]
        elif head == "apis":
            if len(segments) == 1:
                return self._json(200, self._group_list())
            if len(segments) == 2:
                group_doc = self._group(segments[1])
                return self._json(200, group_doc) if group_doc else _status_reply(404)
            group, version, rest = segments[1], segments[2], segments[3:]
        else:
            return _status_reply(404)
        stores = self._by_group_version.get((group, version))
        if stores is None:
            return _status_reply(404)
        if not rest:
            return self._json(200, self._resource_list(group, version))
        return self._resource_request(request, user, stores, rest)

    def _resource_request(
        self, request: _Request, user: str | None, stores: Mapping[str, _Store], rest: list[str]
    ) -> _Reply | _WatchStream:
        watching = request.param("watch") in _TRUE
        if rest[0] == "watch":  # the deprecated /watch/ path prefix
            watching, rest = True, rest[1:]
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 2 or rest[0] not in stores:
            return _status_reply(404)
        store = stores[rest[0]]
        resource = store.resource
        name = rest[1] if len(rest) == 2 else None
        if namespace is not None and not resource.namespaced:
            return _status_reply(404)
        if name is not None and resource.namespaced and namespace is None:
            return _status_reply(404)
        verb = "watch" if watching else ("get" if name is not None else "list")
        # RBAC sees a namespace's own name as its request namespace.
        authz_namespace = name if resource.plural == "namespaces" and resource.group == "" and name else namespace
        forbidden = self._forbidden(user, verb, resource, authz_namespace, name)
        if forbidden is not None:
            return forbidden
        if watching:
            field_selector = request.param("fieldSelector") or ""
            if name is not None:
                field_selector = ",".join(filter(None, [field_selector, f"metadata.name={name}"]))
            return self._open_watch(store, namespace, request, field_selector)
        if name is not None:
            item = store.get(_key(namespace or "", name))
            if item is None:
                return _status_reply(
                    404,
                    f'{resource.qualified} "{name}" not found',
                    details=_resource_details(resource, name),
                )
            return _Reply(200, item.raw)
        return self._list(store, namespace, request)

    def _forbidden(
        self, user: str | None, verb: str, resource: Resource, namespace: str | None, name: str | None
    ) -> _Reply | None:
        with self._lock:
            denied = any(d.applies(user, verb, resource, namespace) for d in self._denials)
        if not denied:
            return None
        subject = f'{resource.qualified} "{name}"' if name is not None else resource.qualified
        scope = f'in the namespace "{namespace}"' if namespace is not None else "at the cluster scope"
        message = (
            f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource.plural}" '
            f'in API group "{resource.group}" {scope}'
        )
        return _status_reply(403, message, details=_resource_details(resource, name))

    # -- list --------------------------------------------------------------

    def _list(self, store: _Store, namespace: str | None, request: _Request) -> _Reply:
        labels = parse_label_selector(request.param("labelSelector") or "")
        fields = parse_field_selector(request.param("fieldSelector") or "")
        limit_text = request.param("limit") or "0"
        try:
            limit = int(limit_text)
        except ValueError:
            raise _BadRequest(f'invalid value "{limit_text}" for limit') from None
        token = request.param("continue")
        prefix = f"{namespace}/" if namespace is not None else ""
        start = prefix
        if token:
            token_rv, start_key = decode_continue(token)
            start = prefix + start_key
            with self._lock:
                current_rv = self._rv
                snapshot = store.current if token_rv < 0 else store.at(token_rv)
            if snapshot is None:
                return _status_reply(410, _CONTINUE_EXPIRED, continue_token=encode_continue(-1, start_key))
            list_rv = current_rv if token_rv < 0 else token_rv
        else:
            with self._lock:
                snapshot, list_rv = store.current, self._rv
            if request.param("resourceVersion") == "0":
                limit = 0  # served from the watch cache, which does not paginate
        keys, items = snapshot.keys, snapshot.items
        low = bisect.bisect_left(keys, start)
        high = bisect.bisect_left(keys, prefix[:-1] + "0") if prefix else len(keys)

        remaining: int | None = None
        if labels is None and fields is None:
            end = min(high, low + limit) if limit > 0 else high
            page = items[low:end]
            more = end < high
            if more:
                remaining = high - end
        else:
            page = []
            index = low
            while index < high and (limit <= 0 or len(page) < limit):
                item = items[index]
                if (labels is None or labels(item.labels)) and (fields is None or fields(item)):
                    page.append(item)
                index += 1
            more = index < high

        meta = _encode(str(list_rv))
        if more and page:
            meta += b',"continue":' + _encode(encode_continue(list_rv, page[-1].key[len(prefix) :] + "\x00"))
            if remaining is not None:
                meta += b',"remainingItemCount":' + str(remaining).encode()
        body = [store.list_prefix, meta, b'},"items":[']
        if store.typed_list_items:
            body.append(b",".join(item.raw for item in page))
        elif page:
            cut = len(store.type_prefix)
            body.append(b"{")
            body.append(b",{".join(memoryview(item.raw)[cut:] for item in page))
        body.append(b"]}")
        return _Reply(200, b"".join(body))

    # -- watch -------------------------------------------------------------

    def _open_watch(self, store: _Store, namespace: str | None, request: _Request, field_selector: str) -> _WatchStream:
        labels = parse_label_selector(request.param("labelSelector") or "")
        fields = parse_field_selector(field_selector)
        timeout_text = request.param("timeoutSeconds") or "0"
        try:
            timeout = float(int(timeout_text)) or None
        except ValueError:
            raise _BadRequest(f'invalid value "{timeout_text}" for timeoutSeconds') from None
        bookmarks = request.param("allowWatchBookmarks") in _TRUE
        initial_events = request.param("sendInitialEvents") in _TRUE
        rv_text = request.param("resourceVersion") or ""
        watch = _WatchStream(self, store, namespace, labels, fields, timeout=timeout, bookmarks=bookmarks)
        with self._lock:
            if rv_text in ("", "0") or initial_events:
                for item in store.current.items:
                    if watch.matches(item):
                        watch.prelude.append(watch.event("ADDED", item.raw))
                watch.last_rv = self._rv
                if initial_events and bookmarks:
                    watch.prelude.append(watch.bookmark(self._rv, initial_events_end=True))
            else:
                try:
                    since = int(rv_text)
                except ValueError:
                    raise _BadRequest(f'invalid resource version: "{rv_text}"') from None
                if since < self._history_floor:
                    status = status_body(410, f"too old resource version: {since} ({self._history_floor + 1})")
                    watch.prelude.append(b'{"type":"ERROR","object":' + status + b"}\n")
                    watch.finished = True
                    return watch
                watch.last_rv = since
                for event in self._history:
                    if event.rv > since and event.store is store:
                        line = watch.render(event)
                        if line:
                            watch.prelude.append(line)
                watch.last_rv = max(since, self._rv)
            self._watchers.add(watch)
        return watch

    # -- discovery ---------------------------------------------------------

    @staticmethod
    def _json(status: int, document: Any) -> _Reply:
        return _Reply(status, _encode(document))

    def _groups(self) -> dict[str, list[str]]:
        """Group name -> served versions, preferred first, in first-served order."""
        groups: dict[str, list[str]] = {}
        for group, version in self._by_group_version:
            if group:
                groups.setdefault(group, []).append(version)
        for versions in groups.values():
            versions.sort(key=_version_priority, reverse=True)
        return groups

    def _group(self, name: str) -> dict[str, Any] | None:
        versions = self._groups().get(name)
        if not versions:
            return None
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": name,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def _group_list(self) -> dict[str, Any]:
        groups = []
        for name in self._groups():
            group = self._group(name)
            assert group is not None
            del group["kind"], group["apiVersion"]
            groups.append(group)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _api_versions(self) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": sorted({v for g, v in self._by_group_version if not g}, key=_version_priority, reverse=True),
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.host}:{self._port}"}],
        }

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        resources = []
        for plural, store in sorted(self._by_group_version[(group, version)].items()):
            resource = store.resource
            entry: dict[str, Any] = {
                "name": plural,
                "singularName": resource.kind.lower(),
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": ["get", "list", "watch"],
            }
            if resource.qualified in SHORT_NAMES:
                entry["shortNames"] = list(SHORT_NAMES[resource.qualified])
            if resource.qualified in ALL_CATEGORY:
                entry["categories"] = ["all"]
            resources.append(entry)
        document: dict[str, Any] = {"kind": "APIResourceList"}
        if group:
            document["apiVersion"] = "v1"
        document["groupVersion"] = f"{group}/{version}" if group else version
        document["resources"] = resources
        return document

    def _root_paths(self) -> list[str]:
        paths = {"/api", "/apis", "/version", "/healthz", "/livez", "/readyz"}
        for group, version in self._by_group_version:
            if group:
                paths.update({f"/apis/{group}", f"/apis/{group}/{version}"})
            else:
                paths.add(f"/api/{version}")
        return sorted(paths)
