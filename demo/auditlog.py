"""An API server audit log for the demo cluster, so the dashboard has exec evidence to show.

`write_demo_audit_log(objects, directory, now=…)` writes what a kube-apiserver
with a Metadata-level policy would have logged over the last three weeks, as
audit.k8s.io/v1 Events, one JSON object a line: a rotated, gzipped backup
(`audit-<rotation time>.log.gz`) and the live `audit.log`. Most lines are the
ordinary traffic of a cluster (leases, kubelets reading pods, watches, events);
among them, each kind of exec evidence kubeward reports:

- a payments engineer opening shells in the PCI `card-vault` pods (sensitive, production);
- the GitLab runner's service account running migrations through exec;
- Prometheus's account running a command through the kubelet (nodes/proxy);
- an outsider refused exec again and again (each refusal a WebSocket `get`, then kubectl's
  SPDY `create` retry: one session, two requests);
- the support lead impersonating the card-vault service account, and a former team member
  whose binding is gone, both opening sessions RBAC does not allow;
- an on-call engineer adding a debug container (`kubectl debug`) and attaching to it;
- a port-forward to a database.

Times are measured back from `now`; everything else comes from `random.Random(seed)`.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

_KUBECTL = "kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07"
_AUTHENTICATED = "system:authenticated"
_PEOPLE_IPS = ("10.20.4.17", "10.20.4.18", "10.20.4.31", "10.20.5.9")


@dataclass(frozen=True)
class _Target:
    namespace: str
    pod: str
    container: str
    node: str


class _Log:
    """Events in the making: every request as the API server logs it, stage by stage."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.lines: list[tuple[datetime, str]] = []

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def request(
        self, when: datetime, *, verb: str, uri: str, user: str, groups: list[str], code: int,
        object_ref: dict[str, str] | None = None, stages: tuple[str, ...] = ("ResponseComplete",),
        impersonate: tuple[str, list[str]] | None = None, source: str = "10.20.4.17", agent: str = _KUBECTL,
        lasting: timedelta = timedelta(milliseconds=4),
    ) -> None:
        audit_id = self.uid()
        forbid = code == 403
        for index, stage in enumerate(stages):
            stamp = when + (lasting if stage == "ResponseComplete" else timedelta(milliseconds=index))
            event: dict[str, Any] = {
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": audit_id,
                "stage": stage, "requestURI": uri, "verb": verb, "user": {"username": user, "groups": groups},
            }
            if impersonate is not None:
                event["impersonatedUser"] = {"username": impersonate[0], "groups": impersonate[1]}
            event["sourceIPs"] = [source]
            event["userAgent"] = agent
            if object_ref is not None:
                event["objectRef"] = {**object_ref, "apiVersion": "v1"}
            if stage != "RequestReceived":
                status: dict[str, Any] = {"metadata": {}, "code": code}
                if code >= 400:
                    status.update(status="Failure", reason="Forbidden" if forbid else "InternalError")
                event["responseStatus"] = status
            event["requestReceivedTimestamp"] = _stamp(when)
            event["stageTimestamp"] = _stamp(stamp)
            event["annotations"] = {"authorization.k8s.io/decision": "forbid" if forbid else "allow",
                                    "authorization.k8s.io/reason": ""}
            self.lines.append((stamp, json.dumps(event, separators=(",", ":"))))

    def stream(self, when: datetime, target: _Target, subresource: str, *, user: str, groups: list[str],
               code: int = 101, command: tuple[str, ...] = (), verb: str = "get", **extra: Any) -> None:
        """An exec, attach or port-forward, logged as the API server logs a stream: started, then complete."""
        query = "&".join([*(f"command={quote(arg, safe='')}" for arg in command),
                          *([f"container={target.container}"] if subresource != "portforward" else []),
                          *(["stderr=true", "stdin=true", "stdout=true", "tty=true"]
                            if subresource != "portforward" else [])])
        uri = f"/api/v1/namespaces/{target.namespace}/pods/{target.pod}/{subresource}" + (f"?{query}" if query else "")
        ref = {"resource": "pods", "namespace": target.namespace, "name": target.pod, "subresource": subresource}
        stages = ("ResponseStarted", "ResponseComplete") if code == 101 else ("ResponseComplete",)
        lasting = timedelta(minutes=self.rng.uniform(0.5, 25)) if code == 101 else timedelta(milliseconds=5)
        self.request(when, verb=verb, uri=uri, user=user, groups=groups, code=code, object_ref=ref, stages=stages,
                     lasting=lasting, **extra)

    def refused_exec(self, when: datetime, target: _Target, *, user: str, groups: list[str], **extra: Any) -> None:
        """kubectl ≥ 1.30: a WebSocket get, refused, then at once the SPDY create retry, refused too."""
        self.stream(when, target, "exec", user=user, groups=groups, code=403, command=("sh",), **extra)
        self.stream(when + timedelta(milliseconds=6), target, "exec", user=user, groups=groups, code=403,
                    command=("sh",), verb="create", **extra)

    def write(self, path: Path, *, since: datetime | None = None, until: datetime | None = None,
              compress: bool = False) -> Path:
        chosen = sorted((t, line) for t, line in self.lines
                        if (since is None or t >= since) and (until is None or t < until))
        data = "".join(line + "\n" for _, line in chosen).encode()
        path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
        return path


def write_demo_audit_log(objects: list[dict[str, Any]], directory: Path, *, now: datetime, seed: int = 7) -> Path:
    """Write the demo cluster's audit log into `directory` (created); returns the directory."""
    rng = random.Random(seed)
    log = _Log(rng, now)
    pods = _pods(objects)
    nodes = sorted({t.node for t in pods.values() if t.node}) or ["node-1"]
    _noise(log, rng, now, pods, nodes)
    _evidence(log, rng, now, pods)
    directory.mkdir(parents=True, exist_ok=True)
    rotated = now - timedelta(days=7)
    name = f"audit-{rotated:%Y-%m-%dT%H-%M-%S}.{rotated.microsecond // 1000:03d}.log.gz"
    log.write(directory / name, until=rotated, compress=True)
    log.write(directory / "audit.log", since=rotated)
    return directory


def _pods(objects: list[dict[str, Any]]) -> dict[tuple[str, str], _Target]:
    out = {}
    for obj in objects:
        if obj.get("kind") != "Pod":
            continue
        meta, spec = obj["metadata"], obj.get("spec", {})
        containers = spec.get("containers") or [{"name": ""}]
        out[(meta["namespace"], meta["name"])] = _Target(meta["namespace"], meta["name"], containers[0]["name"],
                                                         spec.get("nodeName", ""))
    return out


def _pick(pods: dict[tuple[str, str], _Target], namespace: str, prefix: str = "") -> list[_Target]:
    found = [t for (ns, name), t in sorted(pods.items()) if ns == namespace and name.startswith(prefix)]
    return found or [_Target(namespace, f"{prefix or 'app'}-0", "app", "node-1")]


def _noise(log: _Log, rng: random.Random, now: datetime, pods: dict[tuple[str, str], _Target],
           nodes: list[str]) -> None:
    """The traffic every cluster logs: leader-election leases, kubelets, controllers, people reading."""
    targets = list(pods.values())
    start = now - timedelta(days=21)
    minutes = 21 * 24 * 60
    for step in range(0, minutes, 7):
        when = start + timedelta(minutes=step, seconds=rng.uniform(0, 400))
        for component in ("kube-controller-manager", "kube-scheduler"):
            log.request(when, verb="update", user=f"system:{component}", groups=[_AUTHENTICATED],
                        uri=f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{component}",
                        code=200, source="10.20.0.10", agent=f"{component}/v1.36.0 (linux/amd64) leader-election",
                        object_ref={"resource": "leases", "namespace": "kube-system", "name": component})
        node = rng.choice(nodes)
        target = rng.choice(targets)
        log.request(when, verb="get", user=f"system:node:{node}", groups=["system:nodes", _AUTHENTICATED],
                    uri=f"/api/v1/namespaces/{target.namespace}/pods/{target.pod}", code=200,
                    source="10.20.1.5", agent="kubelet/v1.36.0 (linux/amd64) kubernetes/0e5a8f3",
                    object_ref={"resource": "pods", "namespace": target.namespace, "name": target.pod})
        log.request(when, verb="create", user="system:serviceaccount:kube-system:replicaset-controller",
                    groups=["system:serviceaccounts", _AUTHENTICATED],
                    uri=f"/api/v1/namespaces/{target.namespace}/events", code=201, source="10.20.0.10",
                    agent="kube-controller-manager/v1.36.0 (linux/amd64) kubernetes/0e5a8f3",
                    object_ref={"resource": "events", "namespace": target.namespace})
        if step % 49 == 0:
            person = rng.choice(("alice", "bob", "chen", "priya"))
            log.request(when, verb="get", user=f"{person}@example.com", groups=[_AUTHENTICATED],
                        uri=f"/api/v1/namespaces/{target.namespace}/pods/{target.pod}/log?container={target.container}",
                        code=200, source=rng.choice(_PEOPLE_IPS),
                        object_ref={"resource": "pods", "namespace": target.namespace, "name": target.pod,
                                    "subresource": "log"})


def _evidence(log: _Log, rng: random.Random, now: datetime, pods: dict[tuple[str, str], _Target]) -> None:
    def ago(days: float) -> datetime:
        return now - timedelta(days=days, seconds=rng.uniform(0, 3600))

    vault = _pick(pods, "payments", "card-vault")
    engineer = ("priya@example.com", ["team-payments", _AUTHENTICATED])
    for days, command in ((18, ("bash",)), (9, ("cat", "/etc/card-vault/config.yaml")), (2, ("sh", "-c", "env"))):
        log.stream(ago(days), vault[0], "exec", user=engineer[0], groups=engineer[1], command=command,
                   source=_PEOPLE_IPS[0])

    runner = ("system:serviceaccount:ci:gitlab-runner",
              ["system:serviceaccounts", "system:serviceaccounts:ci", _AUTHENTICATED])
    for index, target in enumerate(_pick(pods, "checkout", "checkout-api")[:3]):
        for days in (15 - index, 6 - index):
            log.stream(ago(days), target, "exec", user=runner[0], groups=runner[1], verb="create", source="10.42.3.17",
                       command=("/bin/sh", "-c", "bundle exec rake db:migrate"),
                       agent="gitlab-runner 17.4.0 (17-4-stable; go1.22.7; linux/amd64)")

    target = _pick(pods, "search", "search-api")[0]
    uri = (f"/api/v1/nodes/{target.node}/proxy/exec/{target.namespace}/{target.pod}/{target.container}"
           "?command=cat&command=%2Fproc%2F1%2Fenviron&output=1&error=1")
    log.request(ago(4), verb="get", uri=uri, user="system:serviceaccount:monitoring:prometheus",
                groups=["system:serviceaccounts", "system:serviceaccounts:monitoring", _AUTHENTICATED], code=101,
                object_ref={"resource": "nodes", "name": target.node, "subresource": "proxy"},
                stages=("ResponseStarted", "ResponseComplete"), source="10.42.1.9",
                agent="Go-http-client/1.1")

    for days, target in zip((12, 11.9, 11.8, 3), _pick(pods, "payments")[:4], strict=False):
        log.refused_exec(ago(days), target, user="mallory@example.com", groups=[_AUTHENTICATED],
                         source="203.0.113.50")

    log.stream(ago(5), vault[-1], "attach", user="support-lead@example.com", groups=[_AUTHENTICATED],
               impersonate=("system:serviceaccount:payments:card-vault",
                            ["system:serviceaccounts", "system:serviceaccounts:payments", _AUTHENTICATED]),
               source=_PEOPLE_IPS[2])
    log.stream(ago(16), _pick(pods, "search", "search-web")[0], "exec", user="oskar@example.com",
               groups=[_AUTHENTICATED], command=("bash",), source=_PEOPLE_IPS[3])

    web = _pick(pods, "checkout", "checkout-web")[0]
    oncall = ("dana@example.com", ["sre", "team-checkout", _AUTHENTICATED])
    when = ago(1)
    log.request(when, verb="patch", uri=f"/api/v1/namespaces/{web.namespace}/pods/{web.pod}/ephemeralcontainers",
                user=oncall[0], groups=oncall[1], code=200, source=_PEOPLE_IPS[1],
                object_ref={"resource": "pods", "namespace": web.namespace, "name": web.pod,
                            "subresource": "ephemeralcontainers"})
    debugger = _Target(web.namespace, web.pod, "debugger-x7k2p", web.node)
    log.stream(when + timedelta(seconds=3), debugger, "attach", user=oncall[0], groups=oncall[1],
               source=_PEOPLE_IPS[1])

    database = _pick(pods, "catalog", "catalog-db")[0]
    log.stream(ago(7.5), database, "portforward", user="alice@example.com", groups=["team-catalog", _AUTHENTICATED],
               source=_PEOPLE_IPS[0])


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
