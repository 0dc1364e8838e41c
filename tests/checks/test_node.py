"""The node checks' helper logic: version ordering (checked against dpkg), kernel and runtime parsing,
the data tables, end-of-life lookups with an explicit date, and the version-skew rule."""

from __future__ import annotations

import itertools
import random
import subprocess
from datetime import UTC, date, datetime, time

import pytest

from audit.model import ClusterInfo, ServerVersion
from checks.engine import REGISTRY, all_checks, evaluate
from checks.node import TABLES, Version, parse_kernel, parse_runtime, parse_version
from collectors.kube import inventory_from_objects
from tests.conftest import require_tool

# --- versions ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("5.10.102", Version(5, 10, 102)),
    ("v1.28.3-eks-a737599", Version(1, 28, 3)),
    ("v1.27.8+k3s1", Version(1, 27, 8)),
    ("1.0.0-rc93", Version(1, 0, 0, 2, 93)),
    ("1.0-rc6", Version(1, 0, 0, 2, 6)),
    ("2.0.0-beta.2", Version(2, 0, 0, 1, 2)),
    ("5.8", Version(5, 8, 0)),
    ("1.7.12-0ubuntu2~22.04.1", Version(1, 7, 12)),
    ("6.1.75+", Version(6, 1, 75)),
])
def test_parse_version(text: str, expected: Version) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", ["", "latest", "sha256:abc", "remote"])
def test_parse_version_refuses_what_is_not_a_version(text: str) -> None:
    assert parse_version(text) is None


def _dpkg_less(a: str, b: str) -> bool:
    """dpkg's own ordering; Debian spells a pre-release with `~` (1.0.0~rc93 sorts before 1.0.0)."""
    dpkg = require_tool("dpkg")
    result = subprocess.run([dpkg, "--compare-versions", a.replace("-rc", "~rc"), "lt", b.replace("-rc", "~rc")],
                            check=False)
    return result.returncode == 0


_HAND_PICKED = [
    ("5.10.99", "5.10.102"), ("5.10.102", "5.10.99"), ("5.15.3", "5.15.25"), ("4.14.355", "4.19.188"),
    ("4.9.301", "4.10.0"), ("6.1.76", "6.1.9"), ("1.6.9", "1.6.28"), ("1.7.13", "1.7.2"), ("20.10.7", "24.0.9"),
    ("18.09.1", "18.09.2"), ("1.0.0-rc93", "1.0.0"), ("1.0.0-rc6", "1.0.0-rc93"), ("1.0.0-rc93", "1.0.0-rc6"),
    ("1.1.11", "1.1.12"), ("1.23.2", "1.23.10"), ("3.10.0", "2.6.32"), ("5.4.269", "5.4.269"),
]


@pytest.mark.parametrize(("a", "b"), _HAND_PICKED)
def test_version_order_agrees_with_dpkg(a: str, b: str) -> None:
    assert (parse_version(a) < parse_version(b)) == _dpkg_less(a, b)


def test_version_order_agrees_with_dpkg_on_random_triples() -> None:
    rng = random.Random(20240131)
    pairs = [
        tuple(".".join(str(rng.choice((0, 1, 2, 9, 10, 11, 99, 100, 101))) for _ in range(3)) for _ in range(2))
        for _ in range(150)
    ]
    disagreements = [(a, b) for a, b in pairs if (parse_version(a) < parse_version(b)) != _dpkg_less(a, b)]
    assert disagreements == []


# --- kernels and runtimes --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "version", "numbered"), [
    ("5.4.0-42-generic", Version(5, 4, 0), True),
    ("5.10.0-8-amd64", Version(5, 10, 0), True),
    ("6.1.0-28-cloud-amd64", Version(6, 1, 0), True),
    ("5.15.0-1034-azure", Version(5, 15, 0), True),
    ("4.18.0-553.5.1.el8_10.x86_64", Version(4, 18, 0), True),
    ("4.14.355-275.570.amzn2.x86_64", Version(4, 14, 355), False),
    ("6.1.112", Version(6, 1, 112), False),
    ("6.6.60-flatcar", Version(6, 6, 60), False),
    ("6.1.75+", Version(6, 1, 75), False),
])
def test_parse_kernel(text: str, version: Version, numbered: bool) -> None:
    kernel = parse_kernel(text)
    assert kernel is not None
    assert (kernel.version, kernel.numbered_build) == (version, numbered)


@pytest.mark.parametrize(("text", "name", "version"), [
    ("containerd://1.6.2", "containerd", Version(1, 6, 2)),
    ("containerd://1.7.24-eks-1", "containerd", Version(1, 7, 24)),
    ("docker://20.10.7", "docker", Version(20, 10, 7)),
    ("cri-o://1.24.1", "cri-o", Version(1, 24, 1)),
])
def test_parse_runtime(text: str, name: str, version: Version) -> None:
    runtime = parse_runtime(text)
    assert runtime is not None
    assert (runtime.name, runtime.version) == (name, version)


def _kernel_cves(version: str) -> set[str]:
    parsed = parse_version(version)
    return {cve.cve for cve in TABLES.kernel_cves if cve.span(parsed)}


@pytest.mark.parametrize(("version", "affected"), [
    ("5.10.101", True), ("5.10.102", False), ("5.13.19", True), ("5.15.24", True), ("5.15.25", False),
    ("5.16.10", True), ("5.16.11", False), ("5.7.19", False), ("5.17.0", False),
])
def test_dirty_pipe_ranges(version: str, affected: bool) -> None:
    assert ("CVE-2022-0847" in _kernel_cves(version)) is affected


@pytest.mark.parametrize(("version", "affected"), [
    ("3.14.79", False), ("3.15.0", True), ("4.19.306", True), ("4.19.307", False), ("5.4.268", True),
    ("5.4.269", False), ("5.10.209", True), ("5.10.210", False), ("5.15.148", True), ("5.15.149", False),
    ("5.19.17", True), ("6.1.75", True), ("6.1.76", False), ("6.6.14", True), ("6.6.15", False),
    ("6.7.2", True), ("6.7.3", False), ("6.8.0", False),
])
def test_nf_tables_ranges(version: str, affected: bool) -> None:
    assert ("CVE-2024-1086" in _kernel_cves(version)) is affected


def test_dirty_cow_before_4_8_3() -> None:
    assert "CVE-2016-5195" in _kernel_cves("4.8.2")
    assert "CVE-2016-5195" in _kernel_cves("4.4.25")
    assert "CVE-2016-5195" not in _kernel_cves("4.4.26")
    assert "CVE-2016-5195" not in _kernel_cves("4.8.3")


@pytest.mark.parametrize(("runtime", "cves"), [
    ("containerd://1.6.2", {"CVE-2024-21626"}),
    ("containerd://1.6.0", {"CVE-2024-21626", "CVE-2022-23648"}),
    ("containerd://1.4.2", {"CVE-2024-21626", "CVE-2020-15257", "CVE-2022-23648"}),
    ("containerd://1.7.12", {"CVE-2024-21626"}),
    ("containerd://1.7.13", set()),
    ("containerd://1.6.28", set()),
    ("docker://18.09.1", {"CVE-2024-21626", "CVE-2019-5736"}),
    ("docker://25.0.1", {"CVE-2024-21626"}),
    ("docker://24.0.9", set()),
    ("cri-o://1.22.2", {"CVE-2022-0811"}),
    ("cri-o://1.23.2", set()),
    ("cri-o://1.24.0", set()),
])
def test_runtime_cve_ranges(runtime: str, cves: set[str]) -> None:
    parsed = parse_runtime(runtime)
    assert {cve.cve for cve in TABLES.runtime_cves if cve.span(parsed)} == cves


# --- the tables --------------------------------------------------------------------------------


def test_every_range_is_well_formed_and_ranges_do_not_overlap() -> None:
    for cve in TABLES.kernel_cves:
        spans = sorted(cve.affected, key=lambda s: s.start)
        assert all(s.start < s.end for s in spans), cve.cve
        assert all(a.end <= b.start for a, b in itertools.pairwise(spans)), cve.cve
        assert cve.source == f"https://nvd.nist.gov/vuln/detail/{cve.cve}"
    for cve in TABLES.runtime_cves:
        assert cve.source == f"https://nvd.nist.gov/vuln/detail/{cve.cve}"
        for spans in cve.affected.values():
            assert all(s.start < s.end for s in spans), cve.cve


def test_every_table_names_its_source() -> None:
    assert TABLES.kubernetes_eol.source.startswith("https://")
    assert all(life.source.startswith("https://") for life in TABLES.runtime_eol.values())
    assert all(system.source.startswith("https://") for system in TABLES.operating_systems)


def test_the_tables_ship_inside_the_package() -> None:
    from importlib.resources import files

    names = {p.name for p in (files("checks") / "data").iterdir()}
    assert {"kernel_cves.yaml", "runtimes.yaml", "kubernetes.yaml", "operating_systems.yaml"} <= names


# --- end of life, with an explicit date ------------------------------------------------------------


def test_kubernetes_end_of_life_turns_on_its_date() -> None:
    v131 = parse_version("v1.31.14")
    assert TABLES.kubernetes_eol.ended(v131, date(2025, 11, 10)) is None
    ended = TABLES.kubernetes_eol.ended(v131, date(2025, 11, 11))
    assert ended is not None and (ended.cycle, ended.date) == ("1.31", date(2025, 11, 11))


def test_a_kubelet_older_than_the_table_is_past_end_of_life_and_a_newer_one_unknown() -> None:
    ended = TABLES.kubernetes_eol.ended(parse_version("v1.19.16"), date(2024, 1, 1))
    assert ended is not None and ended.older_than_listed and ended.cycle == "1.24"
    assert TABLES.kubernetes_eol.ended(parse_version("v1.99.0"), date(2099, 1, 1)) is None


@pytest.mark.parametrize(("runtime", "on", "cycle"), [
    ("containerd://1.6.36", date(2025, 8, 22), None),
    ("containerd://1.6.36", date(2025, 8, 23), "1.6"),
    ("containerd://1.7.24", date(2026, 9, 30), "1.7"),
    ("containerd://2.3.1", date(2026, 11, 26), None),
    ("docker://27.3.1", date(2025, 5, 3), "27"),
    ("docker://25.0.14", date(2030, 1, 1), None),
    ("docker://18.06.1", date(2020, 1, 1), "18.09"),
    ("cri-o://1.29.4", date(2025, 2, 28), "1.29"),
])
def test_runtime_end_of_life(runtime: str, on: date, cycle: str | None) -> None:
    parsed = parse_runtime(runtime)
    ended = TABLES.runtime_eol[parsed.name].ended(parsed.version, on)
    assert (ended.cycle if ended else None) == cycle


@pytest.mark.parametrize(("os_image", "name", "release"), [
    ("Ubuntu 20.04.6 LTS", "Ubuntu", "20.04"),
    ("Debian GNU/Linux 11 (bullseye)", "Debian", "11"),
    ("Amazon Linux 2", "Amazon Linux", "2"),
    ("Amazon Linux 2023.6.20241212", "Amazon Linux", "2023"),
    ("Amazon Linux AMI 2018.03", "Amazon Linux", "AMI"),
    ("Red Hat Enterprise Linux CoreOS 415.92.202402201450-0 (Plow)", "Red Hat Enterprise Linux CoreOS", "4.15"),
    ("Red Hat Enterprise Linux 8.10 (Ootpa)", "Red Hat Enterprise Linux", "8"),
    ("CentOS Linux 7 (Core)", "CentOS Linux", "7"),
    ("Bottlerocket OS 1.19.2 (aws-k8s-1.28)", "Bottlerocket", ""),
    ("Container-Optimized OS from Google", "Container-Optimized OS", ""),
    ("Flatcar Container Linux by Kinvolk 3815.2.5 (Oklo)", "Flatcar Container Linux", ""),
])
def test_operating_system_lookup(os_image: str, name: str, release: str) -> None:
    found = TABLES.operating_system(os_image)
    assert found is not None
    assert (found[0].name, found[1]) == (name, release)


def test_an_unknown_operating_system_is_not_judged() -> None:
    assert TABLES.operating_system("Windows Server 2019 Datacenter") is None


# --- checks with the clock pinned -----------------------------------------------------------------


def _node(name: str, **info: str) -> dict:
    defaults = {"kernelVersion": "6.1.112", "osImage": "Bottlerocket OS 1.26.0 (aws-k8s-1.31)",
                "containerRuntimeVersion": "containerd://1.7.22+bottlerocket", "kubeletVersion": "v1.31.4",
                "operatingSystem": "linux"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"nodeInfo": {**defaults, **info}}}


def _findings(check_id: str, objects: list[dict], *, apiserver: str = "", on: date | None = None) -> list[str]:
    all_checks()
    info = ClusterInfo(
        version=ServerVersion(git_version=apiserver),
        collected_at=datetime.combine(on, time(12), tzinfo=UTC) if on else None,
    )
    result = evaluate(inventory_from_objects(objects, cluster=info), checks=[REGISTRY[check_id]])
    return sorted(str(f.resource) for f in result.findings)


def test_kubelet_end_of_life_is_judged_on_the_collection_date() -> None:
    nodes = [_node("a", kubeletVersion="v1.34.2"), _node("b", kubeletVersion="v1.35.0")]
    assert _findings("KW-NODE-005", nodes, on=date(2026, 10, 26)) == []
    assert _findings("KW-NODE-005", nodes, on=date(2026, 10, 27)) == ["Node/a"]


def test_os_end_of_life_is_judged_on_the_collection_date() -> None:
    nodes = [_node("a", osImage="Debian GNU/Linux 12 (bookworm)"), _node("b", osImage="Ubuntu 22.04.5 LTS")]
    assert _findings("KW-NODE-007", nodes, on=date(2027, 4, 1)) == ["Node/b"]


@pytest.mark.parametrize(("apiserver", "kubelet", "flagged"), [
    ("v1.29.3", "v1.26.15", False),  # three older is fine since 1.28
    ("v1.29.3", "v1.25.16", True),
    ("v1.27.3", "v1.25.16", False),
    ("v1.27.3", "v1.24.17", True),  # before 1.28 only two
    ("v1.29.3", "v1.30.0", True),  # never newer
    ("v1.29.3-gke.1282000", "v1.29.1-gke.1589017", False),
])
def test_kubelet_skew_against_the_reported_api_server(apiserver: str, kubelet: str, flagged: bool) -> None:
    found = _findings("KW-NODE-006", [_node("a", kubeletVersion=kubelet)], apiserver=apiserver)
    assert found == (["Node/a"] if flagged else [])


def test_kubelet_skew_in_a_mixed_control_plane_uses_the_oldest_and_newest_api_server() -> None:
    def apiserver(version: str, node_name: str) -> dict:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"kube-apiserver-{node_name}", "namespace": "kube-system",
                             "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
                "spec": {"nodeName": node_name, "containers": [
                    {"name": "kube-apiserver", "image": f"registry.k8s.io/kube-apiserver:{version}"}]}}

    objects = [apiserver("v1.31.4", "cp-1"), apiserver("v1.32.0", "cp-2"),
               _node("newer-than-cp-1", kubeletVersion="v1.32.0"), _node("lags-cp-2", kubeletVersion="v1.28.15"),
               _node("fine", kubeletVersion="v1.30.8")]
    assert _findings("KW-NODE-006", objects) == ["Node/lags-cp-2", "Node/newer-than-cp-1"]
