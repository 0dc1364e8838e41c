"""The hardening checks' helper logic: effective users, profile precedence, automount, SELinux options,
and the messages that must say what the fixtures cannot (why a container is judged as it is)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from audit.model import Pod, SELinuxOptions
from checks.engine import REGISTRY, all_checks, evaluate
from checks.hardening import (
    RunAs,
    apparmor_profile,
    automount_reason,
    containers,
    effective_user,
    seccomp_profile,
    selinux_problems,
)
from collectors.kube import inventory_from_objects


def pod(spec: dict[str, Any], annotations: dict[str, str] | None = None, status: dict[str, Any] | None = None,
        namespace: str = "ns") -> Pod:
    return msgspec.convert(
        {"metadata": {"name": "p", "namespace": namespace, "annotations": annotations or {}},
         "spec": spec, "status": status or {}},
        type=Pod,
    )


def first(p: Pod) -> tuple[str, str, Any]:
    return next(containers(p.spec))


def user_of(spec: dict[str, Any], status: dict[str, Any] | None = None) -> tuple[RunAs, str, Any]:
    p = pod(spec, status=status)
    user = effective_user(p, *first(p))
    return user.run_as, user.field_path, user.observed


# --- who a container runs as -------------------------------------------------------------


@pytest.mark.parametrize(("spec", "expected"), [
    # nothing anywhere: the image decides
    ({"containers": [{"name": "c"}]},
     (RunAs.UNKNOWN, "spec.containers[0].securityContext.runAsNonRoot", None)),
    # runAsNonRoot true without runAsUser: the kubelet enforces it
    ({"securityContext": {"runAsNonRoot": True}, "containers": [{"name": "c"}]},
     (RunAs.NON_ROOT, "spec.securityContext.runAsNonRoot", True)),
    # pod uid 0 inherited
    ({"securityContext": {"runAsUser": 0}, "containers": [{"name": "c"}]},
     (RunAs.ROOT, "spec.securityContext.runAsUser", 0)),
    # container uid wins over the pod's 0
    ({"securityContext": {"runAsUser": 0}, "containers": [{"name": "c", "securityContext": {"runAsUser": 5}}]},
     (RunAs.NON_ROOT, "spec.containers[0].securityContext.runAsUser", 5)),
    # container uid 0 wins over the pod's non-root uid
    ({"securityContext": {"runAsUser": 5}, "containers": [{"name": "c", "securityContext": {"runAsUser": 0}}]},
     (RunAs.ROOT, "spec.containers[0].securityContext.runAsUser", 0)),
    # container runAsNonRoot false wins over the pod's true: back to the image's user
    ({"securityContext": {"runAsNonRoot": True},
      "containers": [{"name": "c", "securityContext": {"runAsNonRoot": False}}]},
     (RunAs.UNKNOWN, "spec.containers[0].securityContext.runAsNonRoot", False)),
    # runAsNonRoot false does not make a non-zero uid root
    ({"securityContext": {"runAsUser": 1000, "runAsNonRoot": False}, "containers": [{"name": "c"}]},
     (RunAs.NON_ROOT, "spec.securityContext.runAsUser", 1000)),
])
def test_effective_user_follows_inheritance(spec: dict[str, Any], expected: tuple[RunAs, str, Any]) -> None:
    assert user_of(spec) == expected


def test_run_as_user_zero_with_run_as_non_root_is_root_and_refused() -> None:
    p = pod({"securityContext": {"runAsNonRoot": True},
             "containers": [{"name": "c", "securityContext": {"runAsUser": 0}}]})
    user = effective_user(p, *first(p))
    assert (user.run_as, user.refused) == (RunAs.ROOT, True)


def test_reported_uid_settles_the_question() -> None:
    spec = {"containers": [{"name": "c"}]}
    reported = {"containerStatuses": [{"name": "c", "user": {"linux": {"uid": 0}}}]}
    assert user_of(spec, reported)[0] is RunAs.ROOT
    reported["containerStatuses"][0]["user"]["linux"]["uid"] = 1000
    assert user_of(spec, reported)[0] is RunAs.NON_ROOT
    # a status for another container, or without a user, says nothing about this one
    other = {"containerStatuses": [{"name": "other", "user": {"linux": {"uid": 1000}}}]}
    assert user_of(spec, other)[0] is RunAs.UNKNOWN
    assert user_of(spec, {"containerStatuses": [{"name": "c"}]})[0] is RunAs.UNKNOWN


def test_init_container_status_is_looked_up_in_its_own_list() -> None:
    p = pod({"initContainers": [{"name": "c"}], "containers": [{"name": "c2"}]},
            status={"containerStatuses": [{"name": "c", "user": {"linux": {"uid": 0}}}],
                    "initContainerStatuses": [{"name": "c", "user": {"linux": {"uid": 7}}}]})
    assert effective_user(p, *first(p)).run_as is RunAs.NON_ROOT


# --- seccomp and AppArmor precedence ---------------------------------------------------------

SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_C = "container.seccomp.security.alpha.kubernetes.io/c"
APPARMOR_C = "container.apparmor.security.beta.kubernetes.io/c"


def seccomp_of(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> tuple[str, str, str]:
    p = pod(spec, annotations)
    _, path, container = first(p)
    setting = seccomp_profile(p, path, container)
    return setting.value, setting.path, setting.level


def test_seccomp_order_is_container_field_container_annotation_pod_field_pod_annotation() -> None:
    all_four = {
        "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "x.json"}},
        "containers": [{"name": "c", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}],
    }
    annotations = {SECCOMP_POD: "runtime/default", SECCOMP_C: "docker/default"}
    assert seccomp_of(all_four, annotations) == (
        "Unconfined", "spec.containers[0].securityContext.seccompProfile.type", "container")
    without_container_field = {**all_four, "containers": [{"name": "c"}]}
    assert seccomp_of(without_container_field, annotations) == (
        "RuntimeDefault", f"metadata.annotations['{SECCOMP_C}']", "container annotation")
    assert seccomp_of(without_container_field, {SECCOMP_POD: "unconfined"}) == (
        "Localhost", "spec.securityContext.seccompProfile.type", "pod")
    assert seccomp_of({"containers": [{"name": "c"}]}, {SECCOMP_POD: "unconfined"}) == (
        "Unconfined", f"metadata.annotations['{SECCOMP_POD}']", "pod annotation")
    assert seccomp_of({"containers": [{"name": "c"}]}) == ("", "spec.containers[0].securityContext.seccompProfile", "")


@pytest.mark.parametrize(("value", "meaning"), [
    ("runtime/default", "RuntimeDefault"), ("docker/default", "RuntimeDefault"),
    ("localhost/profiles/a.json", "Localhost"), ("unconfined", "Unconfined"), ("", ""),
])
def test_legacy_seccomp_annotation_values(value: str, meaning: str) -> None:
    assert seccomp_of({"containers": [{"name": "c"}]}, {SECCOMP_C: value})[0] == meaning


def test_another_containers_annotation_does_not_apply() -> None:
    other = {"container.seccomp.security.alpha.kubernetes.io/d": "unconfined"}
    assert seccomp_of({"containers": [{"name": "c"}]}, other)[0] == ""


def test_apparmor_order_and_unset() -> None:
    p = pod({"securityContext": {"appArmorProfile": {"type": "Unconfined"}}, "containers": [{"name": "c"}]},
            {APPARMOR_C: "runtime/default"})
    _, path, container = first(p)
    assert apparmor_profile(p, path, container).value == "RuntimeDefault"  # the annotation comes before the pod field
    p = pod({"securityContext": {"appArmorProfile": {"type": "Unconfined"}}, "containers": [{"name": "c"}]})
    assert apparmor_profile(p, path, first(p)[2]).path == "spec.securityContext.appArmorProfile.type"
    p = pod({"containers": [{"name": "c"}]})
    assert apparmor_profile(p, path, first(p)[2]).value == ""


# --- service-account token -------------------------------------------------------------------


@pytest.mark.parametrize(("pod_value", "accounts", "expected"), [
    (None, {}, True),  # the ServiceAccount was not read: the default, true
    (None, {"ns": None}, True),
    (None, {"ns": False}, False),
    (True, {"ns": False}, True),  # the pod wins
    (False, {"ns": True}, False),
    (None, {"other": False}, True),  # another namespace's default ServiceAccount says nothing here
])
def test_automount_pod_field_then_service_account_then_true(
        pod_value: bool | None, accounts: dict[str, bool | None], expected: bool) -> None:
    spec: dict[str, Any] = {"containers": [{"name": "c"}]}
    if pod_value is not None:
        spec["automountServiceAccountToken"] = pod_value
    assert automount_reason(pod(spec), accounts)[0] is expected


# --- SELinux ---------------------------------------------------------------------------------


def test_selinux_level_and_allowed_types_pass_custom_user_role_and_type_fail() -> None:
    assert list(selinux_problems(SELinuxOptions(type="container_engine_t", level="s0:c1,c2"), "x")) == []
    problems = list(selinux_problems(SELinuxOptions(type="spc_t", user="u", role="r"), "x"))
    assert [(path, severity.value) for path, _, _, severity in problems] == [
        ("x.type", "high"), ("x.user", "medium"), ("x.role", "medium")]


# --- messages ----------------------------------------------------------------------------------


def messages(check_id: str, objects: list[dict[str, Any]]) -> list[str]:
    all_checks()
    return [f.message for f in evaluate(inventory_from_objects(objects), checks=[REGISTRY[check_id]]).findings]


def pod_object(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns", **metadata}, "spec": spec}


def test_refused_root_says_the_kubelet_will_not_start_it() -> None:
    spec = {"securityContext": {"runAsNonRoot": True},
            "initContainers": [{"name": "init", "securityContext": {"runAsUser": 0}}], "containers": [{"name": "c"}]}
    [message] = messages("KW-ISO-020", [pod_object(spec)])
    assert message.startswith("Init container 'init' asks to run as root: runAsUser is 0 (set on the container)")
    assert "the kubelet refuses to start it" in message


def test_unknown_user_says_the_image_decides() -> None:
    [message] = messages("KW-ISO-020", [pod_object({"containers": [{"name": "c"}]})])
    assert message == ("Container 'c' may run as root: no runAsUser is set and runAsNonRoot is not set, so the image's"
                       " default user decides, and the image was not read.")


@pytest.mark.parametrize(("image_user", "expected"), [
    ("", "Container 'c' runs as root: no runAsUser is set and runAsNonRoot is not set, and its image has no USER."),
    ("0:0", "Container 'c' runs as root: no runAsUser is set and runAsNonRoot is not set, and its image has"
            " USER 0:0."),
    ("10001", None),
])
def test_the_image_default_user_settles_an_unset_user(image_user: str, expected: str | None) -> None:
    import msgspec

    from audit.images import ImageConfig, ImageInventory
    from checks.engine import REGISTRY, all_checks, evaluate
    from collectors.kube import inventory_from_objects

    digest = "sha256:" + "9" * 64
    pod = pod_object({"containers": [{"name": "c", "image": "app:1"}]})
    pod["status"] = {"containerStatuses": [{"name": "c", "image": "app:1", "imageID": f"app@{digest}"}]}
    inventory = msgspec.structs.replace(
        inventory_from_objects([pod]), images=(ImageInventory(digest=digest, config=ImageConfig(user=image_user)),))
    all_checks()
    findings = evaluate(inventory, checks=[REGISTRY["KW-ISO-020"]]).findings
    assert [f.message for f in findings] == ([expected] if expected else [])
    assert [f.severity.value for f in findings] == (["high"] if expected else [])


def test_seccomp_messages_tell_inherited_legacy_and_unset_apart() -> None:
    spec = {"containers": [{"name": "c"}], "ephemeralContainers": [{"name": "dbg", "targetContainerName": "c"}]}
    assert messages("KW-ISO-022", [pod_object(spec, annotations={SECCOMP_POD: "unconfined"})]) == [
        "Container 'c' runs with seccomp explicitly Unconfined (inherited from the legacy pod annotation).",
        "Ephemeral container 'dbg' runs with seccomp explicitly Unconfined (inherited from the legacy pod annotation).",
    ]
    [unset, _] = messages("KW-ISO-022", [pod_object(spec)])
    assert unset == ("Container 'c' has no seccomp profile (nothing sets it), so it runs Unconfined unless the kubelet"
                     " enables seccompDefault.")


def test_host_port_message_names_the_port() -> None:
    spec = {"containers": [{"name": "c", "ports": [{"name": "dns", "containerPort": 53, "hostPort": 53,
                                                    "protocol": "UDP", "hostIP": "10.0.0.1"}]}]}
    assert messages("KW-ISO-025", [pod_object(spec)]) == [
        "Container 'c' binds host port 53/UDP on 10.0.0.1 to container port 53 (dns)."]


def test_token_message_says_why_it_is_mounted() -> None:
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "ns"},
               "automountServiceAccountToken": True}
    assert messages("KW-ISO-027", [account, pod_object({"containers": [{"name": "c"}]})]) == [
        "The pod runs as the default service account with its token automounted: the default ServiceAccount sets"
        " automountServiceAccountToken: true."]


def test_windows_pods_skip_linux_only_controls() -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "win-1"},
            "status": {"nodeInfo": {"operatingSystem": "windows"}}}
    spec = {"nodeName": "win-1", "securityContext": {"sysctls": [{"name": "net.core.somaxconn", "value": "1"}]},
            "containers": [{"name": "c"}]}
    for check_id in ("KW-ISO-020", "KW-ISO-021", "KW-ISO-022", "KW-ISO-028"):
        assert messages(check_id, [node, pod_object(spec)]) == [], check_id


def test_empty_legacy_annotation_counts_as_no_profile() -> None:
    spec = {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}, "containers": [{"name": "c"}]}
    # present but empty, the container annotation still comes before the pod field, as in the kubelet
    [message] = messages("KW-ISO-022", [pod_object(spec, annotations={SECCOMP_C: ""})])
    assert message.startswith("Container 'c' has no seccomp profile (its container annotation is empty)")
