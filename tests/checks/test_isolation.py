"""The isolation module's helper logic: host-path normalisation and classification, capability names."""

from __future__ import annotations

import pytest

from checks.isolation import capability, classify_host_path, normalise_host_path


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("/", "/"),
        ("//", "/"),
        ("/etc/", "/etc"),
        ("//etc//kubernetes/", "/etc/kubernetes"),
        ("/data/../etc", "/etc"),
        ("/../../etc/./shadow", "/etc/shadow"),
        ("etc", "/etc"),
        ("/var/run/", "/run"),
        ("/var/run/docker.sock", "/run/docker.sock"),
        ("/var/runner", "/var/runner"),
        ("/var/lib/../run/containerd", "/run/containerd"),
        (r"\\.\pipe\Docker_Engine", r"\\.\pipe\docker_engine"),
        ("//./pipe/docker_engine", r"\\.\pipe\docker_engine"),
    ],
)
def test_normalise_host_path(raw: str, normal: str) -> None:
    assert normalise_host_path(raw) == normal


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        # the sockets themselves, however spelt, and the directories above them
        ("/var/run/docker.sock", "runtime-socket"),
        ("/run/containerd/containerd.sock", "runtime-socket"),
        ("/var/run/crio/crio.sock", "runtime-socket"),
        ("/var/run/cri-dockerd.sock", "runtime-socket"),
        ("/var/run/", "runtime-socket"),
        ("/run", "runtime-socket"),
        ("/var/run/containerd", "runtime-socket"),
        ("/", "runtime-socket"),
        (r"\\.\pipe\docker_engine", "runtime-socket"),
        # below /run but neither a socket nor above one
        ("/run/xtables.lock", "other"),
        ("/var/run/calico", "other"),
        # /var/run is a link to /run: mounting /var reaches /var/lib/kubelet and /var/log, not the sockets
        ("/var", "sensitive"),
        # sensitive paths, below them, above them
        ("/etc", "sensitive"),
        ("/etc/kubernetes/", "sensitive"),
        ("/proc/sys", "sensitive"),
        ("/var/lib/kubelet/pods", "sensitive"),
        ("/var/lib", "sensitive"),
        ("/var/log/pods", "sensitive"),
        ("/home/ubuntu", "sensitive"),
        # near misses
        ("/etcetera", "other"),
        ("/var/lib/mysql", "other"),
        ("/var/logs", "other"),
        ("/srv/data", "other"),
        (r"\\.\pipe\my-app", "other"),
    ],
)
def test_classify_host_path(path: str, kind: str) -> None:
    assert classify_host_path(path).kind == kind


def test_a_directory_above_a_socket_names_the_sockets_it_holds() -> None:
    risk = classify_host_path("/run/containerd/")
    assert risk.reaches == ("/run/containerd/containerd.sock",)


@pytest.mark.parametrize(
    ("raw", "name"),
    [("SYS_ADMIN", "SYS_ADMIN"), ("CAP_SYS_ADMIN", "SYS_ADMIN"), ("cap_sys_admin", "SYS_ADMIN"),
     ("sys_admin", "SYS_ADMIN"), (" NET_RAW ", "NET_RAW"), ("all", "ALL"), ("CAP_ALL", "ALL")],
)
def test_capability_names(raw: str, name: str) -> None:
    assert capability(raw) == name
