"""The demo cluster generator: deterministic, exactly sized, coherent, and carrying every planted risk."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import msgspec
import pytest

from audit import model
from collectors.resources import COLLECTED
from demo.cluster import MIN_PODS, NOW, DemoCluster, PlantedRisk, build_cluster, generate_cluster

Obj = dict

ROOT = Path(__file__).resolve().parents[2]

MODEL_TYPES: dict[str, type] = {
    "Pod": model.Pod,
    "Namespace": model.Namespace,
    "Node": model.Node,
    "Deployment": model.Workload,
    "ReplicaSet": model.Workload,
    "StatefulSet": model.Workload,
    "DaemonSet": model.Workload,
    "Job": model.Workload,
    "CronJob": model.Workload,
    "ServiceAccount": model.ServiceAccount,
    "Service": model.Service,
    "Role": model.Role,
    "ClusterRole": model.Role,
    "RoleBinding": model.RoleBinding,
    "ClusterRoleBinding": model.RoleBinding,
    "NetworkPolicy": model.NetworkPolicy,
    "RuntimeClass": model.RuntimeClass,
    "PodDisruptionBudget": model.PodDisruptionBudget,
}


@pytest.fixture(scope="module")
def cluster() -> DemoCluster:
    return build_cluster()


# --- helpers over Kubernetes JSON ---------------------------------------------------


def ref_of(obj: Obj) -> tuple[str, str | None, str]:
    return obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]


def target(cluster: DemoCluster, risk: PlantedRisk) -> Obj:
    return cluster.get(risk.target.kind, risk.target.name, risk.target.namespace)


def pod_spec(obj: Obj) -> Obj:
    """The pod spec of a pod, or of a workload's pod template."""
    spec = obj["spec"]
    if "jobTemplate" in spec:
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"] if "template" in spec else spec


def pod_annotations(obj: Obj) -> dict[str, str]:
    metadata = obj["spec"]["template"]["metadata"] if "template" in obj["spec"] else obj["metadata"]
    return metadata.get("annotations", {})


def containers(obj: Obj) -> list[Obj]:
    spec = pod_spec(obj)
    return [*spec.get("initContainers", []), *spec["containers"], *spec.get("ephemeralContainers", [])]


def security(container: Obj) -> Obj:
    return container.get("securityContext", {})


def host_mounts(obj: Obj) -> list[tuple[str, bool]]:
    """(host path, mounted read-only) for every mount of a hostPath volume."""
    spec = pod_spec(obj)
    paths = {v["name"]: v["hostPath"]["path"] for v in spec.get("volumes", []) if "hostPath" in v}
    return [
        (paths[mount["name"]], bool(mount.get("readOnly")))
        for container in containers(obj)
        for mount in container.get("volumeMounts", [])
        if mount["name"] in paths
    ]


def added_capabilities(obj: Obj) -> set[str]:
    return {cap for c in containers(obj) for cap in security(c).get("capabilities", {}).get("add", [])}


def pods_of(cluster: DemoCluster, workload: Obj) -> list[Obj]:
    """The pods a workload runs, following ownerReferences down (Deployment → ReplicaSet → Pod)."""
    uids = {workload["metadata"]["uid"]}
    for kind in ("ReplicaSet", "Job"):
        uids |= {
            obj["metadata"]["uid"]
            for obj in cluster.of_kind(kind)
            if any(ref["uid"] in uids for ref in obj["metadata"].get("ownerReferences", []))
        }
    return [
        pod for pod in cluster.of_kind("Pod")
        if any(ref["uid"] in uids for ref in pod["metadata"].get("ownerReferences", []))
    ]


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def budgets_for(cluster: DemoCluster, workload: Obj) -> list[Obj]:
    namespace = workload["metadata"]["namespace"]
    labels = workload["spec"]["template"]["metadata"]["labels"]
    return [
        pdb for pdb in cluster.of_kind("PodDisruptionBudget")
        if pdb["metadata"]["namespace"] == namespace and selects(pdb["spec"]["selector"], labels)
    ]


def rules_of(cluster: DemoCluster, obj: Obj) -> list[Obj]:
    """A role's rules, or the rules of the role a binding refers to."""
    if obj["kind"] in ("Role", "ClusterRole"):
        return obj["rules"]
    ref = obj["roleRef"]
    namespace = obj["metadata"]["namespace"] if ref["kind"] == "Role" else None
    return cluster.get(ref["kind"], ref["name"], namespace)["rules"]


def grants(rules: list[Obj], verb: str, resource: str) -> bool:
    return any(
        (verb in rule.get("verbs", []) or "*" in rule.get("verbs", []))
        and (resource in rule.get("resources", []) or "*" in rule.get("resources", []))
        for rule in rules
    )


def digests(pods: list[Obj]) -> set[str]:
    return {status["imageID"] for pod in pods for status in pod["status"]["containerStatuses"]}


def kubelet_minor(node: Obj) -> int:
    return int(node["status"]["nodeInfo"]["kubeletVersion"].split(".")[1])


def kernel(node: Obj) -> tuple[int, int]:
    major, minor = node["status"]["nodeInfo"]["kernelVersion"].split(".")[:2]
    return int(major), int(minor)


# --- what each planted risk must look like on its object --------------------------------


def any_container(obj: Obj, predicate: Callable[[Obj], bool]) -> bool:
    return any(predicate(container) for container in containers(obj))


def seccomp_types(obj: Obj) -> set[str | None]:
    pod_level = pod_spec(obj)["securityContext"].get("seccompProfile", {}).get("type")
    return {pod_level, *(security(c).get("seccompProfile", {}).get("type") for c in containers(obj))}


def overrides_run_as_non_root(obj: Obj) -> bool:
    """The pod says runAsNonRoot; one container says otherwise and runs as uid 0."""
    return pod_spec(obj)["securityContext"]["runAsNonRoot"] is True and any_container(
        obj, lambda c: security(c).get("runAsNonRoot") is False and security(c).get("runAsUser") == 0
    )


def legacy_apparmor_unconfined(obj: Obj) -> bool:
    annotations = pod_annotations(obj)
    key = "container.apparmor.security.beta.kubernetes.io/{}"
    return any_container(obj, lambda c: annotations.get(key.format(c["name"])) == "unconfined")


def automounts_default_token(cluster: DemoCluster, obj: Obj) -> bool:
    """Runs as the namespace's default account, and its pods really have the token volume."""
    spec = pod_spec(obj)
    mounted = all(
        any(volume["name"].startswith("kube-api-access-") for volume in pod["spec"]["volumes"])
        for pod in pods_of(cluster, obj)
    )
    default_account = spec.get("serviceAccountName", "default") == "default"
    return default_account and spec.get("automountServiceAccountToken") is not False and mounted


def privileged_init_only(obj: Obj) -> bool:
    spec = pod_spec(obj)
    return any(security(c).get("privileged") for c in spec["initContainers"]) and not any(
        security(c).get("privileged") for c in spec["containers"]
    )


def sensitive_beside_privileged_pod(cluster: DemoCluster, obj: Obj) -> bool:
    """A workload labelled sensitive has a pod on a node that also runs a privileged pod."""
    labels = obj["spec"]["template"]["metadata"]["labels"]
    privileged_nodes = {
        pod["spec"]["nodeName"]
        for pod in cluster.of_kind("Pod")
        if any(security(c).get("privileged") for c in pod["spec"]["containers"])
        and pod["metadata"]["namespace"] == "security"
    }
    shared = any(pod["spec"]["nodeName"] in privileged_nodes for pod in pods_of(cluster, obj))
    return labels.get("kubeward.io/sensitive") == "true" and shared


def only_policy_and_ingress_only(cluster: DemoCluster, policy: Obj) -> bool:
    namespace = policy["metadata"]["namespace"]
    in_namespace = [p for p in cluster.of_kind("NetworkPolicy") if p["metadata"]["namespace"] == namespace]
    return policy["spec"]["policyTypes"] == ["Ingress"] and in_namespace == [policy]


def runner_may_exec_everywhere(cluster: DemoCluster, obj: Obj) -> bool:
    rules = rules_of(cluster, obj)
    runner = {"kind": "ServiceAccount", "name": "gitlab-runner", "namespace": "ci"}
    bound = obj["kind"] == "ClusterRole" or runner in obj["subjects"]
    return grants(rules, "create", "pods/exec") and grants(rules, "create", "pods/attach") and bound


def exec_through_aggregation(cluster: DemoCluster, role: Obj) -> bool:
    selector = role["aggregationRule"]["clusterRoleSelectors"][0]
    parts = [
        part for part in cluster.of_kind("ClusterRole")
        if part is not role and selects(selector, part["metadata"].get("labels", {}))
    ]
    from_parts = any(grants(part["rules"], "create", "pods/exec") for part in parts)
    return grants(role["rules"], "create", "pods/exec") and from_parts


def replica_sets_with_pods(cluster: DemoCluster, deploy: Obj) -> int:
    uid = deploy["metadata"]["uid"]
    return sum(
        1 for rs in cluster.of_kind("ReplicaSet")
        if rs["metadata"]["ownerReferences"][0]["uid"] == uid and rs["spec"]["replicas"] > 0
    )


def is_untagged(image: str) -> bool:
    return "@" not in image and ":" not in image.rsplit("/", 1)[-1]


Check = Callable[[DemoCluster, Obj], bool]

CHECKS: dict[str, Check] = {
    # nodes
    "old-kernel": lambda c, node: kernel(node) < (5, 11),
    "old-container-runtime": lambda c, node: node["status"]["nodeInfo"]["containerRuntimeVersion"]
    in ("containerd://1.6.2", "docker://20.10.7"),
    "old-kubelet": lambda c, node: kubelet_minor(node) < 28,
    "os-end-of-life": lambda c, node: node["status"]["nodeInfo"]["osImage"].startswith(
        ("Ubuntu 20.04", "Debian GNU/Linux 11")
    ),
    # isolation: host namespaces and host paths
    "host-pid": lambda c, obj: pod_spec(obj).get("hostPID") is True,
    "host-network": lambda c, obj: pod_spec(obj).get("hostNetwork") is True,
    "host-ipc": lambda c, obj: pod_spec(obj).get("hostIPC") is True,
    "host-path-root-writable": lambda c, obj: ("/", False) in host_mounts(obj),
    "host-path-root-read-only": lambda c, obj: ("/", True) in host_mounts(obj),
    "host-path-etc-read-only": lambda c, obj: ("/etc", True) in host_mounts(obj),
    "host-path-kubelet-writable": lambda c, obj: ("/var/lib/kubelet", False) in host_mounts(obj),
    "runtime-socket-containerd": lambda c, obj: ("/var/run/containerd/containerd.sock", False) in host_mounts(obj),
    "runtime-socket-docker": lambda c, obj: ("/var/run/docker.sock", False) in host_mounts(obj),
    "host-port": lambda c, obj: any_container(obj, lambda ct: any("hostPort" in p for p in ct.get("ports", []))),
    "share-process-namespace": lambda c, obj: pod_spec(obj).get("shareProcessNamespace") is True,
    # isolation: security contexts
    "privileged": lambda c, obj: any(security(ct).get("privileged") for ct in pod_spec(obj)["containers"]),
    "privileged-init-container": lambda c, obj: privileged_init_only(obj),
    "capability-sys-admin": lambda c, obj: "SYS_ADMIN" in added_capabilities(obj),
    "capability-net-admin": lambda c, obj: "NET_ADMIN" in added_capabilities(obj),
    "capability-net-raw": lambda c, obj: "NET_RAW" in added_capabilities(obj),
    "capability-sys-ptrace": lambda c, obj: "SYS_PTRACE" in added_capabilities(obj),
    "allow-privilege-escalation": lambda c, obj: any_container(
        obj, lambda ct: security(ct).get("allowPrivilegeEscalation") is True
    ),
    "allow-privilege-escalation-unset": lambda c, obj: any_container(
        obj, lambda ct: "allowPrivilegeEscalation" not in security(ct)
    ),
    "run-as-root": lambda c, obj: any_container(obj, lambda ct: security(ct).get("runAsUser") == 0),
    "container-overrides-run-as-non-root": lambda c, obj: overrides_run_as_non_root(obj),
    "seccomp-unconfined": lambda c, obj: "Unconfined" in seccomp_types(obj),
    "apparmor-unconfined": lambda c, obj: any_container(
        obj, lambda ct: security(ct).get("appArmorProfile") == {"type": "Unconfined"}
    ),
    "seccomp-unconfined-annotation": lambda c, obj: pod_annotations(obj).get(
        "seccomp.security.alpha.kubernetes.io/pod"
    )
    == "unconfined",
    "apparmor-unconfined-annotation": lambda c, obj: legacy_apparmor_unconfined(obj),
    "proc-mount-unmasked": lambda c, obj: any_container(obj, lambda ct: security(ct).get("procMount") == "Unmasked"),
    "automount-default-token": automounts_default_token,
    "literal-secret-env": lambda c, obj: any_container(
        obj, lambda ct: any(e["name"].endswith("TOKEN") and "value" in e for e in ct.get("env", []))
    ),
    "ephemeral-container": lambda c, pod: pod["spec"]["ephemeralContainers"][0]["targetContainerName"] == "cart"
    and "running" in pod["status"]["ephemeralContainerStatuses"][0]["state"],
    "standalone-pod": lambda c, pod: pod["kind"] == "Pod" and "ownerReferences" not in pod["metadata"],
    "sandboxed-runtime-gvisor": lambda c, obj: pod_spec(obj)["runtimeClassName"] == "gvisor"
    and obj["spec"]["template"]["metadata"]["labels"]["data-classification"] == "pci",
    "sandboxed-runtime-kata": lambda c, obj: pod_spec(obj)["runtimeClassName"] == "kata",
    "sensitive-co-tenancy": sensitive_beside_privileged_pod,
    # isolation: namespaces and network
    "psa-privileged": lambda c, ns: ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged",
    "psa-missing": lambda c, ns: "pod-security.kubernetes.io/enforce" not in ns["metadata"]["labels"],
    "no-network-policy": lambda c, ns: all(
        p["metadata"]["namespace"] != ns["metadata"]["name"] for p in c.of_kind("NetworkPolicy")
    ),
    "egress-unrestricted": only_policy_and_ingress_only,
    # exec access
    "cluster-wide-pod-exec": runner_may_exec_everywhere,
    "wildcard-role": lambda c, role: role["rules"][0] == {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    "authenticated-group": lambda c, binding: {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                                               "name": "system:authenticated"} in binding["subjects"]
    and grants(rules_of(c, binding), "create", "pods/exec"),
    "impersonate": lambda c, binding: grants(rules_of(c, binding), "impersonate", "users"),
    "escalate-bind": lambda c, role: grants(role["rules"], "escalate", "clusterroles")
    and grants(role["rules"], "bind", "clusterroles"),
    "nodes-proxy": lambda c, role: grants(role["rules"], "get", "nodes/proxy"),
    "ephemeral-containers": lambda c, role: grants(role["rules"], "patch", "pods/ephemeralcontainers"),
    "aggregated-exec": exec_through_aggregation,
    # images
    "latest-tag": lambda c, obj: any_container(obj, lambda ct: ct["image"].endswith(":latest")),
    "untagged-image": lambda c, obj: any_container(obj, lambda ct: is_untagged(ct["image"])),
    # patch readiness
    "recreate-strategy": lambda c, deploy: deploy["spec"]["strategy"] == {"type": "Recreate"},
    "no-readiness-probe": lambda c, obj: all("readinessProbe" not in ct for ct in pod_spec(obj)["containers"]),
    "no-revision-history": lambda c, deploy: deploy["spec"]["revisionHistoryLimit"] == 0,
    "single-replica-no-pdb": lambda c, deploy: deploy["spec"]["replicas"] == 1 and not budgets_for(c, deploy),
    "no-pdb": lambda c, obj: not budgets_for(c, obj),
    "pdb-blocks-eviction": lambda c, pdb: pdb["spec"]["maxUnavailable"] == 0
    and pdb["status"]["disruptionsAllowed"] == 0,
    "max-unavailable-100": lambda c, deploy: deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == "100%",
    "on-delete-updates": lambda c, sts: sts["spec"]["updateStrategy"] == {"type": "OnDelete"},
    "mixed-digests": lambda c, deploy: len(digests(pods_of(c, deploy))) == 2 and replica_sets_with_pods(c, deploy) == 2,
    "stale-mutable-tag": lambda c, deploy: pod_spec(deploy)["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    and len(digests(pods_of(c, deploy))) == 2
    and replica_sets_with_pods(c, deploy) == 1,
}


def test_every_planted_key_has_a_check(cluster: DemoCluster) -> None:
    assert {risk.key for risk in cluster.planted} == set(CHECKS)


@pytest.mark.parametrize("size", [MIN_PODS, 400, 2_000])
def test_every_planted_risk_is_on_its_object(size: int) -> None:
    built = build_cluster(pods=size)
    failures = [
        f"{risk.key} on {risk.target}"
        for risk in built.planted
        if not CHECKS[risk.key](built, target(built, risk))
    ]
    assert failures == []


def test_the_planted_catalogue_names_the_expected_objects(cluster: DemoCluster) -> None:
    by_key: dict[str, set[str]] = {}
    for risk in cluster.planted:
        by_key.setdefault(risk.key, set()).add(str(risk.target))
    assert by_key["runtime-socket-containerd"] == {"DaemonSet/security/runtime-scanner"}
    assert by_key["runtime-socket-docker"] == {"DaemonSet/ci/docker-build-cache"}
    assert by_key["host-pid"] == {"Pod/default/node-debugger-node-001-x7k2p", "DaemonSet/security/runtime-scanner"}
    assert by_key["cluster-wide-pod-exec"] == {"ClusterRoleBinding/gitlab-runner-pod-exec", "ClusterRole/ci-pod-exec"}
    assert by_key["old-kernel"] == {"Node/node-002", "Node/node-003"}
    assert by_key["recreate-strategy"] == {"Deployment/checkout/promo-engine"}
    assert by_key["no-network-policy"] == {"Namespace/playground"}
    assert by_key["mixed-digests"] == {"Deployment/checkout/cart"}


# --- determinism and size ------------------------------------------------------------------


def test_same_seed_and_size_give_byte_identical_output() -> None:
    first = json.dumps(generate_cluster(pods=300, seed=3))
    assert first == json.dumps(generate_cluster(pods=300, seed=3))
    assert first != json.dumps(generate_cluster(pods=300, seed=4))


def test_output_does_not_depend_on_the_process() -> None:
    """Another interpreter with another hash seed produces the very same bytes."""
    script = (
        "import hashlib, json; from demo.cluster import generate_cluster; "
        "print(hashlib.sha256(json.dumps(generate_cluster(pods=120, seed=5)).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    here = hashlib.sha256(json.dumps(generate_cluster(pods=120, seed=5)).encode()).hexdigest()
    assert result.stdout.strip() == here


@pytest.mark.parametrize("size", [MIN_PODS, 51, 137, 400, 1_001])
def test_exactly_the_requested_number_of_pods(size: int) -> None:
    built = build_cluster(pods=size, seed=size)
    assert len(built.of_kind("Pod")) == size


def test_too_few_pods_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 50 pods"):
        build_cluster(pods=MIN_PODS - 1)


def test_ten_thousand_pods_have_the_agreed_shape() -> None:
    started = time.perf_counter()
    built = build_cluster(pods=10_000)
    seconds = time.perf_counter() - started
    assert len(built.of_kind("Pod")) == 10_000
    assert len(built.of_kind("Node")) == 500
    assert 45 <= len(built.of_kind("Namespace")) <= 55
    assert 1_500 <= len(built.of_kind("RoleBinding")) + len(built.of_kind("ClusterRoleBinding")) <= 2_500
    assert seconds < 5, f"generating 10,000 pods took {seconds:.2f} s"


def test_nodes_scale_with_pods() -> None:
    assert len(build_cluster(pods=MIN_PODS).of_kind("Node")) == 4
    assert len(build_cluster(pods=1_000).of_kind("Node")) == 50


# --- coherence --------------------------------------------------------------------------------


def test_every_collected_kind_is_generated_with_its_api_version(cluster: DemoCluster) -> None:
    for resource in COLLECTED:
        objects = cluster.of_kind(resource.kind)
        assert objects, resource.kind
        assert {obj["apiVersion"] for obj in objects} == {resource.api_version}
        assert all(("namespace" in obj["metadata"]) == resource.namespaced for obj in objects), resource.kind


def test_every_object_decodes_into_the_model(cluster: DemoCluster) -> None:
    failures = Counter()
    for obj in cluster.objects:
        struct = MODEL_TYPES.get(obj["kind"])
        if struct is None:
            continue
        try:
            msgspec.convert(obj, type=struct)
        except msgspec.ValidationError as error:
            failures[f"{obj['kind']}: {error}"] += 1
    assert dict(failures) == {}


def test_names_and_uids_are_unique(cluster: DemoCluster) -> None:
    refs = Counter(ref_of(obj) for obj in cluster.objects)
    assert [ref for ref, count in refs.items() if count > 1] == []
    uids = Counter(obj["metadata"]["uid"] for obj in cluster.objects)
    assert [uid for uid, count in uids.items() if count > 1] == []


def test_every_timestamp_is_before_now(cluster: DemoCluster) -> None:
    stamps = [obj["metadata"]["creationTimestamp"] for obj in cluster.objects]
    stamps += [pod["status"]["startTime"] for pod in cluster.of_kind("Pod")]
    assert max(datetime.fromisoformat(stamp) for stamp in stamps) <= NOW


def test_every_owner_reference_resolves(cluster: DemoCluster) -> None:
    by_uid = {obj["metadata"]["uid"]: obj for obj in cluster.objects}
    for obj in cluster.objects:
        for ref in obj["metadata"].get("ownerReferences", []):
            owner = by_uid[ref["uid"]]
            assert (owner["kind"], owner["metadata"]["name"], owner["apiVersion"]) == (
                ref["kind"], ref["name"], ref["apiVersion"])
            assert owner["metadata"].get("namespace") in (None, obj["metadata"].get("namespace"))
            assert ref["controller"] is True


def test_owner_chains_reach_the_top_workload(cluster: DemoCluster) -> None:
    def owner_kind(obj: Obj) -> str:
        return obj["metadata"]["ownerReferences"][0]["kind"]

    assert {owner_kind(rs) for rs in cluster.of_kind("ReplicaSet")} == {"Deployment"}
    assert {owner_kind(job) for job in cluster.of_kind("Job")} == {"CronJob"}
    owners = Counter(owner_kind(pod) if "ownerReferences" in pod["metadata"] else "-" for pod in cluster.of_kind("Pod"))
    assert set(owners) == {"ReplicaSet", "StatefulSet", "DaemonSet", "Job", "Node", "-"}
    for rs in cluster.of_kind("ReplicaSet"):
        assert rs["metadata"]["name"].endswith("-" + rs["metadata"]["labels"]["pod-template-hash"])
        assert len(pods_of(cluster, rs)) == rs["spec"]["replicas"]
    for deploy in cluster.of_kind("Deployment"):
        assert len(pods_of(cluster, deploy)) == deploy["spec"]["replicas"]


def test_pods_carry_the_labels_their_controller_selects(cluster: DemoCluster) -> None:
    by_uid = {obj["metadata"]["uid"]: obj for obj in cluster.objects}
    for pod in cluster.of_kind("Pod"):
        for ref in pod["metadata"].get("ownerReferences", []):
            owner = by_uid[ref["uid"]]
            if "selector" in owner.get("spec", {}):
                assert selects(owner["spec"]["selector"], pod["metadata"]["labels"]), pod["metadata"]["name"]


def test_every_pod_runs_on_a_generated_node(cluster: DemoCluster) -> None:
    nodes = {node["metadata"]["name"]: node for node in cluster.of_kind("Node")}
    addresses = {name: node["status"]["addresses"][0]["address"] for name, node in nodes.items()}
    for pod in cluster.of_kind("Pod"):
        node = pod["spec"]["nodeName"]
        assert node in nodes
        assert pod["status"]["hostIP"] == addresses[node]


def test_daemon_sets_run_one_pod_per_eligible_node(cluster: DemoCluster) -> None:
    nodes = {node["metadata"]["name"] for node in cluster.of_kind("Node")}
    for name in ("calico-node", "kube-proxy"):
        pods = pods_of(cluster, cluster.get("DaemonSet", name, "kube-system"))
        assert sorted(pod["spec"]["nodeName"] for pod in pods) == sorted(nodes)
    scanner = pods_of(cluster, cluster.get("DaemonSet", "runtime-scanner", "security"))
    tainted = {n["metadata"]["name"] for n in cluster.of_kind("Node") if n["spec"].get("taints")}
    assert {pod["spec"]["nodeName"] for pod in scanner} == nodes - tainted


def test_pod_ips_are_unique_except_on_the_host_network(cluster: DemoCluster) -> None:
    ips = Counter(pod["status"]["podIP"] for pod in cluster.of_kind("Pod") if not pod["spec"].get("hostNetwork"))
    assert [ip for ip, count in ips.items() if count > 1] == []


def test_sandboxed_pods_land_where_their_runtime_class_can_run(cluster: DemoCluster) -> None:
    nodes = {node["metadata"]["name"]: node["metadata"]["labels"] for node in cluster.of_kind("Node")}
    classes = {rc["metadata"]["name"]: rc for rc in cluster.of_kind("RuntimeClass")}
    assert {name: rc["handler"] for name, rc in classes.items()} == {"gvisor": "runsc", "kata": "kata"}
    sandboxed = [pod for pod in cluster.of_kind("Pod") if pod["spec"].get("runtimeClassName")]
    assert {pod["spec"]["runtimeClassName"] for pod in sandboxed} == {"gvisor", "kata"}
    for pod in sandboxed:
        selector = classes[pod["spec"]["runtimeClassName"]]["scheduling"]["nodeSelector"]
        assert selects({"matchLabels": selector}, nodes[pod["spec"]["nodeName"]])


def test_container_statuses_look_like_the_runtime_wrote_them(cluster: DemoCluster) -> None:
    runtimes = {n["metadata"]["name"]: n["status"]["nodeInfo"]["containerRuntimeVersion"].split(":")[0]
                for n in cluster.of_kind("Node")}
    seen_prefixes = set()
    for pod in cluster.of_kind("Pod"):
        runtime = runtimes[pod["spec"]["nodeName"]]
        assert len(pod["status"]["containerStatuses"]) == len(pod["spec"]["containers"])
        for status in pod["status"]["containerStatuses"]:
            prefix, _, digest = status["imageID"].rpartition("@sha256:")
            assert len(digest) == 64 and int(digest, 16) >= 0
            assert status["containerID"].startswith(f"{runtime}://") and len(status["containerID"].split("//")[1]) == 64
            seen_prefixes.add(prefix.split("://")[0] if "://" in prefix else "registry")
    assert seen_prefixes == {"registry", "docker-pullable"}
    nginx = next(
        pod for pod in cluster.of_kind("Pod")
        if pod["spec"]["containers"][0]["image"].startswith("docker.io/library/nginx:")
    )
    image_id = nginx["status"]["containerStatuses"][0]["imageID"]
    assert image_id.startswith(("docker.io/library/nginx@sha256:", "docker-pullable://nginx@sha256:"))


def test_pods_are_the_size_of_real_ones(cluster: DemoCluster) -> None:
    sizes = [len(json.dumps(pod)) for pod in cluster.of_kind("Pod")]
    assert 2_000 <= sum(sizes) / len(sizes) <= 5_000


def test_most_workloads_are_hardened(cluster: DemoCluster) -> None:
    pods = cluster.of_kind("Pod")
    hardened = [
        pod for pod in pods
        if pod["spec"]["securityContext"].get("runAsNonRoot")
        and pod["spec"]["securityContext"].get("seccompProfile") == {"type": "RuntimeDefault"}
        and all(security(c).get("readOnlyRootFilesystem") and security(c).get("capabilities", {}).get("drop") == ["ALL"]
                for c in pod["spec"]["containers"])
    ]
    assert len(hardened) / len(pods) > 0.4
    namespaces = cluster.of_kind("Namespace")
    labelled = [ns for ns in namespaces if "pod-security.kubernetes.io/enforce" in ns["metadata"]["labels"]]
    assert len(labelled) / len(namespaces) > 0.5


def test_control_plane_nodes_are_tainted_and_carry_the_static_pods(cluster: DemoCluster) -> None:
    role = "node-role.kubernetes.io/control-plane"
    control_planes = [node for node in cluster.of_kind("Node") if role in node["metadata"]["labels"]]
    assert len(control_planes) == 3
    for node in control_planes:
        assert node["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
        mirror = pods_of(cluster, node)
        assert sorted(p["metadata"]["labels"]["component"] for p in mirror) == [
            "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]


def test_builtin_roles_aggregate_like_the_real_ones(cluster: DemoCluster) -> None:
    for name in ("admin", "edit", "view"):
        role = cluster.get("ClusterRole", name)
        selector = role["aggregationRule"]["clusterRoleSelectors"][0]["matchLabels"]
        assert selector == {f"rbac.authorization.k8s.io/aggregate-to-{name}": "true"}
    assert grants(cluster.get("ClusterRole", "edit")["rules"], "create", "pods/exec")
    assert not grants(cluster.get("ClusterRole", "view")["rules"], "create", "pods/exec")
    everything = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
    assert cluster.get("ClusterRole", "cluster-admin")["rules"][0] == everything


def test_every_cron_job_keeps_completed_jobs_with_one_pod_each(cluster: DemoCluster) -> None:
    for cron in cluster.of_kind("CronJob"):
        pods = pods_of(cluster, cron)
        assert pods and {pod["status"]["phase"] for pod in pods} == {"Succeeded"}


def test_secrets_and_config_maps_are_there_and_the_secrets_are_fake(cluster: DemoCluster) -> None:
    assert len(cluster.of_kind("ConfigMap")) >= len(cluster.of_kind("Namespace"))
    secrets = cluster.of_kind("Secret")
    assert len(secrets) >= 5
    for secret in secrets:
        for key, value in secret["data"].items():
            if any(word in key for word in ("password", "token", "secret", "key")):
                assert "fake" in base64.b64decode(value).decode().lower(), (secret["metadata"]["name"], key)


def test_env_references_name_objects_that_exist(cluster: DemoCluster) -> None:
    referenced = set()
    for pod in cluster.of_kind("Pod"):
        namespace = pod["metadata"]["namespace"]
        for container in pod["spec"]["containers"]:
            for env in container.get("env", []):
                for kind, ref in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    if ref in env.get("valueFrom", {}):
                        referenced.add((kind, namespace, env["valueFrom"][ref]["name"], env["valueFrom"][ref]["key"]))
            for source in container.get("envFrom", []):
                for kind, ref in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                    if ref in source:
                        referenced.add((kind, namespace, source[ref]["name"], None))
    assert {kind for kind, *_ in referenced} == {"Secret", "ConfigMap"}
    for kind, namespace, name, key in referenced:
        data = cluster.get(kind, name, namespace)["data"]
        assert key is None or key in data


def test_objects_share_no_mutable_parts(cluster: DemoCluster) -> None:
    """Editing one object (as a fault-injecting test might) must never change another."""
    seen: set[int] = set()
    shared = []
    stack: list = list(cluster.objects)
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            if id(node) in seen:
                shared.append(node)
            seen.add(id(node))
            stack.extend(node.values() if isinstance(node, dict) else node)
    assert shared == []
