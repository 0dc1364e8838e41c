"""Network and tenancy isolation: NetworkPolicy, Pod Security Admission, sandboxed
runtimes and node co-tenancy (KW-ISO-040 … KW-ISO-059).

The per-container securityContext checks (privileged, host namespaces, hostPath,
capabilities, root, seccomp …) live in `checks.isolation` and `checks.hardening`.
This module looks at what separates one workload from another: whether the
network plugin is told to isolate a pod, whether admission stops a namespace
from running privileged pods, whether untrusted code gets a kernel of its own,
and whether a pod that can reach its node shares that node with someone else.

Choices made here, in one place:

- **System namespaces** (`kube-system`, `kube-public`, `kube-node-lease`) hold the
  platform, not a tenant. Their NetworkPolicy and Pod Security findings are
  reported one step lower; `kube-public` and `kube-node-lease` are skipped
  entirely while they run no pods, which is how Kubernetes ships them.
  `kube-system` itself is always evaluated: it is where a missing policy hurts most.
- **Default deny** means what the Kubernetes docs mean: an empty podSelector, the
  direction among the (defaulted) policyTypes, and no rule for it. A policy that
  selects every pod but allows some traffic isolates today's pods (the pod checks
  see that) but is not a default deny.
- **hostNetwork pods** are reported by the NetworkPolicy pod checks whether or not a
  policy selects them, with a message saying why: NetworkPolicy behaviour for them
  is undefined and most network plugins ignore them. Completed pods are evaluated
  too: their labels are their workload's, and the next run gets the same.
- **Pod Security**: a missing `enforce` label is medium, `enforce: privileged` high
  (both one step lower in system namespaces); an `enforce-version` older than the
  cluster (API server, else newest kubelet) is informational.
- **Escape-capable** (`escape_capabilities`) means the pod can reach its node's
  kernel, processes or container runtime without a further bug: a privileged or
  Windows hostProcess container, hostPID/hostIPC/hostNetwork, a mounted hostPath
  to `/` or to a container-runtime socket (or the directory holding one), or an
  added SYS_ADMIN/ALL capability. A pod in a gVisor/Kata sandbox is not.
- **Co-tenancy** is reported once per node. Escape-capable pods of system
  namespaces are the platform's own (CNI, kube-proxy, CSI): they are on every node
  and not a tenant's, so they do not make a node a finding (the isolation checks
  still flag them one by one). An escape-capable DaemonSet elsewhere yields one
  finding per node it shares with others, each naming the DaemonSet once however
  many of its pods run there. Pods that are escape-capable themselves already
  reach the node and are not counted as exposed; sandboxed pods are, since a
  root on the host can read a sandbox's memory and files.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

from audit.findings import Category, Severity
from audit.model import Inventory, Namespace, NetworkPolicy, Node, ObjectRef, Pod
from checks.engine import CheckContext, Hit, Reference, Target, check

Direction = Literal["Ingress", "Egress"]
DIRECTIONS: tuple[Direction, ...] = ("Ingress", "Egress")

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
"""Namespaces the control plane creates for itself."""

IDLE_SYSTEM_NAMESPACES = frozenset({"kube-public", "kube-node-lease"})
"""System namespaces that normally run no pods: skipped while they do not."""

PSA = "pod-security.kubernetes.io"
ENFORCE_LABEL = f"{PSA}/enforce"
ENFORCE_VERSION_LABEL = f"{PSA}/enforce-version"

RUNTIME_SOCKETS = ("docker.sock", "containerd.sock", "crio.sock", "cri-dockerd.sock", "dockershim.sock",
                   "podman.sock")
"""File names of container-runtime API sockets: whoever can write to one runs containers as root on the node."""

RUNTIME_SOCKET_DIRS = frozenset({
    "/run", "/var/run", "/run/containerd", "/var/run/containerd", "/run/crio", "/var/run/crio",
    "/run/docker", "/var/run/docker", "/run/k3s/containerd", "/run/cri-dockerd", "/var/run/cri-dockerd",
})
"""Host directories that hold a runtime socket: mounting one mounts the socket."""

CONTROLLER_LABELS = frozenset({
    "pod-template-hash", "controller-revision-hash", "pod-template-generation", "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index", "controller-uid", "job-name", "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name", "batch.kubernetes.io/job-completion-index",
})
"""Labels controllers add to each pod: left out of the evidence, which points at the pod template."""

ESCAPE_CAPABILITIES = frozenset({"SYS_ADMIN", "ALL"})

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
"""Pods in these phases hold no running containers on their node."""

_PSA_VERSION = re.compile(r"^v1\.(0|[1-9][0-9]*)$")
"""What Pod Security admission accepts as a pinned version; anything else means `latest`."""

_KUBE_VERSION = re.compile(r"^v?(\d+)\.(\d+)")

# --- references ----------------------------------------------------------------

_NSA = Reference(
    "NSA/CISA Kubernetes Hardening Guide 1.2",
    "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
)
_CIS_NETPOL = Reference("CIS Kubernetes Benchmark 5.3.2 (all namespaces have NetworkPolicies defined)",
                        "https://www.cisecurity.org/benchmark/kubernetes")
_CIS_POLICY = Reference("CIS Kubernetes Benchmark 5.2.1 (at least one active policy control mechanism)",
                        "https://www.cisecurity.org/benchmark/kubernetes")
_CIS_PRIVILEGED = Reference("CIS Kubernetes Benchmark 5.2.2 (minimize the admission of privileged containers)",
                            "https://www.cisecurity.org/benchmark/kubernetes")
_CIS_BOUNDARIES = Reference("CIS Kubernetes Benchmark 5.7.1 (administrative boundaries using namespaces)",
                            "https://www.cisecurity.org/benchmark/kubernetes")
_K8S_NETPOL = Reference("Kubernetes: Network Policies",
                        "https://kubernetes.io/docs/concepts/services-networking/network-policies/")
_K8S_NETPOL_HOSTNET = Reference(
    "Kubernetes: NetworkPolicy and hostNetwork pods",
    "https://kubernetes.io/docs/concepts/services-networking/network-policies/#networkpolicy-and-hostnetwork-pods",
)
_K8S_PSA = Reference("Kubernetes: Pod Security Admission",
                     "https://kubernetes.io/docs/concepts/security/pod-security-admission/")
_K8S_PSS = Reference("Kubernetes: Pod Security Standards",
                     "https://kubernetes.io/docs/concepts/security/pod-security-standards/")
_K8S_RUNTIME_CLASS = Reference("Kubernetes: Runtime Class",
                               "https://kubernetes.io/docs/concepts/containers/runtime-class/")
_K8S_MULTI_TENANCY = Reference("Kubernetes: Multi-tenancy (sandboxing containers, node isolation)",
                               "https://kubernetes.io/docs/concepts/security/multi-tenancy/")
_GVISOR = Reference("gVisor: what is gVisor", "https://gvisor.dev/docs/")
_KATA = Reference("Kata Containers", "https://katacontainers.io/")
_ATTACK_ESCAPE = Reference("MITRE ATT&CK T1611 Escape to Host", "https://attack.mitre.org/techniques/T1611/")
_ATTACK_DEPLOY = Reference("MITRE ATT&CK T1610 Deploy Container", "https://attack.mitre.org/techniques/T1610/")
_ATTACK_DISCOVERY = Reference("MITRE ATT&CK T1046 Network Service Discovery",
                              "https://attack.mitre.org/techniques/T1046/")
_ATTACK_REMOTE = Reference("MITRE ATT&CK T1210 Exploitation of Remote Services",
                           "https://attack.mitre.org/techniques/T1210/")
_ATTACK_EXFIL = Reference("MITRE ATT&CK T1041 Exfiltration Over C2 Channel",
                          "https://attack.mitre.org/techniques/T1041/")
_ATTACK_METADATA = Reference("MITRE ATT&CK T1552.005 Cloud Instance Metadata API",
                             "https://attack.mitre.org/techniques/T1552/005/")
_CVE_LEAKY_VESSELS = Reference("CVE-2024-21626 (runc: container escape through a leaked descriptor)",
                               "https://nvd.nist.gov/vuln/detail/CVE-2024-21626")
_CVE_DIRTY_PIPE = Reference("CVE-2022-0847 (Dirty Pipe: a kernel bug any container can use)",
                            "https://nvd.nist.gov/vuln/detail/CVE-2022-0847")


# --- small pure functions (unit-tested) ---------------------------------------------


def some(names: Sequence[str], limit: int = 3) -> str:
    """`a, b, c and 4 more`: a bounded list for a one-sentence message."""
    shown = ", ".join(names[:limit])
    rest = len(names) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


def lower(severity: Severity) -> Severity:
    """One step less severe (info stays info)."""
    order = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
    return order[max(0, order.index(severity) - 1)]


def applies_to(policy: NetworkPolicy, labels: dict[str, str], direction: Direction) -> bool:
    """Whether a policy isolates a pod with these labels, in the policy's own namespace, for
    this direction (policyTypes defaulted as the API server does)."""
    return direction in policy.effective_policy_types and policy.spec.pod_selector.matches(labels)


def is_default_deny(policy: NetworkPolicy, direction: Direction) -> bool:
    """An empty podSelector, the direction among its policyTypes, and no rule for it."""
    selector = policy.spec.pod_selector
    if selector.match_labels or selector.match_expressions:
        return False
    if direction not in policy.effective_policy_types:
        return False
    rules = policy.spec.ingress if direction == "Ingress" else policy.spec.egress
    return not rules


def escape_capabilities(pod: Pod) -> tuple[str, ...]:
    """Why this pod can reach its node without a further bug; empty when it cannot.

    Counts: a privileged or Windows hostProcess container (init and ephemeral
    ones too), hostPID, hostIPC, hostNetwork, a hostPath volume that some
    container mounts and that is `/`, a container-runtime socket or a directory
    holding one, and SYS_ADMIN or ALL among added capabilities. Whether the pod
    runs in a gVisor/Kata sandbox is the caller's business (it needs the
    RuntimeClasses).
    """
    spec = pod.spec
    reasons: list[str] = []
    pod_host_process = bool(spec.security_context and spec.security_context.windows_options
                            and spec.security_context.windows_options.host_process)
    mounted: set[str] = set()
    for _, container in spec.all_containers():
        mounted.update(mount.name for mount in container.volume_mounts)
        context = container.security_context
        if context is None:
            if pod_host_process:
                reasons.append(f"hostProcess container {container.name}")
            continue
        if context.privileged:
            reasons.append(f"privileged container {container.name}")
        if pod_host_process or (context.windows_options and context.windows_options.host_process):
            reasons.append(f"hostProcess container {container.name}")
        if context.capabilities:
            for capability in context.capabilities.add:
                name = capability.upper().removeprefix("CAP_")
                if name in ESCAPE_CAPABILITIES:
                    reasons.append(f"{name} in {container.name}")
    for flag, name in ((spec.host_pid, "hostPID"), (spec.host_ipc, "hostIPC"), (spec.host_network, "hostNetwork")):
        if flag:
            reasons.append(name)
    for volume in spec.volumes:
        if volume.host_path is not None and volume.name in mounted and _reaches_node(volume.host_path.path):
            reasons.append(f"hostPath {volume.host_path.path}")
    return tuple(dict.fromkeys(reasons))


def _reaches_node(path: str) -> bool:
    """`/`, a runtime socket, or a directory holding one."""
    normal = posixpath.normpath("/" + path.lstrip("/"))
    return normal == "/" or normal in RUNTIME_SOCKET_DIRS or posixpath.basename(normal) in RUNTIME_SOCKETS


def pinned_minor(version: str) -> int | None:
    """The minor version a `pod-security.kubernetes.io/*-version` label pins, or None for `latest`
    (which is also what Pod Security admission makes of a value it cannot parse)."""
    match = _PSA_VERSION.match(version)
    return int(match.group(1)) if match else None


def kube_minor(version: str) -> int | None:
    """1.x minor of a Kubernetes version string (`v1.31.4`, `v1.29.8-eks-a737599`)."""
    match = _KUBE_VERSION.match(version)
    if match is None or match.group(1) != "1":
        return None
    return int(match.group(2))


def cluster_minor(inventory: Inventory) -> int | None:
    """The cluster's 1.x minor: the API server's, else the newest kubelet's."""
    server = kube_minor(inventory.cluster.version.git_version)
    if server is not None:
        return server
    kubelets = [m for n in inventory.nodes if (m := kube_minor(n.info.kubelet_version)) is not None]
    return max(kubelets, default=None)


# --- shared indexes (ctx.memo) --------------------------------------------------------


def _policies(ctx: CheckContext) -> dict[tuple[str, Direction], tuple[NetworkPolicy, ...]]:
    """(namespace, direction) → the policies there with that policy type."""

    def build(ctx: CheckContext) -> dict[tuple[str, Direction], tuple[NetworkPolicy, ...]]:
        out: dict[tuple[str, Direction], list[NetworkPolicy]] = {}
        for policy in ctx.inventory.network_policies:
            types = policy.effective_policy_types
            for direction in DIRECTIONS:
                if direction in types:
                    out.setdefault((policy.metadata.namespace or "", direction), []).append(policy)
        return {key: tuple(value) for key, value in out.items()}

    return ctx.memo("network.policies", build)


def _pod_count(ctx: CheckContext, namespace: str) -> int:
    return len(ctx.inventory.pods_by_namespace.get(namespace, ()))


def _skipped_system_namespace(ctx: CheckContext, namespace: str) -> bool:
    return namespace in IDLE_SYSTEM_NAMESPACES and _pod_count(ctx, namespace) == 0


def _system_severity(namespace: str, severity: Severity) -> Severity | None:
    """The lowered severity for a system namespace, None (the declared one) elsewhere."""
    return lower(severity) if namespace in SYSTEM_NAMESPACES else None


# --- NetworkPolicy: pods ---------------------------------------------------------------

_DIRECTION_WORDS = {
    "Ingress": ("ingress", "any pod in the cluster, and anything routed to the pod network, can connect to it"),
    "Egress": ("egress", "it can connect to any pod, the node, the cloud metadata service and the internet"),
}


def _pod_isolation(pod: Pod, ctx: CheckContext, direction: Direction, declared: Severity) -> Iterator[Hit]:
    word, consequence = _DIRECTION_WORDS[direction]
    policies = _policies(ctx).get((pod.namespace, direction), ())
    labels = pod.metadata.labels
    selecting = [p.metadata.name for p in policies if applies_to(p, labels, direction)]
    severity = _system_severity(pod.namespace, declared)
    if pod.spec.host_network:
        selected = f" (the {word} policies selecting it, {some(selecting)}, may have no effect)" if selecting else ""
        yield Hit(
            message=f"The pod uses the node's network namespace (hostNetwork): NetworkPolicy behaviour for such"
                    f" pods is undefined and most network plugins treat their traffic as the node's, so its {word}"
                    f" is not isolated{selected}.",
            field_path="spec.hostNetwork", observed=True, severity=severity,
        )
        return
    if selecting:
        return
    if policies:
        why = (f"none of the {len(policies)} {word} NetworkPolicies in namespace {pod.namespace}"
               f" ({some([p.metadata.name for p in policies])}) selects its labels")
    else:
        why = f"no NetworkPolicy in namespace {pod.namespace} isolates {word}"
    template_labels = {k: v for k, v in labels.items() if k not in CONTROLLER_LABELS}
    yield Hit(message=f"The pod is not isolated for {word}: {why}, so {consequence}.",
              field_path="metadata.labels", observed=template_labels, severity=severity)


@check(
    id="KW-ISO-040",
    name="pod-ingress-not-isolated",
    title="Pod not selected by any ingress NetworkPolicy",
    category=Category.ISOLATION,
    severity=Severity.MEDIUM,
    target=Target.POD,
    rationale="""
        A pod accepts connections from everywhere until a NetworkPolicy with policyType Ingress
        selects it (podSelector in the policy's own namespace). An attacker in any other pod can
        then scan and reach its ports: lateral movement needs no further foothold. Pods with
        hostNetwork cannot be isolated this way at all: NetworkPolicy behaviour for them is
        undefined and most plugins treat their traffic as the node's. System namespaces are
        reported one step lower.""",
    remediation="""
        Add a default-deny ingress policy to the namespace (podSelector: {}, policyTypes: [Ingress])
        and policies that allow only the expected clients; run the network plugin that enforces
        NetworkPolicy. Avoid hostNetwork, or protect such pods with host firewall rules.""",
    references=(_CIS_NETPOL, _NSA, _K8S_NETPOL, _K8S_NETPOL_HOSTNET, _ATTACK_DISCOVERY, _ATTACK_REMOTE),
)
def pod_ingress_not_isolated(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    """Pods no ingress policy selects, and hostNetwork pods."""
    return _pod_isolation(pod, ctx, "Ingress", Severity.MEDIUM)


@check(
    id="KW-ISO-041",
    name="pod-egress-not-isolated",
    title="Pod not selected by any egress NetworkPolicy",
    category=Category.ISOLATION,
    severity=Severity.MEDIUM,
    target=Target.POD,
    rationale="""
        A pod's outgoing connections are unrestricted until a NetworkPolicy whose policyTypes
        include Egress selects it (policyTypes default to Ingress alone unless the policy has
        egress rules). A compromised pod can then reach other pods, the API server, the cloud
        metadata service and the internet: to move on, steal node credentials and send data out.
        hostNetwork pods cannot be isolated this way. System namespaces are reported one step
        lower.""",
    remediation="""
        Add a default-deny egress policy to the namespace (podSelector: {}, policyTypes: [Egress])
        and allow DNS and the destinations each workload needs.""",
    references=(_CIS_NETPOL, _NSA, _K8S_NETPOL, _K8S_NETPOL_HOSTNET, _ATTACK_METADATA, _ATTACK_EXFIL),
)
def pod_egress_not_isolated(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    """Pods no egress policy selects, and hostNetwork pods."""
    return _pod_isolation(pod, ctx, "Egress", Severity.MEDIUM)


# --- NetworkPolicy: namespaces -------------------------------------------------------------


def _default_deny(namespace: Namespace, ctx: CheckContext, direction: Direction,
                  declared: Severity) -> Iterator[Hit]:
    name = namespace.metadata.name
    if _skipped_system_namespace(ctx, name):
        return
    policies = _policies(ctx).get((name, direction), ())
    if any(is_default_deny(p, direction) for p in policies):
        return
    word = direction.lower()
    others = (f"its {word} policies ({some([p.metadata.name for p in policies])}) protect only the pods they"
              f" select" if policies else f"it has no {word} NetworkPolicy at all")
    yield Hit(
        message=f"Namespace {name} has no default-deny {word} NetworkPolicy (empty podSelector, policyTypes"
                f" {direction}, no {word} rules): {others}, and any new pod starts unrestricted.",
        observed=[p.metadata.name for p in policies], detail=direction,
        severity=_system_severity(name, declared),
    )


@check(
    id="KW-ISO-042",
    name="namespace-no-default-deny-ingress",
    title="Namespace without a default-deny ingress NetworkPolicy",
    category=Category.ISOLATION,
    severity=Severity.MEDIUM,
    target=Target.NAMESPACE,
    rationale="""
        A policy that selects every pod of the namespace (empty podSelector) with policyType Ingress
        and no ingress rules isolates every pod, including the ones deployed tomorrow; other policies
        then open only what is needed. Without it, a pod whose labels no policy selects accepts
        connections from the whole cluster. kube-system is reported one step lower; kube-public and
        kube-node-lease are skipped while they run no pods.""",
    remediation="""
        Create `kind: NetworkPolicy` with `podSelector: {}` and `policyTypes: [Ingress]` and no
        `ingress` rules in the namespace, then allow the expected traffic with further policies.""",
    references=(_CIS_NETPOL, _NSA, _K8S_NETPOL, _ATTACK_REMOTE),
)
def namespace_no_default_deny_ingress(namespace: Namespace, ctx: CheckContext) -> Iterator[Hit]:
    """Namespaces lacking an ingress default-deny policy."""
    return _default_deny(namespace, ctx, "Ingress", Severity.MEDIUM)


@check(
    id="KW-ISO-043",
    name="namespace-no-default-deny-egress",
    title="Namespace without a default-deny egress NetworkPolicy",
    category=Category.ISOLATION,
    severity=Severity.LOW,
    target=Target.NAMESPACE,
    rationale="""
        A policy with an empty podSelector, policyType Egress and no egress rules stops every pod of
        the namespace, present and future, from opening connections nobody allowed: to the cloud
        metadata service, other tenants or the internet. kube-system is reported one step lower;
        kube-public and kube-node-lease are skipped while they run no pods.""",
    remediation="""
        Create `kind: NetworkPolicy` with `podSelector: {}` and `policyTypes: [Egress]` and no
        `egress` rules, plus a policy allowing DNS to kube-system and each workload's destinations.""",
    references=(_CIS_NETPOL, _NSA, _K8S_NETPOL, _ATTACK_METADATA, _ATTACK_EXFIL),
)
def namespace_no_default_deny_egress(namespace: Namespace, ctx: CheckContext) -> Iterator[Hit]:
    """Namespaces lacking an egress default-deny policy."""
    return _default_deny(namespace, ctx, "Egress", Severity.LOW)


# --- Pod Security Admission ---------------------------------------------------------------


_ENFORCE_PATH = f"metadata.labels['{ENFORCE_LABEL}']"
_ENFORCE_VERSION_PATH = f"metadata.labels['{ENFORCE_VERSION_LABEL}']"


@check(
    id="KW-ISO-044",
    name="pod-security-enforce-missing",
    title="Namespace without a Pod Security Admission enforce label",
    category=Category.ISOLATION,
    severity=Severity.MEDIUM,
    target=Target.NAMESPACE,
    rationale="""
        The built-in Pod Security admission controller rejects pods that break the namespace's
        `pod-security.kubernetes.io/enforce` level. Without the label the namespace falls back to the
        API server's admission configuration, which is `privileged` (nothing enforced) unless an
        administrator changed it; kubeward cannot read that file. Anyone able to create a pod there
        can then create a privileged one. kube-system is reported one step lower; kube-public and
        kube-node-lease are skipped while they run no pods. An unparsable level is enforced as
        `restricted` and is not reported.""",
    remediation="""
        Label the namespace, e.g. `kubectl label ns NAME pod-security.kubernetes.io/enforce=baseline`
        (or `restricted`), after checking its pods with `--dry-run=server`.""",
    references=(_CIS_POLICY, _NSA, _K8S_PSA, _K8S_PSS, _ATTACK_DEPLOY, _ATTACK_ESCAPE),
)
def pod_security_enforce_missing(namespace: Namespace, ctx: CheckContext) -> Iterator[Hit]:
    """Namespaces without a `pod-security.kubernetes.io/enforce` label."""
    name = namespace.metadata.name
    if ENFORCE_LABEL in namespace.metadata.labels or _skipped_system_namespace(ctx, name):
        return
    yield Hit(
        message=f"Namespace {name} has no {ENFORCE_LABEL} label: unless the API server's admission"
                f" configuration sets a stricter default, any pod is admitted there, privileged ones included.",
        field_path=_ENFORCE_PATH, observed=None, severity=_system_severity(name, Severity.MEDIUM),
    )


@check(
    id="KW-ISO-045",
    name="pod-security-enforce-privileged",
    title="Namespace enforces the privileged Pod Security level",
    category=Category.ISOLATION,
    severity=Severity.HIGH,
    target=Target.NAMESPACE,
    rationale="""
        `pod-security.kubernetes.io/enforce: privileged` explicitly turns Pod Security admission off
        for the namespace: privileged containers, host namespaces and hostPath mounts are all
        admitted, and whoever can create a pod there can take the node. Infrastructure namespaces
        sometimes need it; they should be few, and hold nothing else. kube-system is reported one
        step lower.""",
    remediation="""
        Enforce `baseline` or `restricted` and move the workloads that really need host access into a
        dedicated namespace that few people can write to; exempt single RuntimeClasses or users in
        the admission configuration instead of whole namespaces where possible.""",
    references=(_CIS_PRIVILEGED, _NSA, _K8S_PSA, _K8S_PSS, _ATTACK_DEPLOY, _ATTACK_ESCAPE),
)
def pod_security_enforce_privileged(namespace: Namespace, ctx: CheckContext) -> Iterator[Hit]:
    """Namespaces labelled `enforce: privileged`."""
    name = namespace.metadata.name
    level = namespace.metadata.labels.get(ENFORCE_LABEL)
    if level != "privileged":
        return
    yield Hit(
        message=f"Namespace {name} enforces the privileged Pod Security level: pods there may be privileged,"
                f" share the host's namespaces and mount any host path.",
        field_path=_ENFORCE_PATH, observed=level, severity=_system_severity(name, Severity.HIGH),
    )


@check(
    id="KW-ISO-046",
    name="pod-security-enforce-version-pinned",
    title="Pod Security enforcement pinned to an older Kubernetes version",
    category=Category.ISOLATION,
    severity=Severity.INFO,
    target=Target.NAMESPACE,
    rationale="""
        `pod-security.kubernetes.io/enforce-version: v1.N` evaluates pods against the Pod Security
        Standards as they were in Kubernetes 1.N. Pinning eases upgrades, but a pin older than the
        cluster leaves out the checks and fixes added since. The cluster's version is the API
        server's, or the newest kubelet's when the server's is unknown; a namespace enforcing
        `privileged` (nothing to pin) is not reported.""",
    remediation="""
        Move the pin forward after each upgrade, or set `enforce-version: latest` once the namespace's
        pods pass the current standard (test with `kubectl label --dry-run=server --overwrite`).""",
    references=(_K8S_PSA, _K8S_PSS),
)
def pod_security_enforce_version_pinned(namespace: Namespace, ctx: CheckContext) -> Iterator[Hit]:
    """Namespaces whose enforce-version pins an older minor than the cluster runs."""
    labels = namespace.metadata.labels
    version = labels.get(ENFORCE_VERSION_LABEL)
    if version is None or labels.get(ENFORCE_LABEL) == "privileged":
        return
    pinned = pinned_minor(version)
    current = ctx.memo("network.cluster-minor", lambda ctx: cluster_minor(ctx.inventory))
    if pinned is None or current is None or pinned >= current:
        return
    yield Hit(
        message=f"Namespace {namespace.metadata.name} pins Pod Security enforcement to {version} while the"
                f" cluster runs v1.{current}: pods are checked against the standards as of {version}.",
        field_path=_ENFORCE_VERSION_PATH, observed=version,
    )


# --- sandboxed runtimes ------------------------------------------------------------------


def _runtime_classes(ctx: CheckContext) -> frozenset[str]:
    return ctx.memo("network.runtime-classes",
                    lambda ctx: frozenset(rc.metadata.name for rc in ctx.inventory.runtime_classes))


@check(
    id="KW-ISO-047",
    name="untrusted-namespace-unsandboxed",
    title="Pod in an untrusted namespace runs without a gVisor or Kata sandbox",
    category=Category.ISOLATION,
    severity=Severity.HIGH,
    target=Target.POD,
    rationale="""
        Namespaces marked untrusted (configuration `untrusted.namespaces` or `untrusted.labels`) run
        code nobody vetted: CI jobs, customer plugins, playgrounds. An ordinary container shares the
        node's kernel and runtime, so one kernel or runc bug (Dirty Pipe, CVE-2024-21626) is an escape
        to the node. A RuntimeClass whose handler is gVisor (runsc) or Kata puts a separate kernel or
        a VM between the code and the node.""",
    remediation="""
        Install gVisor or Kata on a node pool, create a RuntimeClass for it, and set
        `spec.runtimeClassName` on the untrusted workloads (a mutating admission policy can enforce
        it for the whole namespace).""",
    references=(_K8S_RUNTIME_CLASS, _K8S_MULTI_TENANCY, _GVISOR, _KATA, _ATTACK_ESCAPE,
                _CVE_LEAKY_VESSELS, _CVE_DIRTY_PIPE),
)
def untrusted_namespace_unsandboxed(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    """Pods of untrusted namespaces outside a sandboxing RuntimeClass."""
    untrusted = ctx.memo("network.untrusted-namespaces", lambda ctx: frozenset(
        ns for ns in ctx.inventory.pods_by_namespace if ctx.is_untrusted_namespace(ns)))
    namespace = pod.namespace
    if namespace not in untrusted or ctx.sandbox(pod) is not None:
        return
    name = pod.spec.runtime_class_name
    if name is None:
        how = "without a RuntimeClass"
    elif name not in _runtime_classes(ctx):
        how = f"under RuntimeClass {name}, which is not in the inventory (its handler is unknown)"
    else:
        how = f"under RuntimeClass {name} (handler {ctx.runtime_handler(pod) or 'unset'}), which is not a sandbox"
    yield Hit(
        message=f"The pod runs in untrusted namespace {namespace} {how}: its containers share the node's kernel,"
                f" so one kernel or runtime bug is an escape to the node.",
        field_path="spec.runtimeClassName", observed=name,
    )


@check(
    id="KW-ISO-048",
    name="runtime-class-not-found",
    title="Pod names a RuntimeClass that is not in the inventory",
    category=Category.ISOLATION,
    severity=Severity.LOW,
    target=Target.POD,
    rationale="""
        The RuntimeClass admission plugin rejects a pod whose RuntimeClass does not exist, so a pod
        naming an absent class means the class was deleted after the pod started (replacements will be
        rejected, and a sandbox the workload relied on may be gone) or kubeward could not read
        RuntimeClasses; either way its isolation cannot be confirmed.""",
    remediation="""
        Recreate the RuntimeClass or correct `spec.runtimeClassName`; if the inventory lacks
        RuntimeClasses, grant `list` on `runtimeclasses.node.k8s.io` to the account kubeward uses.""",
    references=(_K8S_RUNTIME_CLASS,),
)
def runtime_class_not_found(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    """Pods whose `spec.runtimeClassName` names no RuntimeClass kubeward saw."""
    name = pod.spec.runtime_class_name
    if name is None or name in _runtime_classes(ctx):
        return
    yield Hit(
        message=f"The pod names RuntimeClass {name}, which is not in the inventory: it was deleted (new pods"
                f" naming it are rejected) or kubeward could not read RuntimeClasses.",
        field_path="spec.runtimeClassName", observed=name,
    )


# --- node co-tenancy -------------------------------------------------------------------------


def _sensitive_namespaces(ctx: CheckContext) -> frozenset[str]:
    return ctx.memo("network.sensitive-namespaces", lambda ctx: frozenset(
        ns.metadata.name for ns in ctx.inventory.namespaces if ctx.is_sensitive(ns.metadata.labels)))


def _ref(pod: Pod) -> str:
    return f"{pod.namespace}/{pod.name}"


def _escape_side(pods: Iterable[tuple[Pod, tuple[str, ...]]]) -> list[str]:
    """`DaemonSet security/scanner (privileged container scan, hostPID, 2 pods)`, once per workload."""
    by_workload: dict[ObjectRef, tuple[tuple[str, ...], int]] = {}
    for pod, reasons in pods:
        ref = pod.workload
        known, count = by_workload.get(ref, ((), 0))
        by_workload[ref] = (tuple(dict.fromkeys(known + reasons)), count + 1)
    out = []
    for ref, (reasons, count) in by_workload.items():
        several = f", {count} pods" if count > 1 else ""
        out.append(f"{ref.kind} {ref.namespace}/{ref.name} ({some(reasons)}{several})")
    return out


@check(
    id="KW-ISO-049",
    name="node-co-tenancy",
    title="Escape-capable pod shares a node with sensitive or other tenants' pods",
    category=Category.ISOLATION,
    severity=Severity.HIGH,
    target=Target.NODE,
    rationale="""
        A privileged, host-namespace, runtime-socket, host-root or SYS_ADMIN pod reaches its node, and
        from the node every other pod there: their memory, files, secrets and service-account tokens.
        Sharing a node with a sensitive workload (labels or namespace labels matching the `sensitive`
        configuration) is critical; sharing it with another tenant's namespace is high. Reported once
        per node, naming both sides. Pods in a gVisor/Kata sandbox are not escape-capable; the system
        namespaces' own pods (CNI, kube-proxy, CSI, on every node) are not counted as the escaping
        side, nor as another tenant; escape-capable pods are not counted as exposed.""",
    remediation="""
        Keep escape-capable workloads on dedicated nodes (taints and tolerations, node affinity) away
        from sensitive and multi-tenant workloads, drop the host access they do not need, or run the
        untrusted side in a gVisor/Kata RuntimeClass.""",
    references=(_K8S_MULTI_TENANCY, _CIS_BOUNDARIES, _NSA, _ATTACK_ESCAPE),
)
def node_co_tenancy(node: Node, ctx: CheckContext) -> Iterator[Hit]:
    """Nodes where an escape-capable pod runs beside sensitive pods or another tenant's pods."""
    escaping: list[tuple[Pod, tuple[str, ...]]] = []
    others: list[Pod] = []
    for pod in ctx.inventory.pods_by_node.get(node.name, ()):
        if pod.status.phase in TERMINAL_PHASES:
            continue
        reasons = escape_capabilities(pod)
        if reasons and ctx.sandbox(pod) is None:
            if pod.namespace not in SYSTEM_NAMESPACES:
                escaping.append((pod, reasons))
        else:
            others.append(pod)
    if not escaping:
        return
    escape_namespaces = {pod.namespace for pod, _ in escaping}
    sensitive_namespaces = _sensitive_namespaces(ctx)
    sensitive: list[Pod] = []
    tenants: list[Pod] = []
    for pod in others:
        if pod.namespace in sensitive_namespaces or ctx.is_sensitive(pod.metadata.labels):
            sensitive.append(pod)
        elif pod.namespace not in SYSTEM_NAMESPACES and escape_namespaces - {pod.namespace}:
            tenants.append(pod)
    if not (sensitive or tenants):
        return
    exposed = []
    if sensitive:
        exposed.append(f"{len(sensitive)} sensitive pod{'s' * (len(sensitive) > 1)}"
                       f" ({some([_ref(p) for p in sensitive])})")
    if tenants:
        namespaces = sorted({p.namespace for p in tenants})
        exposed.append(f"{len(tenants)} pod{'s' * (len(tenants) > 1)} of {len(namespaces)} other"
                       f" namespace{'s' * (len(namespaces) > 1)} ({some(namespaces)})")
    yield Hit(
        message=f"Node {node.name} runs escape-capable {some(_escape_side(escaping))} beside"
                f" {' and '.join(exposed)}: an escape from the first reaches the others.",
        observed={
            "escape": [_ref(pod) for pod, _ in escaping],
            "exposed": [_ref(pod) for pod in sensitive + tenants],
            "sensitive": [_ref(pod) for pod in sensitive],
        },
        severity=Severity.CRITICAL if sensitive else Severity.HIGH,
    )
