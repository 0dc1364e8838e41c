"""Security-context hardening checks (KW-ISO-020 … KW-ISO-039).

What a pod's security context leaves open beyond the big escapes (privileged,
host namespaces, hostPath, capabilities, allowPrivilegeEscalation, which live in
`checks.isolation`): running as root, a writable root filesystem, seccomp and
AppArmor turned off, unmasked /proc, host ports, a shared process namespace,
the default service account's token, unsafe sysctls and custom SELinux labels.

Every container is checked: init, regular and ephemeral. Where Kubernetes lets a
container inherit a pod-level value, the effective value is the container's when
it sets one and the pod's otherwise, and the evidence points at the field that
decided it. When nothing sets a value, the evidence points at the container field
where it belongs, with no observed value.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from audit.findings import Category, Severity
from audit.model import Container, Pod, PodSpec, SELinuxOptions
from checks.engine import CheckContext, Hit, Reference, Target, check
from checks.images import is_root_user

# --- references -----------------------------------------------------------------

PSS = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
CIS = "https://www.cisecurity.org/benchmark/kubernetes"
NSA = "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF"


def _cis(section: str, title: str) -> Reference:
    return Reference(f"CIS Kubernetes Benchmark v1.10 {section}: {title}", CIS)


NSA_GUIDE = Reference("NSA/CISA Kubernetes Hardening Guide 1.2", NSA)
ESCAPE_TO_HOST = Reference("MITRE ATT&CK T1611: Escape to Host", "https://attack.mitre.org/techniques/T1611/")
PRIVILEGE_ESCALATION = Reference(
    "MITRE ATT&CK T1068: Exploitation for Privilege Escalation", "https://attack.mitre.org/techniques/T1068/"
)
SECURITY_CONTEXT_DOC = Reference(
    "Kubernetes: Configure a Security Context for a Pod or Container",
    "https://kubernetes.io/docs/tasks/configure-pod-container/security-context/",
)

# --- where a container sits, and what it inherits ---------------------------------------


def containers(spec: PodSpec) -> Iterator[tuple[str, str, Container]]:
    """Every container with its spec field and its pod-relative path, e.g. `spec.initContainers[0]`."""
    for field, group in (
        ("initContainers", spec.init_containers),
        ("containers", spec.containers),
        ("ephemeralContainers", spec.ephemeral_containers),
    ):
        for index, container in enumerate(group):
            yield field, f"spec.{field}[{index}]", container


@dataclass(frozen=True, slots=True)
class Setting:
    """An effective securityContext value and where it comes from."""

    value: Any
    path: str
    """The field that set it; when nothing did, the container field where it belongs."""
    level: str
    """"container", "pod", "container annotation", "pod annotation", or "" when nothing sets it."""
    raw: Any = None
    """The value as written, when it differs from `value` (a legacy annotation's `unconfined`)."""

    @property
    def observed(self) -> Any:
        return self.raw if self.raw is not None else self.value


def inherited(pod: Pod, path: str, container: Container, attr: str, key: str) -> Setting:
    """A securityContext field the container inherits from the pod unless it sets its own."""
    own = container.security_context
    if own is not None and (value := getattr(own, attr)) is not None:
        return Setting(value, f"{path}.securityContext.{key}", "container")
    shared = pod.spec.security_context
    if shared is not None and (value := getattr(shared, attr)) is not None:
        return Setting(value, f"spec.securityContext.{key}", "pod")
    return Setting(None, f"{path}.securityContext.{key}", "")


def _annotation_path(key: str) -> str:
    return f"metadata.annotations['{key}']"


_SOURCES = {
    "container": "set on the container",
    "pod": "inherited from the pod",
    "container annotation": "set by the legacy container annotation",
    "pod annotation": "inherited from the legacy pod annotation",
    "": "nothing sets it",
}


def _source(setting: Setting) -> str:
    """Where an effective value comes from, for a message: "inherited from the pod"."""
    return _SOURCES[setting.level]


_KINDS = {"initContainers": "Init container", "containers": "Container", "ephemeralContainers": "Ephemeral container"}


def _describe(field: str, container: Container) -> str:
    """`Init container 'migrate'`, to start a message."""
    return f"{_KINDS[field]} {container.name!r}"


def _windows(pod: Pod, ctx: CheckContext) -> bool:
    """A Windows pod: runAsUser, seccomp, AppArmor, SELinux, procMount, sysctls and a read-only root
    filesystem do not apply there (Pod Security Standards exempt it from those controls)."""
    spec = pod.spec
    if spec.node_selector.get("kubernetes.io/os") == "windows":
        return True
    if spec.security_context is not None and spec.security_context.windows_options is not None:
        return True
    node = ctx.inventory.nodes_by_name.get(spec.node_name or "")
    return node is not None and node.info.operating_system == "windows"


# --- who a container runs as --------------------------------------------------------


class RunAs(enum.Enum):
    ROOT = "root"
    NON_ROOT = "non-root"
    UNKNOWN = "unknown"
    """Nothing in the spec or status says: the image's default user decides."""


@dataclass(frozen=True, slots=True)
class EffectiveUser:
    """Who a container runs as, as far as its spec and status tell, with the evidence."""

    run_as: RunAs
    field_path: str
    observed: Any
    reason: str
    """Why, as a clause for a message: "runAsUser is 0 (inherited from the pod)"."""
    refused: bool = False
    """runAsUser 0 with runAsNonRoot true: the kubelet refuses to start the container."""


_STATUS_LISTS = {
    "initContainers": "init_container_statuses",
    "containers": "container_statuses",
    "ephemeralContainers": "ephemeral_container_statuses",
}


def reported_uid(pod: Pod, field: str, name: str) -> int | None:
    """The uid the kubelet reports the container running as (`status.*.user.linux.uid`, Kubernetes 1.31+)."""
    for status in getattr(pod.status, _STATUS_LISTS[field]):
        if status.name == name and status.user is not None and status.user.linux is not None:
            return status.user.linux.uid
    return None


def effective_user(pod: Pod, field: str, path: str, container: Container) -> EffectiveUser:
    """Root, not root, or unknown, following the kubelet: the container's runAsUser and runAsNonRoot
    win over the pod's, a reported uid settles the question, and runAsNonRoot true without a
    runAsUser is enforced by the kubelet against the image's user at start."""
    uid = inherited(pod, path, container, "run_as_user", "runAsUser")
    non_root = inherited(pod, path, container, "run_as_non_root", "runAsNonRoot")
    reported = reported_uid(pod, field, container.name)
    if reported is not None and reported != 0:
        return EffectiveUser(RunAs.NON_ROOT, uid.path, uid.value, f"the kubelet reports uid {reported}")
    if uid.value == 0:
        return EffectiveUser(
            RunAs.ROOT, uid.path, 0, f"runAsUser is 0 ({_source(uid)})", refused=non_root.value is True
        )
    if reported == 0:
        return EffectiveUser(
            RunAs.ROOT, non_root.path, non_root.value,
            "the kubelet reports uid 0, the image's default user (no runAsUser is set)",
        )
    if uid.value is not None:
        return EffectiveUser(RunAs.NON_ROOT, uid.path, uid.value, f"runAsUser is {uid.value}")
    if non_root.value is True:
        return EffectiveUser(RunAs.NON_ROOT, non_root.path, True, "runAsNonRoot is true")
    guard = f"runAsNonRoot is false ({_source(non_root)})" if non_root.level else "runAsNonRoot is not set"
    return EffectiveUser(RunAs.UNKNOWN, non_root.path, non_root.value, f"no runAsUser is set and {guard}")


def _user_namespace(pod: Pod) -> bool:
    """`hostUsers: false`: the pod has its own user namespace, so uid 0 inside is not root on the node."""
    return pod.spec.host_users is False


@check(
    id="KW-ISO-020",
    name="runs-as-root",
    title="Container runs as root",
    category=Category.ISOLATION,
    severity=Severity.HIGH,
    target=Target.POD,
    escape=True,
    rationale="""
        A process running as uid 0 owns everything in its container and is root towards the kernel:
        every container-escape bug, writable host mount or missing mask is worse for it. The effective
        user is the container's runAsUser, else the pod's; runAsNonRoot true without a runAsUser passes
        because the kubelet refuses to start an image whose user is root. `runAsUser: 0` is reported even
        with `runAsNonRoot: true` (the kubelet then refuses to start the container, but the spec still asks
        for root). With no runAsUser and runAsNonRoot not true, the image's default
        user decides: read from the image config when the image was read (root: high), else reported
        as "may run as root" (medium). A uid the kubelet reports in
        the pod status (Kubernetes 1.31+) settles the question. In a user namespace (`hostUsers: false`)
        uid 0 maps to an unprivileged uid on the node, so the severity is one step lower.
    """,
    remediation="""
        Build the image with a numeric non-root USER and set `securityContext.runAsNonRoot: true` (pod
        level, so every container inherits it) and a non-zero `runAsUser`; do not override them per
        container. Where root inside is unavoidable, run the pod with `hostUsers: false`.
    """,
    references=(
        _cis("5.2.7", "Minimize the admission of root containers"),
        Reference("Pod Security Standards (Restricted): Running as Non-root", PSS),
        NSA_GUIDE,
        ESCAPE_TO_HOST,
        PRIVILEGE_ESCALATION,
    ),
)
def runs_as_root(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if _windows(pod, ctx):
        return
    userns = _user_namespace(pod)
    note = " (in a user namespace: hostUsers is false, so uid 0 is not root on the node)" if userns else ""
    for field, path, container in containers(pod.spec):
        user = effective_user(pod, field, path, container)
        who = _describe(field, container)
        if user.run_as is RunAs.ROOT:
            if user.refused:
                message = (f"{who} asks to run as root: {user.reason} while runAsNonRoot is true, so the kubelet "
                           f"refuses to start it, and dropping runAsNonRoot to make it start runs it as root")
            else:
                message = f"{who} runs as root: {user.reason}"
            severity = Severity.MEDIUM if userns else Severity.HIGH
        elif user.run_as is RunAs.UNKNOWN:
            image = ctx.inventory.image_of(pod, container.name)
            if image is not None and image.config.os != "windows":
                if not is_root_user(image.config.user):
                    continue  # the image's default user is not root
                default = f"USER {image.config.user}" if image.config.user.strip() else "no USER"
                message = f"{who} runs as root: {user.reason}, and its image has {default}"
                severity = Severity.MEDIUM if userns else Severity.HIGH
            else:
                message = (f"{who} may run as root: {user.reason}, so the image's default user decides, "
                           f"and the image was not read")
                severity = Severity.LOW if userns else Severity.MEDIUM
        else:
            continue
        yield Hit(message=message + note + ".", field_path=user.field_path, observed=user.observed,
                  container=container.name, severity=severity)


# --- read-only root filesystem ------------------------------------------------------------


@check(
    id="KW-ISO-021",
    name="read-only-root-filesystem",
    title="Container root filesystem is writable",
    category=Category.ISOLATION,
    severity=Severity.LOW,
    target=Target.POD,
    rationale="""
        A writable root filesystem lets an intruder drop tools, replace binaries and persist in the
        container until it is recreated. It is worse (medium) when the container runs as root, which can
        overwrite every file of its image regardless of the image's file permissions.
    """,
    remediation="""
        Set `securityContext.readOnlyRootFilesystem: true` on every container and mount an `emptyDir`
        where the application has to write (/tmp, caches).
    """,
    references=(
        _cis("5.7.3", "Apply SecurityContext to your Pods and Containers"),
        NSA_GUIDE,
        SECURITY_CONTEXT_DOC,
    ),
)
def writable_root_filesystem(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if _windows(pod, ctx):
        return
    for field, path, container in containers(pod.spec):
        context = container.security_context
        value = context.read_only_root_filesystem if context is not None else None
        if value is True:
            continue
        state = "false" if value is False else "not set"
        message = f"{_describe(field, container)} has a writable root filesystem (readOnlyRootFilesystem is {state})"
        severity = Severity.LOW
        if effective_user(pod, field, path, container).run_as is RunAs.ROOT:
            message += " and runs as root, so it can overwrite any file of its image"
            severity = Severity.MEDIUM
        yield Hit(message=message + ".", field_path=f"{path}.securityContext.readOnlyRootFilesystem",
                  observed=value, container=container.name, severity=severity)


# --- seccomp and AppArmor profiles ------------------------------------------------------

SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"
APPARMOR_CONTAINER_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def _annotation_profile_type(value: str) -> str:
    """The profile type a legacy seccomp or AppArmor annotation value means ("" for an empty value)."""
    if value in ("runtime/default", "docker/default"):
        return "RuntimeDefault"
    if value.startswith("localhost/"):
        return "Localhost"
    if value == "unconfined":
        return "Unconfined"
    return value


def _annotation_profile(pod: Pod, key: str, level: str) -> Setting | None:
    value = pod.metadata.annotations.get(key)
    if value is None:
        return None
    return Setting(_annotation_profile_type(value), _annotation_path(key), level, raw=value)


def seccomp_profile(pod: Pod, path: str, container: Container) -> Setting:
    """The container's effective seccomp profile type, in the kubelet's order: container field,
    container annotation, pod field, pod annotation (the annotations are legacy, inert since 1.27)."""
    own = container.security_context
    if own is not None and own.seccomp_profile is not None:
        return Setting(own.seccomp_profile.type, f"{path}.securityContext.seccompProfile.type", "container")
    annotated = _annotation_profile(pod, SECCOMP_CONTAINER_ANNOTATION + container.name, "container annotation")
    if annotated is not None:
        return annotated
    shared = pod.spec.security_context
    if shared is not None and shared.seccomp_profile is not None:
        return Setting(shared.seccomp_profile.type, "spec.securityContext.seccompProfile.type", "pod")
    annotated = _annotation_profile(pod, SECCOMP_POD_ANNOTATION, "pod annotation")
    if annotated is not None:
        return annotated
    return Setting("", f"{path}.securityContext.seccompProfile", "")


def apparmor_profile(pod: Pod, path: str, container: Container) -> Setting:
    """The container's effective AppArmor profile type, in the kubelet's order: container field,
    container annotation (legacy), pod field; "" when nothing sets one (the runtime's default applies)."""
    own = container.security_context
    if own is not None and own.app_armor_profile is not None:
        return Setting(own.app_armor_profile.type, f"{path}.securityContext.appArmorProfile.type", "container")
    annotated = _annotation_profile(pod, APPARMOR_CONTAINER_ANNOTATION + container.name, "container annotation")
    if annotated is not None:
        return annotated
    shared = pod.spec.security_context
    if shared is not None and shared.app_armor_profile is not None:
        return Setting(shared.app_armor_profile.type, "spec.securityContext.appArmorProfile.type", "pod")
    return Setting("", f"{path}.securityContext.appArmorProfile", "")


@check(
    id="KW-ISO-022",
    name="seccomp-unconfined",
    title="Container runs without a seccomp profile",
    category=Category.ISOLATION,
    severity=Severity.HIGH,
    target=Target.POD,
    escape=True,
    rationale="""
        Seccomp filters the system calls a container may make; the runtime's default profile blocks the
        rarely needed calls behind many kernel exploits and container escapes. An explicit `Unconfined`
        profile (field, or the legacy `unconfined` annotation) turns it off: high. No profile at all
        means Unconfined too, unless the kubelet runs with `seccompDefault: true` (GA in Kubernetes 1.27,
        still off unless configured), which kubeward cannot see: medium. The container's
        `seccompProfile` wins over the pod's; the legacy annotations
        (`container.seccomp.security.alpha.kubernetes.io/<container>`, then
        `seccomp.security.alpha.kubernetes.io/pod`) are read in the kubelet's order, each after the field
        at its level; kubelets ignore them since 1.25 and the API server since 1.27 (before that it copied
        them into the fields), so on a current cluster an annotation alone records an intent rather than
        the profile in force. RuntimeDefault and Localhost pass. Pod Security Standards Baseline forbids
        Unconfined; Restricted requires a profile.
    """,
    remediation="""
        Set `securityContext.seccompProfile.type: RuntimeDefault` on the pod (or Localhost with a
        reviewed profile), remove `Unconfined` overrides and the legacy seccomp annotations, and consider
        enabling `seccompDefault` in the kubelet configuration.
    """,
    references=(
        Reference("Pod Security Standards: Seccomp (Baseline and Restricted)", PSS),
        _cis("5.7.2", "Ensure that the seccomp profile is set to docker/default"),
        Reference("Kubernetes: Restrict a Container's Syscalls with seccomp",
                  "https://kubernetes.io/docs/tutorials/security/seccomp/"),
        NSA_GUIDE,
        ESCAPE_TO_HOST,
    ),
)
def seccomp_unconfined(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if _windows(pod, ctx):
        return
    for field, path, container in containers(pod.spec):
        profile = seccomp_profile(pod, path, container)
        if profile.value == "Unconfined":
            yield Hit(
                message=f"{_describe(field, container)} runs with seccomp explicitly Unconfined ({_source(profile)}).",
                field_path=profile.path, observed=profile.observed, container=container.name,
                severity=Severity.HIGH,
            )
        elif profile.value == "":
            why = f"its {profile.level} is empty" if profile.level else "nothing sets it"
            yield Hit(
                message=(f"{_describe(field, container)} has no seccomp profile ({why}), so it runs "
                         f"Unconfined unless the kubelet enables seccompDefault."),
                field_path=profile.path, observed=profile.raw, container=container.name, severity=Severity.MEDIUM,
            )


@check(
    id="KW-ISO-023",
    name="apparmor-unconfined",
    title="Container runs AppArmor-unconfined",
    category=Category.ISOLATION,
    severity=Severity.MEDIUM,
    target=Target.POD,
    escape=True,
    rationale="""
        On nodes with AppArmor (Ubuntu, Debian, SUSE), the runtime confines every container with its
        default profile, which denies mounts, writes to /proc and /sys, and other steps of known escapes.
        An explicit `Unconfined` profile turns that off. The container's `appArmorProfile` wins over its
        legacy annotation `container.apparmor.security.beta.kubernetes.io/<container>`, which wins over the
        pod's `appArmorProfile`. RuntimeDefault, Localhost (`runtime/default`, `localhost/<profile>`) and
        no profile at all pass. Pod Security Standards Baseline forbids overriding the default profile.
    """,
    remediation="""
        Remove `appArmorProfile.type: Unconfined` and `unconfined` annotations; where the default profile
        is too strict, load a reviewed profile on the nodes and use `type: Localhost`.
    """,
    references=(
        Reference("Pod Security Standards (Baseline): AppArmor", PSS),
        Reference("Kubernetes: Restrict a Container's Access to Resources with AppArmor",
                  "https://kubernetes.io/docs/tutorials/security/apparmor/"),
        NSA_GUIDE,
        ESCAPE_TO_HOST,
    ),
)
def apparmor_unconfined(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if _windows(pod, ctx):
        return
    for field, path, container in containers(pod.spec):
        profile = apparmor_profile(pod, path, container)
        if profile.value == "Unconfined":
            yield Hit(
                message=f"{_describe(field, container)} runs AppArmor-unconfined ({_source(profile)}).",
                field_path=profile.path, observed=profile.observed, container=container.name,
            )


# --- /proc, ports, process namespace -----------------------------------------------------------


@check(
    id="KW-ISO-024",
    name="proc-mount-unmasked",
    title="Container mounts /proc unmasked",
    category=Category.ISOLATION,
    severity=Severity.HIGH,
    target=Target.POD,
    escape=True,
    rationale="""
        The runtime masks and makes read-only the parts of /proc that reach the host kernel
        (/proc/sys, /proc/sysrq-trigger, /proc/kcore …). `procMount: Unmasked` removes those masks. Inside
        a user namespace (`hostUsers: false`) the kernel still denies the host-wide writes, and Pod
        Security Standards Baseline allows it there since 1.35, so it is then low.
    """,
    remediation="Remove `securityContext.procMount` or set it to `Default`.",
    references=(
        Reference("Pod Security Standards (Baseline): /proc Mount Type", PSS),
        SECURITY_CONTEXT_DOC,
        ESCAPE_TO_HOST,
    ),
)
def proc_mount_unmasked(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if _windows(pod, ctx):
        return
    userns = _user_namespace(pod)
    for field, path, container in containers(pod.spec):
        context = container.security_context
        if context is None or context.proc_mount != "Unmasked":
            continue
        note = " inside a user namespace (hostUsers is false)" if userns else ""
        yield Hit(
            message=f"{_describe(field, container)} mounts /proc without the runtime's masks{note}.",
            field_path=f"{path}.securityContext.procMount", observed="Unmasked", container=container.name,
            severity=Severity.LOW if userns else Severity.HIGH,
        )


@check(
    id="KW-ISO-025",
    name="host-port",
    title="Container binds a port on its node",
    category=Category.ISOLATION,
    severity=Severity.MEDIUM,
    target=Target.POD,
    rationale="""
        A hostPort exposes the container on the node's own address, outside Services and, with many
        network plugins, outside NetworkPolicy; it also pins the pod to nodes where the port is free.
        Pods with `hostNetwork: true` are left to the host-network check (the API server fills in
        hostPort for every port of such a pod).
    """,
    remediation="Remove `hostPort` and expose the container through a Service (NodePort or LoadBalancer if needed).",
    references=(
        _cis("5.2.13", "Minimize the admission of containers which use HostPorts"),
        Reference("Pod Security Standards (Baseline): Host Ports", PSS),
        NSA_GUIDE,
    ),
)
def host_port(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if pod.spec.host_network:
        return
    for field, path, container in containers(pod.spec):
        for index, port in enumerate(container.ports):
            if not port.host_port:
                continue
            where = f" on {port.host_ip}" if port.host_ip else ""
            label = f" ({port.name})" if port.name else ""
            yield Hit(
                message=(f"{_describe(field, container)} binds host port {port.host_port}/{port.protocol or 'TCP'}"
                         f"{where} to container port {port.container_port}{label}."),
                field_path=f"{path}.ports[{index}].hostPort", observed=port.host_port, container=container.name,
            )


_PTRACE = frozenset({"SYS_PTRACE", "CAP_SYS_PTRACE", "ALL"})


def _can_ptrace(container: Container) -> bool:
    context = container.security_context
    if context is None:
        return False
    if context.privileged:
        return True
    return context.capabilities is not None and any(cap.upper() in _PTRACE for cap in context.capabilities.add)


@check(
    id="KW-ISO-026",
    name="share-process-namespace",
    title="Pod shares one process namespace among its containers",
    category=Category.ISOLATION,
    severity=Severity.LOW,
    target=Target.POD,
    rationale="""
        With `shareProcessNamespace: true` every container sees the others' processes, can signal them,
        and reads their environment and files through /proc/<pid>/environ and /proc/<pid>/root when it runs
        as the same user: a compromised sidecar reaches the main container's secrets. It is medium when a
        container can ptrace (SYS_PTRACE, ALL or privileged), which lets it inject code into every other.
    """,
    remediation="Remove `shareProcessNamespace` unless a debugging or signalling sidecar truly needs it.",
    references=(
        Reference("Kubernetes: Share Process Namespace between Containers in a Pod",
                  "https://kubernetes.io/docs/tasks/configure-pod-container/share-process-namespace/"),
        Reference("MITRE ATT&CK T1055: Process Injection", "https://attack.mitre.org/techniques/T1055/"),
    ),
)
def share_process_namespace(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if not pod.spec.share_process_namespace:
        return
    names = [repr(c.name) for _, _, c in containers(pod.spec)]
    tracers = [repr(c.name) for _, _, c in containers(pod.spec) if _can_ptrace(c)]
    message = f"The pod's containers ({', '.join(names)}) share one process namespace"
    severity = Severity.LOW
    if tracers:
        message += f", and {', '.join(tracers)} can ptrace the others"
        severity = Severity.MEDIUM
    yield Hit(message=message + ".", field_path="spec.shareProcessNamespace", observed=True, severity=severity)


# --- the default service account's token ------------------------------------------------------

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
AUTOMOUNT_VOLUME_PREFIX = "kube-api-access-"
"""The projected volume the ServiceAccount admission plugin adds for an automounted token."""


def _default_sa_automount(ctx: CheckContext) -> dict[str, bool | None]:
    """namespace → the `default` ServiceAccount's automountServiceAccountToken, for those kubeward read."""
    return {
        sa.metadata.namespace or "": sa.automount_service_account_token
        for sa in ctx.inventory.service_accounts
        if sa.metadata.name == "default"
    }


def _is_static(pod: Pod) -> bool:
    """A static pod's mirror: the kubelet never mounts a service-account token into it."""
    return MIRROR_POD_ANNOTATION in pod.metadata.annotations or (
        bool(pod.owner_chain) and pod.owner_chain[-1].kind == "Node"
    )


def automount_reason(pod: Pod, service_accounts: dict[str, bool | None]) -> tuple[bool, str]:
    """Whether the token is automounted, and why: the pod's field, else the ServiceAccount's, else true."""
    own = pod.spec.automount_service_account_token
    if own is not None:
        return own, f"the pod sets automountServiceAccountToken: {str(own).lower()}"
    if pod.namespace not in service_accounts:
        return True, "the pod does not turn automounting off (the default ServiceAccount was not read)"
    shared = service_accounts[pod.namespace]
    if shared is not None:
        return shared, f"the default ServiceAccount sets automountServiceAccountToken: {str(shared).lower()}"
    return True, "neither the pod nor the default ServiceAccount turns automounting off"


@check(
    id="KW-ISO-027",
    name="default-service-account-token",
    title="Pod mounts the default service account's token",
    category=Category.ISOLATION,
    severity=Severity.MEDIUM,
    target=Target.POD,
    rationale="""
        Every pod that names no service account runs as its namespace's `default` one, and by default
        gets its API token mounted: anyone who gets code execution in the pod acts with whatever the
        default service account is, or later becomes, allowed to do. The token is mounted when the pod's
        `automountServiceAccountToken` is true, or unset and the ServiceAccount's is not false; a projected
        `serviceAccountToken` volume mounts one too. Pods running as a dedicated service account are left
        alone (a deliberate identity), and so are static pods, which never get a token.
    """,
    remediation="""
        Set `automountServiceAccountToken: false` on each namespace's `default` ServiceAccount; give
        workloads that call the API their own ServiceAccount with only the permissions they need.
    """,
    references=(
        _cis("5.1.5", "Ensure that default service accounts are not actively used"),
        _cis("5.1.6", "Ensure that Service Account Tokens are only mounted where necessary"),
        Reference("Kubernetes: Opt out of API credential automounting",
                  "https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/"
                  "#opt-out-of-api-credential-automounting"),
        NSA_GUIDE,
        Reference("MITRE ATT&CK T1528: Steal Application Access Token", "https://attack.mitre.org/techniques/T1528/"),
    ),
)
def default_service_account_token(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if pod.service_account != "default" or _is_static(pod):
        return
    automounted, why = automount_reason(pod, ctx.memo("hardening.default-sa-automount", _default_sa_automount))
    leftover = None
    for index, volume in enumerate(pod.spec.volumes):
        if volume.projected is None:
            continue
        for source_index, source in enumerate(volume.projected.sources):
            if source.service_account_token is None:
                continue
            if volume.name.startswith(AUTOMOUNT_VOLUME_PREFIX):
                leftover = volume.name
                continue
            yield Hit(
                message=f"The pod projects the default service account's token into volume {volume.name}.",
                field_path=f"spec.volumes[{index}].projected.sources[{source_index}].serviceAccountToken",
                observed=source.service_account_token.path,
            )
    if automounted:
        message = f"The pod runs as the default service account with its token automounted: {why}."
    elif leftover is not None:
        message = (f"The pod runs as the default service account and still has its token mounted (volume "
                   f"{leftover}): automounting was turned off after it was created.")
    else:
        return
    yield Hit(message=message, field_path="spec.automountServiceAccountToken",
              observed=pod.spec.automount_service_account_token)


# --- sysctls and SELinux --------------------------------------------------------------------------

SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",  # Pod Security Standards 1.22+
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",  # 1.27+
    "net.ipv4.tcp_keepalive_time",  # 1.29+
    "net.ipv4.tcp_fin_timeout",  # 1.29+
    "net.ipv4.tcp_keepalive_intvl",  # 1.29+
    "net.ipv4.tcp_keepalive_probes",  # 1.29+
    "net.ipv4.tcp_rmem",  # 1.32+
    "net.ipv4.tcp_wmem",  # 1.32+
})
"""The sysctls Pod Security Standards Baseline allows (the kubelet's safe set), as of Kubernetes 1.32."""


@check(
    id="KW-ISO-028",
    name="unsafe-sysctls",
    title="Pod sets a sysctl outside the safe set",
    category=Category.ISOLATION,
    severity=Severity.MEDIUM,
    target=Target.POD,
    escape=True,
    rationale="""
        Only a few sysctls are both namespaced and isolated from other pods on the node; the others can
        disable kernel protections or change behaviour for every pod there. The kubelet runs a pod that
        sets one only when the node allows it (`--allowed-unsafe-sysctls`). The safe set is Pod Security
        Standards Baseline's as of Kubernetes 1.32 (kernel.shm_rmid_forced, net.ipv4.ip_local_port_range,
        ip_unprivileged_port_start, tcp_syncookies, ping_group_range, ip_local_reserved_ports,
        tcp_keepalive_time, tcp_fin_timeout, tcp_keepalive_intvl, tcp_keepalive_probes, tcp_rmem, tcp_wmem).
    """,
    remediation="""
        Remove the sysctl, or set it on dedicated, tainted nodes through node configuration rather than
        from the pod.
    """,
    references=(
        Reference("Pod Security Standards (Baseline): Sysctls", PSS),
        Reference("Kubernetes: Using sysctls in a Kubernetes Cluster",
                  "https://kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster/"),
        ESCAPE_TO_HOST,
    ),
)
def unsafe_sysctls(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    context = pod.spec.security_context
    if context is None or _windows(pod, ctx):
        return
    for index, sysctl in enumerate(context.sysctls):
        if sysctl.name in SAFE_SYSCTLS:
            continue
        yield Hit(
            message=f"The pod sets sysctl {sysctl.name}={sysctl.value}, outside the Pod Security Standards safe set.",
            field_path=f"spec.securityContext.sysctls[{index}].name", observed=sysctl.name,
        )


SELINUX_TYPES = frozenset({"container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
"""The SELinux types Pod Security Standards Baseline allows (container_engine_t since 1.31)."""

UNCONFINED_SELINUX_TYPES = frozenset({"spc_t", "unconfined_t"})
"""Types that switch SELinux confinement off for the process: "super privileged container"."""


def selinux_problems(options: SELinuxOptions, path: str) -> Iterator[tuple[str, str, str, Severity]]:
    """(field path, observed, what is wrong, severity) for each custom SELinux option."""
    if options.type and options.type not in SELINUX_TYPES:
        unconfined = options.type in UNCONFINED_SELINUX_TYPES
        what = f"runs with SELinux type {options.type}" + (", which is not confined" if unconfined else "")
        yield f"{path}.type", options.type, what, Severity.HIGH if unconfined else Severity.MEDIUM
    if options.user:
        yield f"{path}.user", options.user, f"sets SELinux user {options.user}", Severity.MEDIUM
    if options.role:
        yield f"{path}.role", options.role, f"sets SELinux role {options.role}", Severity.MEDIUM


@check(
    id="KW-ISO-029",
    name="selinux-custom-options",
    title="Pod or container sets a custom SELinux type, user or role",
    category=Category.ISOLATION,
    severity=Severity.MEDIUM,
    target=Target.POD,
    escape=True,
    rationale="""
        On SELinux nodes the runtime labels containers `container_t`, which keeps them away from host
        files and other containers. Pod Security Standards Baseline allows only the container types
        (container_t, container_init_t, container_kvm_t, and container_engine_t since 1.31) and no custom
        user or role; `spc_t` or `unconfined_t` remove SELinux confinement altogether (high). The level
        (MCS categories) may be set. Pod-level options count once, on the pod; a container's count on it.
    """,
    remediation="Remove `seLinuxOptions` other than `level`, or use one of the container types.",
    references=(
        Reference("Pod Security Standards (Baseline): SELinux", PSS),
        SECURITY_CONTEXT_DOC,
        ESCAPE_TO_HOST,
    ),
)
def selinux_custom_options(pod: Pod, ctx: CheckContext) -> Iterator[Hit]:
    if _windows(pod, ctx):
        return
    shared = pod.spec.security_context
    if shared is not None and shared.se_linux_options is not None:
        for path, observed, what, severity in selinux_problems(
                shared.se_linux_options, "spec.securityContext.seLinuxOptions"):
            yield Hit(message=f"The pod {what}.", field_path=path, observed=observed, severity=severity)
    for field, path, container in containers(pod.spec):
        own = container.security_context
        if own is None or own.se_linux_options is None:
            continue
        for option_path, observed, what, severity in selinux_problems(
                own.se_linux_options, f"{path}.securityContext.seLinuxOptions"):
            yield Hit(message=f"{_describe(field, container)} {what}.", field_path=option_path, observed=observed,
                      container=container.name, severity=severity)
