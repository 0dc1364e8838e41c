"""A deterministic, realistic demo cluster: every object as Kubernetes JSON.

`build_cluster(pods=N, seed=S)` lays out a self-managed (kubeadm-style)
cluster of `max(4, N // 20)` nodes: kube-system with Calico, kube-proxy,
CoreDNS, metrics-server and a CSI node plugin; ingress-nginx; Prometheus and
node-exporter; a GitLab runner; security tooling; and a growing set of team
namespaces with web Deployments (Deployment → ReplicaSet → Pod), databases
(StatefulSet + headless Service), batch CronJobs (CronJob → Job → Pod),
Services, PodDisruptionBudgets, NetworkPolicies and RBAC.

Most of it is sane (restricted Pod Security, non-root, read-only root
filesystems, dropped capabilities, RuntimeDefault seccomp, probes, rolling
updates). A catalogue of deliberately risky objects is planted among it, one
or more in every category kubeward checks; `DemoCluster.planted` names each
one, so tests can assert that kubeward finds exactly those.

The output depends only on `pods` and `seed`: every uid, digest, IP address
and timestamp comes from `random.Random(seed)` or from hashing, and every time
is measured back from the fixed instant `NOW`, never from the clock.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import msgspec

from audit.findings import Category
from audit.model import ObjectRef

NOW = datetime(2026, 9, 1, tzinfo=UTC)
"""The instant the demo cluster is observed at; every timestamp lies before it."""

KUBERNETES_VERSION = "v1.35.2"
"""What the control plane and the up-to-date nodes run."""

MIN_PODS = 50
"""Below this the fixed parts (system DaemonSets, planted risks) do not fit."""

Obj = dict[str, Any]
"""One Kubernetes object as decoded JSON."""

# --- public interface ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlantedRisk:
    """One deliberately risky thing in the demo cluster, and where it is."""

    category: Category
    key: str
    """Stable kebab-case name of the risk, e.g. `runtime-socket-containerd`."""
    target: ObjectRef
    """The object that carries it (a workload, a standalone pod, a node, an RBAC object …)."""
    detail: str
    """What exactly is wrong, naming the field."""


@dataclass(frozen=True)
class DemoCluster:
    """The generated objects, and the catalogue of risks planted among them."""

    objects: list[Obj]
    planted: tuple[PlantedRisk, ...]

    def of_kind(self, kind: str) -> list[Obj]:
        """Every object of one kind, in generation order."""
        return self._by_kind.get(kind, [])

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        """One object by kind, name and (for namespaced kinds) namespace; KeyError if absent."""
        return self._index[(kind, namespace, name)]

    def planted_for(self, key: str) -> list[PlantedRisk]:
        """Every planted risk with this key (most keys have one target, some several)."""
        return [risk for risk in self.planted if risk.key == key]

    def counts(self) -> dict[str, int]:
        """How many objects of each kind."""
        return {kind: len(objects) for kind, objects in self._by_kind.items()}

    @cached_property
    def _by_kind(self) -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = {}
        for obj in self.objects:
            out.setdefault(obj["kind"], []).append(obj)
        return out

    @cached_property
    def _index(self) -> dict[tuple[str, str | None, str], Obj]:
        return {
            (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]): obj
            for obj in self.objects
        }


def build_cluster(*, pods: int = 400, seed: int = 7) -> DemoCluster:
    """A demo cluster with exactly `pods` Pod objects, the same for the same arguments."""
    if pods < MIN_PODS:
        raise ValueError(f"a demo cluster needs at least {MIN_PODS} pods, not {pods}")
    # Millions of small acyclic dicts: the cyclic garbage collector would scan them
    # over and over for nothing and make the build three to four times slower.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _ClusterBuilder(pods=pods, seed=seed).build()
    finally:
        if collecting:
            gc.enable()


def generate_cluster(*, pods: int = 400, seed: int = 7) -> list[dict]:
    """Every object of a demo cluster as Kubernetes JSON (dicts with apiVersion, kind, metadata...)."""
    return build_cluster(pods=pods, seed=seed).objects


# --- fixed data --------------------------------------------------------------

_TEAMS = (
    "payments", "checkout", "search", "catalog", "accounts", "orders", "shipping",
    "inventory", "pricing", "recommendations", "notifications", "billing", "fraud",
    "identity", "media", "reviews", "loyalty", "support", "analytics", "marketing",
    "returns", "tax", "warehouse", "partners",
)  # fmt: skip
"""Team namespaces, in the order a growing cluster gains them (the first three carry planted risks)."""

_ENVIRONMENTS = ("", "-staging", "-dev", "-qa", "-perf", "-canary", "-eu", "-us", "-apac")
"""Suffixes that give big clusters more namespaces per team."""

_ROLES = (
    "api", "web", "worker", "gateway", "consumer", "scheduler", "notifier", "admin",
    "graphql", "events", "cache-warmer", "reporter", "sync", "webhooks", "exporter",
)  # fmt: skip
"""Application roles inside a team namespace; the first few serve HTTP."""

_SERVING_ROLES = frozenset({"api", "web", "gateway", "admin", "graphql", "webhooks"})

_PEOPLE = (
    "alice", "bob", "chen", "dana", "emeka", "fatima", "goran", "hana", "ines", "jonas",
    "kofi", "lena", "mateo", "nadia", "oskar", "priya", "quentin", "rosa", "sven", "tariq",
    "uma", "victor", "wen", "ximena", "yusuf", "zoe",
)  # fmt: skip

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The characters Kubernetes uses for generated name suffixes."""


@dataclass(frozen=True, slots=True)
class _NodeProfile:
    """What a node reports in status.nodeInfo."""

    os_image: str
    kernel: str
    runtime: str
    kubelet: str
    architecture: str = "amd64"
    pool: str = "general"


_CURRENT = _NodeProfile(
    "Debian GNU/Linux 12 (bookworm)", "6.1.0-28-cloud-amd64", "containerd://2.3.1", KUBERNETES_VERSION
)
_CURRENT_ARM = _NodeProfile(
    "Debian GNU/Linux 12 (bookworm)", "6.1.0-28-cloud-arm64", "containerd://2.3.1", KUBERNETES_VERSION,
    architecture="arm64",
)
_LAGGING = _NodeProfile(
    "Debian GNU/Linux 12 (bookworm)", "6.1.0-28-cloud-amd64", "containerd://2.3.1", "v1.33.7"
)
_LEGACY_CONTAINERD = _NodeProfile(
    "Ubuntu 20.04.1 LTS", "5.4.0-42-generic", "containerd://1.6.2", "v1.24.17", pool="legacy"
)
_LEGACY_DOCKER = _NodeProfile(
    "Debian GNU/Linux 11 (bullseye)", "5.10.0-8-amd64", "docker://20.10.7", "v1.27.16",
    pool="legacy-docker",
)

_ZONES = ("eu-central-1a", "eu-central-1b", "eu-central-1c")

_CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}

_KATA_LABEL = "katacontainers.io/kata-runtime"

_TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"

_FAKE_CA = (
    "-----BEGIN CERTIFICATE-----\n"
    "RkFLRS1ERU1PLUNBLU5PVC1BLVJFQUwtQ0VSVElGSUNBVEUtRk9SLUtVQkVXQVJE\n"
    "-----END CERTIFICATE-----\n"
)

_PSA = "pod-security.kubernetes.io"


# --- small pure helpers -------------------------------------------------------


def _timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as the API server writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash_name(data: bytes, length: int = 10) -> str:
    """A stable name suffix in the Kubernetes alphabet, derived from content."""
    number = int.from_bytes(hashlib.sha256(data).digest()[:16], "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_SAFE_ALPHABET))
        chars.append(_SAFE_ALPHABET[index])
    return "".join(chars)


def _split_image(image: str) -> tuple[str, str]:
    """`nginx` → (`docker.io/library/nginx`, `latest`): the fully qualified repository and tag."""
    name = image.partition("@")[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    repository, tag = (name[:colon], name[colon + 1 :]) if colon > slash else (name, "latest")
    first = repository.split("/", 1)[0]
    if "/" not in repository:
        repository = f"docker.io/library/{repository}"
    elif not ("." in first or ":" in first or first == "localhost"):
        repository = f"docker.io/{repository}"
    return repository, tag


def _familiar(repository: str) -> str:
    """How Docker shortens a Docker Hub repository (`docker.io/library/nginx` → `nginx`)."""
    return repository.removeprefix("docker.io/library/").removeprefix("docker.io/")


def _default_pull_policy(image: str) -> str:
    """The API server's default: Always for `:latest` or no tag, else IfNotPresent."""
    if "@" in image:
        return "IfNotPresent"
    return "Always" if _split_image(image)[1] == "latest" else "IfNotPresent"


def _split(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` split into `parts` positive random shares (requires total >= parts)."""
    shares = [1] * parts
    weights = [rng.uniform(0.5, 3.0) for _ in range(parts)]
    for index in rng.choices(range(parts), weights=weights, k=total - parts):
        shares[index] += 1
    return shares


def _team_names(count: int) -> list[str]:
    """The first `count` team namespaces: every team, then every team again per environment."""
    names: list[str] = []
    for round_ in range(count // len(_TEAMS) + 1):
        suffix = _ENVIRONMENTS[round_] if round_ < len(_ENVIRONMENTS) else f"-{round_}"
        names.extend(team + suffix for team in _TEAMS)
    return names[:count]


# --- Kubernetes fragments ------------------------------------------------------


def _rule(verbs: Iterable[str], groups: Iterable[str], resources: Iterable[str], names: Sequence[str] = ()) -> Obj:
    rule: Obj = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        rule["resourceNames"] = list(names)
    return rule


def _url_rule(verbs: Iterable[str], urls: Iterable[str]) -> Obj:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def _user(name: str) -> Obj:
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def _group(name: str) -> Obj:
    return {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def _service_account_subject(namespace: str, name: str) -> Obj:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


_READ = ("get", "list", "watch")
_WRITE = ("create", "delete", "deletecollection", "patch", "update")
_ALL = (*_READ, *_WRITE)

_AGGREGATE_TO_VIEW = [
    _rule(_READ, [""], ["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status",
                        "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                        "services", "services/status"]),
    _rule(_READ, [""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
                        "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"]),
    _rule(_READ, [""], ["namespaces"]),
    _rule(_READ, ["discovery.k8s.io"], ["endpointslices"]),
    _rule(_READ, ["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
                            "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
                            "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"]),
    _rule(_READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
    _rule(_READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
    _rule(_READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
    _rule(_READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
]  # fmt: skip
_AGGREGATE_TO_EDIT = [
    _rule(_WRITE, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
    _rule(["create"], [""], ["pods/eviction"]),
    _rule(_ALL, [""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                       "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
                       "services/proxy"]),
    _rule(["create"], [""], ["serviceaccounts/token"]),
    _rule(_ALL, ["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
                           "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"]),
    _rule(_ALL, ["autoscaling"], ["horizontalpodautoscalers"]),
    _rule(_ALL, ["batch"], ["cronjobs", "jobs"]),
    _rule(_ALL, ["policy"], ["poddisruptionbudgets"]),
    _rule(_ALL, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
    _rule(["impersonate"], [""], ["serviceaccounts"]),
    _rule(_READ, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                        "services/proxy"]),
]  # fmt: skip
_AGGREGATE_TO_ADMIN = [
    _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
    _rule(_ALL, ["rbac.authorization.k8s.io"], ["rolebindings", "roles"]),
]
_METRICS_READER = [_rule(_READ, ["metrics.k8s.io"], ["pods", "nodes"])]


# --- containers and pod specs ---------------------------------------------------


def _port(name: str, number: int, *, host_port: int | None = None) -> Obj:
    port: Obj = {"name": name, "containerPort": number, "protocol": "TCP"}
    if host_port is not None:
        port["hostPort"] = host_port
    return port


def _http_probe(path: str, port: int | str, *, delay: int = 0, period: int = 10) -> Obj:
    probe: Obj = {"httpGet": {"path": path, "port": port, "scheme": "HTTP"}}
    if delay:
        probe["initialDelaySeconds"] = delay
    probe.update(timeoutSeconds=1, periodSeconds=period, successThreshold=1, failureThreshold=3)
    return probe


def _tcp_probe(port: int | str, *, delay: int = 0) -> Obj:
    probe: Obj = {"tcpSocket": {"port": port}}
    if delay:
        probe["initialDelaySeconds"] = delay
    probe.update(timeoutSeconds=1, periodSeconds=10, successThreshold=1, failureThreshold=3)
    return probe


def _resources(cpu: str, memory: str, *, memory_limit: str | None = None, cpu_limit: str | None = None) -> Obj:
    limits = {key: value for key, value in (("cpu", cpu_limit), ("memory", memory_limit)) if value}
    out: Obj = {"limits": limits} if limits else {}
    out["requests"] = {"cpu": cpu, "memory": memory}
    return out


def _hardened() -> Obj:
    """The container securityContext every sane workload here uses."""
    return {
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
    }


def _restricted_pod(uid: int = 10001) -> Obj:
    """A pod securityContext that passes the `restricted` Pod Security Standard."""
    return {
        "runAsUser": uid,
        "runAsGroup": uid,
        "runAsNonRoot": True,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _mount(name: str, path: str, *, read_only: bool = False, propagation: str | None = None) -> Obj:
    mount: Obj = {"name": name}
    if read_only:
        mount["readOnly"] = True
    mount["mountPath"] = path
    if propagation:
        mount["mountPropagation"] = propagation
    return mount


def _host_path(name: str, path: str, kind: str = "") -> Obj:
    return {"name": name, "hostPath": {"path": path, "type": kind}}


def _empty_dir(name: str) -> Obj:
    return {"name": name, "emptyDir": {}}


def _config_volume(name: str, config_map: str) -> Obj:
    return {"name": name, "configMap": {"name": config_map, "defaultMode": 420}}


def _container(
    name: str,
    image: str,
    *,
    command: Sequence[str] = (),
    args: Sequence[str] = (),
    ports: Sequence[Obj] = (),
    env: Sequence[Obj] = (),
    env_from: Sequence[Obj] = (),
    resources: Obj | None = None,
    mounts: Sequence[Obj] = (),
    liveness: Obj | None = None,
    readiness: Obj | None = None,
    startup: Obj | None = None,
    pull_policy: str | None = None,
    security: Obj | None = None,
    **fields: Any,
) -> Obj:
    """A container as the API server returns it (defaulted fields included, keys in its order)."""
    container: Obj = {"name": name, "image": image}
    if command:
        container["command"] = list(command)
    if args:
        container["args"] = list(args)
    if ports:
        container["ports"] = list(ports)
    if env_from:
        container["envFrom"] = list(env_from)
    if env:
        container["env"] = list(env)
    container["resources"] = resources or {}
    if mounts:
        container["volumeMounts"] = list(mounts)
    for key, probe in (("livenessProbe", liveness), ("readinessProbe", readiness), ("startupProbe", startup)):
        if probe:
            container[key] = probe
    container["terminationMessagePath"] = "/dev/termination-log"
    container["terminationMessagePolicy"] = "File"
    container["imagePullPolicy"] = pull_policy or _default_pull_policy(image)
    if security is not None:
        container["securityContext"] = security
    container.update(fields)
    return container


def _env(name: str, value: str) -> Obj:
    return {"name": name, "value": value}


def _env_from_secret(name: str, secret: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _env_from_config_map(name: str, config_map: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"configMapKeyRef": {"name": config_map, "key": key}}}


def _env_from_field(name: str, path: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def _pod_spec(
    containers: Sequence[Obj],
    *,
    service_account: str | None = None,
    automount: bool | None = None,
    security: Obj | None = None,
    volumes: Sequence[Obj] = (),
    init: Sequence[Obj] = (),
    restart: str = "Always",
    grace: int = 30,
    **fields: Any,
) -> Obj:
    """A pod spec as the API server returns it; extra camelCase fields go in as given."""
    spec: Obj = {}
    if volumes:
        spec["volumes"] = list(volumes)
    if init:
        spec["initContainers"] = list(init)
    spec["containers"] = list(containers)
    spec["restartPolicy"] = restart
    spec["terminationGracePeriodSeconds"] = grace
    spec["dnsPolicy"] = "ClusterFirstWithHostNet" if fields.get("hostNetwork") else "ClusterFirst"
    if service_account:
        spec["serviceAccountName"] = service_account
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    spec.update(fields)
    spec["securityContext"] = security if security is not None else {}
    spec["schedulerName"] = "default-scheduler"
    return spec


def _template(labels: dict[str, str], spec: Obj, annotations: dict[str, str] | None = None) -> Obj:
    """A PodTemplateSpec as a workload carries it."""
    metadata: Obj = {"creationTimestamp": None, "labels": dict(labels)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"metadata": metadata, "spec": spec}


def _qos_class(spec: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    requests = [c.get("resources", {}).get("requests", {}) for c in spec["containers"]]
    limits = [c.get("resources", {}).get("limits", {}) for c in spec["containers"]]
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(
        limit.get("cpu") and limit.get("memory") and request in ({}, limit)
        for request, limit in zip(requests, limits, strict=True)
    )
    return "Guaranteed" if guaranteed else "Burstable"


# --- the builder -------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    """A node while the cluster is being laid out: identity, addresses and the next free pod IP."""

    name: str
    uid: str
    ip: str
    pod_prefix: str
    labels: dict[str, str]
    profile: _NodeProfile
    control_plane: bool
    next_host: int = 2

    @property
    def runtime(self) -> str:
        return self.profile.runtime.partition(":")[0]

    def allocate_pod_ip(self) -> str:
        ip = f"{self.pod_prefix}.{self.next_host}"
        self.next_host += 1
        return ip


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A pod template encoded once, so that each replica costs one decode."""

    labels: dict[str, str]
    annotations: dict[str, str]
    blob: bytes
    node_selector: tuple[tuple[str, str], ...]


class _ClusterBuilder:
    """Lays out one demo cluster, appending each object to `objects` as it is made."""

    def __init__(self, *, pods: int, seed: int) -> None:
        self.target_pods = pods
        self.seed = seed
        self.rng = random.Random(seed)
        self.objects: list[Obj] = []
        self.planted: list[PlantedRisk] = []
        self.nodes: list[_Node] = []
        self.pod_count = 0
        self._automount: dict[tuple[str, str], bool] = {}
        self._runtime_selectors: dict[str, dict[str, str]] = {}
        self._placement: dict[tuple[tuple[str, str], ...], list[_Node]] = {}
        self._service_ips: set[str] = set()
        self._node_ports: set[int] = set()
        self._digests: dict[tuple[str, int], str] = {}

    # -- the whole cluster, section by section

    def build(self) -> DemoCluster:
        self.add_nodes()
        self.add_runtime_classes()
        self.add_builtin_rbac()
        self.add_kube_system()
        self.add_default_namespaces()
        self.add_ingress_nginx()
        self.add_monitoring()
        self.add_security_tooling()
        self.add_ci()
        teams = self.add_team_namespaces()
        self.add_payments()
        self.add_checkout()
        self.add_search()
        self.add_playground()
        self.add_team_apps(teams)
        assert self.pod_count == self.target_pods, (self.pod_count, self.target_pods)
        return DemoCluster(objects=self.objects, planted=tuple(self.planted))

    # -- randomness

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def suffix(self, length: int = 5) -> str:
        return "".join(self.rng.choices(_SAFE_ALPHABET, k=length))

    def hex64(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def days_ago(self, low: float, high: float) -> datetime:
        return NOW - timedelta(seconds=int(self.rng.uniform(low, high) * 86400))

    def image_digest(self, image: str, generation: int = 0) -> str:
        """The digest an image reference resolves to; a new generation is a re-pushed tag."""
        repository, tag = _split_image(image)
        key = (f"{repository}:{tag}", generation)
        if key not in self._digests:
            data = f"kubeward-demo/{self.seed}/{key[0]}/{generation}".encode()
            self._digests[key] = hashlib.sha256(data).hexdigest()
        return self._digests[key]

    def pinned(self, image: str) -> str:
        """`image@sha256:…`, pinned to the digest it resolves to."""
        return f"{image}@sha256:{self.image_digest(image)}"

    # -- objects

    def new(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        created: datetime,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        owner: Obj | None = None,
        generate_name: str | None = None,
    ) -> Obj:
        """Start an object (apiVersion, kind, metadata) and add it to the cluster."""
        metadata: Obj = {"name": name}
        if generate_name:
            metadata["generateName"] = generate_name
        if namespace is not None:
            metadata["namespace"] = namespace
        metadata["uid"] = self.uid()
        metadata["creationTimestamp"] = _timestamp(created)
        if labels:
            metadata["labels"] = dict(labels)
        if annotations:
            metadata["annotations"] = dict(annotations)
        if owner is not None:
            metadata["ownerReferences"] = [_owner_reference(owner)]
        obj = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
        self.objects.append(obj)
        return obj

    def plant(self, category: Category, key: str, obj: Obj, detail: str) -> None:
        meta = obj["metadata"]
        target = ObjectRef(kind=obj["kind"], name=meta["name"], namespace=meta.get("namespace"))
        self.planted.append(PlantedRisk(category=category, key=key, target=target, detail=detail))

    def namespace(
        self, name: str, *, enforce: str | None = None, labels: dict[str, str] | None = None
    ) -> Obj:
        """A namespace with its `default` service account and root CA ConfigMap, as the API makes them."""
        all_labels = {"kubernetes.io/metadata.name": name, **(labels or {})}
        if enforce:
            all_labels.update({
                f"{_PSA}/enforce": enforce,
                f"{_PSA}/enforce-version": "latest",
                f"{_PSA}/warn": "restricted",
                f"{_PSA}/audit": "restricted",
            })
        created = self.days_ago(200, 600)
        namespace = self.new("v1", "Namespace", name, created=created, labels=all_labels)
        namespace["spec"] = {"finalizers": ["kubernetes"]}
        namespace["status"] = {"phase": "Active"}
        self.service_account(name, "default")
        self.config_map(name, "kube-root-ca.crt", {"ca.crt": _FAKE_CA})
        return namespace

    def service_account(self, namespace: str, name: str, *, automount: bool | None = None) -> Obj:
        account = self.new("v1", "ServiceAccount", name, namespace, created=self.days_ago(100, 200))
        if automount is not None:
            account["automountServiceAccountToken"] = automount
            self._automount[(namespace, name)] = automount
        return account

    def config_map(self, namespace: str, name: str, data: dict[str, str]) -> Obj:
        config_map = self.new("v1", "ConfigMap", name, namespace, created=self.days_ago(30, 200))
        config_map["data"] = dict(data)
        return config_map

    def secret(self, namespace: str, name: str, data: dict[str, str], kind: str = "Opaque") -> Obj:
        """A Secret with obviously fake values (kubeward must never read it)."""
        secret = self.new("v1", "Secret", name, namespace, created=self.days_ago(30, 200))
        secret["data"] = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
        secret["type"] = kind
        return secret

    # -- nodes

    def add_nodes(self) -> None:
        """Control-plane nodes, the two legacy nodes, then up-to-date workers."""
        count = max(4, self.target_pods // 20)
        control_planes = 1 if count < 10 else 3
        for index in range(control_planes):
            self.node(f"control-plane-{index + 1}", _CURRENT, control_plane=True)
        for index in range(count - control_planes):
            name = f"node-{index + 1:03d}"
            if index == 1:
                self.plant_node_risks(self.node(name, _LEGACY_CONTAINERD))
            elif index == 2:
                self.plant_node_risks(self.node(name, _LEGACY_DOCKER))
            else:
                roll = self.rng.random()
                profile = _CURRENT_ARM if roll < 0.15 else _LAGGING if roll < 0.25 else _CURRENT
                extra = {_KATA_LABEL: "true"} if index == 0 else {}
                self.node(name, profile, labels=extra)

    def node(
        self, name: str, profile: _NodeProfile, *, control_plane: bool = False,
        labels: dict[str, str] | None = None,
    ) -> Obj:
        index = len(self.nodes)
        ip = f"10.0.{index // 200}.{index % 200 + 10}"
        zone = _ZONES[index % len(_ZONES)]
        instance = "m7g.2xlarge" if profile.architecture == "arm64" else "m6i.2xlarge"
        all_labels = {
            "beta.kubernetes.io/arch": profile.architecture,
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": profile.architecture,
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "node-pool": "control-plane" if control_plane else profile.pool,
            "node.kubernetes.io/instance-type": "m6i.xlarge" if control_plane else instance,
            "topology.kubernetes.io/region": "eu-central-1",
            "topology.kubernetes.io/zone": zone,
        }
        if control_plane:
            all_labels["node-role.kubernetes.io/control-plane"] = ""
            all_labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
        all_labels.update(labels or {})
        socket = (
            "unix:///var/run/cri-dockerd.sock" if profile.runtime.startswith("docker")
            else "unix:///var/run/containerd/containerd.sock"
        )
        created = self.days_ago(500, 700) if control_plane or profile.pool != "general" else self.days_ago(1, 180)
        obj = self.new(
            "v1", "Node", name, created=created, labels=all_labels,
            annotations={
                "kubeadm.alpha.kubernetes.io/cri-socket": socket,
                "node.alpha.kubernetes.io/ttl": "0",
                "projectcalico.org/IPv4Address": f"{ip}/20",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        )
        pod_prefix = f"10.{32 + index // 256}.{index % 256}"
        obj["spec"] = {
            "podCIDR": f"{pod_prefix}.0/24",
            "podCIDRs": [f"{pod_prefix}.0/24"],
            "providerID": f"aws:///{zone}/i-0{self.rng.getrandbits(64):016x}",
        }
        if control_plane:
            obj["spec"]["taints"] = [dict(_CONTROL_PLANE_TAINT)]
        obj["status"] = self.node_status(name, ip, profile, created)
        self.nodes.append(_Node(
            name=name, uid=obj["metadata"]["uid"], ip=ip, pod_prefix=pod_prefix,
            labels=all_labels, profile=profile, control_plane=control_plane,
        ))
        return obj

    def node_status(self, name: str, ip: str, profile: _NodeProfile, created: datetime) -> Obj:
        capacity = {"cpu": "8", "ephemeral-storage": "101430960Ki", "hugepages-1Gi": "0",
                    "hugepages-2Mi": "0", "memory": "32734020Ki", "pods": "110"}
        allocatable = dict(capacity, cpu="7910m", memory="31583044Ki", **{"ephemeral-storage": "93478772582"})
        heartbeat = _timestamp(NOW - timedelta(seconds=self.rng.randint(1, 40)))
        since = _timestamp(created + timedelta(seconds=45))

        def condition(kind: str, status: str, reason: str, message: str) -> Obj:
            return {"type": kind, "status": status, "lastHeartbeatTime": heartbeat,
                    "lastTransitionTime": since, "reason": reason, "message": message}

        return {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [
                {"type": "NetworkUnavailable", "status": "False", "lastHeartbeatTime": since,
                 "lastTransitionTime": since, "reason": "CalicoIsUp", "message": "Calico is running on this node"},
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                          "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": f"{self.rng.getrandbits(128):032x}",
                "systemUUID": self.uid(),
                "bootID": self.uid(),
                "kernelVersion": profile.kernel,
                "osImage": profile.os_image,
                "containerRuntimeVersion": profile.runtime,
                "kubeletVersion": profile.kubelet,
                "kubeProxyVersion": profile.kubelet,
                "operatingSystem": "linux",
                "architecture": profile.architecture,
            },
        }  # fmt: skip

    def plant_node_risks(self, node: Obj) -> None:
        info = node["status"]["nodeInfo"]
        self.plant(Category.NODE, "old-kernel", node, f"status.nodeInfo.kernelVersion = {info['kernelVersion']}")
        self.plant(Category.NODE, "old-container-runtime", node,
                   f"status.nodeInfo.containerRuntimeVersion = {info['containerRuntimeVersion']}"
                   " (bundles a runc older than 1.1.12)")
        self.plant(Category.NODE, "old-kubelet", node, f"status.nodeInfo.kubeletVersion = {info['kubeletVersion']}")
        self.plant(Category.NODE, "os-end-of-life", node, f"status.nodeInfo.osImage = {info['osImage']}")

    def workers(self) -> list[_Node]:
        return [node for node in self.nodes if not node.control_plane]

    def node_named(self, name: str) -> _Node:
        return next(node for node in self.nodes if node.name == name)

    def place(self, selector: tuple[tuple[str, str], ...]) -> _Node:
        """A random worker whose labels match the node selector."""
        if selector not in self._placement:
            self._placement[selector] = [
                node for node in self.workers() if all(node.labels.get(k) == v for k, v in selector)
            ]
        return self.rng.choice(self._placement[selector])

    # -- pods

    def prepare(self, template: Obj, extra_labels: dict[str, str] | None = None) -> _Prepared:
        metadata, spec = template["metadata"], template["spec"]
        selector = dict(spec.get("nodeSelector", {}))
        selector.update(self._runtime_selectors.get(spec.get("runtimeClassName", ""), {}))
        return _Prepared(
            labels={**metadata.get("labels", {}), **(extra_labels or {})},
            annotations=metadata.get("annotations", {}),
            blob=msgspec.json.encode(spec),
            node_selector=tuple(sorted(selector.items())),
        )

    def pod(
        self,
        namespace: str,
        name: str,
        prepared: _Prepared,
        *,
        started: datetime,
        owner: Obj | None = None,
        node: _Node | None = None,
        generate_name: str | None = None,
        completed: bool = False,
    ) -> Obj:
        """One pod from a prepared template, as the scheduler, admission and kubelet leave it."""
        node = node or self.place(prepared.node_selector)
        spec = msgspec.json.decode(prepared.blob)
        self.admit(spec, namespace, mirror=owner is not None and owner["kind"] == "Node")
        spec["nodeName"] = node.name
        pod = self.new(
            "v1", "Pod", name, namespace,
            created=started - timedelta(seconds=self.rng.randint(2, 9)),
            labels=prepared.labels, annotations=prepared.annotations,
            owner=owner, generate_name=generate_name,
        )
        pod["spec"] = spec
        if completed:
            pod["status"] = self.completed_status(spec, node, started)
        else:
            pod["status"] = self.running_status(spec, node, started)
        self.pod_count += 1
        return pod

    def admit(self, spec: Obj, namespace: str, *, mirror: bool) -> None:
        """What admission adds to a pod: service account, its token volume, default tolerations."""
        if mirror:
            return
        account = spec.setdefault("serviceAccountName", "default")
        spec["serviceAccount"] = account
        automount = spec.get("automountServiceAccountToken", self._automount.get((namespace, account), True))
        if automount:
            self.mount_token(spec)
        tolerations = spec.setdefault("tolerations", [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
        runtime_selector = self._runtime_selectors.get(spec.get("runtimeClassName", ""))
        if runtime_selector:  # the RuntimeClass admission plugin merges its scheduling in
            spec["nodeSelector"] = {**spec.get("nodeSelector", {}), **runtime_selector}
        spec.setdefault("priority", 0)
        spec["enableServiceLinks"] = True
        spec["preemptionPolicy"] = "PreemptLowerPriority"

    def mount_token(self, spec: Obj) -> None:
        """The projected service-account token volume, mounted into every container."""
        name = f"kube-api-access-{self.suffix()}"
        spec.setdefault("volumes", []).append({
            "name": name,
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                        "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                ],
                "defaultMode": 420,
            },
        })
        mount = {"name": name, "readOnly": True, "mountPath": _TOKEN_MOUNT_PATH}
        for container in (*spec.get("initContainers", ()), *spec["containers"]):
            container.setdefault("volumeMounts", []).append(dict(mount))

    def container_status(self, container: Obj, node: _Node, state: Obj, *, ready: bool, restarts: int = 0) -> Obj:
        """A container status with the image digest and container ID the node's runtime reports."""
        image = container["image"]
        repository, tag = _split_image(image)
        digest = image.partition("@sha256:")[2] or self.image_digest(image)
        if node.runtime == "docker":
            image_name = f"{_familiar(repository)}:{tag}"
            image_id = f"docker-pullable://{_familiar(repository)}@sha256:{digest}"
        else:
            image_name = f"{repository}:{tag}"
            image_id = f"{repository}@sha256:{digest}"
        status: Obj = {"name": container["name"], "state": {kind: dict(detail) for kind, detail in state.items()},
                       "lastState": {}}
        if restarts:
            status["lastState"] = {"terminated": {
                "exitCode": 137, "reason": "OOMKilled",
                "startedAt": _timestamp(NOW - timedelta(days=3)),
                "finishedAt": _timestamp(NOW - timedelta(days=2)),
                "containerID": f"{node.runtime}://{self.hex64()}",
            }}
        status.update({
            "ready": ready, "restartCount": restarts, "image": image_name, "imageID": image_id,
            "containerID": f"{node.runtime}://{self.hex64()}", "started": "running" in state,
        })
        return status

    def running_status(self, spec: Obj, node: _Node, started: datetime) -> Obj:
        start = _timestamp(started)
        ready_at = _timestamp(started + timedelta(seconds=self.rng.randint(4, 40)))
        host_ip = node.ip
        pod_ip = host_ip if spec.get("hostNetwork") else node.allocate_pod_ip()
        status: Obj = {
            "phase": "Running",
            "conditions": [
                _pod_condition("PodReadyToStartContainers", "True", start),
                _pod_condition("Initialized", "True", start),
                _pod_condition("Ready", "True", ready_at),
                _pod_condition("ContainersReady", "True", ready_at),
                _pod_condition("PodScheduled", "True", start),
            ],
            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
            "startTime": start,
        }  # fmt: skip
        if spec.get("initContainers"):
            done = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": start, "finishedAt": start}}
            status["initContainerStatuses"] = [
                self.container_status(c, node, done, ready=True) for c in spec["initContainers"]
            ]
        running = {"running": {"startedAt": ready_at}}
        status["containerStatuses"] = [
            self.container_status(
                c, node, running, ready=True,
                restarts=self.rng.choice((1, 2, 7)) if self.rng.random() < 0.04 else 0,
            )
            for c in spec["containers"]
        ]
        status["qosClass"] = _qos_class(spec)
        return status

    def completed_status(self, spec: Obj, node: _Node, started: datetime) -> Obj:
        start, end = _timestamp(started), _timestamp(started + timedelta(seconds=self.rng.randint(20, 600)))
        done = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": start, "finishedAt": end}}
        return {
            "phase": "Succeeded",
            "conditions": [
                _pod_condition("PodReadyToStartContainers", "False", end),
                _pod_condition("Initialized", "True", start),
                _pod_condition("Ready", "False", end, "PodCompleted"),
                _pod_condition("ContainersReady", "False", end, "PodCompleted"),
                _pod_condition("PodScheduled", "True", start),
            ],
            "hostIP": node.ip, "hostIPs": [{"ip": node.ip}],
            "podIP": node.allocate_pod_ip(),
            "startTime": start,
            "containerStatuses": [self.container_status(c, node, done, ready=False) for c in spec["containers"]],
            "qosClass": _qos_class(spec),
        }  # fmt: skip

    def standalone_pod(self, namespace: str, name: str, template: Obj, *, node: _Node | None = None) -> Obj:
        """A pod nobody owns (made by `kubectl run`, `kubectl debug` or a CI runner)."""
        return self.pod(namespace, name, self.prepare(template), node=node, started=self.days_ago(0.02, 2))

    def attach_debugger(self, pod: Obj, target: str) -> None:
        """What `kubectl debug -it POD --image=busybox:1.36 --target=…` leaves on a running pod."""
        debugger = _container("debugger", "busybox:1.36", stdin=True, tty=True, targetContainerName=target)
        pod["spec"]["ephemeralContainers"] = [debugger]
        node = self.node_named(pod["spec"]["nodeName"])
        state = {"running": {"startedAt": _timestamp(NOW - timedelta(minutes=42))}}
        pod["status"]["ephemeralContainerStatuses"] = [self.container_status(debugger, node, state, ready=False)]

    # -- workloads

    def deployment(
        self,
        namespace: str,
        name: str,
        revisions: Sequence[tuple[Obj, int]],
        *,
        labels: dict[str, str] | None = None,
        strategy: Obj | None = None,
        history: int = 10,
        annotations: dict[str, str] | None = None,
    ) -> tuple[Obj, list[Obj]]:
        """A Deployment, one ReplicaSet per revision (oldest first) and the pods each still runs.

        A revision with zero pods is history kept for rollback; two revisions with
        pods are a rollout caught half way. Returns the Deployment and its pods.
        """
        created = self.days_ago(60, 400)
        current, _ = revisions[-1]
        replicas = sum(count for _, count in revisions)
        selector = {"matchLabels": _selector_labels(current)}
        deploy = self.new(
            "apps/v1", "Deployment", name, namespace, created=created, labels=labels,
            annotations={"deployment.kubernetes.io/revision": str(len(revisions)), **(annotations or {})},
        )
        deploy["metadata"]["generation"] = len(revisions)
        deploy["spec"] = {
            "replicas": replicas,
            "selector": selector,
            "template": current,
            "strategy": strategy or _rolling_update("25%", "25%"),
            "revisionHistoryLimit": history,
            "progressDeadlineSeconds": 600,
        }  # fmt: skip
        pods: list[Obj] = []
        step = (NOW - created) / (len(revisions) + 1)
        for number, (template, count) in enumerate(revisions, start=1):
            pods += self.replica_set(deploy, template, count, number, created + step * number, desired=replicas)
        updated = revisions[-1][1]
        deploy["status"] = {
            "observedGeneration": len(revisions),
            "replicas": replicas, "updatedReplicas": updated, "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                _condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability.", created),
                _condition("Progressing", "ReplicaSetUpdated" if updated < replicas else "NewReplicaSetAvailable",
                           f'ReplicaSet "{name}" is progressing.', created),
            ],
        }  # fmt: skip
        return deploy, pods

    def replica_set(
        self, deploy: Obj, template: Obj, count: int, revision: int, rolled_out: datetime, *, desired: int
    ) -> list[Obj]:
        namespace, name = deploy["metadata"]["namespace"], deploy["metadata"]["name"]
        template_hash = _hash_name(msgspec.json.encode(template))
        rs_name = f"{name}-{template_hash}"
        hashed = {"pod-template-hash": template_hash}
        template = _with_labels(template, hashed)
        replica_set = self.new(
            "apps/v1", "ReplicaSet", rs_name, namespace, created=rolled_out,
            labels=template["metadata"]["labels"], owner=deploy,
            annotations={
                "deployment.kubernetes.io/desired-replicas": str(desired),
                "deployment.kubernetes.io/max-replicas": str(desired + max(1, desired // 4)),
                "deployment.kubernetes.io/revision": str(revision),
            },
        )
        replica_set["metadata"]["generation"] = 1 if count else 2
        replica_set["spec"] = {
            "replicas": count,
            "selector": {"matchLabels": {**deploy["spec"]["selector"]["matchLabels"], **hashed}},
            "template": template,
        }
        replica_set["status"] = {"replicas": count, "observedGeneration": replica_set["metadata"]["generation"]}
        if count:
            replica_set["status"].update(fullyLabeledReplicas=count, readyReplicas=count, availableReplicas=count)
        prepared = self.prepare(template)
        return [
            self.pod(
                namespace, f"{rs_name}-{self.suffix()}", prepared, owner=replica_set,
                generate_name=f"{rs_name}-",
                started=rolled_out + timedelta(seconds=self.rng.randint(5, 3600)),
            )
            for _ in range(count)
        ]

    def stateful_set(
        self,
        namespace: str,
        name: str,
        template: Obj,
        *,
        replicas: int,
        service: str,
        labels: dict[str, str] | None = None,
        update_strategy: Obj | None = None,
        storage: str = "20Gi",
    ) -> tuple[Obj, list[Obj]]:
        """A StatefulSet with one PersistentVolumeClaim per pod; pods are `NAME-0`, `NAME-1` …"""
        created = self.days_ago(100, 500)
        revision = f"{name}-{_hash_name(msgspec.json.encode(template))}"
        sts = self.new("apps/v1", "StatefulSet", name, namespace, created=created, labels=labels)
        sts["metadata"]["generation"] = 1
        sts["spec"] = {
            "replicas": replicas,
            "selector": {"matchLabels": _selector_labels(template)},
            "template": template,
            "volumeClaimTemplates": [{
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "creationTimestamp": None},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}},
                         "storageClassName": "gp3", "volumeMode": "Filesystem"},
            }],
            "serviceName": service,
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": update_strategy or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "revisionHistoryLimit": 10,
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        }  # fmt: skip
        sts["status"] = {
            "observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
            "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
            "currentRevision": revision, "updateRevision": revision, "collisionCount": 0,
        }
        pods = []
        for ordinal in range(replicas):
            pod_name = f"{name}-{ordinal}"
            prepared = self.prepare(template, {
                "apps.kubernetes.io/pod-index": str(ordinal),
                "controller-revision-hash": revision,
                "statefulset.kubernetes.io/pod-name": pod_name,
            })
            pod = self.pod(namespace, pod_name, prepared, owner=sts, generate_name=f"{name}-",
                           started=created + timedelta(days=self.rng.uniform(1, 90)))
            pod["spec"]["hostname"] = pod_name
            pod["spec"]["subdomain"] = service
            pod["spec"].setdefault("volumes", []).insert(0, {
                "name": "data", "persistentVolumeClaim": {"claimName": f"data-{pod_name}"}})
            pods.append(pod)
        return sts, pods

    def daemon_set(
        self,
        namespace: str,
        name: str,
        template: Obj,
        *,
        nodes: Sequence[_Node],
        labels: dict[str, str] | None = None,
        update_strategy: Obj | None = None,
    ) -> tuple[Obj, list[Obj]]:
        """A DaemonSet and one pod pinned to each of `nodes`."""
        created = self.days_ago(100, 500)
        daemon = self.new("apps/v1", "DaemonSet", name, namespace, created=created, labels=labels,
                          annotations={"deprecated.daemonset.template.generation": "1"})
        daemon["metadata"]["generation"] = 1
        daemon["spec"] = {
            "selector": {"matchLabels": _selector_labels(template)},
            "template": template,
            "updateStrategy": update_strategy or _rolling_update(1, 0),
            "revisionHistoryLimit": 10,
        }
        count = len(nodes)
        daemon["status"] = {
            "currentNumberScheduled": count, "numberMisscheduled": 0, "desiredNumberScheduled": count,
            "numberReady": count, "observedGeneration": 1, "updatedNumberScheduled": count,
            "numberAvailable": count,
        }
        prepared = self.prepare(template, {
            "controller-revision-hash": _hash_name(msgspec.json.encode(template)),
            "pod-template-generation": "1",
        })
        pods = []
        for node in nodes:
            pod = self.pod(namespace, f"{name}-{self.suffix()}", prepared, owner=daemon, node=node,
                           generate_name=f"{name}-", started=max(created, NOW - timedelta(days=90))
                           + timedelta(seconds=self.rng.randint(30, 86400)))
            pod["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [
                    {"key": "metadata.name", "operator": "In", "values": [node.name]}]}]}}}
            pod["spec"]["tolerations"].extend(dict(toleration) for toleration in _DAEMON_TOLERATIONS)
            pods.append(pod)
        return daemon, pods

    def cron_job(
        self, namespace: str, name: str, template: Obj, *, minute: int, jobs: int,
        labels: dict[str, str] | None = None,
    ) -> tuple[Obj, list[Obj]]:
        """A CronJob daily at 02:MM with its last `jobs` runs kept, each a completed Job with one pod."""
        created = self.days_ago(60, 300)
        cron = self.new("batch/v1", "CronJob", name, namespace, created=created, labels=labels)
        cron["metadata"]["generation"] = 1
        cron["spec"] = {
            "schedule": f"{minute} 2 * * *",
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "suspend": False,
            "jobTemplate": {"metadata": {"creationTimestamp": None}, "spec": {
                "backoffLimit": 2, "activeDeadlineSeconds": 3600, "template": template}},
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
        }
        today = NOW.replace(hour=2, minute=minute)
        runs = [today - timedelta(days=days) for days in range(jobs, 0, -1)]
        pods = [self.job(cron, template, scheduled) for scheduled in runs]
        last = _timestamp(runs[-1]) if runs else None
        cron["status"] = {"lastScheduleTime": last, "lastSuccessfulTime": last} if last else {}
        return cron, pods

    def job(self, cron: Obj, template: Obj, scheduled: datetime) -> Obj:
        """One completed run of a CronJob, named as the controller names it; returns its pod."""
        namespace = cron["metadata"]["namespace"]
        name = f"{cron['metadata']['name']}-{int(scheduled.timestamp()) // 60}"
        job = self.new(
            "batch/v1", "Job", name, namespace, created=scheduled, owner=cron,
            labels=template["metadata"]["labels"],
            annotations={"batch.kubernetes.io/cronjob-scheduled-timestamp": _timestamp(scheduled)},
        )
        uid = job["metadata"]["uid"]
        job_labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                      "controller-uid": uid, "job-name": name}
        template = _with_labels(template, job_labels)
        job["metadata"]["generation"] = 1
        job["spec"] = {
            "parallelism": 1, "completions": 1, "activeDeadlineSeconds": 3600, "backoffLimit": 2,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
            "manualSelector": False, "template": template, "completionMode": "NonIndexed",
            "suspend": False, "podReplacementPolicy": "TerminatingOrFailed",
        }
        pod = self.pod(namespace, f"{name}-{self.suffix()}", self.prepare(template), owner=job,
                       generate_name=f"{name}-", completed=True, started=scheduled + timedelta(seconds=2))
        finished = pod["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
        job["status"] = {
            "conditions": [
                {"type": kind, "status": "True", "lastProbeTime": finished, "lastTransitionTime": finished}
                for kind in ("SuccessCriteriaMet", "Complete")
            ],
            "startTime": _timestamp(scheduled), "completionTime": finished,
            "succeeded": 1, "terminating": 0, "uncountedTerminatedPods": {}, "ready": 0,
        }  # fmt: skip
        return pod

    # -- services, budgets, policies

    def service_ip(self) -> str:
        while True:
            ip = f"10.96.{self.rng.randint(1, 254)}.{self.rng.randint(1, 254)}"
            if ip not in self._service_ips:
                self._service_ips.add(ip)
                return ip

    def service(
        self,
        namespace: str,
        name: str,
        selector: dict[str, str] | None,
        ports: Sequence[tuple[str, int, int | str]],
        *,
        kind: str = "ClusterIP",
        headless: bool = False,
        cluster_ip: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> Obj:
        """A Service; ports are (name, port, targetPort)."""
        service = self.new("v1", "Service", name, namespace, created=self.days_ago(60, 500), labels=labels)
        ip = "None" if headless else cluster_ip or self.service_ip()
        spec_ports = []
        for port_name, port, target in ports:
            entry: Obj = {"name": port_name, "protocol": "TCP", "port": port, "targetPort": target}
            if kind in ("NodePort", "LoadBalancer"):
                entry["nodePort"] = self.node_port()
            spec_ports.append(entry)
        spec: Obj = {"ports": spec_ports}
        if selector:
            spec["selector"] = dict(selector)
        spec.update({
            "clusterIP": ip, "clusterIPs": [ip], "type": kind, "sessionAffinity": "None",
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
        })
        if kind in ("NodePort", "LoadBalancer"):
            spec["externalTrafficPolicy"] = "Local" if kind == "LoadBalancer" else "Cluster"
        service["spec"] = spec
        service["status"] = {"loadBalancer": {}}
        if kind == "LoadBalancer":
            service["status"]["loadBalancer"] = {"ingress": [{"ip": "203.0.113.10", "ipMode": "VIP"}]}
        return service

    def node_port(self) -> int:
        while True:
            port = self.rng.randint(30000, 32767)
            if port not in self._node_ports:
                self._node_ports.add(port)
                return port

    def disruption_budget(
        self, namespace: str, name: str, selector: dict[str, str], *, expected: int,
        min_available: int | str | None = None, max_unavailable: int | str | None = None,
    ) -> Obj:
        budget = self.new("policy/v1", "PodDisruptionBudget", name, namespace, created=self.days_ago(30, 300))
        budget["metadata"]["generation"] = 1
        spec: Obj = {}
        if min_available is not None:
            spec["minAvailable"] = min_available
        if max_unavailable is not None:
            spec["maxUnavailable"] = max_unavailable
        spec["selector"] = {"matchLabels": dict(selector)}
        budget["spec"] = spec
        if max_unavailable is not None:
            desired = expected - max_unavailable if isinstance(max_unavailable, int) else expected - 1
        else:
            desired = min_available if isinstance(min_available, int) else expected - 1
        allowed = max(0, expected - desired)
        budget["status"] = {
            "observedGeneration": 1, "disruptionsAllowed": allowed, "currentHealthy": expected,
            "desiredHealthy": desired, "expectedPods": expected,
            "conditions": [{
                "type": "DisruptionAllowed", "status": "True" if allowed else "False",
                "reason": "SufficientPods" if allowed else "InsufficientPods", "message": "",
                "observedGeneration": 1, "lastTransitionTime": _timestamp(self.days_ago(1, 30)),
            }],
        }
        return budget

    def network_policy(self, namespace: str, name: str, spec: Obj) -> Obj:
        policy = self.new("networking.k8s.io/v1", "NetworkPolicy", name, namespace, created=self.days_ago(30, 400))
        policy["metadata"]["generation"] = 1
        policy["spec"] = spec
        return policy

    def standard_network_policies(self, namespace: str) -> None:
        """Default deny both ways, then DNS, same-namespace, ingress-nginx and Prometheus allowed in."""
        self.network_policy(namespace, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
        self.network_policy(namespace, "allow-dns", {
            "podSelector": {},
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}],
            "policyTypes": ["Egress"],
        })
        self.network_policy(namespace, "allow-same-namespace", {
            "podSelector": {},
            "ingress": [{"from": [{"podSelector": {}}]}],
            "egress": [{"to": [{"podSelector": {}}]}],
            "policyTypes": ["Ingress", "Egress"],
        })
        self.network_policy(namespace, "allow-from-ingress-nginx", {
            "podSelector": {"matchLabels": {"app.kubernetes.io/component": "web"}},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": "ingress-nginx"}}}],
                "ports": [{"protocol": "TCP", "port": 8080}]}],
            "policyTypes": ["Ingress"],
        })
        self.network_policy(namespace, "allow-prometheus-scrape", {
            "podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                                   "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}],
                         "ports": [{"protocol": "TCP", "port": 9090}]}],
            "policyTypes": ["Ingress"],
        })  # fmt: skip

    # -- RBAC

    def cluster_role(
        self, name: str, rules: Sequence[Obj], *, labels: dict[str, str] | None = None,
        aggregate: Sequence[dict[str, str]] = (), builtin: bool = False,
    ) -> Obj:
        """A ClusterRole; with `aggregate`, an aggregationRule over those label selectors."""
        if builtin:
            labels = {"kubernetes.io/bootstrapping": "rbac-defaults", **(labels or {})}
        annotations = {"rbac.authorization.kubernetes.io/autoupdate": "true"} if builtin else None
        created = self.days_ago(600, 700) if builtin else self.days_ago(30, 500)
        role = self.new("rbac.authorization.k8s.io/v1", "ClusterRole", name, created=created,
                        labels=labels, annotations=annotations)
        if aggregate:
            role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": dict(s)} for s in aggregate]}
        role["rules"] = [{key: list(value) for key, value in rule.items()} for rule in rules]
        return role

    def role(self, namespace: str, name: str, rules: Sequence[Obj]) -> Obj:
        role = self.new("rbac.authorization.k8s.io/v1", "Role", name, namespace, created=self.days_ago(30, 500))
        role["rules"] = [{key: list(value) for key, value in rule.items()} for rule in rules]
        return role

    def cluster_role_binding(self, name: str, role: str, subjects: Sequence[Obj], *, builtin: bool = False) -> Obj:
        labels = {"kubernetes.io/bootstrapping": "rbac-defaults"} if builtin else None
        annotations = {"rbac.authorization.kubernetes.io/autoupdate": "true"} if builtin else None
        created = self.days_ago(600, 700) if builtin else self.days_ago(30, 500)
        binding = self.new("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", name, created=created,
                           labels=labels, annotations=annotations)
        binding["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
        if subjects:
            binding["subjects"] = list(subjects)
        return binding

    def role_binding(
        self, namespace: str, name: str, role: str, subjects: Sequence[Obj], *, role_kind: str = "ClusterRole"
    ) -> Obj:
        binding = self.new("rbac.authorization.k8s.io/v1", "RoleBinding", name, namespace,
                           created=self.days_ago(1, 400))
        binding["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role}
        binding["subjects"] = list(subjects)
        return binding

    # == the cluster's parts ==========================================================

    def add_runtime_classes(self) -> None:
        """gVisor on the general pool, Kata on nodes kata-deploy labelled."""
        for name, handler, selector, overhead in (
            ("gvisor", "runsc", {"node-pool": "general"}, None),
            ("kata", "kata", {_KATA_LABEL: "true"}, {"cpu": "250m", "memory": "160Mi"}),
        ):
            runtime_class = self.new("node.k8s.io/v1", "RuntimeClass", name, created=self.days_ago(100, 300))
            runtime_class["handler"] = handler
            if overhead:
                runtime_class["overhead"] = {"podFixed": overhead}
            runtime_class["scheduling"] = {"nodeSelector": selector}
            self._runtime_selectors[name] = selector

    def add_builtin_rbac(self) -> None:
        """The ClusterRoles and bindings every cluster ships with (a representative set)."""
        view = {"rbac.authorization.k8s.io/aggregate-to-view": "true"}
        edit = {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}
        admin = {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}
        self.cluster_role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _url_rule(["*"], ["*"])], builtin=True)
        self.cluster_role("admin", _AGGREGATE_TO_ADMIN + _AGGREGATE_TO_EDIT + _AGGREGATE_TO_VIEW + _METRICS_READER,
                          aggregate=[admin], builtin=True)
        self.cluster_role("edit", _AGGREGATE_TO_EDIT + _AGGREGATE_TO_VIEW + _METRICS_READER,
                          aggregate=[edit], labels=admin, builtin=True)
        self.cluster_role("view", _AGGREGATE_TO_VIEW + _METRICS_READER, aggregate=[view], labels=edit, builtin=True)
        self.cluster_role("system:aggregate-to-admin", _AGGREGATE_TO_ADMIN, labels=admin, builtin=True)
        self.cluster_role("system:aggregate-to-edit", _AGGREGATE_TO_EDIT, labels=edit, builtin=True)
        self.cluster_role("system:aggregate-to-view", _AGGREGATE_TO_VIEW, labels=view, builtin=True)
        self.cluster_role("system:basic-user", [_rule(["create"], ["authorization.k8s.io"], [
            "selfsubjectaccessreviews", "selfsubjectrulesreviews"]), _rule(["create"], ["authentication.k8s.io"], [
            "selfsubjectreviews"])], builtin=True)
        self.cluster_role("system:discovery", [_url_rule(["get"], [
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
            "/version", "/version/"])], builtin=True)
        self.cluster_role("system:public-info-viewer", [_url_rule(["get"], [
            "/healthz", "/livez", "/readyz", "/version", "/version/"])], builtin=True)
        self.cluster_role("system:monitoring", [_url_rule(["get"], [
            "/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*"])],
            builtin=True)
        self.cluster_role("system:node", [
            _rule(["create", "get", "list", "watch", "update", "patch", "delete"], [""], ["nodes"]),
            _rule(["patch", "update"], [""], ["nodes/status"]),
            _rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
            _rule(_READ, [""], ["pods"]), _rule(["create", "delete"], [""], ["pods"]),
            _rule(["patch", "update"], [""], ["pods/status"]), _rule(["create"], [""], ["pods/eviction"]),
            _rule(["get", "list", "watch"], [""], ["configmaps", "secrets"]),
            _rule(["get"], [""], ["persistentvolumeclaims", "persistentvolumes"]),
            _rule(["create"], [""], ["serviceaccounts/token"]),
            _rule(["create", "delete", "get", "patch", "update"], ["coordination.k8s.io"], ["leases"]),
        ], builtin=True)
        self.cluster_role("system:node-proxier", [
            _rule(["list", "watch"], [""], ["endpoints", "services"]), _rule(_READ, [""], ["nodes"]),
            _rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
            _rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
        ], builtin=True)
        self.cluster_role("system:kube-scheduler", [
            _rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
            _rule(["create"], ["coordination.k8s.io"], ["leases"]),
            _rule(_READ, [""], ["nodes", "pods", "persistentvolumeclaims", "persistentvolumes", "services"]),
            _rule(["create"], [""], ["bindings", "pods/binding"]), _rule(["patch", "update"], [""], ["pods/status"]),
        ], builtin=True)
        self.cluster_role("system:kube-controller-manager", [
            _rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
            _rule(["create"], ["coordination.k8s.io"], ["leases"]),
            _rule(["create"], [""], ["secrets", "serviceaccounts"]),
            _rule(["delete", "get", "update"], [""], ["secrets"]),
            _rule(["list", "watch"], ["*"], ["*"]),
            _rule(["create"], [""], ["serviceaccounts/token"]),
        ], builtin=True)
        self.cluster_role("system:auth-delegator", [
            _rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            _rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        ], builtin=True)
        self.cluster_role("system:node-bootstrapper", [
            _rule(["create", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"]),
        ], builtin=True)
        for controller, rules in _CONTROLLER_RULES.items():
            self.cluster_role(f"system:controller:{controller}", rules, builtin=True)
            self.cluster_role_binding(f"system:controller:{controller}", f"system:controller:{controller}",
                                      [_service_account_subject("kube-system", controller)], builtin=True)
        self.cluster_role_binding("cluster-admin", "cluster-admin", [_group("system:masters")], builtin=True)
        for name in ("system:basic-user", "system:discovery"):
            self.cluster_role_binding(name, name, [_group("system:authenticated")], builtin=True)
        self.cluster_role_binding("system:public-info-viewer", "system:public-info-viewer",
                                  [_group("system:authenticated"), _group("system:unauthenticated")], builtin=True)
        self.cluster_role_binding("system:monitoring", "system:monitoring", [_group("system:monitoring")], builtin=True)
        self.cluster_role_binding("system:node", "system:node", [], builtin=True)
        for name in ("system:kube-scheduler", "system:kube-controller-manager"):
            self.cluster_role_binding(name, name, [_user(name)], builtin=True)
        self.cluster_role_binding("kubeadm:cluster-admins", "cluster-admin", [_group("kubeadm:cluster-admins")])
        self.cluster_role_binding("kubeadm:node-proxier", "system:node-proxier",
                                  [_service_account_subject("kube-system", "kube-proxy")])
        self.cluster_role_binding("kubeadm:kubelet-bootstrap", "system:node-bootstrapper",
                                  [_group("system:bootstrappers:kubeadm:default-node-token")])  # fmt: skip

    # -- kube-system

    def add_kube_system(self) -> None:
        self.namespace("kube-system")
        for node in self.nodes:
            if node.control_plane:
                self.static_pods(node)
        self.calico()
        self.kube_proxy()
        self.csi_node()
        self.coredns()
        self.metrics_server()
        self.secret("kube-system", "bootstrap-token-fake00", {
            "token-id": "fake00", "token-secret": "fakefakefakefake", "usage-bootstrap-authentication": "true"},
            kind="bootstrap.kubernetes.io/token")

    def static_pods(self, node: _Node) -> None:
        """The kubeadm control plane: mirror pods owned by their Node."""
        owner = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node.name, "uid": node.uid}}
        pki = [_mount("k8s-certs", "/etc/kubernetes/pki", read_only=True),
               _mount("ca-certs", "/etc/ssl/certs", read_only=True),
               _mount("etc-ca-certificates", "/etc/ca-certificates", read_only=True)]
        pki_volumes = [_host_path("k8s-certs", "/etc/kubernetes/pki", "DirectoryOrCreate"),
                       _host_path("ca-certs", "/etc/ssl/certs", "DirectoryOrCreate"),
                       _host_path("etc-ca-certificates", "/etc/ca-certificates", "DirectoryOrCreate")]
        components = {
            "etcd": (
                "registry.k8s.io/etcd:3.5.15-0",
                ["etcd", f"--advertise-client-urls=https://{node.ip}:2379", "--data-dir=/var/lib/etcd",
                 "--cert-file=/etc/kubernetes/pki/etcd/server.crt", "--client-cert-auth=true"],
                2381,
                [_mount("etcd-data", "/var/lib/etcd"), _mount("etcd-certs", "/etc/kubernetes/pki/etcd")],
                [_host_path("etcd-certs", "/etc/kubernetes/pki/etcd", "DirectoryOrCreate"),
                 _host_path("etcd-data", "/var/lib/etcd", "DirectoryOrCreate")],
            ),
            "kube-apiserver": (
                f"registry.k8s.io/kube-apiserver:{KUBERNETES_VERSION}",
                ["kube-apiserver", f"--advertise-address={node.ip}", "--authorization-mode=Node,RBAC",
                 "--enable-admission-plugins=NodeRestriction", "--anonymous-auth=true",
                 "--audit-log-path=/var/log/kubernetes/audit.log"],
                6443, [*pki, _mount("audit-log", "/var/log/kubernetes")],
                [*pki_volumes, _host_path("audit-log", "/var/log/kubernetes", "DirectoryOrCreate")],
            ),
            "kube-controller-manager": (
                f"registry.k8s.io/kube-controller-manager:{KUBERNETES_VERSION}",
                ["kube-controller-manager", "--kubeconfig=/etc/kubernetes/controller-manager.conf",
                 "--use-service-account-credentials=true", "--cluster-cidr=10.32.0.0/12"],
                10257, [*pki, _mount("kubeconfig", "/etc/kubernetes/controller-manager.conf", read_only=True),
                        _mount("flexvolume-dir", "/usr/libexec/kubernetes/kubelet-plugins/volume/exec")],
                [*pki_volumes, _host_path("kubeconfig", "/etc/kubernetes/controller-manager.conf", "FileOrCreate"),
                 _host_path("flexvolume-dir", "/usr/libexec/kubernetes/kubelet-plugins/volume/exec",
                            "DirectoryOrCreate")],
            ),
            "kube-scheduler": (
                f"registry.k8s.io/kube-scheduler:{KUBERNETES_VERSION}",
                ["kube-scheduler", "--kubeconfig=/etc/kubernetes/scheduler.conf", "--leader-elect=true"],
                10259, [_mount("kubeconfig", "/etc/kubernetes/scheduler.conf", read_only=True)],
                [_host_path("kubeconfig", "/etc/kubernetes/scheduler.conf", "FileOrCreate")],
            ),
        }  # fmt: skip
        for component, (image, command, probe_port, mounts, volumes) in components.items():
            probe = {"httpGet": {"host": "127.0.0.1" if component != "kube-apiserver" else node.ip,
                                 "path": "/livez" if component != "etcd" else "/health?exclude=NOSPACE",
                                 "port": probe_port, "scheme": "HTTP" if component == "etcd" else "HTTPS"},
                     "initialDelaySeconds": 10, "timeoutSeconds": 15, "periodSeconds": 10,
                     "successThreshold": 1, "failureThreshold": 8}
            container = _container(component, image, command=command, mounts=mounts, liveness=probe,
                                   resources={"requests": {"cpu": "250m" if component == "kube-apiserver" else "100m"}})
            spec = _pod_spec([container], volumes=volumes, hostNetwork=True, priorityClassName="system-node-critical",
                             priority=2000001000, tolerations=[{"operator": "Exists", "effect": "NoExecute"}],
                             security={"seccompProfile": {"type": "RuntimeDefault"}})
            config_hash = _hash_name(f"{component}/{node.name}".encode(), 32)
            template = _template({"component": component, "tier": "control-plane"}, spec, {
                "kubernetes.io/config.hash": config_hash, "kubernetes.io/config.mirror": config_hash,
                "kubernetes.io/config.seen": _timestamp(NOW - timedelta(days=40)),
                "kubernetes.io/config.source": "file",
            })
            self.pod("kube-system", f"{component}-{node.name}", self.prepare(template), owner=owner, node=node,
                     started=NOW - timedelta(days=40, seconds=self.rng.randint(0, 600)))

    def calico(self) -> None:
        """Calico: a privileged, host-network DaemonSet everywhere and its controller."""
        self.service_account("kube-system", "calico-node")
        self.service_account("kube-system", "calico-kube-controllers")
        self.cluster_role("calico-node", [
            _rule(["get", "list", "watch"], [""], ["pods", "nodes", "namespaces", "services", "endpoints"]),
            _rule(["patch"], [""], ["nodes/status"]),
            _rule(["create"], [""], ["serviceaccounts/token"]),
            _rule(["get", "list", "watch", "create", "update"], ["crd.projectcalico.org"], ["*"]),
        ])
        self.cluster_role_binding("calico-node", "calico-node",
                                  [_service_account_subject("kube-system", "calico-node")])
        labels = {"k8s-app": "calico-node"}
        image = "docker.io/calico/node:v3.28.2"
        init = [
            _container("install-cni", "docker.io/calico/cni:v3.28.2", command=["/opt/cni/bin/install"],
                       mounts=[_mount("cni-bin-dir", "/host/opt/cni/bin"),
                               _mount("cni-net-dir", "/host/etc/cni/net.d")],
                       security={"privileged": True}),
        ]
        node = _container(
            "calico-node", image,
            env=[_env("DATASTORE_TYPE", "kubernetes"), _env("CALICO_NETWORKING_BACKEND", "bird"),
                 _env_from_field("NODENAME", "spec.nodeName"), _env("CALICO_IPV4POOL_CIDR", "10.32.0.0/12")],
            resources=_resources("250m", "256Mi"),
            mounts=[_mount("lib-modules", "/lib/modules", read_only=True), _mount("xtables-lock", "/run/xtables.lock"),
                    _mount("var-run-calico", "/var/run/calico"), _mount("var-lib-calico", "/var/lib/calico"),
                    _mount("policysync", "/var/run/nodeagent")],
            liveness=_http_probe("/liveness", 9099, delay=10), readiness={
                "exec": {"command": ["/bin/calico-node", "-felix-ready", "-bird-ready"]},
                "timeoutSeconds": 10, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
            security={"privileged": True},
        )
        spec = _pod_spec(
            [node], init=init, service_account="calico-node", hostNetwork=True,
            priorityClassName="system-node-critical", priority=2000001000,
            nodeSelector={"kubernetes.io/os": "linux"}, tolerations=[{"operator": "Exists"}],
            volumes=[_host_path("lib-modules", "/lib/modules"), _host_path("var-run-calico", "/var/run/calico"),
                     _host_path("var-lib-calico", "/var/lib/calico"),
                     _host_path("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
                     _host_path("cni-bin-dir", "/opt/cni/bin"), _host_path("cni-net-dir", "/etc/cni/net.d"),
                     _host_path("policysync", "/var/run/nodeagent", "DirectoryOrCreate")],
            grace=0,
        )
        self.daemon_set("kube-system", "calico-node", _template(labels, spec), nodes=self.nodes, labels=labels)
        controllers = _container(
            "calico-kube-controllers", "docker.io/calico/kube-controllers:v3.28.2",
            env=[_env("ENABLED_CONTROLLERS", "node"), _env("DATASTORE_TYPE", "kubernetes")],
            liveness={"exec": {"command": ["/usr/bin/check-status", "-l"]}, "initialDelaySeconds": 10,
                      "timeoutSeconds": 10, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 6},
            readiness={"exec": {"command": ["/usr/bin/check-status", "-r"]}, "timeoutSeconds": 1,
                       "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
            security={"runAsNonRoot": True, "runAsUser": 999, "runAsGroup": 999,
                      "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                      "seccompProfile": {"type": "RuntimeDefault"}},
        )
        spec = _pod_spec([controllers], service_account="calico-kube-controllers",
                         priorityClassName="system-cluster-critical", priority=2000000000,
                         nodeSelector={"kubernetes.io/os": "linux"},
                         tolerations=[{"key": "CriticalAddonsOnly", "operator": "Exists"}])
        labels = {"k8s-app": "calico-kube-controllers"}
        self.deployment("kube-system", "calico-kube-controllers", [(_template(labels, spec), 1)],
                        labels=labels, strategy={"type": "Recreate"})

    def kube_proxy(self) -> None:
        self.service_account("kube-system", "kube-proxy")
        self.config_map("kube-system", "kube-proxy", {"config.conf": (
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\n")})
        labels = {"k8s-app": "kube-proxy"}
        container = _container(
            "kube-proxy", f"registry.k8s.io/kube-proxy:{KUBERNETES_VERSION}",
            command=["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                     "--hostname-override=$(NODE_NAME)"],
            env=[_env_from_field("NODE_NAME", "spec.nodeName")],
            mounts=[_mount("kube-proxy", "/var/lib/kube-proxy"), _mount("xtables-lock", "/run/xtables.lock"),
                    _mount("lib-modules", "/lib/modules", read_only=True)],
            security={"privileged": True},
        )
        spec = _pod_spec(
            [container], service_account="kube-proxy", hostNetwork=True, priorityClassName="system-node-critical",
            priority=2000001000, nodeSelector={"kubernetes.io/os": "linux"}, tolerations=[{"operator": "Exists"}],
            volumes=[_config_volume("kube-proxy", "kube-proxy"),
                     _host_path("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
                     _host_path("lib-modules", "/lib/modules")],
        )
        self.daemon_set("kube-system", "kube-proxy", _template(labels, spec), nodes=self.nodes, labels=labels)

    def csi_node(self) -> None:
        """The EBS CSI node plugin: privileged, with /var/lib/kubelet mounted writable and Bidirectional."""
        self.service_account("kube-system", "ebs-csi-node-sa")
        labels = {"app": "ebs-csi-node", "app.kubernetes.io/name": "aws-ebs-csi-driver"}
        plugin = _container(
            "ebs-plugin", "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.35.0",
            args=["node", "--endpoint=$(CSI_ENDPOINT)", "--logging-format=text", "--v=2"],
            ports=[_port("healthz", 9808)],
            env=[_env("CSI_ENDPOINT", "unix:/csi/csi.sock"), _env_from_field("CSI_NODE_NAME", "spec.nodeName")],
            resources=_resources("10m", "40Mi", memory_limit="256Mi"),
            mounts=[_mount("kubelet-dir", "/var/lib/kubelet", propagation="Bidirectional"),
                    _mount("plugin-dir", "/csi"), _mount("device-dir", "/dev")],
            liveness=_http_probe("/healthz", "healthz", delay=10),
            security={"privileged": True, "readOnlyRootFilesystem": True},
        )
        registrar = _container(
            "node-driver-registrar",
            "public.ecr.aws/eks-distro/kubernetes-csi/node-driver-registrar:v2.11.1-eks-1-31-4",
            args=["--csi-address=$(ADDRESS)", "--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)"],
            env=[_env("ADDRESS", "/csi/csi.sock"),
                 _env("DRIVER_REG_SOCK_PATH", "/var/lib/kubelet/plugins/ebs.csi.aws.com/csi.sock")],
            resources=_resources("10m", "40Mi", memory_limit="256Mi"),
            mounts=[_mount("plugin-dir", "/csi"), _mount("registration-dir", "/registration")],
            security=_hardened(),
        )
        spec = _pod_spec(
            [plugin, registrar], service_account="ebs-csi-node-sa", priorityClassName="system-node-critical",
            priority=2000001000, nodeSelector={"kubernetes.io/os": "linux"}, tolerations=[{"operator": "Exists"}],
            security={"runAsNonRoot": False, "runAsUser": 0, "runAsGroup": 0, "fsGroup": 0},
            volumes=[_host_path("kubelet-dir", "/var/lib/kubelet", "Directory"),
                     _host_path("plugin-dir", "/var/lib/kubelet/plugins/ebs.csi.aws.com/", "DirectoryOrCreate"),
                     _host_path("registration-dir", "/var/lib/kubelet/plugins_registry/", "Directory"),
                     _host_path("device-dir", "/dev", "Directory")],
        )
        daemon, _ = self.daemon_set("kube-system", "ebs-csi-node", _template(labels, spec), nodes=self.nodes,
                                    labels=labels, update_strategy=_rolling_update("10%", 0))
        self.plant(Category.ISOLATION, "host-path-kubelet-writable", daemon,
                   "spec.template.spec.volumes[kubelet-dir].hostPath.path = /var/lib/kubelet,"
                   " mounted writable (Bidirectional)")

    def coredns(self) -> None:
        self.service_account("kube-system", "coredns")
        self.cluster_role("system:coredns", [
            _rule(["list", "watch"], [""], ["endpoints", "services", "pods", "namespaces"]),
            _rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
        ])
        self.cluster_role_binding("system:coredns", "system:coredns",
                                  [_service_account_subject("kube-system", "coredns")])
        self.config_map("kube-system", "coredns", {"Corefile": (
            ".:53 {\n    errors\n    health\n    ready\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n"
            "    forward . /etc/resolv.conf\n    cache 30\n}\n")})
        labels = {"k8s-app": "kube-dns"}
        container = _container(
            "coredns", "registry.k8s.io/coredns/coredns:v1.11.3", args=["-conf", "/etc/coredns/Corefile"],
            ports=[{"name": "dns", "containerPort": 53, "protocol": "UDP"}, _port("dns-tcp", 53),
                   _port("metrics", 9153)],
            resources=_resources("100m", "70Mi", memory_limit="170Mi"),
            mounts=[_mount("config-volume", "/etc/coredns", read_only=True)],
            liveness=_http_probe("/health", 8080, delay=60), readiness=_http_probe("/ready", 8181),
            security={"capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                      "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
        )
        spec = _pod_spec([container], service_account="coredns", priorityClassName="system-cluster-critical",
                         priority=2000000000, dnsPolicy="Default", nodeSelector={"kubernetes.io/os": "linux"},
                         volumes=[_config_volume("config-volume", "coredns")],
                         security={"seccompProfile": {"type": "RuntimeDefault"}})
        replicas = max(2, len(self.nodes) // 16)
        self.deployment("kube-system", "coredns", [(_template(labels, spec), replicas)], labels=labels,
                        strategy=_rolling_update(1, "25%"))
        self.service("kube-system", "kube-dns", labels, [("dns", 53, 53), ("dns-tcp", 53, 53), ("metrics", 9153, 9153)],
                     cluster_ip="10.96.0.10", labels={"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"})
        self.disruption_budget("kube-system", "coredns", labels, expected=replicas, max_unavailable=1)

    def metrics_server(self) -> None:
        self.service_account("kube-system", "metrics-server", automount=True)
        self.cluster_role("system:aggregated-metrics-reader", _METRICS_READER, labels={
            "rbac.authorization.k8s.io/aggregate-to-admin": "true",
            "rbac.authorization.k8s.io/aggregate-to-edit": "true",
            "rbac.authorization.k8s.io/aggregate-to-view": "true",
        })
        self.cluster_role("system:metrics-server", [
            _rule(["get"], [""], ["nodes/metrics"]),
            _rule(["get", "list", "watch"], [""], ["pods", "nodes"]),
        ])
        self.cluster_role_binding("system:metrics-server", "system:metrics-server",
                                  [_service_account_subject("kube-system", "metrics-server")])
        self.cluster_role_binding("metrics-server:system:auth-delegator", "system:auth-delegator",
                                  [_service_account_subject("kube-system", "metrics-server")])
        self.role("kube-system", "extension-apiserver-authentication-reader", [
            _rule(["get", "list", "watch"], [""], ["configmaps"], ["extension-apiserver-authentication"])])
        self.role_binding("kube-system", "metrics-server-auth-reader", "extension-apiserver-authentication-reader",
                          [_service_account_subject("kube-system", "metrics-server")], role_kind="Role")
        labels = {"k8s-app": "metrics-server"}
        container = _container(
            "metrics-server", "registry.k8s.io/metrics-server/metrics-server:v0.7.2",
            args=["--cert-dir=/tmp", "--secure-port=10250", "--kubelet-preferred-address-types=InternalIP",
                  "--metric-resolution=15s"],
            ports=[_port("https", 10250)], resources=_resources("100m", "200Mi"),
            mounts=[_mount("tmp-dir", "/tmp")],
            liveness=_http_probe("/livez", "https", period=10), readiness=_http_probe("/readyz", "https", delay=20),
            security={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                      "readOnlyRootFilesystem": True, "runAsNonRoot": True, "runAsUser": 1000,
                      "seccompProfile": {"type": "RuntimeDefault"}},
        )
        for probe in (container["livenessProbe"], container["readinessProbe"]):
            probe["httpGet"]["scheme"] = "HTTPS"
        spec = _pod_spec([container], service_account="metrics-server", volumes=[_empty_dir("tmp-dir")],
                         priorityClassName="system-cluster-critical", priority=2000000000,
                         nodeSelector={"kubernetes.io/os": "linux"})
        self.deployment("kube-system", "metrics-server", [(_template(labels, spec), 1)], labels=labels,
                        strategy=_rolling_update(0, "25%"))
        self.service("kube-system", "metrics-server", labels, [("https", 443, "https")], labels=labels)

    # -- default, kube-public, kube-node-lease

    def add_default_namespaces(self) -> None:
        self.namespace("kube-public")
        self.config_map("kube-public", "cluster-info", {
            "kubeconfig": 'apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.0.0.10:6443\n  name: ""\n'})
        self.namespace("kube-node-lease")
        self.namespace("default")
        self.service("default", "kubernetes", None, [("https", 443, 6443)], cluster_ip="10.96.0.1",
                     labels={"component": "apiserver", "provider": "kubernetes"})
        self.node_debugger()

    def node_debugger(self) -> None:
        """What `kubectl debug node/node-001 -it --image=busybox` leaves behind: host PID, IPC,
        network and the host's root filesystem mounted writable, owned by nobody."""
        node = self.workers()[0]
        container = _container("debugger", "busybox", mounts=[_mount("host-root", "/host")], stdin=True, tty=True)
        spec = _pod_spec([container], restart="Never", volumes=[_host_path("host-root", "/")],
                         hostIPC=True, hostNetwork=True, hostPID=True, tolerations=[{"operator": "Exists"}])
        pod = self.standalone_pod("default", f"node-debugger-{node.name}-x7k2p", _template({}, spec), node=node)
        self.plant(Category.ISOLATION, "host-pid", pod, "spec.hostPID = true")
        self.plant(Category.ISOLATION, "host-network", pod, "spec.hostNetwork = true")
        self.plant(Category.ISOLATION, "host-ipc", pod, "spec.hostIPC = true")
        self.plant(Category.ISOLATION, "host-path-root-writable", pod,
                   "spec.volumes[host-root].hostPath.path = /, mounted writable at /host")
        self.plant(Category.IMAGE, "untagged-image", pod, "spec.containers[debugger].image = busybox")
        self.plant(Category.ISOLATION, "standalone-pod", pod, "no ownerReferences: nothing recreates or updates it")

    # -- ingress-nginx

    def add_ingress_nginx(self) -> None:
        namespace = "ingress-nginx"
        self.namespace(namespace, enforce="baseline")
        self.service_account(namespace, "ingress-nginx", automount=True)
        self.cluster_role("ingress-nginx", [
            _rule(["list", "watch"], [""], ["configmaps", "endpoints", "nodes", "pods", "secrets", "namespaces"]),
            _rule(["get", "list", "watch"], [""], ["services"]),
            _rule(["get", "list", "watch"], ["networking.k8s.io"], ["ingresses", "ingressclasses"]),
            _rule(["update"], ["networking.k8s.io"], ["ingresses/status"]),
            _rule(["list", "watch", "get"], ["discovery.k8s.io"], ["endpointslices"]),
        ])
        self.cluster_role_binding("ingress-nginx", "ingress-nginx",
                                  [_service_account_subject(namespace, "ingress-nginx")])
        labels = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller",
                  "app.kubernetes.io/instance": "ingress-nginx"}
        controller = _container(
            "controller", self.pinned("registry.k8s.io/ingress-nginx/controller:v1.11.3"),
            args=["/nginx-ingress-controller", "--election-id=ingress-nginx-leader",
                  "--controller-class=k8s.io/ingress-nginx",
                  "--publish-service=$(POD_NAMESPACE)/ingress-nginx-controller"],
            ports=[_port("http", 80), _port("https", 443), _port("webhook", 8443)],
            env=[_env_from_field("POD_NAME", "metadata.name"), _env_from_field("POD_NAMESPACE", "metadata.namespace"),
                 _env("LD_PRELOAD", "/usr/local/lib/libmimalloc.so")],
            resources=_resources("100m", "90Mi"),
            liveness=_http_probe("/healthz", 10254, delay=10), readiness=_http_probe("/healthz", 10254, delay=10),
            security={"allowPrivilegeEscalation": True, "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                      "readOnlyRootFilesystem": False, "runAsNonRoot": True, "runAsUser": 101,
                      "seccompProfile": {"type": "RuntimeDefault"}},
        )
        spec = _pod_spec([controller], service_account="ingress-nginx", nodeSelector={"kubernetes.io/os": "linux"})
        replicas = 1 if len(self.nodes) < 10 else max(2, len(self.nodes) // 50)
        deploy, _ = self.deployment(namespace, "ingress-nginx-controller", [(_template(labels, spec), replicas)],
                                    labels=labels, history=10)
        self.plant(Category.ISOLATION, "allow-privilege-escalation", deploy,
                   "spec.template.spec.containers[controller].securityContext.allowPrivilegeEscalation = true")
        self.service(namespace, "ingress-nginx-controller", labels, [("http", 80, "http"), ("https", 443, "https")],
                     kind="LoadBalancer", labels=labels)
        self.service(namespace, "ingress-nginx-controller-admission", labels, [("https-webhook", 443, "webhook")],
                     labels=labels)
        self.disruption_budget(namespace, "ingress-nginx-controller", labels, expected=replicas, min_available=1)
        self.network_policy(namespace, "allow-all-ingress", {
            "podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]})
        self.secret(namespace, "ingress-nginx-admission", {"ca": "FAKE-CA", "cert": "FAKE-CERT", "key": "FAKE-KEY"})

    # -- monitoring

    def add_monitoring(self) -> None:
        namespace = "monitoring"
        ns = self.namespace(namespace, enforce="privileged")
        self.plant(Category.ISOLATION, "psa-privileged", ns,
                   f"metadata.labels[{_PSA}/enforce] = privileged")
        self.node_exporter(namespace)
        self.prometheus(namespace)
        self.kube_state_metrics(namespace)
        self.grafana(namespace)
        self.network_policy(namespace, "default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]})
        self.network_policy(namespace, "allow-grafana-to-prometheus", {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "grafana"}}}],
                         "ports": [{"protocol": "TCP", "port": 9090}]}],
            "policyTypes": ["Ingress"],
        })

    def node_exporter(self, namespace: str) -> None:
        """node-exporter: host PID and network, the host's / mounted read-only, a host port."""
        self.service_account(namespace, "node-exporter", automount=False)
        labels = {"app.kubernetes.io/name": "node-exporter", "app.kubernetes.io/part-of": "kube-prometheus"}
        container = _container(
            "node-exporter", "quay.io/prometheus/node-exporter:v1.8.2",
            args=["--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/host/root",
                  "--web.listen-address=0.0.0.0:9100"],
            ports=[_port("metrics", 9100, host_port=9100)], resources=_resources("102m", "180Mi", memory_limit="180Mi"),
            mounts=[_mount("proc", "/host/proc", read_only=True), _mount("sys", "/host/sys", read_only=True),
                    _mount("root", "/host/root", read_only=True, propagation="HostToContainer")],
            liveness=_http_probe("/", "metrics"), readiness=_http_probe("/", "metrics"),
            security={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                      "readOnlyRootFilesystem": True},
        )
        spec = _pod_spec(
            [container], service_account="node-exporter", automount=False, hostNetwork=True, hostPID=True,
            priorityClassName="system-cluster-critical", priority=2000000000, tolerations=[{"operator": "Exists"}],
            nodeSelector={"kubernetes.io/os": "linux"},
            security={"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                      "seccompProfile": {"type": "RuntimeDefault"}},
            volumes=[_host_path("proc", "/proc"), _host_path("sys", "/sys"), _host_path("root", "/")],
        )
        daemon, _ = self.daemon_set(namespace, "node-exporter", _template(labels, spec), nodes=self.nodes,
                                    labels=labels, update_strategy=_rolling_update("10%", 0))
        self.plant(Category.ISOLATION, "host-path-root-read-only", daemon,
                   "spec.template.spec.volumes[root].hostPath.path = /, mounted readOnly at /host/root")
        self.plant(Category.ISOLATION, "host-port", daemon,
                   "spec.template.spec.containers[node-exporter].ports[metrics].hostPort = 9100")

    def prometheus(self, namespace: str) -> None:
        """Prometheus as a StatefulSet; its ClusterRole can `get nodes/proxy`, as the real one does."""
        self.service_account(namespace, "prometheus", automount=True)
        role = self.cluster_role("prometheus", [
            _rule(_READ, [""], ["nodes", "nodes/metrics", "nodes/proxy", "services", "endpoints", "pods"]),
            _rule(_READ, ["discovery.k8s.io"], ["endpointslices"]),
            _rule(_READ, ["networking.k8s.io"], ["ingresses"]),
            _url_rule(["get"], ["/metrics", "/metrics/cadvisor"]),
        ])
        self.cluster_role_binding("prometheus", "prometheus", [_service_account_subject(namespace, "prometheus")])
        self.plant(Category.EXEC_ACCESS, "nodes-proxy", role,
                   "rules[0]: get on nodes/proxy reaches every kubelet's exec endpoint")
        labels = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": "k8s"}
        container = _container(
            "prometheus", "quay.io/prometheus/prometheus:v2.54.1",
            args=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                  "--storage.tsdb.retention.time=15d"],
            ports=[_port("web", 9090)], resources=_resources("500m", "2Gi", memory_limit="4Gi"),
            mounts=[_mount("config", "/etc/prometheus", read_only=True), _mount("data", "/prometheus")],
            liveness=_http_probe("/-/healthy", "web"), readiness=_http_probe("/-/ready", "web"),
            startup=_http_probe("/-/ready", "web", period=15),
            security=_hardened(),
        )
        spec = _pod_spec([container], service_account="prometheus", security=_restricted_pod(1000),
                         volumes=[_config_volume("config", "prometheus-config")], grace=600)
        self.config_map(namespace, "prometheus-config", {"prometheus.yml": "global:\n  scrape_interval: 30s\n"})
        replicas = 1 if len(self.nodes) < 10 else 2
        self.stateful_set(namespace, "prometheus", _template(labels, spec), replicas=replicas,
                          service="prometheus-operated", labels=labels, storage="100Gi")
        self.service(namespace, "prometheus-operated", labels, [("web", 9090, "web")], headless=True, labels=labels)
        self.service(namespace, "prometheus", labels, [("web", 9090, "web")], labels=labels)
        self.disruption_budget(namespace, "prometheus", labels, expected=replicas, min_available=1)

    def kube_state_metrics(self, namespace: str) -> None:
        self.service_account(namespace, "kube-state-metrics", automount=True)
        self.cluster_role("kube-state-metrics", [
            _rule(["list", "watch"], [""], ["configmaps", "secrets", "nodes", "pods", "services", "serviceaccounts",
                                            "resourcequotas", "replicationcontrollers", "limitranges",
                                            "persistentvolumeclaims", "persistentvolumes", "namespaces", "endpoints"]),
            _rule(["list", "watch"], ["apps"], ["statefulsets", "daemonsets", "deployments", "replicasets"]),
            _rule(["list", "watch"], ["batch"], ["cronjobs", "jobs"]),
        ])
        self.cluster_role_binding("kube-state-metrics", "kube-state-metrics",
                                  [_service_account_subject(namespace, "kube-state-metrics")])
        labels = {"app.kubernetes.io/name": "kube-state-metrics"}
        container = _container(
            "kube-state-metrics", "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0",
            ports=[_port("http-metrics", 8080), _port("telemetry", 8081)],
            resources=_resources("10m", "190Mi", memory_limit="250Mi"),
            liveness=_http_probe("/livez", "http-metrics", delay=5),
            readiness=_http_probe("/readyz", "telemetry", delay=5),
            security=_hardened(),
        )
        spec = _pod_spec([container], service_account="kube-state-metrics", security=_restricted_pod(65534))
        self.deployment(namespace, "kube-state-metrics", [(_template(labels, spec), 1)], labels=labels)
        self.service(namespace, "kube-state-metrics", labels, [("http-metrics", 8080, "http-metrics")], labels=labels)

    def grafana(self, namespace: str) -> None:
        self.service_account(namespace, "grafana", automount=False)
        self.secret(namespace, "grafana-admin", {"admin-user": "admin", "admin-password": "fake-admin-password"})
        labels = {"app.kubernetes.io/name": "grafana"}
        container = _container(
            "grafana", "docker.io/grafana/grafana:11.2.2", ports=[_port("http", 3000)],
            env=[_env_from_secret("GF_SECURITY_ADMIN_USER", "grafana-admin", "admin-user"),
                 _env_from_secret("GF_SECURITY_ADMIN_PASSWORD", "grafana-admin", "admin-password")],
            resources=_resources("100m", "256Mi", memory_limit="512Mi"),
            mounts=[_mount("storage", "/var/lib/grafana")],
            liveness=_http_probe("/api/health", "http", delay=60), readiness=_http_probe("/api/health", "http"),
            security=_hardened(),
        )
        spec = _pod_spec([container], service_account="grafana", security=_restricted_pod(472),
                         volumes=[_empty_dir("storage")])
        self.deployment(namespace, "grafana", [(_template(labels, spec), 1)], labels=labels)
        self.service(namespace, "grafana", labels, [("http", 3000, "http")], kind="NodePort", labels=labels)

    # -- security tooling

    def add_security_tooling(self) -> None:
        """A runtime scanner: privileged, host PID, the containerd socket and /etc, on every worker."""
        namespace = "security"
        self.namespace(namespace, enforce="privileged")
        self.service_account(namespace, "runtime-scanner", automount=True)
        self.cluster_role("runtime-scanner", [_rule(_READ, [""], ["pods", "nodes", "namespaces"])])
        self.cluster_role_binding("runtime-scanner", "runtime-scanner",
                                  [_service_account_subject(namespace, "runtime-scanner")])
        labels = {"app.kubernetes.io/name": "runtime-scanner", "app.kubernetes.io/part-of": "secops"}
        container = _container(
            "scanner", "registry.example.com/secops/runtime-scanner:2.3.1",
            args=["--runtime-endpoint=unix:///run/containerd/containerd.sock", "--host-root=/host"],
            resources=_resources("100m", "256Mi", memory_limit="512Mi"),
            mounts=[_mount("containerd-sock", "/run/containerd/containerd.sock"),
                    _mount("host-etc", "/host/etc", read_only=True)],
            liveness=_http_probe("/healthz", 8081), readiness=_http_probe("/readyz", 8081),
            security={"privileged": True, "runAsUser": 0},
        )
        spec = _pod_spec(
            [container], service_account="runtime-scanner", hostPID=True,
            volumes=[_host_path("containerd-sock", "/var/run/containerd/containerd.sock", "Socket"),
                     _host_path("host-etc", "/etc", "Directory")],
        )
        daemon, _ = self.daemon_set(namespace, "runtime-scanner", _template(labels, spec), nodes=self.workers(),
                                    labels=labels)
        self.plant(Category.ISOLATION, "privileged", daemon,
                   "spec.template.spec.containers[scanner].securityContext.privileged = true")
        self.plant(Category.ISOLATION, "runtime-socket-containerd", daemon,
                   "spec.template.spec.volumes[containerd-sock].hostPath.path = /var/run/containerd/containerd.sock")
        self.plant(Category.ISOLATION, "host-path-etc-read-only", daemon,
                   "spec.template.spec.volumes[host-etc].hostPath.path = /etc, mounted readOnly")
        self.plant(Category.ISOLATION, "host-pid", daemon, "spec.template.spec.hostPID = true")
        self.network_policy(namespace, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
        self.network_policy(namespace, "allow-apiserver", {
            "podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
                                           "ports": [{"protocol": "TCP", "port": 6443}]}],
            "policyTypes": ["Egress"]})

    # -- CI

    def add_ci(self) -> None:
        namespace = "ci"
        self.namespace(namespace, enforce="privileged", labels={"team": "platform"})
        self.gitlab_runner(namespace)
        self.docker_build_cache(namespace)
        self.buildkitd(namespace)
        self.ci_deployer(namespace)
        self.network_policy(namespace, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
        self.network_policy(namespace, "allow-egress-except-metadata", {
            "podSelector": {},
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}],
            "policyTypes": ["Egress"],
        })

    def gitlab_runner(self, namespace: str) -> None:
        """The runner's service account may exec into and attach to any pod, cluster-wide."""
        self.service_account(namespace, "gitlab-runner", automount=True)
        self.service_account(namespace, "gitlab-runner-build", automount=False)
        self.secret(namespace, "gitlab-runner-token", {"runner-token": "glrt-FAKE-TOKEN-FOR-THE-DEMO"})
        role = self.cluster_role("ci-pod-exec", [
            _rule(["get", "list", "watch", "create", "delete"], [""], ["pods"]),
            _rule(["create", "get"], [""], ["pods/exec", "pods/attach"]),
            _rule(["get"], [""], ["pods/log"]),
            _rule(["get", "list", "watch", "create", "update", "delete"], [""], ["secrets", "configmaps"]),
        ])
        binding = self.cluster_role_binding("gitlab-runner-pod-exec", "ci-pod-exec",
                                            [_service_account_subject(namespace, "gitlab-runner")])
        self.plant(Category.EXEC_ACCESS, "cluster-wide-pod-exec", binding,
                   "ServiceAccount ci/gitlab-runner → ClusterRole ci-pod-exec:"
                   " create pods/exec and pods/attach in every namespace")
        self.plant(Category.EXEC_ACCESS, "cluster-wide-pod-exec", role,
                   "rules[1]: create, get on pods/exec, pods/attach")
        labels = {"app": "gitlab-runner", "release": "gitlab-runner"}
        container = _container(
            "gitlab-runner", "registry.gitlab.com/gitlab-org/gitlab-runner:alpine-v17.4.0",
            command=["/usr/bin/dumb-init", "--", "/bin/bash", "/configmaps/entrypoint"],
            env=[_env_from_secret("RUNNER_TOKEN", "gitlab-runner-token", "runner-token"),
                 _env("CI_SERVER_URL", "https://gitlab.example.com/"), _env("KUBERNETES_NAMESPACE", "ci")],
            resources=_resources("50m", "128Mi", memory_limit="256Mi"),
            liveness={"exec": {"command": ["/bin/bash", "/configmaps/check-live"]}, "initialDelaySeconds": 60,
                      "timeoutSeconds": 3, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
            readiness={"exec": {"command": ["/usr/bin/pgrep", "gitlab.*runner"]}, "initialDelaySeconds": 10,
                       "timeoutSeconds": 3, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
            security={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                      "readOnlyRootFilesystem": False, "runAsNonRoot": True},
        )
        spec = _pod_spec([container], service_account="gitlab-runner", security={"runAsUser": 100, "fsGroup": 65533})
        self.deployment(namespace, "gitlab-runner", [(_template(labels, spec), 1)], labels=labels)
        self.kata_build_pod(namespace)

    def kata_build_pod(self, namespace: str) -> None:
        """A build pod the runner made: no owner, root inside, but in a Kata VM."""
        build = _container("build", "docker.io/library/golang:1.23.2-bookworm", command=["sh", "-c", "make ci"],
                           resources=_resources("2", "4Gi", memory_limit="4Gi", cpu_limit="2"))
        helper = _container(
            "helper", "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v17.4.0",
            command=["gitlab-runner-helper", "read-logs"], resources=_resources("50m", "64Mi"),
        )
        spec = _pod_spec([build, helper], service_account="gitlab-runner-build", restart="Never",
                         runtimeClassName="kata", overhead={"cpu": "250m", "memory": "160Mi"})
        labels = {"pod": "runner-t3kx9zqp-project-42-concurrent-0", "manager.runner.gitlab.com/name": "gitlab-runner"}
        pod = self.standalone_pod(namespace, "runner-t3kx9zqp-project-42-concurrent-0-b7wq2",
                                  _template(labels, spec, {"project.runner.gitlab.com/id": "42"}))
        self.plant(Category.ISOLATION, "sandboxed-runtime-kata", pod, "spec.runtimeClassName = kata (handler kata)")

    def docker_build_cache(self, namespace: str) -> None:
        """A root DaemonSet that mounts the Docker socket, only on the Docker node pool."""
        labels = {"app.kubernetes.io/name": "docker-build-cache"}
        container = _container(
            "cache-warmer", "docker.io/library/docker:24.0.7-cli",
            command=["sh", "-c", "while true; do docker pull -q $(cat /config/images); sleep 3600; done"],
            resources=_resources("50m", "64Mi"), pull_policy="Never",
            mounts=[_mount("docker-sock", "/var/run/docker.sock"), _mount("config", "/config", read_only=True)],
            security={"runAsUser": 0},
        )
        spec = _pod_spec([container], nodeSelector={"node-pool": "legacy-docker"},
                         volumes=[_host_path("docker-sock", "/var/run/docker.sock", "Socket"),
                                  _config_volume("config", "docker-build-cache")])
        self.config_map(namespace, "docker-build-cache", {"images": "golang:1.23.2-bookworm node:20-bookworm"})
        nodes = [node for node in self.workers() if node.profile.pool == "legacy-docker"]
        daemon, _ = self.daemon_set(namespace, "docker-build-cache", _template(labels, spec), nodes=nodes,
                                    labels=labels)
        self.plant(Category.ISOLATION, "runtime-socket-docker", daemon,
                   "spec.template.spec.volumes[docker-sock].hostPath.path = /var/run/docker.sock")
        self.plant(Category.ISOLATION, "run-as-root", daemon,
                   "spec.template.spec.containers[cache-warmer].securityContext.runAsUser = 0")
        self.plant(Category.ISOLATION, "automount-default-token", daemon,
                   "runs as ci/default with the token automounted")

    def buildkitd(self, namespace: str) -> None:
        """Rootless BuildKit: user namespace, but seccomp and AppArmor off and /proc unmasked."""
        labels = {"app": "buildkitd"}
        container = _container(
            "buildkitd", "docker.io/moby/buildkit:v0.16.0-rootless",
            args=["--addr", "tcp://0.0.0.0:1234", "--oci-worker-no-process-sandbox"],
            ports=[_port("buildkitd", 1234)], resources=_resources("500m", "1Gi", memory_limit="4Gi"),
            mounts=[_mount("buildkitd", "/home/user/.local/share/buildkit")],
            readiness={"exec": {"command": ["buildctl", "debug", "workers"]}, "initialDelaySeconds": 5,
                       "timeoutSeconds": 1, "periodSeconds": 30, "successThreshold": 1, "failureThreshold": 3},
            liveness={"exec": {"command": ["buildctl", "debug", "workers"]}, "initialDelaySeconds": 5,
                      "timeoutSeconds": 1, "periodSeconds": 30, "successThreshold": 1, "failureThreshold": 3},
            security={"runAsUser": 1000, "runAsGroup": 1000, "procMount": "Unmasked",
                      "seccompProfile": {"type": "Unconfined"}, "appArmorProfile": {"type": "Unconfined"}},
        )
        spec = _pod_spec([container], service_account="gitlab-runner-build", hostUsers=False,
                         volumes=[_empty_dir("buildkitd")])
        deploy, _ = self.deployment(namespace, "buildkitd", [(_template(labels, spec), 1)], labels=labels)
        path = "spec.template.spec.containers[buildkitd].securityContext"
        self.plant(Category.ISOLATION, "seccomp-unconfined", deploy, f"{path}.seccompProfile.type = Unconfined")
        self.plant(Category.ISOLATION, "apparmor-unconfined", deploy, f"{path}.appArmorProfile.type = Unconfined")
        self.plant(Category.ISOLATION, "proc-mount-unmasked", deploy, f"{path}.procMount = Unmasked")

    def ci_deployer(self, namespace: str) -> None:
        """The deploy job's account may escalate and bind: it can grant itself anything."""
        self.service_account(namespace, "deployer", automount=False)
        role = self.cluster_role("rbac-manager", [
            _rule(["get", "list", "watch", "create", "update", "patch", "escalate", "bind"],
                  ["rbac.authorization.k8s.io"], ["roles", "clusterroles"]),
            _rule(["get", "list", "watch", "create", "update", "patch", "delete"],
                  ["rbac.authorization.k8s.io"], ["rolebindings", "clusterrolebindings"]),
        ])
        self.cluster_role_binding("ci-deployer-rbac-manager", "rbac-manager",
                                  [_service_account_subject(namespace, "deployer")])
        self.plant(Category.EXEC_ACCESS, "escalate-bind", role, "rules[0]: escalate, bind on roles, clusterroles")

    # -- team namespaces

    def add_team_namespaces(self) -> list[str]:
        """Every team namespace with its people, RBAC and (in most) network policies."""
        count = max(4, self.target_pods // 245)
        names = _team_names(count)
        self.cluster_role("app-config-reader", [_rule(_READ, [""], ["configmaps"])])
        debugger = self.cluster_role("oncall-debugger", [
            _rule(["patch", "update"], [""], ["pods/ephemeralcontainers"]), _rule(_READ, [""], ["pods", "pods/log"])])
        self.cluster_role_binding("oncall-debugger", "oncall-debugger", [_group("sre")])
        self.plant(Category.EXEC_ACCESS, "ephemeral-containers", debugger,
                   "rules[0]: patch, update on pods/ephemeralcontainers, bound to Group sre cluster-wide")
        self.cluster_role("support-impersonator", [
            _rule(["impersonate"], [""], ["users", "groups", "serviceaccounts"])])
        impersonation = self.cluster_role_binding("support-impersonator", "support-impersonator",
                                                  [_user("support-lead@example.com")])
        self.plant(Category.EXEC_ACCESS, "impersonate", impersonation,
                   "User support-lead@example.com may impersonate any user, group or service account")
        self.aggregated_platform_role()
        for index, name in enumerate(names):
            base = name.split("-")[0]
            enforce = "baseline" if base in ("checkout", "search") or self.rng.random() < 0.2 else "restricted"
            environment = "production" if name == base else name.split("-", 1)[1]
            self.namespace(name, enforce=enforce, labels={"team": base, "environment": environment})
            self.role_binding(name, "developers", "edit", [_group(f"team-{base}")])
            self.role_binding(name, "oncall-view", "view", [_group("oncall")])
            if name != "search" and (index < 3 or self.rng.random() > 0.08):
                self.standard_network_policies(name)
        return names

    def aggregated_platform_role(self) -> None:
        """A custom aggregated ClusterRole whose exec permission comes only through aggregation."""
        selector = {"rbac.example.com/aggregate-to-platform": "true"}
        parts = [
            self.cluster_role("platform-operator-exec",
                              [_rule(["create", "get"], [""], ["pods/exec", "pods/portforward"])], labels=selector),
            self.cluster_role("platform-operator-workloads", [_rule(_ALL, ["apps"], ["deployments", "statefulsets"])],
                              labels=selector),
        ]
        # The API server's aggregation controller fills the aggregated role's rules in.
        role = self.cluster_role("platform-operator", [rule for part in parts for rule in part["rules"]],
                                 aggregate=[selector])
        self.cluster_role_binding("platform-operators", "platform-operator", [_group("platform-team")])
        self.plant(Category.EXEC_ACCESS, "aggregated-exec", role,
                   "aggregationRule selects platform-operator-exec: create pods/exec through aggregation")

    def add_payments(self) -> None:
        """Card data: a PCI workload co-located with the privileged scanner, and one in gVisor."""
        namespace = "payments"
        self.secret(namespace, "card-vault-db", {"username": "vault", "password": "fake-password-for-the-demo"})
        self.config_map(namespace, "card-vault-config", {"LOG_LEVEL": "info", "HSM_ENDPOINT": "hsm.payments.svc:1792"})
        self.service_account(namespace, "card-vault", automount=False)
        sensitive = {"data-classification": "pci", "kubeward.io/sensitive": "true"}
        labels = {**_team_labels("card-vault", "payments", "backend", "3.2.1"), **sensitive}
        container = _web_container(
            "card-vault", self.pinned("registry.example.com/payments/card-vault:3.2.1"),
            env=[_env_from_secret("DB_PASSWORD", "card-vault-db", "password"),
                 _env_from_config_map("LOG_LEVEL", "card-vault-config", "LOG_LEVEL"), _env("HSM_SLOT", "0")],
            env_from=[{"configMapRef": {"name": "card-vault-config"}}, {"secretRef": {"name": "card-vault-db"}}],
        )
        spec = _pod_spec([container], service_account="card-vault", security=_restricted_pod(),
                         volumes=[_empty_dir("tmp")])
        replicas = 2 if self.target_pods < 200 else 3
        deploy, pods = self.deployment(namespace, "card-vault", [(_template(labels, spec), replicas)],
                                       labels=labels)
        self.service(namespace, "card-vault", {"app.kubernetes.io/name": "card-vault"}, [("http", 80, "http")],
                     labels=labels)
        budget = self.disruption_budget(namespace, "card-vault", {"app.kubernetes.io/name": "card-vault"},
                                        expected=replicas, max_unavailable=0)
        self.plant(Category.PATCH_READINESS, "pdb-blocks-eviction", budget,
                   "spec.maxUnavailable = 0: no voluntary eviction, node drains for patching hang")
        node = self.node_named(pods[0]["spec"]["nodeName"])
        self.plant(Category.ISOLATION, "sensitive-co-tenancy", deploy,
                   f"pod {pods[0]['metadata']['name']} shares node {node.name}"
                   " with security/runtime-scanner (privileged)")
        self.tokenizer(namespace, sensitive)

    def tokenizer(self, namespace: str, sensitive: dict[str, str]) -> None:
        self.service_account(namespace, "tokenizer", automount=False)
        labels = {**_team_labels("tokenizer", "payments", "backend", "1.8.0"), **sensitive}
        container = _web_container("tokenizer", self.pinned("registry.example.com/payments/tokenizer:1.8.0"))
        spec = _pod_spec([container], service_account="tokenizer", security=_restricted_pod(),
                         volumes=[_empty_dir("tmp")], runtimeClassName="gvisor")
        deploy, _ = self.deployment(namespace, "tokenizer", [(_template(labels, spec), 1)], labels=labels)
        self.plant(Category.ISOLATION, "sandboxed-runtime-gvisor", deploy,
                   "spec.template.spec.runtimeClassName = gvisor (handler runsc) on a sensitive workload")
        self.service(namespace, "tokenizer", {"app.kubernetes.io/name": "tokenizer"}, [("http", 80, "http")],
                     labels=labels)

    def add_checkout(self) -> None:
        """A rollout stuck half way, a Recreate deployment with no way back, and wildcard RBAC."""
        namespace = "checkout"
        self.cart(namespace)
        self.promo_engine(namespace)
        self.traffic_shaper(namespace)
        role = self.role(namespace, "dev-full-access", [_rule(["*"], ["*"], ["*"])])
        self.role_binding(namespace, "checkout-devs-full-access", "dev-full-access", [_group("checkout-devs")],
                          role_kind="Role")
        self.plant(Category.EXEC_ACCESS, "wildcard-role", role, "rules[0]: verbs *, apiGroups *, resources *")

    def cart(self, namespace: str) -> None:
        self.service_account(namespace, "cart", automount=False)

        def template(version: str) -> Obj:
            labels = _team_labels("cart", "checkout", "web", version)
            container = _web_container("cart", f"registry.example.com/checkout/cart:{version}")
            return _template(labels, _pod_spec([container], service_account="cart", security=_restricted_pod(),
                                               volumes=[_empty_dir("tmp")]))

        half = 1 if self.target_pods < 200 else 2
        deploy, pods = self.deployment(
            namespace, "cart", [(template("2.13.4"), 0), (template("2.14.0"), half), (template("2.15.0"), half)],
            labels={"app.kubernetes.io/name": "cart"},
        )
        self.plant(Category.PATCH_READINESS, "mixed-digests", deploy,
                   "replicas run cart:2.14.0 and cart:2.15.0 (two ReplicaSets with pods): a rollout stuck half way")
        newest = pods[-1]
        self.attach_debugger(newest, "cart")
        self.plant(Category.ISOLATION, "ephemeral-container", newest,
                   "spec.ephemeralContainers[debugger] (busybox:1.36, targetContainerName cart)")
        self.service(namespace, "cart", {"app.kubernetes.io/name": "cart"}, [("http", 80, "http")])
        self.disruption_budget(namespace, "cart", {"app.kubernetes.io/name": "cart"}, expected=2 * half,
                               max_unavailable=1)

    def promo_engine(self, namespace: str) -> None:
        """Recreate, no readiness probe, no revision history, one replica, no PDB, a literal token in env."""
        labels = _team_labels("promo-engine", "checkout", "backend", "0.9.3")
        container = _container(
            "promo-engine", "registry.example.com/checkout/promo-engine:0.9.3", ports=[_port("http", 8080)],
            env=[_env("PROMO_API_TOKEN", "fake-token-0000-not-a-secret"), _env("SPRING_PROFILES_ACTIVE", "prod")],
            resources=_resources("250m", "512Mi", memory_limit="1Gi"),
            liveness=_http_probe("/actuator/health/liveness", "http", delay=60),
            security={"runAsUser": 0, "allowPrivilegeEscalation": False},
        )
        spec = _pod_spec([container])
        template = _template(labels, spec)
        last_applied = msgspec.json.encode({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "promo-engine", "namespace": namespace},
            "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "template": template},
        }).decode()
        deploy, _ = self.deployment(
            namespace, "promo-engine", [(template, 1)], labels={"app.kubernetes.io/name": "promo-engine"},
            strategy={"type": "Recreate"}, history=0,
            annotations={"kubectl.kubernetes.io/last-applied-configuration": last_applied + "\n"},
        )
        self.plant(Category.PATCH_READINESS, "recreate-strategy", deploy, "spec.strategy.type = Recreate")
        self.plant(Category.PATCH_READINESS, "no-readiness-probe", deploy,
                   "spec.template.spec.containers[promo-engine].readinessProbe is missing")
        self.plant(Category.PATCH_READINESS, "no-revision-history", deploy, "spec.revisionHistoryLimit = 0")
        self.plant(Category.PATCH_READINESS, "single-replica-no-pdb", deploy,
                   "spec.replicas = 1 and no PodDisruptionBudget selects it")
        self.plant(Category.ISOLATION, "run-as-root", deploy,
                   "spec.template.spec.containers[promo-engine].securityContext.runAsUser = 0")
        self.plant(Category.ISOLATION, "automount-default-token", deploy,
                   "runs as checkout/default with the token automounted")
        self.plant(Category.ISOLATION, "literal-secret-env", deploy,
                   "spec.template.spec.containers[promo-engine].env[PROMO_API_TOKEN] is a literal value")

    def traffic_shaper(self, namespace: str) -> None:
        """Pod says non-root; the container overrides it to root and adds NET_ADMIN, NET_RAW."""
        labels = _team_labels("traffic-shaper", "checkout", "network", "1.2.0")
        app = _web_container("app", "registry.example.com/checkout/edge-cache:4.1.0")
        shaper = _container(
            "tc", "registry.example.com/platform/tc-shaper:1.2.0", resources=_resources("10m", "32Mi"),
            security={"runAsNonRoot": False, "runAsUser": 0,
                      "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}},
        )
        self.service_account(namespace, "traffic-shaper", automount=False)
        spec = _pod_spec([app, shaper], service_account="traffic-shaper", security=_restricted_pod(),
                         volumes=[_empty_dir("tmp")])
        replicas = 1 if self.target_pods < 200 else 2
        deploy, _ = self.deployment(namespace, "traffic-shaper", [(_template(labels, spec), replicas)],
                                    labels={"app.kubernetes.io/name": "traffic-shaper"})
        path = "spec.template.spec.containers[tc].securityContext"
        for capability in ("net-admin", "net-raw"):
            self.plant(Category.ISOLATION, f"capability-{capability}", deploy,
                       f"{path}.capabilities.add = [NET_ADMIN, NET_RAW]")
        self.plant(Category.ISOLATION, "container-overrides-run-as-non-root", deploy,
                   f"{path}.runAsNonRoot = false, runAsUser = 0 (pod says runAsNonRoot: true)")
        self.plant(Category.ISOLATION, "allow-privilege-escalation-unset", deploy,
                   f"{path}.allowPrivilegeEscalation is not set")

    def add_search(self) -> None:
        """A `:latest` image with stale copies on some nodes, an OnDelete StatefulSet, egress left open."""
        namespace = "search"
        self.query_api(namespace)
        self.indexer(namespace)
        policy = self.network_policy(namespace, "allow-from-ingress-nginx", {
            "podSelector": {},
            "ingress": [{"from": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
                {"podSelector": {}},
            ]}],
            "policyTypes": ["Ingress"],
        })  # fmt: skip
        self.plant(Category.ISOLATION, "egress-unrestricted", policy,
                   "the only NetworkPolicy in namespace search has policyTypes [Ingress]: egress is open")

    def query_api(self, namespace: str) -> None:
        self.service_account(namespace, "query-api", automount=False)
        labels = _team_labels("query-api", "search", "web", "latest")
        container = _web_container("query-api", "registry.example.com/search/query-api:latest",
                                       pull_policy="IfNotPresent")
        spec = _pod_spec([container], service_account="query-api", security=_restricted_pod(),
                         volumes=[_empty_dir("tmp")])
        replicas = 2 if self.target_pods < 200 else 4
        template = _template(labels, spec)
        deploy, pods = self.deployment(
            namespace, "query-api", [(template, replicas)], labels={"app.kubernetes.io/name": "query-api"},
            strategy=_rolling_update("100%", 0),
        )
        stale = self.image_digest(container["image"], generation=1)
        for pod in pods[: replicas // 2]:  # their nodes pulled `latest` before it was re-pushed
            status = pod["status"]["containerStatuses"][0]
            status["imageID"] = status["imageID"].rpartition("@sha256:")[0] + f"@sha256:{stale}"
        self.plant(Category.IMAGE, "latest-tag", deploy,
                   "spec.template.spec.containers[query-api].image = registry.example.com/search/query-api:latest")
        self.plant(Category.PATCH_READINESS, "stale-mutable-tag", deploy,
                   "imagePullPolicy IfNotPresent on :latest; replicas run two digests")
        self.plant(Category.PATCH_READINESS, "max-unavailable-100", deploy,
                   "spec.strategy.rollingUpdate.maxUnavailable = 100%")
        self.service(namespace, "query-api", {"app.kubernetes.io/name": "query-api"}, [("http", 80, "http")])

    def indexer(self, namespace: str) -> None:
        """OpenSearch with a privileged init container (sysctl) and OnDelete updates."""
        self.service_account(namespace, "indexer", automount=False)
        labels = _team_labels("indexer", "search", "database", "2.17.1")
        init = _container("sysctl", "docker.io/library/busybox:1.36.1",
                          command=["sysctl", "-w", "vm.max_map_count=262144"],
                          security={"privileged": True, "runAsUser": 0})
        container = _container(
            "opensearch", "docker.io/opensearchproject/opensearch:2.17.1",
            ports=[_port("http", 9200), _port("transport", 9300)],
            env=[_env("cluster.name", "search"), _env("discovery.seed_hosts", "indexer-headless"),
                 _env_from_field("node.name", "metadata.name")],
            resources=_resources("1", "4Gi", memory_limit="4Gi"),
            mounts=[_mount("data", "/usr/share/opensearch/data")],
            readiness=_tcp_probe(9200), liveness=_tcp_probe(9300, delay=60),
            security={"capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True, "runAsUser": 1000,
                      "allowPrivilegeEscalation": False},
        )
        spec = _pod_spec([container], init=[init], service_account="indexer", security={"fsGroup": 1000},
                         grace=120)
        replicas = 1 if self.target_pods < 200 else 3
        sts, _ = self.stateful_set(namespace, "indexer", _template(labels, spec), replicas=replicas,
                                   service="indexer-headless", labels={"app.kubernetes.io/name": "indexer"},
                                   update_strategy={"type": "OnDelete"}, storage="200Gi")
        self.plant(Category.PATCH_READINESS, "on-delete-updates", sts, "spec.updateStrategy.type = OnDelete")
        self.plant(Category.ISOLATION, "privileged-init-container", sts,
                   "spec.template.spec.initContainers[sysctl].securityContext.privileged = true")
        self.plant(Category.PATCH_READINESS, "no-pdb", sts, "no PodDisruptionBudget selects it")
        self.service(namespace, "indexer-headless", {"app.kubernetes.io/name": "indexer"},
                     [("http", 9200, 9200), ("transport", 9300, 9300)], headless=True)

    def add_playground(self) -> None:
        """Everyone's sandbox: no Pod Security labels, no NetworkPolicy, every user may edit it."""
        namespace = "playground"
        ns = self.namespace(namespace, labels={"team": "everyone"})
        self.plant(Category.ISOLATION, "psa-missing", ns, f"no {_PSA}/enforce label")
        self.plant(Category.ISOLATION, "no-network-policy", ns, "no NetworkPolicy in the namespace")
        binding = self.role_binding(namespace, "everyone-can-edit", "edit", [_group("system:authenticated")])
        self.plant(Category.EXEC_ACCESS, "authenticated-group", binding,
                   "Group system:authenticated → ClusterRole edit (create pods/exec) in playground")
        self.echo_server(namespace)
        self.shm_cache(namespace)
        self.strace_debug(namespace)
        self.fuse_mounter(namespace)

    def echo_server(self, namespace: str) -> None:
        """`kubectl create deployment echo --image=hashicorp/http-echo`, then a hostPort added."""
        container = _container("http-echo", "hashicorp/http-echo", args=["-text=hello"],
                               ports=[_port("http", 5678, host_port=8080)])
        labels = {"app": "echo-server"}
        deploy, _ = self.deployment(namespace, "echo-server", [(_template(labels, _pod_spec([container])), 1)],
                                    labels=labels)
        self.plant(Category.IMAGE, "untagged-image", deploy,
                   "spec.template.spec.containers[http-echo].image = hashicorp/http-echo")
        self.plant(Category.ISOLATION, "host-port", deploy,
                   "spec.template.spec.containers[http-echo].ports[http].hostPort = 8080")
        self.plant(Category.ISOLATION, "automount-default-token", deploy,
                   "runs as playground/default with the token automounted")
        self.plant(Category.ISOLATION, "allow-privilege-escalation-unset", deploy,
                   "spec.template.spec.containers[http-echo].securityContext is not set")

    def shm_cache(self, namespace: str) -> None:
        """Host IPC, and seccomp and AppArmor turned off through the legacy annotations."""
        container = _container("shm-cache", "docker.io/library/memcached:1.6.31", args=["-m", "1024"],
                               ports=[_port("memcache", 11211)], resources=_resources("100m", "1Gi"),
                               liveness=_tcp_probe("memcache"), readiness=_tcp_probe("memcache"))
        labels = {"app": "shm-cache"}
        annotations = {
            "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
            "container.apparmor.security.beta.kubernetes.io/shm-cache": "unconfined",
        }
        spec = _pod_spec([container], automount=False, hostIPC=True)
        deploy, _ = self.deployment(namespace, "shm-cache", [(_template(labels, spec, annotations), 1)],
                                    labels=labels)
        self.plant(Category.ISOLATION, "host-ipc", deploy, "spec.template.spec.hostIPC = true")
        self.plant(Category.ISOLATION, "seccomp-unconfined-annotation", deploy,
                   "spec.template.metadata.annotations[seccomp.security.alpha.kubernetes.io/pod] = unconfined")
        self.plant(Category.ISOLATION, "apparmor-unconfined-annotation", deploy,
                   "spec.template.metadata.annotations"
                   "[container.apparmor.security.beta.kubernetes.io/shm-cache] = unconfined")

    def strace_debug(self, namespace: str) -> None:
        """A shared process namespace with a SYS_PTRACE sidecar, and a pod-level Unconfined seccomp."""
        app = _container("app", "docker.io/library/nginx:1.27.2", ports=[_port("http", 80)],
                         readiness=_http_probe("/", "http"))
        debug = _container("netshoot", "docker.io/nicolaka/netshoot:v0.13", command=["sleep", "infinity"],
                           security={"capabilities": {"add": ["SYS_PTRACE"]}, "allowPrivilegeEscalation": True})
        labels = {"app": "strace-debug"}
        spec = _pod_spec([app, debug], automount=False, shareProcessNamespace=True,
                         security={"seccompProfile": {"type": "Unconfined"}})
        deploy, _ = self.deployment(namespace, "strace-debug", [(_template(labels, spec), 1)], labels=labels)
        self.plant(Category.ISOLATION, "share-process-namespace", deploy,
                   "spec.template.spec.shareProcessNamespace = true")
        self.plant(Category.ISOLATION, "capability-sys-ptrace", deploy,
                   "spec.template.spec.containers[netshoot].securityContext.capabilities.add = [SYS_PTRACE]")
        self.plant(Category.ISOLATION, "allow-privilege-escalation", deploy,
                   "spec.template.spec.containers[netshoot].securityContext.allowPrivilegeEscalation = true")
        self.plant(Category.ISOLATION, "seccomp-unconfined", deploy,
                   "spec.template.spec.securityContext.seccompProfile.type = Unconfined")

    def fuse_mounter(self, namespace: str) -> None:
        """A FUSE mount in a pod: SYS_ADMIN added, image on `:latest` pulled Always."""
        container = _container(
            "s3fs", "docker.io/efrecon/s3fs:latest", resources=_resources("50m", "128Mi"),
            env=[_env_from_secret("AWS_SECRET_ACCESS_KEY", "s3-credentials", "secret-key"),
                 _env("AWS_S3_BUCKET", "playground-scratch")],
            security={"capabilities": {"add": ["SYS_ADMIN"]}, "runAsUser": 0},
        )
        self.secret(namespace, "s3-credentials", {"access-key": "AKIAFAKEFAKEFAKE", "secret-key": "fake/secret/key"})
        labels = {"app": "fuse-mounter"}
        template = _template(labels, _pod_spec([container], automount=False))
        deploy, _ = self.deployment(namespace, "fuse-mounter", [(template, 1)], labels=labels)
        self.plant(Category.ISOLATION, "capability-sys-admin", deploy,
                   "spec.template.spec.containers[s3fs].securityContext.capabilities.add = [SYS_ADMIN]")
        self.plant(Category.IMAGE, "latest-tag", deploy,
                   "spec.template.spec.containers[s3fs].image = docker.io/efrecon/s3fs:latest")

    # -- the rest of each team's namespace: ordinary applications sized to fill the pod count

    def add_team_apps(self, teams: Sequence[str]) -> None:
        remaining = self.target_pods - self.pod_count
        if remaining < 0:
            raise ValueError(f"{self.target_pods} pods are too few for this cluster's fixed parts")
        share, extra = divmod(remaining, len(teams))
        for index, namespace in enumerate(teams):
            self.team_apps(namespace, share + (index < extra))

    def team_apps(self, namespace: str, budget: int) -> None:
        """A database, a nightly CronJob and several Deployments, `budget` pods in all."""
        team = namespace.split("-")[0]
        members = self.rng.sample(_PEOPLE, k=min(len(_PEOPLE), 2 + budget // 8))
        for person in members:
            self.role_binding(namespace, f"dev-{person}", "view" if self.rng.random() < 0.5 else "edit",
                              [_user(f"{person}@example.com")])
        if budget <= 0:
            return
        database = min(3, budget // 8)
        jobs = min(3, (budget - database) // 10)
        if database:
            self.team_database(namespace, team, database)
        if jobs:
            self.team_cron_job(namespace, team, jobs)
        rest = budget - database - jobs
        roles = _ROLES[: max(1, min(len(_ROLES), rest // 8))]
        for role, replicas in zip(roles, _split(rest, len(roles), self.rng), strict=True):
            self.team_deployment(namespace, team, role, replicas)

    def team_deployment(self, namespace: str, team: str, role: str, replicas: int) -> None:
        name = f"{team}-{role}"
        noisy = self.rng.random()
        account = "default" if noisy < 0.06 else name
        if account != "default":
            self.service_account(namespace, account, automount=False)
            self.role_binding(namespace, f"{name}-config", "app-config-reader",
                              [_service_account_subject(namespace, account)])
        component = "web" if role in _SERVING_ROLES else "worker"
        major, minor = self.rng.randint(1, 4), self.rng.randint(0, 30)
        history = self.rng.randint(0, 2)

        def template(patch: int) -> Obj:
            version = f"{major}.{minor}.{patch}"
            image = f"registry.example.com/{team}/{role}:{version}"
            overrides: Obj = {"env": [_env("LOG_FORMAT", "json"), _env_from_field("POD_IP", "status.podIP")]}
            if component == "worker":
                overrides.update(ports=[_port("metrics", 9090)], liveness=_http_probe("/healthz", "metrics"),
                                 readiness=_http_probe("/healthz", "metrics"))
            container = _web_container(role, image, **overrides)
            if noisy > 0.92:
                container["securityContext"] = {"allowPrivilegeEscalation": False}
            init = [_container("migrate", image, command=["/app/migrate", "up"], resources=_resources("50m", "64Mi"),
                               security=_hardened())] if role == "api" else []
            spec = _pod_spec([container], init=init, service_account=account, security=_restricted_pod(),
                             volumes=[_empty_dir("tmp")])
            return _template(_team_labels(name, team, component, version), spec)

        revisions = [(template(patch), 0) for patch in range(history)] + [(template(history), replicas)]
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": team}
        self.deployment(namespace, name, revisions, labels=labels)
        selector = {"app.kubernetes.io/name": name}
        if component == "web":
            self.service(namespace, name, selector, [("http", 80, "http")], labels=labels)
        if replicas >= 2 and self.rng.random() < 0.9:
            self.disruption_budget(namespace, name, selector, expected=replicas, max_unavailable=1)

    def team_database(self, namespace: str, team: str, replicas: int) -> None:
        engine = self.rng.choice(("postgres", "redis"))
        name = f"{team}-{engine}"
        self.service_account(namespace, name, automount=False)
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "database",
                  "app.kubernetes.io/part-of": team}
        if engine == "postgres":
            self.secret(namespace, f"{name}-credentials", {"password": "fake-password-for-the-demo"})
            container = _container(
                "postgres", "docker.io/library/postgres:16.4", ports=[_port("postgres", 5432)],
                env=[_env_from_secret("POSTGRES_PASSWORD", f"{name}-credentials", "password"),
                     _env("PGDATA", "/var/lib/postgresql/data/pgdata")],
                resources=_resources("500m", "1Gi", memory_limit="2Gi"),
                mounts=[_mount("data", "/var/lib/postgresql/data"), _mount("run", "/var/run/postgresql")],
                liveness={"exec": {"command": ["pg_isready", "-U", "postgres"]}, "initialDelaySeconds": 30,
                          "timeoutSeconds": 5, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 6},
                readiness={"exec": {"command": ["pg_isready", "-U", "postgres"]}, "timeoutSeconds": 5,
                           "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 6},
                security={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            )
            uid, port, volumes = 999, ("postgres", 5432, 5432), [_empty_dir("run")]
        else:
            container = _container(
                "redis", "docker.io/library/redis:7.4.1", args=["--appendonly", "yes"],
                ports=[_port("redis", 6379)], resources=_resources("100m", "256Mi", memory_limit="512Mi"),
                mounts=[_mount("data", "/data")], liveness=_tcp_probe("redis", delay=15),
                readiness={"exec": {"command": ["redis-cli", "ping"]}, "timeoutSeconds": 1, "periodSeconds": 10,
                           "successThreshold": 1, "failureThreshold": 3},
                security=_hardened(),
            )
            uid, port, volumes = 999, ("redis", 6379, 6379), []
        spec = _pod_spec([container], service_account=name, security=_restricted_pod(uid), volumes=volumes)
        self.stateful_set(namespace, name, _template(labels, spec), replicas=replicas,
                          service=f"{name}-headless", labels=labels)
        selector = {"app.kubernetes.io/name": name}
        self.service(namespace, f"{name}-headless", selector, [port], headless=True, labels=labels)
        self.service(namespace, name, selector, [port], labels=labels)
        if replicas >= 2:
            self.disruption_budget(namespace, name, selector, expected=replicas, min_available=replicas - 1)

    def team_cron_job(self, namespace: str, team: str, jobs: int) -> None:
        name = f"{team}-nightly-report"
        self.service_account(namespace, name, automount=False)
        container = _container(
            "report", f"registry.example.com/{team}/reporter:1.{self.rng.randint(0, 9)}.0",
            args=["--since=24h"], resources=_resources("200m", "256Mi", memory_limit="512Mi"),
            mounts=[_mount("tmp", "/tmp")], security=_hardened(),
        )
        spec = _pod_spec([container], service_account=name, restart="OnFailure", security=_restricted_pod(),
                         volumes=[_empty_dir("tmp")])
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": team}
        self.cron_job(namespace, name, _template(labels, spec), minute=self.rng.randint(0, 59),
                      jobs=jobs, labels=labels)


# --- module helpers used by the builder ---------------------------------------------------


def _team_labels(app: str, team: str, component: str, version: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": team,
            "app.kubernetes.io/component": component, "app.kubernetes.io/version": version}


def _web_container(name: str, image: str, *, port: int = 8080, **overrides: Any) -> Obj:
    """A sane HTTP application container: probes, resources, hardened, /tmp writable."""
    settings: Obj = {
        "ports": [_port("http", port)],
        "resources": _resources("100m", "128Mi", memory_limit="256Mi"),
        "mounts": [_mount("tmp", "/tmp")],
        "liveness": _http_probe("/healthz", "http", delay=10),
        "readiness": _http_probe("/ready", "http"),
        "security": _hardened(),
    }
    settings.update(overrides)
    return _container(name, image, **settings)


def _owner_reference(owner: Obj) -> Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _selector_labels(template: Obj) -> dict[str, str]:
    """The labels a controller selects its pods by: the stable ones, never the version."""
    labels = template["metadata"]["labels"]
    for key in ("app.kubernetes.io/name", "k8s-app", "app"):
        if key in labels:
            return {key: labels[key]}
    return dict(labels)


def _with_labels(template: Obj, labels: dict[str, str]) -> Obj:
    """A deep copy of a pod template with more labels, so no two objects share a dict."""
    copy = msgspec.json.decode(msgspec.json.encode(template))
    copy["metadata"]["labels"].update(labels)
    return copy


def _rolling_update(max_unavailable: int | str, max_surge: int | str) -> Obj:
    return {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": max_unavailable, "maxSurge": max_surge}}


def _pod_condition(kind: str, status: str, since: str, reason: str | None = None) -> Obj:
    condition: Obj = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    if reason:
        condition["reason"] = reason
    return condition


def _condition(kind: str, reason: str, message: str, since: datetime) -> Obj:
    moment = _timestamp(since)
    return {"type": kind, "status": "True", "lastUpdateTime": moment, "lastTransitionTime": moment,
            "reason": reason, "message": message}


_DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]

_CONTROLLER_RULES: dict[str, list[Obj]] = {
    "deployment-controller": [
        _rule(["get", "list", "watch", "update"], ["apps", "extensions"], ["deployments"]),
        _rule(["update"], ["apps", "extensions"], ["deployments/finalizers", "deployments/status"]),
        _rule(["create", "delete", "get", "list", "patch", "update", "watch"], ["apps", "extensions"], ["replicasets"]),
        _rule(["get", "list", "update", "watch"], [""], ["pods"]),
    ],
    "replicaset-controller": [
        _rule(["get", "list", "update", "watch"], ["apps", "extensions"], ["replicasets"]),
        _rule(["update"], ["apps", "extensions"], ["replicasets/finalizers", "replicasets/status"]),
        _rule(["create", "delete", "list", "patch", "watch"], [""], ["pods"]),
    ],
    "daemon-set-controller": [
        _rule(["get", "list", "watch"], ["apps", "extensions"], ["daemonsets"]),
        _rule(["update"], ["apps", "extensions"], ["daemonsets/status", "daemonsets/finalizers"]),
        _rule(["list", "watch"], [""], ["nodes"]),
        _rule(["create", "delete", "list", "patch", "watch"], [""], ["pods"]),
        _rule(["create"], [""], ["pods/binding"]),
    ],
    "statefulset-controller": [
        _rule(["list", "watch"], [""], ["pods"]),
        _rule(["list", "watch"], ["apps"], ["statefulsets"]),
        _rule(["update"], ["apps"], ["statefulsets/status", "statefulsets/finalizers"]),
        _rule(["create", "delete", "get", "patch", "update"], [""], ["pods"]),
        _rule(["create", "get"], [""], ["persistentvolumeclaims"]),
    ],
    "job-controller": [
        _rule(["get", "list", "watch", "update", "patch"], ["batch"], ["jobs"]),
        _rule(["update"], ["batch"], ["jobs/status", "jobs/finalizers"]),
        _rule(["create", "delete", "list", "patch", "watch"], [""], ["pods"]),
    ],
    "cronjob-controller": [
        _rule(["get", "list", "watch", "update"], ["batch"], ["cronjobs"]),
        _rule(["create", "delete", "get", "list", "patch", "update", "watch"], ["batch"], ["jobs"]),
        _rule(["update"], ["batch"], ["cronjobs/status", "cronjobs/finalizers"]),
        _rule(["delete", "list"], [""], ["pods"]),
    ],
    "namespace-controller": [
        _rule(["delete", "get", "list", "watch"], [""], ["namespaces"]),
        _rule(["update"], [""], ["namespaces/finalize", "namespaces/status"]),
        _rule(["delete", "deletecollection", "get", "list"], ["*"], ["*"]),
    ],
    "generic-garbage-collector": [_rule(["delete", "get", "list", "patch", "update", "watch"], ["*"], ["*"])],
    "clusterrole-aggregation-controller": [
        _rule(["escalate", "get", "list", "patch", "update", "watch"], ["rbac.authorization.k8s.io"], ["clusterroles"]),
    ],
}
"""A representative set of the controller-manager's built-in controller roles."""
