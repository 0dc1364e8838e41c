"""Builds audit log lines in the API server's format (audit.k8s.io/v1 Events, one JSON object a
line, Metadata level), request by request and stage by stage, for the audit log tests.

    log = AuditLogBuilder(start=datetime(2026, 11, 20, 10, tzinfo=UTC))
    log.exec_("shop", "web-1", command=["sh", "-c", "id"], container="web")    # WebSocket get, 101
    log.refused_exec("shop", "web-1", user="mallory")                          # get 403 + create retry 403
    log.noise(100)                                                             # leases, pod reads, watches
    path = log.write(tmp_path / "audit.log")
"""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

KUBECTL = "kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07"
ADMIN = ("kubernetes-admin", ["system:masters", "system:authenticated"])


class AuditLogBuilder:
    def __init__(self, start: datetime = datetime(2026, 11, 20, 10, tzinfo=UTC)) -> None:
        self.clock = start
        self.lines: list[str] = []

    # --- time and ids ----------------------------------------------------------

    def tick(self, delta: timedelta = timedelta(seconds=1)) -> datetime:
        self.clock += delta
        return self.clock

    def audit_id(self) -> str:
        return str(uuid.uuid4())

    # --- requests ----------------------------------------------------------------

    def request(
        self, *, verb: str, uri: str, code: int, user: str = ADMIN[0], groups: list[str] | None = None,
        object_ref: dict[str, str] | None = None, stages: tuple[str, ...] = ("ResponseStarted", "ResponseComplete"),
        impersonate: tuple[str, list[str]] | None = None, source_ip: str = "10.0.4.17", agent: str = KUBECTL,
        at: datetime | None = None, audit_id: str | None = None,
    ) -> str:
        """Log one request, one line per stage; returns its audit id."""
        received = at or self.tick()
        audit_id = audit_id or self.audit_id()
        for index, stage in enumerate(stages):
            event: dict[str, Any] = {
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": audit_id,
                "stage": stage, "requestURI": uri, "verb": verb,
                "user": {"username": user, "groups": groups if groups is not None else ADMIN[1],
                         "extra": {"authentication.kubernetes.io/credential-id": ["X509SHA256=ab12"]}},
            }
            if impersonate is not None:
                event["impersonatedUser"] = {"username": impersonate[0], "groups": impersonate[1]}
            event.update(sourceIPs=[source_ip], userAgent=agent)
            if object_ref is not None:
                event["objectRef"] = {**object_ref, "apiVersion": "v1"}
            if stage != "RequestReceived":
                status: dict[str, Any] = {"metadata": {}, "code": code}
                if code >= 400:
                    status.update(status="Failure", reason="Forbidden" if code == 403 else "BadRequest",
                                  message="refused")
                event["responseStatus"] = status
            event["requestReceivedTimestamp"] = _stamp(received)
            event["stageTimestamp"] = _stamp(received + timedelta(milliseconds=2 * index + 1))
            event["annotations"] = {"authorization.k8s.io/decision": "forbid" if code == 403 else "allow",
                                    "authorization.k8s.io/reason": ""}
            self.lines.append(json.dumps(event))
        return audit_id

    def pod_stream(
        self, subresource: str, namespace: str, pod: str, *, container: str | None = None,
        command: list[str] = (), verb: str = "get", code: int = 101, **options: Any,
    ) -> str:
        """exec, attach or portforward on a pod, as kubectl asks for it."""
        params = [f"command={quote(arg, safe='')}" for arg in command]
        if container is not None:
            params.append(f"container={quote(container, safe='')}")
        if subresource != "portforward":
            params += ["stderr=true", "stdout=true"]
        uri = f"/api/v1/namespaces/{namespace}/pods/{pod}/{subresource}" + (f"?{'&'.join(params)}" if params else "")
        ref = {"resource": "pods", "namespace": namespace, "name": pod, "subresource": subresource}
        return self.request(verb=verb, uri=uri, code=code, object_ref=ref, **options)

    def exec_(self, namespace: str, pod: str, **options: Any) -> str:
        return self.pod_stream("exec", namespace, pod, **options)

    def refused_exec(self, namespace: str, pod: str, *, user: str, **options: Any) -> None:
        """kubectl ≥ 1.30 refused: the WebSocket get, then at once its SPDY create retry."""
        groups = options.pop("groups", ["system:authenticated"])
        self.exec_(namespace, pod, user=user, groups=groups, code=403, **options)
        self.exec_(namespace, pod, user=user, groups=groups, code=403, verb="create",
                   at=self.tick(timedelta(milliseconds=5)), **options)

    def debug(self, namespace: str, pod: str, *, code: int = 200, **options: Any) -> str:
        """`kubectl debug`: a patch of the pod's ephemeralcontainers."""
        return self.request(verb="patch", uri=f"/api/v1/namespaces/{namespace}/pods/{pod}/ephemeralcontainers",
                            code=code, stages=("ResponseComplete",),
                            object_ref={"resource": "pods", "namespace": namespace, "name": pod,
                                        "subresource": "ephemeralcontainers"}, **options)

    def kubelet(self, node: str, endpoint: str, rest: str, *, query: str = "", verb: str = "get", code: int = 101,
                **options: Any) -> str:
        """A request through nodes/proxy to the kubelet: `/proxy/<endpoint>/<rest>`."""
        uri = f"/api/v1/nodes/{node}/proxy/{endpoint}/{rest}" + (f"?{query}" if query else "")
        return self.request(verb=verb, uri=uri, code=code,
                            object_ref={"resource": "nodes", "name": node, "subresource": "proxy"}, **options)

    def noise(self, count: int) -> None:
        """Ordinary traffic: lease renewals, kubelets reading pods, watches, pod logs, version checks."""
        for index in range(count):
            kind = index % 5
            if kind == 0:
                lease = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler"
                self.request(verb="update", uri=lease, code=200, user="system:kube-scheduler",
                             groups=["system:authenticated"],
                             stages=("ResponseComplete",),
                             object_ref={"resource": "leases", "namespace": "kube-system", "name": "kube-scheduler"})
            elif kind == 1:
                self.request(verb="get", uri=f"/api/v1/namespaces/shop/pods/web-{index}", code=200,
                             user="system:node:node-1", groups=["system:nodes", "system:authenticated"],
                             stages=("ResponseComplete",),
                             object_ref={"resource": "pods", "namespace": "shop", "name": f"web-{index}"})
            elif kind == 2:
                self.request(verb="watch", uri="/api/v1/configmaps?allowWatchBookmarks=true&watch=true", code=200,
                             stages=("ResponseStarted",), object_ref={"resource": "configmaps"})
            elif kind == 3:
                self.request(verb="get", uri=f"/api/v1/namespaces/shop/pods/web-{index}/log?container=web", code=200,
                             stages=("ResponseComplete",),
                             object_ref={"resource": "pods", "namespace": "shop", "name": f"web-{index}",
                                         "subresource": "log"})
            else:
                self.request(verb="get", uri="/version?timeout=32s", code=200, stages=("ResponseComplete",))

    # --- output --------------------------------------------------------------------

    def raw(self, line: str) -> None:
        """A line as it is, damaged or not."""
        self.lines.append(line)

    def data(self) -> bytes:
        return "".join(line + "\n" for line in self.lines).encode()

    def write(self, path: Path, *, compress: bool = False) -> Path:
        path.write_bytes(gzip.compress(self.data()) if compress else self.data())
        return path


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
