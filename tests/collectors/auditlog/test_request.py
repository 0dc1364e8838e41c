"""Which requests are exec evidence, read from the request URI and verb alone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from collectors.auditlog.request import ExecRequest, exec_request, mask_secret
from collectors.auditlog.window import parse_duration


@pytest.mark.parametrize(("uri", "verb", "expected"), [
    ("/api/v1/namespaces/shop/pods/web-1/exec?command=ls&command=-la&command=%2Ftmp&container=web", "create",
     ExecRequest(path="pods/exec", namespace="shop", pod="web-1", container="web", command=("ls", "-la", "/tmp"))),
    ("/api/v1/namespaces/shop/pods/web-1/exec/?command=sh+-c&container=web", "get",
     ExecRequest(path="pods/exec", namespace="shop", pod="web-1", container="web", command=("sh -c",))),
    ("/api/v1/namespaces/shop/pods/web-1/attach?stdin=true", "get",
     ExecRequest(path="pods/attach", namespace="shop", pod="web-1")),
    ("/api/v1/namespaces/shop/pods/db-0/portforward?ports=5432", "create",
     ExecRequest(path="pods/portforward", namespace="shop", pod="db-0")),
    ("/api/v1/namespaces/shop/pods/web-1/ephemeralcontainers", "update",
     ExecRequest(path="pods/ephemeralcontainers", namespace="shop", pod="web-1")),
    ("/api/v1/nodes/node-1/proxy/exec/shop/web-1/web?cmd=id", "create",
     ExecRequest(path="nodes/proxy", namespace="shop", pod="web-1", container="web", command=("id",), node="node-1",
                 kubelet_endpoint="exec")),
    ("/api/v1/nodes/http:node-1:10255/proxy/attach/shop/web-1/uid-1/web", "get",
     ExecRequest(path="nodes/proxy", namespace="shop", pod="web-1", container="web", node="node-1",
                 kubelet_endpoint="attach")),
])
def test_exec_requests(uri: str, verb: str, expected: ExecRequest) -> None:
    assert exec_request(uri, verb) == expected


@pytest.mark.parametrize(("uri", "verb"), [
    ("/api/v1/namespaces/shop/pods/web-1/log?container=web", "get"),
    ("/api/v1/namespaces/shop/pods/web-1", "get"),
    ("/api/v1/namespaces/shop/pods/web-1/exec?command=sh", "delete"),
    ("/api/v1/namespaces/shop/pods/web-1/ephemeralcontainers", "get"),
    ("/api/v1/namespaces/shop/services/web:80/proxy/exec/x", "get"),
    ("/api/v1/nodes/node-1/proxy/metrics/cadvisor", "get"),
    ("/api/v1/nodes/node-1/proxy/exec/shop", "get"),
    ("/apis/apps/v1/namespaces/shop/deployments/exec", "get"),
    ("/version", "get"),
])
def test_everything_else_is_not(uri: str, verb: str) -> None:
    assert exec_request(uri, verb) is None


def test_masking() -> None:
    assert mask_secret("--db-password=s3cret") == "--db-password=***"
    assert mask_secret("AWS_SECRET_ACCESS_KEY=abc") == "AWS_SECRET_ACCESS_KEY=***"
    assert mask_secret("token:abc") == "token:***"
    assert mask_secret("--namespace=shop") == "--namespace=shop"
    assert mask_secret("cat /etc/passwd") == "cat /etc/passwd"


def test_durations() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration("2w") == timedelta(days=14)
    for text in ("", "30", "d", "-3d", "0h", "3 days", "30y"):
        with pytest.raises(ValueError, match="--since"):
            parse_duration(text)
