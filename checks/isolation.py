"""Isolation checks, escape class: the ways out of a container onto its node.

Privileged and Windows HostProcess containers; the node's PID, IPC and network
namespaces; hostPath volumes (container-runtime sockets, sensitive host paths,
any other host path); added Linux capabilities; and the restricted-profile
controls that keep a compromised process from gaining more (`drop: [ALL]`,
`allowPrivilegeEscalation: false`).

Every check targets pods and looks at init, regular and ephemeral containers
alike. The engine merges a workload's pods into one finding, points field paths
into the pod template, and lowers the escape-class findings one step for pods
in a gVisor or Kata sandbox.

hostPath findings come one per (volume, mounting container): the field path is
the volume's `hostPath.path` and the container is the one that mounts it, so a
volume mounted writable by one container and read-only by another yields two
findings with their own severities. A hostPath volume no container mounts still
yields one finding (no container, writable severity): it is on the node already,
and a container added later, such as an ephemeral debug container, can mount it.
The volume's path is what is classified; a mount's `subPath` does not narrow it,
since any container of the pod can mount the whole volume.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from audit.findings import Category, Severity
from audit.model import Container, Pod, PodSpec, SecurityContext, Volume
from checks.engine import CheckContext, Hit, Reference, Target, check

# --- references ---------------------------------------------------------------

_CIS_URL = "https://www.cisecurity.org/benchmark/kubernetes"
_PSS_URL = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"


def _cis(section: str, title: str) -> Reference:
    return Reference(f"CIS Kubernetes Benchmark v1.10 {section}: {title}", _CIS_URL)


NSA_CISA = Reference(
    "NSA/CISA Kubernetes Hardening Guide v1.2: Kubernetes Pod security",
    "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
)
PSS_BASELINE = Reference("Kubernetes Pod Security Standards: Baseline", _PSS_URL + "#baseline")
PSS_RESTRICTED = Reference("Kubernetes Pod Security Standards: Restricted", _PSS_URL + "#restricted")
ESCAPE_TO_HOST = Reference("MITRE ATT&CK T1611: Escape to Host", "https://attack.mitre.org/techniques/T1611/")
BAD_PODS = Reference(
    "Bishop Fox: Bad Pods, Kubernetes pod privilege escalation",
    "https://bishopfox.com/blog/kubernetes-pod-privilege-escalation",
)
CAPABILITIES_MAN = Reference("capabilities(7)", "https://man7.org/linux/man-pages/man7/capabilities.7.html")
HOST_PATH_DOCS = Reference(
    "Kubernetes documentation: hostPath volumes", "https://kubernetes.io/docs/concepts/storage/volumes/#hostpath"
)


# --- one pass over a pod ------------------------------------------------------------
#
# Every check of this module reads the same few fields of every container. One pass per
# pod gathers them (memoised per run), so each check costs a lookup for the many pods
# that have none of its problems.

_CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
_KINDS = {"initContainers": "Init container", "containers": "Container", "ephemeralContainers": "Ephemeral container"}


@dataclass(frozen=True, slots=True)
class Slot:
    """A container and where it sits in the pod: `spec.initContainers[0]`."""

    path: str
    container: Container
    label: str
    """`Init container 'migrate'`, to begin a message with."""


@dataclass(frozen=True, slots=True)
class AddedCapability:
    """One entry of a container's `capabilities.add`."""

    slot: Slot
    index: int
    raw: str
    """As written: `cap_sys_admin`."""
    name: str
    """Canonical: `SYS_ADMIN`."""
    kind: str
    """`dangerous`, `non-baseline`, `beyond-restricted` or `restricted` (NET_BIND_SERVICE)."""


@dataclass(frozen=True, slots=True)
class Escalation:
    """A container that can gain privileges: allowPrivilegeEscalation unset or true, or forced."""

    slot: Slot
    value: bool | None
    forced: str | None
    """Why it can escalate whatever the field says (privileged, SYS_ADMIN), if it can."""


@dataclass(frozen=True, slots=True)
class PodFacts:
    """What the isolation checks need from one pod, gathered in one pass."""

    privileged: tuple[Slot, ...] = ()
    host_process: tuple[Slot, ...] = ()
    added: tuple[AddedCapability, ...] = ()
    keeps_capabilities: tuple[Slot, ...] = ()
    """Containers that do not drop ALL."""
    escalation: tuple[Escalation, ...] = ()
    host_paths: tuple[HostPathUse, ...] = ()


_NOTHING = PodFacts()


def _new_cache(_: CheckContext) -> dict[int, PodFacts]:
    return {}


def facts(pod: Pod, ctx: CheckContext) -> PodFacts:
    """The pod's facts, gathered on first use in this run."""
    cache: dict[int, PodFacts] = ctx.memo("isolation.pod-facts", _new_cache)
    found = cache.get(id(pod))  # the Inventory keeps every pod alive for the whole run
    if found is None:
        found = cache[id(pod)] = gather_facts(pod.spec)
    return found


def _slot(field: str, index: int, container: Container) -> Slot:
    return Slot(f"spec.{field}[{index}]", container, f"{_KINDS[field]} {container.name!r}")


def _slots(spec: PodSpec) -> Iterator[Slot]:
    """Every container (init, regular, ephemeral) with its place in the pod."""
    for field, group in zip(_CONTAINER_FIELDS, (spec.init_containers, spec.containers, spec.ephemeral_containers),
                            strict=True):
        for index, container in enumerate(group):
            yield _slot(field, index, container)


def _drops_all(security: SecurityContext) -> bool:
    caps = security.capabilities
    return caps is not None and ("ALL" in caps.drop or any(capability(d) == "ALL" for d in caps.drop))


def gather_facts(spec: PodSpec) -> PodFacts:
    """One pass over the pod's containers and volumes. A fully hardened container (no privileged, no
    hostProcess, nothing added, ALL dropped, escalation off) costs a few attribute reads."""
    privileged: list[Slot] = []
    host_process: list[Slot] = []
    added: list[AddedCapability] = []
    keeps: list[Slot] = []
    escalation: list[Escalation] = []
    for field, group in zip(_CONTAINER_FIELDS, (spec.init_containers, spec.containers, spec.ephemeral_containers),
                            strict=True):
        for index, container in enumerate(group):
            security = container.security_context
            if security is None:
                slot = _slot(field, index, container)
                keeps.append(slot)
                escalation.append(Escalation(slot, None, None))
                continue
            caps = security.capabilities
            drops_all = _drops_all(security)
            if (drops_all and caps is not None and not caps.add and security.allow_privilege_escalation is False
                    and not security.privileged and security.windows_options is None):
                continue
            slot = _slot(field, index, container)
            if security.privileged:
                privileged.append(slot)
            if security.windows_options is not None and security.windows_options.host_process:
                host_process.append(slot)
            names: set[str] = set()
            for position, raw in enumerate(caps.add if caps is not None else ()):
                name = capability(raw)
                names.add(name)
                added.append(AddedCapability(slot, position, raw, name, _capability_kind(name)))
            if not drops_all:
                keeps.append(slot)
            forced = "it is privileged" if security.privileged else (
                "it adds SYS_ADMIN" if names & {"SYS_ADMIN", "ALL"} else None)
            if security.allow_privilege_escalation is not False or forced is not None:
                escalation.append(Escalation(slot, security.allow_privilege_escalation, forced))
    host_paths = tuple(_host_path_uses(spec)) if any(v.host_path is not None for v in spec.volumes) else ()
    if not (privileged or host_process or added or keeps or escalation or host_paths):
        return _NOTHING
    return PodFacts(
        privileged=tuple(privileged), host_process=tuple(host_process), added=tuple(added),
        keeps_capabilities=tuple(keeps), escalation=tuple(escalation), host_paths=host_paths,
    )


def _windows(pod: Pod, ctx: CheckContext) -> bool:
    """A Windows pod: Linux capabilities and no_new_privs do not apply, and the restricted
    profile exempts it from those controls. `spec.os` says so when set (the restricted
    profile's own test); otherwise the node selector, HostProcess or the node's OS tell."""
    spec = pod.spec
    if spec.os is not None:
        return spec.os.name == "windows"
    if spec.node_selector.get("kubernetes.io/os") == "windows" or _pod_host_process(spec):
        return True
    if facts(pod, ctx).host_process:
        return True
    node = ctx.inventory.nodes_by_name.get(spec.node_name or "")
    return node is not None and node.info.operating_system == "windows"


def _pod_host_process(spec: PodSpec) -> bool:
    options = spec.security_context.windows_options if spec.security_context else None
    return bool(options and options.host_process)


_LOWER = {
    Severity.CRITICAL: Severity.HIGH,
    Severity.HIGH: Severity.MEDIUM,
    Severity.MEDIUM: Severity.LOW,
    Severity.LOW: Severity.INFO,
    Severity.INFO: Severity.INFO,
}


# --- privileged and HostProcess ---------------------------------------------------


@check(
    id="KW-ISO-001",
    name="privileged-container",
    title="Privileged container",
    category=Category.ISOLATION,
    severity=Severity.CRITICAL,
    target=Target.POD,
    escape=True,
    rationale="""
        A privileged container gets every capability, every host device under /dev, and no seccomp,
        AppArmor or SELinux confinement. Mounting the node's disk or loading a kernel module is one
        command away: it is the node's root user with a different working directory.
    """,
    remediation="""
        Remove `securityContext.privileged: true`. Grant the one capability the process needs instead
        (and drop ALL), or move the node-level task to a DaemonSet maintained by the platform team in a
        namespace that enforces the baseline Pod Security Standard everywhere else.
    """,
    references=(
        _cis("5.2.2", "Minimize the admission of privileged containers"),
        PSS_BASELINE, NSA_CISA, ESCAPE_TO_HOST, BAD_PODS,
    ),
)
def privileged_container(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    for slot in facts(pod, ctx).privileged:
        yield Hit(
            message=f"{slot.label} runs privileged: all capabilities, all host devices, no seccomp or AppArmor"
            " confinement.",
            field_path=f"{slot.path}.securityContext.privileged",
            observed=True,
            container=slot.container.name,
        )


@check(
    id="KW-ISO-002",
    name="windows-host-process",
    title="Windows HostProcess container",
    category=Category.ISOLATION,
    severity=Severity.CRITICAL,
    target=Target.POD,
    escape=True,
    rationale="""
        A Windows HostProcess container is a process on the node, not in a container: it has the node's
        file system, network and devices, with the rights of the Windows account it runs as (often
        SYSTEM). It is the Windows equivalent of a privileged container. Set at pod level, it applies to
        every container of the pod.
    """,
    remediation="""
        Remove `windowsOptions.hostProcess: true` from the pod and container security contexts, or keep
        such pods to platform-managed DaemonSets in a namespace reserved for them.
    """,
    references=(
        _cis("5.2.11", "Minimize the admission of Windows HostProcess containers"),
        PSS_BASELINE,
        Reference("Kubernetes documentation: Create a Windows HostProcess Pod",
                  "https://kubernetes.io/docs/tasks/configure-pod-container/create-hostprocess-pod/"),
        ESCAPE_TO_HOST,
    ),
)
def windows_host_process(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if _pod_host_process(pod.spec):
        yield Hit(
            message="The pod sets windowsOptions.hostProcess: every container runs as a process on the Windows node.",
            field_path="spec.securityContext.windowsOptions.hostProcess",
            observed=True,
        )
    for slot in facts(pod, ctx).host_process:
        yield Hit(
            message=f"{slot.label} is a Windows HostProcess container: it runs as a process on the node.",
            field_path=f"{slot.path}.securityContext.windowsOptions.hostProcess",
            observed=True,
            container=slot.container.name,
        )


# --- host namespaces ---------------------------------------------------------------


def capability(raw: str) -> str:
    """The canonical name of a capability as written in a pod spec: `cap_sys_admin`,
    `CAP_SYS_ADMIN` and `SYS_ADMIN` are all SYS_ADMIN (container runtimes accept each)."""
    name = raw.strip().upper()
    return name[4:] if name.startswith("CAP_") else name


_HOST_PTRACE = frozenset({"SYS_PTRACE", "ALL"})


def _host_process_injector(found: PodFacts) -> str | None:
    """A container that may ptrace other processes (privileged or SYS_PTRACE): with
    hostPID it can inject code into any process on the node."""
    if found.privileged:
        return f"container {found.privileged[0].container.name!r} is privileged"
    for added in found.added:
        if added.name in _HOST_PTRACE:
            return f"container {added.slot.container.name!r} adds {added.name}"
    return None


@check(
    id="KW-ISO-003",
    name="host-pid",
    title="Pod shares the node's PID namespace (hostPID)",
    category=Category.ISOLATION,
    severity=Severity.HIGH,
    target=Target.POD,
    escape=True,
    rationale="""
        With hostPID the pod sees every process on the node: it can signal them (root in a container
        keeps CAP_KILL), read the environment and open files of other containers' processes through
        /proc, and find credentials in command lines. Together with a privileged container or
        SYS_PTRACE it is a direct escape, `nsenter --target 1` or code injection into a host process,
        and the finding is then critical.
    """,
    remediation="""
        Remove `hostPID: true`. Node-level process monitoring belongs in a platform-managed DaemonSet;
        to let containers of one pod see each other, use `shareProcessNamespace` instead.
    """,
    references=(
        _cis("5.2.3", "Minimize the admission of containers wishing to share the host process ID namespace"),
        PSS_BASELINE, NSA_CISA, ESCAPE_TO_HOST,
        Reference("MITRE ATT&CK T1055.008: Process Injection, Ptrace System Calls",
                  "https://attack.mitre.org/techniques/T1055/008/"),
        BAD_PODS,
    ),
)
def host_pid(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if not pod.spec.host_pid:
        return
    injector = _host_process_injector(facts(pod, ctx))
    if injector is None:
        yield Hit(message="The pod shares the node's PID namespace (hostPID): it sees and can signal every process"
                  " on the node.", field_path="spec.hostPID", observed=True)
    else:
        yield Hit(message=f"The pod shares the node's PID namespace (hostPID) and {injector}: it can enter or"
                  " inject code into any process on the node.", field_path="spec.hostPID", observed=True,
                  severity=Severity.CRITICAL)


@check(
    id="KW-ISO-004",
    name="host-ipc",
    title="Pod shares the node's IPC namespace (hostIPC)",
    category=Category.ISOLATION,
    severity=Severity.HIGH,
    target=Target.POD,
    escape=True,
    rationale="""
        With hostIPC the pod shares System V IPC and POSIX shared memory (/dev/shm) with the node and
        with every other host-IPC pod on it: it can read and tamper with the shared memory of host
        processes, which often carries data that never reaches a file.
    """,
    remediation="Remove `hostIPC: true`; containers of one pod already share an IPC namespace.",
    references=(
        _cis("5.2.4", "Minimize the admission of containers wishing to share the host IPC namespace"),
        PSS_BASELINE, NSA_CISA, ESCAPE_TO_HOST, BAD_PODS,
    ),
)
def host_ipc(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if pod.spec.host_ipc:
        yield Hit(message="The pod shares the node's IPC namespace (hostIPC): it can read and write the node's"
                  " shared memory.", field_path="spec.hostIPC", observed=True)


@check(
    id="KW-ISO-005",
    name="host-network",
    title="Pod shares the node's network namespace (hostNetwork)",
    category=Category.ISOLATION,
    severity=Severity.HIGH,
    target=Target.POD,
    escape=True,
    rationale="""
        With hostNetwork the pod uses the node's network stack: it reaches services listening on the
        node's loopback only, sees all the node's traffic (and can capture it with NET_RAW), can bind
        any node port, and most network plugins do not apply NetworkPolicy to it.
    """,
    remediation="""
        Remove `hostNetwork: true`; expose ports through a Service. Network plugins and node agents that
        need it belong in platform-managed namespaces.
    """,
    references=(
        _cis("5.2.5", "Minimize the admission of containers wishing to share the host network namespace"),
        PSS_BASELINE, NSA_CISA, ESCAPE_TO_HOST,
        Reference("MITRE ATT&CK T1040: Network Sniffing", "https://attack.mitre.org/techniques/T1040/"),
    ),
)
def host_network(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if pod.spec.host_network:
        yield Hit(message="The pod shares the node's network namespace (hostNetwork): it sees the node's traffic"
                  " and loopback services, outside NetworkPolicy.", field_path="spec.hostNetwork", observed=True)


# --- hostPath volumes -------------------------------------------------------------------

RUNTIME_SOCKETS = (
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/run/cri-dockerd.sock",
    "/run/dockershim.sock",
    "/run/k3s/containerd/containerd.sock",
    "/run/podman/podman.sock",
)
"""Container-runtime API sockets, with /var/run spelt /run (one is a link to the other on every distribution).
A directory above a socket exposes it (/run, /var/run, /). /var does not: its `run` entry is that link, and
a link inside a mounted directory resolves inside the container, not on the node."""

WINDOWS_RUNTIME_PIPES = (r"\\.\pipe\docker_engine", r"\\.\pipe\containerd-containerd")
"""The same APIs on Windows nodes, as named pipes (compared in lower case)."""

SENSITIVE_HOST_PATHS = (
    "/etc", "/proc", "/sys", "/root", "/home", "/boot", "/dev",
    "/var/lib/kubelet", "/var/log",
    "/var/lib/etcd", "/var/lib/docker", "/var/lib/containerd", "/var/lib/containers",
    "/usr", "/bin", "/sbin", "/lib", "/lib64", "/opt/cni/bin",
)
"""Host paths that hold credentials, configuration, kernel interfaces, other containers' data or code the
node runs as root. A path below one is as sensitive; a path above one contains it."""


@dataclass(frozen=True, slots=True)
class HostPathRisk:
    """What a hostPath reaches: `runtime-socket`, `sensitive` or `other`, and the paths that make it so."""

    kind: str
    path: str
    """The normalised path."""
    reaches: tuple[str, ...] = ()
    """The sockets or sensitive paths at, above or below it."""


_SLASHES = re.compile(r"/+")


def normalise_host_path(path: str) -> str:
    """The host path as the node resolves it: `//`, `.`, `..` and trailing slashes removed,
    relative paths taken from `/`, and `/var/run` spelt `/run`. Windows named pipes are
    lower-cased and left otherwise alone."""
    if path.startswith(("\\\\", "//./")):
        return path.replace("/", "\\").lower()
    normal = posixpath.normpath(_SLASHES.sub("/", "/" + path))
    if normal == "/var/run" or normal.startswith("/var/run/"):
        normal = "/run" + normal[len("/var/run"):]
    return normal


def _within(path: str, base: str) -> bool:
    """`path` is `base` or below it."""
    return path == base or base == "/" or path.startswith(base + "/")


@lru_cache(maxsize=4096)
def classify_host_path(path: str) -> HostPathRisk:
    """How dangerous mounting this host path is; the socket rule wins over the sensitive one."""
    normal = normalise_host_path(path)
    if normal.startswith("\\\\"):
        pipes = tuple(p for p in WINDOWS_RUNTIME_PIPES if normal == p)
        return HostPathRisk("runtime-socket", normal, pipes) if pipes else HostPathRisk("other", normal)
    sockets = tuple(s for s in RUNTIME_SOCKETS if _within(s, normal))
    if sockets:
        return HostPathRisk("runtime-socket", normal, sockets)
    sensitive = tuple(s for s in SENSITIVE_HOST_PATHS if _within(normal, s) or _within(s, normal))
    if sensitive:
        return HostPathRisk("sensitive", normal, sensitive)
    return HostPathRisk("other", normal)


@dataclass(frozen=True, slots=True)
class HostPathUse:
    """A hostPath volume and one container that mounts it, or the volume alone if none does."""

    index: int
    volume: Volume
    risk: HostPathRisk
    slot: Slot | None
    read_only: bool
    """Every mount of the volume in that container is readOnly."""


def _host_path_uses(spec: PodSpec) -> Iterator[HostPathUse]:
    slots = list(_slots(spec))
    for index, volume in enumerate(spec.volumes):
        if volume.host_path is None:
            continue
        risk = classify_host_path(volume.host_path.path)
        mounted = False
        for slot in slots:
            mounts = [m for m in slot.container.volume_mounts if m.name == volume.name]
            if mounts:
                mounted = True
                yield HostPathUse(index, volume, risk, slot, all(m.read_only for m in mounts))
        if not mounted:
            yield HostPathUse(index, volume, risk, None, False)


def _describe_use(use: HostPathUse) -> str:
    assert use.volume.host_path is not None
    where = f"hostPath volume {use.volume.name!r} ({use.volume.host_path.path})"
    if use.slot is None:
        return f"{where} is mounted by no container, yet any container added to the pod (an ephemeral debug" \
               " container, say) can mount it writable"
    return f"{use.slot.label} mounts {where} {'read-only' if use.read_only else 'writable'}"


def _reach(risk: HostPathRisk) -> str:
    """Why a socket or sensitive path is dangerous to mount, in words: what it is, is below, or holds."""
    path, reaches = risk.path, risk.reaches
    if risk.kind == "runtime-socket":
        if reaches == (path,):
            return "that is the container-runtime API socket"
        listed = ", ".join(reaches[:2]) + (", …" if len(reaches) > 2 else "")
        return f"{path} holds the container-runtime API socket ({listed})"
    if path in reaches:
        return f"{path} is a sensitive host path"
    above = [s for s in reaches if _within(path, s)]
    if above:
        return f"{path} is below the sensitive host path {above[0]}"
    listed = ", ".join(reaches[:2]) + (", …" if len(reaches) > 2 else "")
    return f"{path} holds the sensitive host path{'s' if len(reaches) > 1 else ''} {listed}"


def _host_path_hits(pod: Pod, ctx: CheckContext, kind: str, writable: Severity, read_only: Severity,
                    why: str = "", read_only_note: str = "") -> Iterator[Hit]:
    """One hit per (hostPath volume of this kind, mounting container), or per volume no container mounts."""
    for use in facts(pod, ctx).host_paths:
        if use.risk.kind != kind:
            continue
        assert use.volume.host_path is not None
        note = read_only_note if use.read_only else ""
        yield Hit(
            message=f"{_describe_use(use)}; {why or _reach(use.risk)}{note}.",
            field_path=f"spec.volumes[{use.index}].hostPath.path",
            observed=use.volume.host_path.path,
            container=use.slot.container.name if use.slot is not None else None,
            severity=read_only if use.read_only else writable,
        )


@check(
    id="KW-ISO-006",
    name="host-path-runtime-socket",
    title="hostPath exposes the container-runtime socket",
    category=Category.ISOLATION,
    severity=Severity.CRITICAL,
    target=Target.POD,
    escape=True,
    rationale="""
        The Docker, containerd or CRI-O socket is the runtime's API: whoever can connect to it starts a
        privileged container with the node's root file system mounted, and reads or execs into every
        other container on the node. Mounting a directory above the socket (`/var/run`, `/run`, `/`)
        exposes it just the same, and `readOnly` does not help: connecting to a Unix socket is not a
        write to the file system, so a read-only mount of the socket stays critical.
    """,
    remediation="""
        Remove the hostPath volume. Build images with a daemonless builder (BuildKit rootless, kaniko,
        buildah), read container metadata from the Kubernetes API, and give runtime-level agents a
        dedicated, platform-managed namespace.
    """,
    references=(
        _cis("5.2.12", "Minimize the admission of HostPath volumes"),
        PSS_BASELINE, HOST_PATH_DOCS, NSA_CISA, ESCAPE_TO_HOST,
        Reference("MITRE ATT&CK T1610: Deploy Container", "https://attack.mitre.org/techniques/T1610/"),
        Reference("Mounting the Docker socket read-only does not make it read-only",
                  "https://amf3.github.io/articles/virtualization/docker_socket"),
    ),
)
def host_path_runtime_socket(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    yield from _host_path_hits(
        pod, ctx, "runtime-socket", Severity.CRITICAL, Severity.CRITICAL,
        read_only_note=", and read-only does not stop a process connecting to a socket",
    )


@check(
    id="KW-ISO-007",
    name="host-path-sensitive",
    title="hostPath mounts a sensitive host directory",
    category=Category.ISOLATION,
    severity=Severity.HIGH,
    target=Target.POD,
    escape=True,
    rationale="""
        Host paths such as /etc, /root, /proc, /sys, /dev, /var/lib/kubelet, /var/log and the
        directories of host binaries hold the node's credentials (kubelet and static-pod manifests,
        other pods' Secrets), its kernel interfaces, and code it runs as root. Writable, each is a way
        onto the node (a cron job in /etc, a static pod manifest, a symlink in /var/log the kubelet
        follows); read-only, each still leaks credentials, and a read-only mount is not recursive unless
        `recursiveReadOnly` says so. A path below a sensitive one is as sensitive; a path above it
        contains it. Read-only in the container: one step lower.
    """,
    remediation="""
        Remove the hostPath volume, or narrow it to the one file the container needs and mount it
        `readOnly: true` with `recursiveReadOnly: Enabled`. Prefer a ConfigMap, a Secret, a projected
        token or the downward API, which carry what applications usually come to /etc for.
    """,
    references=(
        _cis("5.2.12", "Minimize the admission of HostPath volumes"),
        PSS_BASELINE, HOST_PATH_DOCS, NSA_CISA, ESCAPE_TO_HOST, BAD_PODS,
        Reference("Aqua Security: Kubernetes Pod Escape Using Log Mounts",
                  "https://www.aquasec.com/blog/kubernetes-security-pod-escape-log-mounts/"),
    ),
)
def host_path_sensitive(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    yield from _host_path_hits(pod, ctx, "sensitive", Severity.HIGH, Severity.MEDIUM)


@check(
    id="KW-ISO-008",
    name="host-path-volume",
    title="hostPath volume",
    category=Category.ISOLATION,
    severity=Severity.MEDIUM,
    target=Target.POD,
    escape=True,
    rationale="""
        Any hostPath volume puts the node's file system inside the container: data survives the pod and
        is shared with whatever else on the node uses the path, symlinks planted there are followed by
        the node (CVE-2021-25741), and the pod is tied to one node. Writable: medium; read-only: low.
    """,
    remediation="""
        Replace the hostPath with an emptyDir, a PersistentVolumeClaim or a CSI volume; if node-local
        storage is the point, use a `local` PersistentVolume. Otherwise mount it `readOnly: true`.
    """,
    references=(
        _cis("5.2.12", "Minimize the admission of HostPath volumes"),
        PSS_BASELINE, HOST_PATH_DOCS,
        Reference("CVE-2021-25741: symlink exchange reaches host files through subPath",
                  "https://nvd.nist.gov/vuln/detail/CVE-2021-25741"),
    ),
)
def host_path_volume(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    yield from _host_path_hits(pod, ctx, "other", Severity.MEDIUM, Severity.LOW,
                               why="the node's file system is in the pod")


# --- capabilities ----------------------------------------------------------------------

DANGEROUS_CAPABILITIES: dict[str, tuple[Severity, str]] = {
    "ALL": (Severity.CRITICAL, "every capability, SYS_ADMIN and SYS_MODULE among them"),
    "SYS_ADMIN": (Severity.CRITICAL, "mounts, cgroup release agents (CVE-2022-0492), most of root"),
    "SYS_MODULE": (Severity.CRITICAL, "loads code into the node's kernel"),
    "DAC_READ_SEARCH": (Severity.CRITICAL, "opens any host file by handle (the Shocker escape)"),
    "SYS_PTRACE": (Severity.HIGH, "traces and injects code into processes it can see"),
    "SYS_RAWIO": (Severity.HIGH, "raw I/O ports and device memory"),
    "BPF": (Severity.HIGH, "loads eBPF programs into the kernel"),
    "PERFMON": (Severity.HIGH, "kernel performance monitoring, with BPF kernel memory reads"),
    "NET_ADMIN": (Severity.HIGH, "rewrites routing and firewall rules, and reaches netfilter kernel bugs"),
    "SYS_BOOT": (Severity.HIGH, "reboots the node and loads a new kernel with kexec"),
    "MAC_ADMIN": (Severity.HIGH, "changes the AppArmor or SELinux policy confining it"),
    "MAC_OVERRIDE": (Severity.HIGH, "overrides the AppArmor or SELinux policy confining it"),
    "SYSLOG": (Severity.HIGH, "reads the kernel log and kernel addresses, a help to kernel exploits"),
}
"""Capabilities that lead out of a container or into the kernel, by how directly."""

BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
"""What the baseline Pod Security Standard lets a container add (the container runtimes' default set,
less NET_RAW)."""

RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
"""What the restricted Pod Security Standard lets a container add back after dropping ALL."""


def _capability_kind(name: str) -> str:
    if name in DANGEROUS_CAPABILITIES:
        return "dangerous"
    if name not in BASELINE_CAPABILITIES:
        return "non-baseline"
    if name not in RESTRICTED_CAPABILITIES:
        return "beyond-restricted"
    return "restricted"


@check(
    id="KW-ISO-009",
    name="dangerous-capability",
    title="Container adds a capability that leads out of the container",
    category=Category.ISOLATION,
    severity=Severity.HIGH,
    target=Target.POD,
    escape=True,
    rationale="""
        Some capabilities are most of root on the node. SYS_ADMIN mounts file systems and abuses cgroup
        release agents (CVE-2022-0492); SYS_MODULE loads kernel code; DAC_READ_SEARCH reads any host file
        by handle (the "Shocker" escape); ALL is all of them: these are critical. SYS_PTRACE, SYS_RAWIO,
        BPF, PERFMON, NET_ADMIN, SYS_BOOT, MAC_ADMIN, MAC_OVERRIDE and SYSLOG reach into other
        processes, raw devices, the kernel, its log, or its security modules: high. Names are compared
        as runtimes read them: case-insensitive, with or without `CAP_`. In a pod with its own user
        namespace (`hostUsers: false`) the capability stays inside that namespace: one step lower.
    """,
    remediation="""
        Remove the capability from `securityContext.capabilities.add`, drop ALL, and add back only what
        the process needs. Tools that genuinely need these (debuggers, eBPF agents, network plugins)
        belong in platform-managed namespaces; for a debugging session use an ephemeral container and
        remove it afterwards.
    """,
    references=(
        _cis("5.2.9", "Minimize the admission of containers with added capabilities"),
        PSS_BASELINE, CAPABILITIES_MAN, NSA_CISA, ESCAPE_TO_HOST,
        Reference("CVE-2022-0492: cgroups v1 release_agent escape with CAP_SYS_ADMIN",
                  "https://nvd.nist.gov/vuln/detail/CVE-2022-0492"),
        Reference("Kubernetes documentation: user namespaces",
                  "https://kubernetes.io/docs/concepts/workloads/pods/user-namespaces/"),
    ),
)
def dangerous_capability(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    user_namespace = pod.spec.host_users is False
    for added in facts(pod, ctx).added:
        if added.kind != "dangerous":
            continue
        severity, why = DANGEROUS_CAPABILITIES[added.name]
        message = f"{added.slot.label} adds {added.name} ({why})"
        if user_namespace:
            severity = _LOWER[severity]
            message += "; lowered: the pod runs in its own user namespace"
        yield Hit(
            message=message + ".",
            field_path=f"{added.slot.path}.securityContext.capabilities.add[{added.index}]",
            observed=added.raw,
            container=added.slot.container.name,
            severity=severity,
        )


@check(
    id="KW-ISO-010",
    name="non-baseline-capability",
    title="Container adds a capability outside the baseline set",
    category=Category.ISOLATION,
    severity=Severity.MEDIUM,
    target=Target.POD,
    rationale="""
        The baseline Pod Security Standard allows adding only AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER,
        FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID and SYS_CHROOT. Anything
        else (NET_RAW, SYS_TIME, SYS_NICE, SYS_RESOURCE, IPC_LOCK …) widens the kernel surface: NET_RAW
        forges packets on the pod network (ARP and DNS spoofing) and reaches packet-socket kernel bugs
        (CVE-2020-14386). The escape-grade ones are KW-ISO-009.
    """,
    remediation="Remove the capability from `securityContext.capabilities.add` and drop ALL.",
    references=(
        _cis("5.2.8", "Minimize the admission of containers with the NET_RAW capability"),
        _cis("5.2.9", "Minimize the admission of containers with added capabilities"),
        PSS_BASELINE, CAPABILITIES_MAN,
        Reference("CVE-2020-14386: packet socket memory corruption reachable with CAP_NET_RAW",
                  "https://nvd.nist.gov/vuln/detail/CVE-2020-14386"),
    ),
)
def non_baseline_capability(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    for added in facts(pod, ctx).added:
        if added.kind == "non-baseline":
            yield Hit(
                message=f"{added.slot.label} adds {added.name}, outside the baseline set.",
                field_path=f"{added.slot.path}.securityContext.capabilities.add[{added.index}]",
                observed=added.raw,
                container=added.slot.container.name,
            )


@check(
    id="KW-ISO-011",
    name="capability-beyond-restricted",
    title="Container adds a capability other than NET_BIND_SERVICE",
    category=Category.ISOLATION,
    severity=Severity.LOW,
    target=Target.POD,
    rationale="""
        The restricted Pod Security Standard lets a container add back only NET_BIND_SERVICE after
        dropping ALL. The other baseline capabilities (DAC_OVERRIDE, SETUID, CHOWN …) are in the
        runtimes' default set and are no escape by themselves, but each gives a compromised process
        more of root. Windows pods are exempt.
    """,
    remediation="""
        Remove the capability from `securityContext.capabilities.add`; run as a non-root user that owns
        the files it needs instead of bypassing permissions.
    """,
    references=(
        _cis("5.2.9", "Minimize the admission of containers with added capabilities"),
        PSS_RESTRICTED, CAPABILITIES_MAN,
    ),
)
def capability_beyond_restricted(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    hits = [a for a in facts(pod, ctx).added if a.kind == "beyond-restricted"]
    if not hits or _windows(pod, ctx):
        return
    for added in hits:
        yield Hit(
            message=f"{added.slot.label} adds {added.name}; the restricted profile allows only NET_BIND_SERVICE.",
            field_path=f"{added.slot.path}.securityContext.capabilities.add[{added.index}]",
            observed=added.raw,
            container=added.slot.container.name,
        )


@check(
    id="KW-ISO-012",
    name="capabilities-not-dropped",
    title="Container does not drop ALL capabilities",
    category=Category.ISOLATION,
    severity=Severity.LOW,
    target=Target.POD,
    rationale="""
        Without `drop: [ALL]` a container keeps the runtime's default capabilities: CHOWN,
        DAC_OVERRIDE, FOWNER, SETUID, KILL, MKNOD and, on containerd and Docker, NET_RAW. A compromised
        process running as root uses them to bypass file permissions, forge packets and make device
        nodes. The restricted Pod Security Standard requires dropping ALL (adding back NET_BIND_SERVICE
        is allowed). Windows pods are exempt.
    """,
    remediation="""
        Set `securityContext.capabilities.drop: [ALL]` on every container, and add back NET_BIND_SERVICE
        only if the process binds a port below 1024.
    """,
    references=(
        _cis("5.2.10", "Minimize the admission of containers with capabilities assigned"),
        PSS_RESTRICTED, CAPABILITIES_MAN,
    ),
)
def capabilities_not_dropped(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    keeps = facts(pod, ctx).keeps_capabilities
    if not keeps or _windows(pod, ctx):
        return
    for slot in keeps:
        security = slot.container.security_context
        drop = security.capabilities.drop if security is not None and security.capabilities is not None else ()
        yield Hit(
            message=f"{slot.label} does not drop ALL capabilities.",
            field_path=f"{slot.path}.securityContext.capabilities.drop",
            observed=list(drop) if drop else None,
            container=slot.container.name,
        )


# --- privilege escalation -----------------------------------------------------------------


@check(
    id="KW-ISO-013",
    name="privilege-escalation-allowed",
    title="Container allows privilege escalation",
    category=Category.ISOLATION,
    severity=Severity.MEDIUM,
    target=Target.POD,
    rationale="""
        Unless `allowPrivilegeEscalation` is false the container runs without no_new_privs: a setuid
        binary or a file capability in the image (or one the attacker writes) turns a non-root process
        into root, undoing runAsNonRoot. Unset means allowed. A privileged container or one with
        SYS_ADMIN can always escalate, whatever the field says. The restricted Pod Security Standard
        requires false; Windows pods are exempt.
    """,
    remediation="Set `securityContext.allowPrivilegeEscalation: false` on every container.",
    references=(
        _cis("5.2.6", "Minimize the admission of containers with allowPrivilegeEscalation"),
        PSS_RESTRICTED, NSA_CISA,
        Reference("Linux kernel documentation: No New Privileges Flag",
                  "https://docs.kernel.org/userspace-api/no_new_privs.html"),
        Reference("MITRE ATT&CK T1548.001: Setuid and Setgid", "https://attack.mitre.org/techniques/T1548/001/"),
    ),
)
def privilege_escalation_allowed(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    escalations = facts(pod, ctx).escalation
    if not escalations or _windows(pod, ctx):
        return
    for escalation in escalations:
        label = escalation.slot.label
        if escalation.forced is not None:
            message = f"{label} can gain privileges whatever allowPrivilegeEscalation says: {escalation.forced}."
        elif escalation.value is None:
            message = f"{label} does not set allowPrivilegeEscalation: false, so setuid binaries can make it root."
        else:
            message = f"{label} sets allowPrivilegeEscalation: true."
        yield Hit(
            message=message,
            field_path=f"{escalation.slot.path}.securityContext.allowPrivilegeEscalation",
            observed=escalation.value,
            container=escalation.slot.container.name,
        )
