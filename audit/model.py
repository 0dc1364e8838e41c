"""The Inventory: what kubeward read from a cluster, as lean immutable structs.

The structs mirror the Kubernetes JSON they are decoded from (camelCase on the
wire, snake_case in Python) but keep only the fields a security review needs,
so that `msgspec` can decode a raw API list straight into them. The same
structs serialise the audit snapshot, which is why a snapshot reads like the
Kubernetes objects it came from.

Two things are deliberately never kept: literal environment variable values
(a reference to a Secret or ConfigMap is kept by name) and container command
lines and arguments, either of which may carry credentials.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from functools import cached_property
from typing import Literal

import msgspec
from msgspec import field

from audit.exec_evidence import ExecEvidence
from audit.images import ImageInventory
from audit.trivy import TrivyComparison
from audit.vulns import VulnDBInfo, VulnMatch


class K8s(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Base of every struct decoded from Kubernetes JSON."""


# --- metadata -----------------------------------------------------------


class OwnerReference(K8s, kw_only=True):
    api_version: str = ""
    kind: str
    name: str
    uid: str = ""
    controller: bool | None = None


class ObjectMeta(K8s, kw_only=True):
    name: str = ""  # pod templates have none
    namespace: str | None = None
    uid: str = ""
    resource_version: str = ""
    generation: int | None = None
    creation_timestamp: datetime | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    owner_references: tuple[OwnerReference, ...] = ()


class LabelSelectorRequirement(K8s, kw_only=True):
    key: str
    operator: str
    values: tuple[str, ...] = ()


class LabelSelector(K8s, kw_only=True):
    match_labels: dict[str, str] = {}
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        """Kubernetes label-selector semantics; an empty selector matches everything."""
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        for req in self.match_expressions:
            present = req.key in labels
            if req.operator == "In":
                if not present or labels[req.key] not in req.values:
                    return False
            elif req.operator == "NotIn":
                if present and labels[req.key] in req.values:
                    return False
            elif req.operator == "Exists":
                if not present:
                    return False
            elif req.operator == "DoesNotExist":
                if present:
                    return False
            else:  # an operator this version does not know selects nothing
                return False
        return True


# --- pods ---------------------------------------------------------------


class SeccompProfile(K8s, kw_only=True):
    type: str
    localhost_profile: str | None = None


class AppArmorProfile(K8s, kw_only=True):
    type: str
    localhost_profile: str | None = None


class SELinuxOptions(K8s, kw_only=True):
    user: str | None = None
    role: str | None = None
    type: str | None = None
    level: str | None = None


class WindowsSecurityContextOptions(K8s, kw_only=True):
    host_process: bool | None = None
    """A Windows HostProcess container: the Windows equivalent of privileged."""
    run_as_user_name: str | None = None


class Capabilities(K8s, kw_only=True):
    add: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()


class Sysctl(K8s, kw_only=True):
    name: str
    value: str = ""


class SecurityContext(K8s, kw_only=True):
    """A container's securityContext."""

    privileged: bool | None = None
    allow_privilege_escalation: bool | None = None
    capabilities: Capabilities | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool | None = None
    proc_mount: str | None = None
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: AppArmorProfile | None = None
    se_linux_options: SELinuxOptions | None = None
    windows_options: WindowsSecurityContextOptions | None = None


class PodSecurityContext(K8s, kw_only=True):
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    fs_group: int | None = None
    supplemental_groups: tuple[int, ...] = ()
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: AppArmorProfile | None = None
    se_linux_options: SELinuxOptions | None = None
    sysctls: tuple[Sysctl, ...] = ()
    windows_options: WindowsSecurityContextOptions | None = None


class ContainerPort(K8s, kw_only=True):
    container_port: int
    name: str | None = None
    protocol: str | None = None
    host_port: int | None = None
    host_ip: str | None = field(default=None, name="hostIP")


class KeyRef(K8s, kw_only=True):
    """secretKeyRef / configMapKeyRef: which object and key, never the value."""

    name: str = ""
    key: str = ""
    optional: bool | None = None


class FieldRef(K8s, kw_only=True):
    field_path: str


class ResourceFieldRef(K8s, kw_only=True):
    resource: str
    container_name: str | None = None


class EnvVarSource(K8s, kw_only=True):
    secret_key_ref: KeyRef | None = None
    config_map_key_ref: KeyRef | None = None
    field_ref: FieldRef | None = None
    resource_field_ref: ResourceFieldRef | None = None


class EnvVar(K8s, kw_only=True):
    """An environment variable by name. A literal `value` is not decoded at all."""

    name: str
    value_from: EnvVarSource | None = None


class NameRef(K8s, kw_only=True):
    name: str = ""
    optional: bool | None = None


class EnvFromSource(K8s, kw_only=True):
    prefix: str | None = None
    secret_ref: NameRef | None = None
    config_map_ref: NameRef | None = None


class VolumeMount(K8s, kw_only=True):
    name: str
    mount_path: str
    read_only: bool | None = None
    sub_path: str | None = None
    mount_propagation: str | None = None
    recursive_read_only: str | None = None


class HTTPGetAction(K8s, kw_only=True):
    path: str | None = None
    port: int | str
    scheme: str | None = None


class TCPSocketAction(K8s, kw_only=True):
    port: int | str


class ExecAction(K8s, kw_only=True):
    command: tuple[str, ...] = ()


class GRPCAction(K8s, kw_only=True):
    port: int
    service: str | None = None


class Probe(K8s, kw_only=True):
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    exec: ExecAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: int | None = None
    period_seconds: int | None = None
    timeout_seconds: int | None = None
    failure_threshold: int | None = None
    success_threshold: int | None = None


class ResourceRequirements(K8s, kw_only=True):
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}


class Container(K8s, kw_only=True):
    """A container, init container or ephemeral container."""

    name: str
    image: str = ""
    image_pull_policy: str | None = None
    ports: tuple[ContainerPort, ...] = ()
    env: tuple[EnvVar, ...] = ()
    env_from: tuple[EnvFromSource, ...] = ()
    volume_mounts: tuple[VolumeMount, ...] = ()
    security_context: SecurityContext | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    resources: ResourceRequirements | None = None
    restart_policy: str | None = None  # "Always" marks a native sidecar init container
    stdin: bool | None = None
    tty: bool | None = None
    target_container_name: str | None = None  # ephemeral containers only


class HostPathVolumeSource(K8s, kw_only=True):
    path: str
    type: str | None = None


class EmptyDirVolumeSource(K8s, kw_only=True):
    medium: str | None = None
    size_limit: str | None = None


class SecretVolumeSource(K8s, kw_only=True):
    secret_name: str | None = None
    optional: bool | None = None


class ConfigMapVolumeSource(K8s, kw_only=True):
    name: str | None = None
    optional: bool | None = None


class PVCVolumeSource(K8s, kw_only=True):
    claim_name: str
    read_only: bool | None = None


class ServiceAccountTokenProjection(K8s, kw_only=True):
    path: str
    audience: str | None = None
    expiration_seconds: int | None = None


class VolumeProjection(K8s, kw_only=True):
    service_account_token: ServiceAccountTokenProjection | None = None
    secret: NameRef | None = None
    config_map: NameRef | None = None


class ProjectedVolumeSource(K8s, kw_only=True):
    sources: tuple[VolumeProjection, ...] = ()


class CSIVolumeSource(K8s, kw_only=True):
    driver: str
    read_only: bool | None = None


class NFSVolumeSource(K8s, kw_only=True):
    server: str
    path: str
    read_only: bool | None = None


class Present(K8s, kw_only=True):
    """A field whose presence matters and whose content does not."""


class Volume(K8s, kw_only=True):
    """A pod volume. Sources kubeward does not model report `source == "other"`."""

    name: str
    host_path: HostPathVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    config_map: ConfigMapVolumeSource | None = None
    persistent_volume_claim: PVCVolumeSource | None = None
    projected: ProjectedVolumeSource | None = None
    csi: CSIVolumeSource | None = None
    nfs: NFSVolumeSource | None = None
    downward_api: Present | None = field(default=None, name="downwardAPI")
    ephemeral: Present | None = None
    git_repo: Present | None = None
    """Deprecated; cloning runs on the node as root (CVE-2024-10220)."""
    iscsi: Present | None = None
    rbd: Present | None = None
    flex_volume: Present | None = None

    @property
    def source(self) -> str:
        """The volume's source type, as its Kubernetes field name."""
        for name in (
            "hostPath", "emptyDir", "secret", "configMap", "persistentVolumeClaim",
            "projected", "csi", "nfs", "downwardAPI", "ephemeral", "gitRepo", "iscsi", "rbd", "flexVolume",
        ):
            if getattr(self, _SOURCE_ATTRS[name]) is not None:
                return name
        return "other"


_SOURCE_ATTRS = {
    "hostPath": "host_path", "emptyDir": "empty_dir", "secret": "secret",
    "configMap": "config_map", "persistentVolumeClaim": "persistent_volume_claim",
    "projected": "projected", "csi": "csi", "nfs": "nfs",
    "downwardAPI": "downward_api", "ephemeral": "ephemeral", "gitRepo": "git_repo",
    "iscsi": "iscsi", "rbd": "rbd", "flexVolume": "flex_volume",
}


class Toleration(K8s, kw_only=True):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None


class LocalObjectReference(K8s, kw_only=True):
    name: str = ""


class PodOS(K8s, kw_only=True):
    name: str


class PodSpec(K8s, kw_only=True):
    os: PodOS | None = None
    """`linux` or `windows` when the pod declares it."""
    containers: tuple[Container, ...] = ()
    init_containers: tuple[Container, ...] = ()
    ephemeral_containers: tuple[Container, ...] = ()
    volumes: tuple[Volume, ...] = ()
    service_account_name: str | None = None
    automount_service_account_token: bool | None = None
    node_name: str | None = None
    host_network: bool | None = None
    host_pid: bool | None = field(default=None, name="hostPID")
    host_ipc: bool | None = field(default=None, name="hostIPC")
    host_users: bool | None = None
    share_process_namespace: bool | None = None
    security_context: PodSecurityContext | None = None
    runtime_class_name: str | None = None
    priority_class_name: str | None = None
    node_selector: dict[str, str] = {}
    tolerations: tuple[Toleration, ...] = ()
    image_pull_secrets: tuple[LocalObjectReference, ...] = ()
    restart_policy: str | None = None
    dns_policy: str | None = None

    def all_containers(self) -> tuple[tuple[str, Container], ...]:
        """Every container with the spec field that holds it."""
        return (
            *(("initContainers", c) for c in self.init_containers),
            *(("containers", c) for c in self.containers),
            *(("ephemeralContainers", c) for c in self.ephemeral_containers),
        )


class ContainerStateRunning(K8s, kw_only=True):
    started_at: datetime | None = None


class ContainerStateWaiting(K8s, kw_only=True):
    reason: str | None = None


class ContainerStateTerminated(K8s, kw_only=True):
    exit_code: int = 0
    reason: str | None = None


class ContainerState(K8s, kw_only=True):
    running: ContainerStateRunning | None = None
    waiting: ContainerStateWaiting | None = None
    terminated: ContainerStateTerminated | None = None


class LinuxContainerUser(K8s, kw_only=True):
    uid: int
    gid: int = 0
    supplemental_groups: tuple[int, ...] = ()


class ContainerUser(K8s, kw_only=True):
    linux: LinuxContainerUser | None = None


class ContainerStatus(K8s, kw_only=True):
    name: str
    image: str = ""
    image_id: str = field(default="", name="imageID")
    container_id: str | None = field(default=None, name="containerID")
    ready: bool = False
    restart_count: int = 0
    started: bool | None = None
    state: ContainerState | None = None
    last_state: ContainerState | None = None
    user: ContainerUser | None = None
    """The identity the container actually runs with (Kubernetes 1.31+, when the runtime reports it)."""

    @property
    def digest(self) -> str | None:
        """The `sha256:…` digest from imageID, however the runtime spells it."""
        _, sep, digest = self.image_id.rpartition("@")
        if sep:
            return digest
        if self.image_id.startswith("sha256:"):
            return self.image_id
        return None


class PodCondition(K8s, kw_only=True):
    type: str
    status: str


class PodStatus(K8s, kw_only=True):
    phase: str | None = None
    pod_ip: str | None = field(default=None, name="podIP")
    host_ip: str | None = field(default=None, name="hostIP")
    qos_class: str | None = None
    start_time: datetime | None = None
    conditions: tuple[PodCondition, ...] = ()
    container_statuses: tuple[ContainerStatus, ...] = ()
    init_container_statuses: tuple[ContainerStatus, ...] = ()
    ephemeral_container_statuses: tuple[ContainerStatus, ...] = ()


class ObjectRef(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Names one object: what a finding is about, or a link in an owner chain."""

    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


class Pod(K8s, kw_only=True):
    metadata: ObjectMeta
    spec: PodSpec = PodSpec()
    status: PodStatus = PodStatus()
    owner_chain: tuple[ObjectRef, ...] = ()
    """Filled by the collector: the pod's controllers, nearest first, up to the top workload."""

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or ""

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def workload(self) -> ObjectRef:
        """The top of the owner chain, or the pod itself when it stands alone
        (a static pod, owned by its Node, is its own workload)."""
        if self.owner_chain and self.owner_chain[-1].kind != "Node":
            return self.owner_chain[-1]
        return ObjectRef(kind="Pod", name=self.metadata.name, namespace=self.metadata.namespace)

    @property
    def service_account(self) -> str:
        return self.spec.service_account_name or "default"


# --- workloads ----------------------------------------------------------


class PodTemplateSpec(K8s, kw_only=True):
    metadata: ObjectMeta | None = None
    spec: PodSpec = PodSpec()


class RollingUpdate(K8s, kw_only=True):
    max_unavailable: int | str | None = None
    max_surge: int | str | None = None
    partition: int | None = None


class UpdateStrategy(K8s, kw_only=True):
    """Deployment `strategy` and StatefulSet/DaemonSet `updateStrategy` share this shape."""

    type: str | None = None
    rolling_update: RollingUpdate | None = None


class JobSpec(K8s, kw_only=True):
    template: PodTemplateSpec = PodTemplateSpec()
    parallelism: int | None = None
    completions: int | None = None
    backoff_limit: int | None = None
    active_deadline_seconds: int | None = None
    ttl_seconds_after_finished: int | None = None


class JobTemplateSpec(K8s, kw_only=True):
    metadata: ObjectMeta | None = None
    spec: JobSpec = JobSpec()


class WorkloadSpec(K8s, kw_only=True):
    """The spec of any workload kind; each kind fills the fields it has."""

    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    strategy: UpdateStrategy | None = None  # Deployment
    update_strategy: UpdateStrategy | None = None  # StatefulSet, DaemonSet
    revision_history_limit: int | None = None
    min_ready_seconds: int | None = None
    progress_deadline_seconds: int | None = None
    paused: bool | None = None
    service_name: str | None = None  # StatefulSet
    pod_management_policy: str | None = None  # StatefulSet
    # Job
    parallelism: int | None = None
    completions: int | None = None
    backoff_limit: int | None = None
    # CronJob
    schedule: str | None = None
    suspend: bool | None = None
    concurrency_policy: str | None = None
    successful_jobs_history_limit: int | None = None
    failed_jobs_history_limit: int | None = None
    job_template: JobTemplateSpec | None = None


class WorkloadCondition(K8s, kw_only=True):
    type: str
    status: str
    reason: str | None = None


class WorkloadStatus(K8s, kw_only=True):
    replicas: int | None = None
    unavailable_replicas: int | None = None
    conditions: tuple[WorkloadCondition, ...] = ()
    ready_replicas: int | None = None
    updated_replicas: int | None = None
    available_replicas: int | None = None
    current_replicas: int | None = None
    observed_generation: int | None = None
    # DaemonSet
    desired_number_scheduled: int | None = None
    current_number_scheduled: int | None = None
    number_ready: int | None = None
    updated_number_scheduled: int | None = None
    # Job / CronJob
    active: int | list[ObjectRef] | None = None
    succeeded: int | None = None
    failed: int | None = None
    last_schedule_time: datetime | None = None


WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]


class Workload(K8s, kw_only=True):
    """A Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob."""

    kind: WorkloadKind | Literal[""] = ""
    """List items arrive without a kind; the collector fills it in."""
    metadata: ObjectMeta
    spec: WorkloadSpec = WorkloadSpec()
    status: WorkloadStatus = WorkloadStatus()

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(kind=self.kind, name=self.metadata.name, namespace=self.metadata.namespace)

    @property
    def pod_template(self) -> PodTemplateSpec | None:
        """The pods this workload makes (a CronJob's through its job template)."""
        if self.spec.job_template is not None:
            return self.spec.job_template.spec.template
        return self.spec.template


# --- cluster-scoped and supporting objects -------------------------------


class NamespaceStatus(K8s, kw_only=True):
    phase: str | None = None


class Namespace(K8s, kw_only=True):
    metadata: ObjectMeta
    status: NamespaceStatus = NamespaceStatus()


class NodeSystemInfo(K8s, kw_only=True):
    kernel_version: str = ""
    os_image: str = ""
    container_runtime_version: str = ""
    kubelet_version: str = ""
    kube_proxy_version: str = ""
    operating_system: str = ""
    architecture: str = ""


class NodeCondition(K8s, kw_only=True):
    type: str
    status: str
    reason: str | None = None


class NodeAddress(K8s, kw_only=True):
    type: str
    address: str


class Taint(K8s, kw_only=True):
    key: str
    effect: str
    value: str | None = None


class NodeSpec(K8s, kw_only=True):
    taints: tuple[Taint, ...] = ()
    unschedulable: bool | None = None
    provider_id: str | None = field(default=None, name="providerID")
    pod_cidr: str | None = field(default=None, name="podCIDR")


class NodeStatus(K8s, kw_only=True):
    node_info: NodeSystemInfo = NodeSystemInfo()
    conditions: tuple[NodeCondition, ...] = ()
    addresses: tuple[NodeAddress, ...] = ()


class Node(K8s, kw_only=True):
    metadata: ObjectMeta
    spec: NodeSpec = NodeSpec()
    status: NodeStatus = NodeStatus()

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def info(self) -> NodeSystemInfo:
        return self.status.node_info


class ServiceAccount(K8s, kw_only=True):
    metadata: ObjectMeta
    automount_service_account_token: bool | None = None
    image_pull_secrets: tuple[LocalObjectReference, ...] = ()
    secrets: tuple[LocalObjectReference, ...] = ()
    """Legacy long-lived token Secrets, by name (the Secrets themselves are never read)."""


class PolicyRule(K8s, kw_only=True):
    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = field(default=(), name="nonResourceURLs")


class AggregationRule(K8s, kw_only=True):
    cluster_role_selectors: tuple[LabelSelector, ...] = ()


class Role(K8s, kw_only=True):
    """A Role or ClusterRole (kind tells which)."""

    kind: Literal["Role", "ClusterRole", ""] = ""
    """List items arrive without a kind; the collector fills it in."""
    metadata: ObjectMeta
    rules: tuple[PolicyRule, ...] = ()
    aggregation_rule: AggregationRule | None = None


class RoleRef(K8s, kw_only=True):
    api_group: str = ""
    kind: str
    name: str


class Subject(K8s, kw_only=True):
    kind: str
    name: str
    namespace: str | None = None
    api_group: str | None = None


class RoleBinding(K8s, kw_only=True):
    """A RoleBinding or ClusterRoleBinding (kind tells which)."""

    kind: Literal["RoleBinding", "ClusterRoleBinding", ""] = ""
    """List items arrive without a kind; the collector fills it in."""
    metadata: ObjectMeta
    role_ref: RoleRef
    subjects: tuple[Subject, ...] = ()


class IPBlock(K8s, kw_only=True):
    cidr: str
    except_: tuple[str, ...] = field(default=(), name="except")


class NetworkPolicyPeer(K8s, kw_only=True):
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


class NetworkPolicyPort(K8s, kw_only=True):
    protocol: str | None = None
    port: int | str | None = None
    end_port: int | None = None


class NetworkPolicyIngressRule(K8s, kw_only=True):
    from_: tuple[NetworkPolicyPeer, ...] = field(default=(), name="from")
    ports: tuple[NetworkPolicyPort, ...] = ()


class NetworkPolicyEgressRule(K8s, kw_only=True):
    to: tuple[NetworkPolicyPeer, ...] = ()
    ports: tuple[NetworkPolicyPort, ...] = ()


class NetworkPolicySpec(K8s, kw_only=True):
    pod_selector: LabelSelector = LabelSelector()
    policy_types: tuple[str, ...] = ()
    ingress: tuple[NetworkPolicyIngressRule, ...] = ()
    egress: tuple[NetworkPolicyEgressRule, ...] = ()


class NetworkPolicy(K8s, kw_only=True):
    metadata: ObjectMeta
    spec: NetworkPolicySpec = NetworkPolicySpec()

    @property
    def effective_policy_types(self) -> tuple[str, ...]:
        """policyTypes as the API server defaults them when the field is empty."""
        if self.spec.policy_types:
            return self.spec.policy_types
        return ("Ingress", "Egress") if self.spec.egress else ("Ingress",)


class RuntimeClassScheduling(K8s, kw_only=True):
    node_selector: dict[str, str] = {}
    tolerations: tuple[Toleration, ...] = ()


class RuntimeClassOverhead(K8s, kw_only=True):
    pod_fixed: dict[str, str] = {}


class RuntimeClass(K8s, kw_only=True):
    metadata: ObjectMeta
    handler: str = ""
    scheduling: RuntimeClassScheduling | None = None
    overhead: RuntimeClassOverhead | None = None


class PodDisruptionBudgetSpec(K8s, kw_only=True):
    min_available: int | str | None = None
    max_unavailable: int | str | None = None
    selector: LabelSelector | None = None


class PodDisruptionBudgetStatus(K8s, kw_only=True):
    current_healthy: int | None = None
    desired_healthy: int | None = None
    disruptions_allowed: int | None = None
    expected_pods: int | None = None


class PodDisruptionBudget(K8s, kw_only=True):
    metadata: ObjectMeta
    spec: PodDisruptionBudgetSpec = PodDisruptionBudgetSpec()
    status: PodDisruptionBudgetStatus = PodDisruptionBudgetStatus()


class ServicePort(K8s, kw_only=True):
    port: int
    name: str | None = None
    protocol: str | None = None
    target_port: int | str | None = None
    node_port: int | None = None


class ServiceSpec(K8s, kw_only=True):
    type: str | None = None
    ports: tuple[ServicePort, ...] = ()
    selector: dict[str, str] = {}
    cluster_ip: str | None = field(default=None, name="clusterIP")
    external_ips: tuple[str, ...] = field(default=(), name="externalIPs")
    load_balancer_source_ranges: tuple[str, ...] = ()
    external_traffic_policy: str | None = None


class LoadBalancerIngress(K8s, kw_only=True):
    ip: str | None = None
    hostname: str | None = None


class LoadBalancerStatus(K8s, kw_only=True):
    ingress: tuple[LoadBalancerIngress, ...] = ()


class ServiceStatus(K8s, kw_only=True):
    load_balancer: LoadBalancerStatus = LoadBalancerStatus()


class Service(K8s, kw_only=True):
    metadata: ObjectMeta
    spec: ServiceSpec = ServiceSpec()
    status: ServiceStatus = ServiceStatus()


# --- Trivy Operator (aquasecurity.github.io/v1alpha1), read where it is installed -----------------


class TrivyVulnerability(K8s, kw_only=True):
    """One vulnerability of one package, as Trivy reported it."""

    vulnerability_id: str = field(default="", name="vulnerabilityID")
    """A CVE id mostly; GHSA or a distribution's id where there is no CVE."""
    resource: str = ""
    """The package (binary package name for OS packages)."""
    installed_version: str = ""
    fixed_version: str = ""
    severity: str = ""
    """CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN."""


class TrivyArtifact(K8s, kw_only=True):
    repository: str = ""
    tag: str = ""
    digest: str = ""
    """The scanned image's digest (`sha256:…`); older operators leave it empty."""


class TrivyRegistry(K8s, kw_only=True):
    server: str = ""


class TrivyScanner(K8s, kw_only=True):
    name: str = ""
    version: str = ""


class TrivyReport(K8s, kw_only=True):
    artifact: TrivyArtifact = TrivyArtifact()
    registry: TrivyRegistry = TrivyRegistry()
    scanner: TrivyScanner = TrivyScanner()
    update_timestamp: datetime | None = None
    vulnerabilities: tuple[TrivyVulnerability, ...] = ()


class VulnerabilityReport(K8s, kw_only=True):
    """Trivy Operator's scan of one workload container's image (labels name the workload and container)."""

    kind: str = "VulnerabilityReport"
    metadata: ObjectMeta
    report: TrivyReport = TrivyReport()


# --- the inventory --------------------------------------------------------


class ServerVersion(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The API server's /version, as it reports it."""

    git_version: str = field(default="", name="gitVersion")
    major: str = ""
    minor: str = ""
    platform: str = ""


class ClusterInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    context: str = ""
    server: str = ""
    version: ServerVersion = ServerVersion()
    namespaces_scope: tuple[str, ...] = ()
    """The namespaces the audit was limited to (`-n`); empty for all of them."""
    collected_at: datetime | None = None
    """When the collector read the cluster: the "today" of date-dependent checks (end of life),
    so re-evaluating a saved snapshot gives the answer it gave then."""
    pod_list_versions: dict[str, str] = {}
    """The resourceVersion of each pod list read, by namespace ("" for all namespaces): where a
    watch (`--watch`) picks up so that no change between the list and the watch is missed."""


class Inventory(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, dict=True):
    """Everything the collectors read, and nothing they did not."""

    cluster: ClusterInfo = ClusterInfo()
    namespaces: tuple[Namespace, ...] = ()
    nodes: tuple[Node, ...] = ()
    pods: tuple[Pod, ...] = ()
    workloads: tuple[Workload, ...] = ()
    service_accounts: tuple[ServiceAccount, ...] = ()
    roles: tuple[Role, ...] = ()
    role_bindings: tuple[RoleBinding, ...] = ()
    network_policies: tuple[NetworkPolicy, ...] = ()
    runtime_classes: tuple[RuntimeClass, ...] = ()
    pod_disruption_budgets: tuple[PodDisruptionBudget, ...] = ()
    services: tuple[Service, ...] = ()
    images: tuple[ImageInventory, ...] = ()
    """Every distinct running image that could be read, by digest, with its layers and packages."""
    vulnerabilities: tuple[VulnMatch, ...] = ()
    """Known vulnerabilities of the images' packages, matched offline against the OSV database."""
    vulndb: VulnDBInfo | None = None
    """The vulnerability database matched against, when there was one."""
    exec_evidence: ExecEvidence | None = None
    """Exec sessions seen in the API server's audit log (`--audit-log`); None when no log was read."""
    trivy_reports: tuple[VulnerabilityReport, ...] | None = None
    """Trivy Operator's VulnerabilityReports; None when the operator is not installed or they could not be read."""
    trivy_comparison: TrivyComparison | None = None
    """Our matches and Trivy's, image by image (`audit.trivy`); None without both."""

    @cached_property
    def images_by_digest(self) -> dict[str, ImageInventory]:
        return {image.digest: image for image in self.images}

    def image_of(self, pod: Pod, container: str) -> ImageInventory | None:
        """The image a pod's container runs, found through the digest its status reports."""
        for status in (*pod.status.container_statuses, *pod.status.init_container_statuses,
                       *pod.status.ephemeral_container_statuses):
            if status.name == container and status.digest:
                return self.images_by_digest.get(status.digest)
        return None

    @cached_property
    def pods_by_namespace(self) -> dict[str, list[Pod]]:
        out: dict[str, list[Pod]] = {}
        for pod in self.pods:
            out.setdefault(pod.namespace, []).append(pod)
        return out

    @cached_property
    def pods_by_node(self) -> dict[str, list[Pod]]:
        out: dict[str, list[Pod]] = {}
        for pod in self.pods:
            if pod.spec.node_name:
                out.setdefault(pod.spec.node_name, []).append(pod)
        return out

    @cached_property
    def pods_by_workload(self) -> dict[ObjectRef, list[Pod]]:
        out: dict[ObjectRef, list[Pod]] = {}
        for pod in self.pods:
            out.setdefault(pod.workload, []).append(pod)
        return out

    @cached_property
    def workloads_by_image(self) -> dict[str, tuple[ObjectRef, ...]]:
        """Image digest → the workloads whose pods run it (any kind of container), sorted by name."""
        out: dict[str, set[ObjectRef]] = {}
        for pod in self.pods:
            status = pod.status
            for container in (*status.container_statuses, *status.init_container_statuses,
                              *status.ephemeral_container_statuses):
                if container.digest:
                    out.setdefault(container.digest, set()).add(pod.workload)
        return {digest: tuple(sorted(refs, key=str)) for digest, refs in out.items()}

    @cached_property
    def workloads_by_ref(self) -> dict[ObjectRef, Workload]:
        return {w.ref: w for w in self.workloads}

    @cached_property
    def namespaces_by_name(self) -> dict[str, Namespace]:
        return {ns.metadata.name: ns for ns in self.namespaces}

    @cached_property
    def nodes_by_name(self) -> dict[str, Node]:
        return {n.metadata.name: n for n in self.nodes}

    def counts(self) -> dict[str, int]:
        """How many objects of each kind, keyed by kubectl's resource names."""
        by_kind = Counter(
            obj.kind for group in (self.workloads, self.roles, self.role_bindings) for obj in group
        )
        return {
            "namespaces": len(self.namespaces),
            "nodes": len(self.nodes),
            "pods": len(self.pods),
            "containers": sum(len(p.spec.containers) for p in self.pods),
            **{_PLURALS[kind]: by_kind[kind] for kind in _PLURALS},
            "serviceaccounts": len(self.service_accounts),
            "services": len(self.services),
            "networkpolicies": len(self.network_policies),
            "runtimeclasses": len(self.runtime_classes),
            "poddisruptionbudgets": len(self.pod_disruption_budgets),
            "images": len(self.images),
        }


_PLURALS = {
    "Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets",
    "ReplicaSet": "replicasets", "Job": "jobs", "CronJob": "cronjobs", "Role": "roles",
    "ClusterRole": "clusterroles", "RoleBinding": "rolebindings", "ClusterRoleBinding": "clusterrolebindings",
}
