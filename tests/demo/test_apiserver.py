"""The API server double, spoken to over real HTTP(S) by urllib3, the kubernetes client and kubectl."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import msgspec
import pytest
import urllib3

from collectors.resources import CLUSTER_ROLES, DEPLOYMENTS, Resource
from demo.apiserver import ApiServerDouble, Fault, RecordedRequest
from tests.conftest import require_tool

TOKEN = "kubeward-admin-token"
ALICE = "alice-token"
USERS = {TOKEN: "admin", ALICE: "alice"}


# -- objects -------------------------------------------------------------------


def pod(name: str, namespace: str = "default", *, labels: dict[str, str] | None = None, node: str = "node-1") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name.rsplit("-", 1)[0]}},
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "app", "image": "registry.example/app:1.0", "securityContext": {"privileged": False}}
            ],
        },
        "status": {"phase": "Running"},
    }


def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def deployment(name: str, namespace: str = "default", replicas: int = 2) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate"}},
    }


def cluster_role(name: str) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}],
    }


def many_pods(count: int, namespaces: int = 7) -> list[dict]:
    return [pod(f"web-{i:05d}", f"team-{i % namespaces}") for i in range(count)]


# -- plumbing ------------------------------------------------------------------


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=10))
    yield pool
    pool.clear()


@pytest.fixture
def double() -> Iterator[ApiServerDouble]:
    objects = [namespace("default"), namespace("team-a"), cluster_role("admin"), deployment("web", "team-a")]
    objects += [pod("web-1", "team-a"), pod("web-2", "team-a"), pod("db-1", "team-b", labels={"app": "db"})]
    with ApiServerDouble(objects, users=USERS) as server:
        yield server


def get(
    pool: urllib3.PoolManager, server: ApiServerDouble, path: str, *, token: str | None = TOKEN, **fields: str
) -> urllib3.BaseHTTPResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return pool.request("GET", server.url + path, fields=fields or None, headers=headers)


def body(response: urllib3.BaseHTTPResponse) -> Any:
    return json.loads(response.data)


def names(items: list[dict]) -> list[tuple[str, str]]:
    return [(item["metadata"].get("namespace", ""), item["metadata"]["name"]) for item in items]


# -- discovery -----------------------------------------------------------------


def test_discovery_documents(http: urllib3.PoolManager) -> None:
    widgets = Resource("example.com", "v1alpha1", "widgets", "Widget", True)
    with ApiServerDouble(extra_resources=[widgets]) as server:
        version = body(get(http, server, "/version"))
        assert version["gitVersion"] == "v1.35.2" and version["major"] == "1"

        api = body(get(http, server, "/api"))
        assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]

        groups = {g["name"]: g for g in body(get(http, server, "/apis"))["groups"]}
        assert groups["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
        assert {"batch", "policy", "rbac.authorization.k8s.io", "networking.k8s.io", "node.k8s.io"} <= set(groups)
        assert groups["example.com"]["versions"] == [{"groupVersion": "example.com/v1alpha1", "version": "v1alpha1"}]

        core = body(get(http, server, "/api/v1"))
        assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
        by_name = {r["name"]: r for r in core["resources"]}
        assert by_name["pods"] == {
            "name": "pods",
            "singularName": "pod",
            "namespaced": True,
            "kind": "Pod",
            "verbs": ["get", "list", "watch"],
            "shortNames": ["po"],
            "categories": ["all"],
        }
        assert by_name["namespaces"]["namespaced"] is False and by_name["namespaces"]["shortNames"] == ["ns"]
        assert {"secrets", "configmaps", "nodes", "serviceaccounts", "services"} <= set(by_name)

        apps = body(get(http, server, "/apis/apps/v1"))
        assert apps["groupVersion"] == "apps/v1"
        assert {r["name"]: r.get("shortNames") for r in apps["resources"]}["deployments"] == ["deploy"]
        assert body(get(http, server, "/apis/apps"))["preferredVersion"]["version"] == "v1"
        assert body(get(http, server, "/apis/example.com/v1alpha1"))["resources"][0]["kind"] == "Widget"

        missing = get(http, server, "/apis/metrics.k8s.io/v1beta1")
        assert missing.status == 404
        assert body(missing)["reason"] == "NotFound" and body(missing)["kind"] == "Status"


def test_unknown_paths_are_404_status(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    for path in ("/nope", "/api/v2", "/apis/apps/v2", "/api/v1/widgets", "/api/v1/pods/x/log", "/apis/example.com"):
        response = get(http, double, path)
        assert response.status == 404, path
        assert body(response) == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "the server could not find the requested resource",
            "reason": "NotFound",
            "code": 404,
        }


# -- list and get --------------------------------------------------------------


def test_list_paginates_every_object_once_in_key_order(http: urllib3.PoolManager) -> None:
    objects = many_pods(1234)
    with ApiServerDouble(objects) as server:
        expected = sorted(names(objects), key=lambda key: f"{key[0]}/{key[1]}")
        seen: list[tuple[str, str]] = []
        pages, token, list_rv = 0, None, None
        while True:
            fields = {"limit": "100", **({"continue": token} if token else {})}
            page = body(get(http, server, "/api/v1/pods", **fields))
            assert page["kind"] == "PodList" and page["apiVersion"] == "v1"
            assert len(page["items"]) <= 100
            # Built-in list items carry no apiVersion/kind, as from a real API server.
            assert all("kind" not in item and "apiVersion" not in item for item in page["items"])
            seen += names(page["items"])
            list_rv = list_rv or page["metadata"]["resourceVersion"]
            assert page["metadata"]["resourceVersion"] == list_rv
            pages += 1
            token = page["metadata"].get("continue")
            if not token:
                assert "remainingItemCount" not in page["metadata"]
                break
            assert page["metadata"]["remainingItemCount"] == 1234 - len(seen)
            decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            assert decoded == {"v": "meta.k8s.io/v1", "rv": int(list_rv), "start": f"{seen[-1][0]}/{seen[-1][1]}\x00"}
        assert pages == 13
        assert seen == expected
        assert list_rv == str(server.resource_version)


def test_namespaced_list_and_selectors(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    team_a = body(get(http, double, "/api/v1/namespaces/team-a/pods"))
    assert names(team_a["items"]) == [("team-a", "web-1"), ("team-a", "web-2")]
    assert body(get(http, double, "/api/v1/namespaces/empty/pods"))["items"] == []

    page = body(get(http, double, "/api/v1/namespaces/team-a/pods", limit="1"))
    assert names(page["items"]) == [("team-a", "web-1")] and page["metadata"]["remainingItemCount"] == 1
    rest = body(
        get(http, double, "/api/v1/namespaces/team-a/pods", limit="1", **{"continue": page["metadata"]["continue"]})
    )
    assert names(rest["items"]) == [("team-a", "web-2")] and "continue" not in rest["metadata"]

    def selected(**fields: str) -> list[tuple[str, str]]:
        return names(body(get(http, double, "/api/v1/pods", **fields))["items"])

    assert selected(labelSelector="app=db") == [("team-b", "db-1")]
    assert selected(labelSelector="app!=db") == [("team-a", "web-1"), ("team-a", "web-2")]
    assert selected(labelSelector="app in (db, nothing)") == [("team-b", "db-1")]
    assert selected(labelSelector="app,!missing") == selected()
    assert selected(labelSelector="missing") == []
    assert selected(fieldSelector="metadata.namespace=team-b") == [("team-b", "db-1")]
    assert selected(fieldSelector="metadata.name=web-2,spec.nodeName=node-1") == [("team-a", "web-2")]
    assert get(http, double, "/api/v1/pods", labelSelector="a b c").status == 400

    deployments = body(get(http, double, "/apis/apps/v1/deployments"))
    assert deployments["kind"] == "DeploymentList" and deployments["apiVersion"] == "apps/v1"
    assert names(deployments["items"]) == [("team-a", "web")]


def test_resource_version_zero_lists_ignore_limit(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    page = body(get(http, double, "/api/v1/pods", limit="1", resourceVersion="0"))
    assert len(page["items"]) == 3 and "continue" not in page["metadata"]


def test_get_objects(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    found = body(get(http, double, "/api/v1/namespaces/team-a/pods/web-1"))
    assert found["kind"] == "Pod" and found["apiVersion"] == "v1"
    assert found["metadata"]["name"] == "web-1" and found["spec"]["nodeName"] == "node-1"
    assert found == next(p for p in double.objects("pods") if p["metadata"]["name"] == "web-1")

    assert body(get(http, double, "/api/v1/namespaces/team-a"))["kind"] == "Namespace"
    assert body(get(http, double, "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin"))["rules"]

    missing = get(http, double, "/apis/apps/v1/namespaces/team-a/deployments/nope")
    assert missing.status == 404
    assert body(missing)["message"] == 'deployments.apps "nope" not found'
    assert body(missing)["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    assert body(get(http, double, "/api/v1/namespaces/team-a/pods/nope"))["details"] == {"name": "nope", "kind": "pods"}


def test_loaded_objects_get_identity_and_versions() -> None:
    given = pod("web-1", "team-a")
    server = ApiServerDouble([given, pod("web-1", "team-b")])
    first, second = server.objects("pods")
    assert "uid" not in given["metadata"]  # the caller's dict is left alone
    assert first["metadata"]["uid"] != second["metadata"]["uid"]
    assert ApiServerDouble([given]).objects("Pod")[0]["metadata"]["uid"] == first["metadata"]["uid"]
    assert first["metadata"]["resourceVersion"] == "1" and second["metadata"]["resourceVersion"] == "2"
    assert first["metadata"]["creationTimestamp"].endswith("Z")

    stored = server.apply({**given, "spec": {"nodeName": "node-2", "containers": []}})
    assert stored["metadata"]["uid"] == first["metadata"]["uid"]
    assert stored["metadata"]["resourceVersion"] == "3" == str(server.resource_version)
    server.remove("Pod", "web-1", "team-b")
    assert names(server.objects("pods")) == [("team-a", "web-1")]
    with pytest.raises(KeyError):
        server.remove("pods", "web-1", "team-b")
    with pytest.raises(ValueError, match="does not serve"):
        server.apply({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "x"}})


def test_continue_serves_the_first_pages_snapshot(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    first = body(get(http, double, "/api/v1/pods", limit="1"))
    double.apply(pod("aaa-new", "team-a"))
    double.remove("pods", "db-1", "team-b")
    rest = body(get(http, double, "/api/v1/pods", limit="10", **{"continue": first["metadata"]["continue"]}))
    assert names(first["items"] + rest["items"]) == [("team-a", "web-1"), ("team-a", "web-2"), ("team-b", "db-1")]
    assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    # Once the snapshot is gone, 410 Expired with a token for an inconsistent remainder.
    first = body(get(http, double, "/api/v1/pods", limit="1"))
    assert names(first["items"]) == [("team-a", "aaa-new")]
    for generation in range(40):
        double.apply(pod(f"churn-{generation}", "zzz"))
    expired = get(http, double, "/api/v1/pods", limit="10", **{"continue": first["metadata"]["continue"]})
    assert expired.status == 410 and body(expired)["reason"] == "Expired"
    inconsistent = body(get(http, double, "/api/v1/pods", **{"continue": body(expired)["metadata"]["continue"]}))
    churned = sorted(("zzz", f"churn-{generation}") for generation in range(40))
    assert names(inconsistent["items"]) == [("team-a", "web-1"), ("team-a", "web-2"), *churned]

    bad = get(http, double, "/api/v1/pods", **{"continue": "not-a-token"})
    assert bad.status == 400 and body(bad)["reason"] == "BadRequest"


def test_listing_ten_thousand_pods_is_fast(http: urllib3.PoolManager) -> None:
    big = [pod(f"web-{i:05d}", f"team-{i % 40}", labels={"app": "web", "hash": "x" * 3700}) for i in range(10_000)]
    assert 3500 < len(msgspec.json.encode(big[0])) < 4500
    with ApiServerDouble(big) as server:
        started = time.perf_counter()
        token, count = None, 0
        while True:
            fields = {"limit": "500", **({"continue": token} if token else {})}
            response = get(http, server, "/api/v1/pods", **fields)
            page = msgspec.json.decode(response.data)
            count += len(page["items"])
            token = page["metadata"].get("continue")
            if not token:
                break
        elapsed = time.perf_counter() - started
    assert count == 10_000
    assert elapsed < 2.0, f"listing 10k pods took {elapsed:.2f}s"


# -- authentication, authorization, methods ----------------------------------


def test_missing_or_unknown_token_is_401(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    for token in (None, "wrong-token"):
        response = get(http, double, "/api/v1/pods", token=token)
        assert response.status == 401
        assert body(response) == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }
    assert get(http, double, "/version", token=None).status == 200  # public, like system:public-info-viewer
    assert get(http, double, "/version", token="wrong-token").status == 401
    assert [r.user for r in double.requests] == [None, None, None, None]
    assert get(http, double, "/api/v1/pods", token=ALICE).status == 200
    assert double.requests[-1].user == "alice"


def test_denials_are_403_with_the_api_servers_status(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    double.deny("alice", "list", "pods")
    double.deny("alice", "get", "deployments", namespace="team-a")
    double.deny("alice", "*", "clusterroles")

    response = get(http, double, "/api/v1/pods", token=ALICE)
    assert response.status == 403
    assert body(response) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods is forbidden: User "alice" cannot list resource "pods" in API group "" at the cluster scope',
        "reason": "Forbidden",
        "details": {"kind": "pods"},
        "code": 403,
    }
    namespaced = body(get(http, double, "/api/v1/namespaces/team-a/pods", token=ALICE))
    assert namespaced["message"] == (
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team-a"'
    )
    named = body(get(http, double, "/apis/apps/v1/namespaces/team-a/deployments/web", token=ALICE))
    assert named["message"] == (
        'deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments" '
        'in API group "apps" in the namespace "team-a"'
    )
    assert named["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    watch = body(get(http, double, "/apis/rbac.authorization.k8s.io/v1/clusterroles", token=ALICE, watch="1"))
    assert watch["message"] == (
        'clusterroles.rbac.authorization.k8s.io is forbidden: User "alice" cannot watch resource "clusterroles" '
        'in API group "rbac.authorization.k8s.io" at the cluster scope'
    )

    # What is not denied still works, and other users are unaffected.
    assert get(http, double, "/api/v1/namespaces/team-a/pods/web-1", token=ALICE).status == 200
    assert get(http, double, "/apis/apps/v1/namespaces/other/deployments/web", token=ALICE).status == 404
    assert get(http, double, "/api/v1/pods").status == 200
    assert [r.status for r in double.requests] == [403, 403, 403, 403, 200, 404, 200]


def test_only_get_is_served(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    for method in ("POST", "DELETE", "PUT", "PATCH"):
        response = http.request(method, double.url + "/api/v1/namespaces/team-a/pods", body=b"{}", headers=headers)
        assert response.status == 405
        assert body(response)["reason"] == "MethodNotAllowed" and body(response)["code"] == 405
    assert [(r.method, r.status, r.user) for r in double.requests] == [
        ("POST", 405, "admin"),
        ("DELETE", 405, "admin"),
        ("PUT", 405, "admin"),
        ("PATCH", 405, "admin"),
    ]
    assert len(double.objects("pods")) == 3


def test_requests_are_recorded(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    http.request("GET", double.url + "/api/v1/pods?limit=5&labelSelector=app%3Ddb", headers=headers)
    assert double.requests == [
        RecordedRequest(
            method="GET",
            path="/api/v1/pods",
            query={"limit": ["5"], "labelSelector": ["app=db"]},
            user="admin",
            status=200,
            accept="application/json;as=Table;v=v1;g=meta.k8s.io",
        )
    ]


# -- SubjectAccessReview ---------------------------------------------------------

RBAC_V1 = "rbac.authorization.k8s.io/v1"
REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


def rbac_role(
    name: str,
    rules: list[dict],
    *,
    namespace: str | None = None,
    labels: dict | None = None,
    aggregate: list[dict] | None = None,
) -> dict:
    metadata: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    if labels:
        metadata["labels"] = labels
    role: dict[str, Any] = {
        "apiVersion": RBAC_V1,
        "kind": "Role" if namespace else "ClusterRole",
        "metadata": metadata,
        "rules": rules,
    }
    if aggregate is not None:
        role["aggregationRule"] = {"clusterRoleSelectors": aggregate}
    return role


def rbac_binding(
    name: str, role: str, subjects: list[dict], *, namespace: str | None = None, role_kind: str = "ClusterRole"
) -> dict:
    return {
        "apiVersion": RBAC_V1,
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": subjects,
    }


def grant(verbs: list[str], resources: list[str], groups: tuple[str, ...] = ("",), names: tuple[str, ...] = ()) -> dict:
    rule: dict[str, Any] = {"verbs": verbs, "apiGroups": list(groups), "resources": resources}
    if names:
        rule["resourceNames"] = list(names)
    return rule


RBAC_OBJECTS = [
    rbac_role("exec", [grant(["create"], ["pods/exec"])]),
    rbac_role("any-exec", [grant(["get"], ["*/exec"])]),
    rbac_role("pods-star", [grant(["*"], ["pods/*"])]),
    rbac_role("named", [grant(["get"], ["pods/exec"], names=("web-0",))]),
    rbac_role("metrics", [{"verbs": ["get"], "nonResourceURLs": ["/metrics", "/logs/*"]}]),
    rbac_role("platform", [grant(["get"], ["secrets"])], aggregate=[{"matchLabels": {"platform": "true"}}]),
    rbac_role("platform-debug", [], labels={"platform": "true"}, aggregate=[{"matchLabels": {"debug": "true"}}]),
    rbac_role("debug", [grant(["patch"], ["pods/ephemeralcontainers"])], labels={"debug": "true"}),
    rbac_role("local", [grant(["create"], ["pods"])], namespace="team-a"),
    rbac_binding("alice-exec", "exec", [{"kind": "User", "name": "alice"}]),
    rbac_binding("ops", "any-exec", [{"kind": "Group", "name": "ops"}]),
    rbac_binding("star", "pods-star", [{"kind": "User", "name": "gina"}]),
    rbac_binding("named", "named", [{"kind": "User", "name": "ivy"}]),
    rbac_binding("metrics", "metrics", [{"kind": "User", "name": "prom"}]),
    rbac_binding("platform", "platform", [{"kind": "Group", "name": "platform-team"}]),
    rbac_binding("missing", "nope", [{"kind": "User", "name": "mia"}]),
    rbac_binding("builder", "exec", [{"kind": "ServiceAccount", "name": "builder"}], namespace="team-a"),
    rbac_binding("local", "local", [{"kind": "User", "name": "bob"}], namespace="team-a", role_kind="Role"),
    rbac_binding("alice-too", "local", [{"kind": "User", "name": "alice"}], namespace="team-a", role_kind="Role"),
]


def review(
    api: kubernetes.client.AuthorizationV1Api, *, user: str = "", groups: list[str] | None = None, **attributes: str
) -> tuple[bool, str | None]:
    spec = kubernetes.client.V1SubjectAccessReviewSpec(
        user=user, groups=groups or [], resource_attributes=kubernetes.client.V1ResourceAttributes(**attributes)
    )
    status = api.create_subject_access_review(kubernetes.client.V1SubjectAccessReview(spec=spec)).status
    return status.allowed, status.reason


def test_subject_access_reviews_follow_the_rbac_authorizer(tmp_path: Path) -> None:
    with ApiServerDouble(RBAC_OBJECTS) as server:
        client = kubernetes.config.new_client_from_config(config_file=str(server.write_kubeconfig(tmp_path / "k")))
        api = kubernetes.client.AuthorizationV1Api(client)
        exec_in = {"verb": "create", "resource": "pods", "subresource": "exec", "name": "web-0"}
        try:
            assert review(api, user="alice", namespace="team-b", **exec_in) == (
                True,
                'RBAC: allowed by ClusterRoleBinding "alice-exec" of ClusterRole "exec" to User "alice"',
            )
            assert review(api, user="alice", namespace="", **exec_in)[0] is True
            assert review(api, user="alice", namespace="team-a", verb="get", resource="pods", subresource="exec") == (
                False,
                None,
            )
            # ClusterRoleBindings first, then the RoleBindings of the request's namespace only
            assert review(api, user="alice", namespace="team-a", verb="create", resource="pods") == (
                True,
                'RBAC: allowed by RoleBinding "alice-too/team-a" of Role "local" to User "alice"',
            )
            assert review(api, user="bob", namespace="team-b", verb="create", resource="pods")[0] is False
            assert review(api, user="bob", namespace="", verb="create", resource="pods")[0] is False
            # a service-account subject without a namespace is in its RoleBinding's
            assert review(api, user="system:serviceaccount:team-a:builder", namespace="team-a", **exec_in) == (
                True,
                'RBAC: allowed by RoleBinding "builder/team-a" of ClusterRole "exec" '
                'to ServiceAccount "builder/team-a"',
            )
            assert review(api, user="system:serviceaccount:team-b:builder", namespace="team-b", **exec_in)[0] is False
            # groups; `*/exec` is a subresource wildcard, `pods/*` is not
            assert review(api, groups=["ops"], namespace="x", verb="get", resource="pods", subresource="exec")[0]
            assert not review(api, groups=["ops"], namespace="x", verb="get", resource="pods", subresource="attach")[0]
            assert not review(api, user="gina", namespace="x", **exec_in)[0]
            assert review(api, user="gina", namespace="x", verb="get", resource="pods", subresource="*")[0]
            # resourceNames
            assert review(
                api, user="ivy", namespace="x", verb="get", resource="pods", subresource="exec", name="web-0"
            )[0]
            assert not review(api, user="ivy", namespace="x", verb="get", resource="pods", subresource="exec")[0]
            # aggregation, nested, stored rules replaced by what the controller writes
            debug = {"namespace": "x", "verb": "patch", "resource": "pods", "subresource": "ephemeralcontainers"}
            assert review(api, groups=["platform-team"], **debug) == (
                True,
                'RBAC: allowed by ClusterRoleBinding "platform" of ClusterRole "platform" to Group "platform-team"',
            )
            assert not review(api, groups=["platform-team"], namespace="x", verb="get", resource="secrets")[0]
            # a missing role is the reason nothing allowed it
            assert review(api, user="mia", namespace="x", **exec_in) == (
                False,
                'RBAC: clusterrole.rbac.authorization.k8s.io "nope" not found',
            )
            non_resource = kubernetes.client.V1SubjectAccessReviewSpec(
                user="prom",
                non_resource_attributes=kubernetes.client.V1NonResourceAttributes(path="/logs/kubelet", verb="get"),
            )
            reply = api.create_subject_access_review(kubernetes.client.V1SubjectAccessReview(spec=non_resource))
            assert reply.status.allowed and reply.spec.user == "prom"
            assert reply.kind == "SubjectAccessReview" and reply.api_version == "authorization.k8s.io/v1"
        finally:
            client.close()
        assert {(r.method, r.path, r.status) for r in server.requests} == {("POST", REVIEWS, 201)}


def test_subject_access_reviews_see_rbac_changes(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    ask = json.dumps(
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": "carol",
                "resourceAttributes": {
                    "namespace": "team-a",
                    "verb": "create",
                    "resource": "pods",
                    "subresource": "exec",
                },
            },
        }
    )

    def allowed() -> bool:
        response = http.request("POST", double.url + REVIEWS, body=ask, headers=headers)
        assert response.status == 201
        return body(response)["status"]["allowed"]

    assert allowed() is False
    double.apply(rbac_binding("carol", "admin", [{"kind": "User", "name": "carol"}], namespace="team-a"))
    assert allowed() is True  # the fixture's "admin" ClusterRole allows create pods/exec
    double.apply(cluster_role("admin") | {"rules": []})
    assert allowed() is False
    double.remove("rolebindings", "carol", "team-a")
    assert body(http.request("POST", double.url + REVIEWS, body=ask, headers=headers))["status"] == {"allowed": False}


def test_subject_access_review_errors(http: urllib3.PoolManager) -> None:
    with ApiServerDouble(users=USERS) as server:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

        def post(document: Any, path: str = REVIEWS, **extra: str) -> urllib3.BaseHTTPResponse:
            data = document if isinstance(document, bytes) else json.dumps(document).encode()
            return http.request("POST", server.url + path, body=data, headers={**headers, **extra})

        nobody = post({"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}})
        assert nobody.status == 422
        assert body(nobody)["reason"] == "Invalid"
        assert body(nobody)["message"] == (
            'SubjectAccessReview.authorization.k8s.io "" is invalid: '
            'spec.user: Invalid value: "": at least one of user or group must be specified'
        )
        nothing = post({"spec": {"user": "alice"}})
        assert nothing.status == 422
        assert [c["field"] for c in body(nothing)["details"]["causes"]] == ["spec.resourceAttributes"]
        assert post(b"{not json").status == 400
        assert (
            post({"spec": {"user": "a"}}, path="/apis/authorization.k8s.io/v1/selfsubjectaccessreviews").status == 405
        )
        assert get(http, server, REVIEWS).status == 404  # nothing is stored, nothing to list
        server.deny("alice", "*", "subjectaccessreviews")
        denied = post(
            {"spec": {"user": "bob", "resourceAttributes": {"verb": "get", "resource": "pods"}}},
            Authorization=f"Bearer {ALICE}",
        )
        assert denied.status == 403 and body(denied)["reason"] == "Forbidden"
        assert [(r.method, r.status, r.user) for r in server.requests][-1] == ("POST", 403, "alice")


# -- faults --------------------------------------------------------------------


def test_status_faults(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    double.inject(Fault("/namespaces/team-a/pods", "status", status=429, retry_after=3))
    limited = get(http, double, "/api/v1/namespaces/team-a/pods")
    assert limited.status == 429 and limited.headers["Retry-After"] == "3"
    assert body(limited) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Too many requests, please try again later.",
        "reason": "TooManyRequests",
        "details": {"retryAfterSeconds": 3},
        "code": 429,
    }
    assert get(http, double, "/api/v1/namespaces/team-a/pods").status == 200  # times=1

    double.inject(Fault("/apis/apps", "status", status=503, times=2))
    double.inject(Fault("/api/v1/nodes", "status", status=500, times=None))
    assert [get(http, double, "/apis/apps/v1/deployments").status for _ in range(3)] == [503, 503, 200]
    assert body(get(http, double, "/api/v1/nodes"))["reason"] == "InternalError"
    assert get(http, double, "/api/v1/nodes").status == 500
    assert body(get(http, double, "/apis/apps/v1/deployments"))["kind"] == "DeploymentList"


def test_expire_continue_fault(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    fault = Fault("/api/v1/pods", "expire-continue")
    double.inject(fault)
    first = get(http, double, "/api/v1/pods", limit="1")
    assert first.status == 200 and fault.hits == 0  # only requests carrying a continue token
    expired = get(http, double, "/api/v1/pods", limit="1", **{"continue": body(first)["metadata"]["continue"]})
    assert expired.status == 410
    status = body(expired)
    assert status["reason"] == "Expired" and status["code"] == 410
    assert status["message"].startswith("The provided continue parameter is too old to display a consistent list")
    assert status["metadata"]["continue"]
    again = get(http, double, "/api/v1/pods", limit="1", **{"continue": body(first)["metadata"]["continue"]})
    assert again.status == 200 and fault.hits == 1


def test_only_continue_status_fault(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    double.inject(Fault("/api/v1/pods", "status", status=500, only_continue=True))
    first = get(http, double, "/api/v1/pods", limit="1")
    assert first.status == 200
    assert (
        get(http, double, "/api/v1/pods", limit="1", **{"continue": body(first)["metadata"]["continue"]}).status == 500
    )


def test_slow_fault_delays_and_stop_interrupts_it(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    double.inject(Fault("/api/v1/nodes", "slow", delay=0.3))
    started = time.perf_counter()
    assert get(http, double, "/api/v1/nodes").status == 200
    assert 0.3 <= time.perf_counter() - started < 2

    double.inject(Fault("/api/v1/services", "slow", delay=60))
    failure: list[BaseException] = []

    def slow_request() -> None:
        try:
            get(http, double, "/api/v1/services")
        except urllib3.exceptions.HTTPError as error:
            failure.append(error)

    client = threading.Thread(target=slow_request)
    client.start()
    time.sleep(0.2)
    started = time.perf_counter()
    double.stop()
    client.join(5)
    assert time.perf_counter() - started < 3
    assert not client.is_alive() and failure


def test_truncate_fault_breaks_the_response(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    double.inject(Fault("/api/v1/pods", "truncate"))
    with pytest.raises(urllib3.exceptions.ProtocolError):
        get(http, double, "/api/v1/pods")
    assert double.requests[-1].status == 200
    assert len(body(get(http, double, "/api/v1/pods"))["items"]) == 3


# -- watch -----------------------------------------------------------------------


def watch_lines(pool: urllib3.PoolManager, server: ApiServerDouble, path: str, **fields: str) -> Iterator[dict]:
    response = pool.request(
        "GET",
        server.url + path,
        fields={"watch": "1", **fields},
        headers={"Authorization": f"Bearer {TOKEN}"},
        preload_content=False,
    )
    assert response.status == 200
    assert response.headers["Transfer-Encoding"] == "chunked"
    try:
        buffer = b""
        for chunk in response.stream(1024, decode_content=False):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield json.loads(line)
    finally:
        response.close()


def test_watch_sees_existing_then_changes(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    events = watch_lines(http, double, "/api/v1/namespaces/team-a/pods", timeoutSeconds="5")
    initial = [next(events), next(events)]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in initial] == [("ADDED", "web-1"), ("ADDED", "web-2")]
    assert initial[0]["object"]["kind"] == "Pod"

    double.apply(pod("db-2", "team-b"))  # another namespace: not seen
    changed = double.apply({**pod("web-1", "team-a"), "status": {"phase": "Failed"}})
    double.remove("pods", "web-2", "team-a")
    modified, deleted = next(events), next(events)
    assert modified["type"] == "MODIFIED" and modified["object"] == changed
    assert deleted["type"] == "DELETED" and deleted["object"]["metadata"]["name"] == "web-2"
    assert int(deleted["object"]["metadata"]["resourceVersion"]) == double.resource_version
    events.close()


def test_watch_from_a_resource_version_and_bookmarks(double: ApiServerDouble, http: urllib3.PoolManager) -> None:
    listed = body(get(http, double, "/api/v1/pods"))
    double.apply(pod("web-3", "team-a"))
    started = time.perf_counter()
    events = list(
        watch_lines(
            http,
            double,
            "/api/v1/pods",
            resourceVersion=listed["metadata"]["resourceVersion"],
            allowWatchBookmarks="true",
            timeoutSeconds="1",
        )
    )
    assert 0.9 < time.perf_counter() - started < 3  # closed at timeoutSeconds
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[0]["object"]["metadata"]["name"] == "web-3"
    assert events[1]["object"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": str(double.resource_version), "creationTimestamp": None},
    }


def test_watch_with_too_old_resource_version_gets_410(http: urllib3.PoolManager) -> None:
    with ApiServerDouble([pod("web-1")], watch_history=2) as server:
        for generation in range(3):
            server.apply({**pod("web-1"), "spec": {"generation": generation}})
        events = list(watch_lines(http, server, "/api/v1/pods", resourceVersion="1"))
        assert events == [
            {
                "type": "ERROR",
                "object": {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": "too old resource version: 1 (3)",
                    "reason": "Expired",
                    "code": 410,
                },
            }
        ]
        server.compact()
        assert next(watch_lines(http, server, "/api/v1/pods", resourceVersion="3"))["type"] == "ERROR"


def test_stop_closes_open_watches_promptly(http: urllib3.PoolManager) -> None:
    server = ApiServerDouble([pod("web-1")]).start()
    events = watch_lines(http, server, "/api/v1/pods")
    assert next(events)["type"] == "ADDED"
    idle = urllib3.PoolManager()
    assert get(idle, server, "/version").status == 200  # leaves a keep-alive connection open
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 1.5
    assert list(events) == []
    idle.clear()


def test_kubernetes_client_watch(double: ApiServerDouble, tmp_path: Path) -> None:
    config = double.write_kubeconfig(tmp_path / "kubeconfig")
    api = kubernetes.config.new_client_from_config(config_file=str(config))
    try:
        core = kubernetes.client.CoreV1Api(api)
        watch = kubernetes.watch.Watch()
        seen = []
        for event in watch.stream(core.list_namespaced_pod, "team-a", timeout_seconds=5):
            seen.append((event["type"], event["object"].metadata.name, event["object"].status.phase))
            if len(seen) == 2:
                double.apply({**pod("web-1", "team-a"), "status": {"phase": "Succeeded"}})
            if len(seen) == 3:
                watch.stop()
        assert seen == [
            ("ADDED", "web-1", "Running"),
            ("ADDED", "web-2", "Running"),
            ("MODIFIED", "web-1", "Succeeded"),
        ]
    finally:
        api.close()


# -- HTTPS, the kubernetes client and kubectl ------------------------------------


def test_https_with_the_kubernetes_client(tmp_path: Path) -> None:
    with ApiServerDouble([pod("web-1", "team-a"), pod("web-2", "team-a"), pod("db-1", "team-b")], tls=True) as server:
        assert server.url.startswith("https://127.0.0.1:") and server.ca_pem
        config = server.write_kubeconfig(tmp_path / "kubeconfig", namespace="team-a")
        api = kubernetes.config.new_client_from_config(config_file=str(config))
        try:
            pods = kubernetes.client.CoreV1Api(api).list_namespaced_pod("team-a")
            assert [p.metadata.name for p in pods.items] == ["web-1", "web-2"]
            assert pods.items[0].metadata.uid == server.objects("pods")[0]["metadata"]["uid"]
            raw = kubernetes.client.CoreV1Api(api).list_pod_for_all_namespaces(limit=2, _preload_content=False)
            assert len(json.loads(raw.data)["items"]) == 2
        finally:
            api.close()
        assert server.requests[0].user == "admin"

        insecure = server.write_kubeconfig(tmp_path / "insecure", insecure_skip_tls_verify=True)
        assert "certificate-authority-data" not in insecure.read_text()
        pool = urllib3.PoolManager(ca_cert_data=server.ca_pem.decode(), retries=False)
        assert get(pool, server, "/api/v1/namespaces/team-b/pods/db-1").status == 200
        pool.clear()


def kubectl(kubeconfig: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = require_tool("kubectl")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    return subprocess.run(
        [binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(home / "cache"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_kubectl_against_the_tls_double(tmp_path: Path) -> None:
    pods = many_pods(600, namespaces=9)  # more than kubectl's 500-item chunks
    objects = [
        *pods,
        deployment("web", "team-1"),
        deployment("api", "team-0"),
        cluster_role("admin"),
        cluster_role("view"),
    ]
    with ApiServerDouble(objects, tls=True) as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")

        result = kubectl(kubeconfig, tmp_path, "get", "pods", "-A", "-o", "json")
        assert result.returncode == 0, result.stderr
        items = json.loads(result.stdout)["items"]

        def essence(item: dict) -> tuple:
            meta = item["metadata"]
            return meta["namespace"], meta["name"], meta["uid"], item["spec"]

        assert [essence(item) for item in items] == [essence(item) for item in server.objects("pods")]
        lists = [r for r in server.requests if r.path == "/api/v1/pods"]
        assert [r.query.get("limit") for r in lists] == [["500"], ["500"]] and "continue" in lists[1].query

        result = kubectl(kubeconfig, tmp_path, "get", "deploy", "-A", "-o", "json")
        assert result.returncode == 0, result.stderr
        assert [essence(item) for item in json.loads(result.stdout)["items"]] == [
            essence(item) for item in server.objects(DEPLOYMENTS.plural)
        ]

        result = kubectl(kubeconfig, tmp_path, "get", "clusterroles")
        assert result.returncode == 0, result.stderr
        rows = [line.split()[0] for line in result.stdout.splitlines()]
        assert rows == ["NAME", "admin", "view"]
        assert [r["metadata"]["name"] for r in server.objects(CLUSTER_ROLES.plural)] == ["admin", "view"]

        result = kubectl(
            kubeconfig, tmp_path, "get", "po", "-n", "team-3", "web-00003", "-o", "jsonpath={.metadata.uid}"
        )
        assert result.returncode == 0, result.stderr
        uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in server.objects("pods")}
        assert result.stdout == uids["web-00003"]


def test_kubectl_sees_forbidden_and_missing(tmp_path: Path) -> None:
    with ApiServerDouble([pod("web-1")], tls=True, users=USERS) as server:
        server.deny("alice", "list", "pods")
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", user="alice")
        result = kubectl(kubeconfig, tmp_path, "get", "pods", "-A")
        assert result.returncode == 1
        assert 'pods is forbidden: User "alice" cannot list resource "pods" in API group "" at the cluster scope' in (
            result.stderr
        )
        result = kubectl(kubeconfig, tmp_path, "get", "deploy", "nope", "-n", "default")
        assert result.returncode == 1
        assert 'deployments.apps "nope" not found' in result.stderr


def test_each_tls_double_has_its_own_certificate_authority() -> None:
    with ApiServerDouble(tls=True) as one, ApiServerDouble(tls=True) as two:
        assert one.ca_pem != two.ca_pem
        trusting_two = urllib3.PoolManager(ca_cert_data=two.ca_pem.decode(), retries=False)
        with pytest.raises(urllib3.exceptions.SSLError):
            get(trusting_two, one, "/version")
        assert get(trusting_two, two, "/version").status == 200
        trusting_two.clear()
