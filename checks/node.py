"""Node checks: what a node runs underneath the containers, judged against tables.

Kernels in the version ranges of known container escapes, container runtimes
with escape-class vulnerabilities or past their end of life, kubelets past
Kubernetes' end of life or further from the API server than the version skew
policy allows, and operating systems past their end of life.

The tables live in `checks/data/*.yaml`, each entry with its source, and are
read once at import. Versions are compared as upstream versions; distributions
backport fixes without changing them, so a kernel or runtime inside a range is
reported as *possibly* affected, with the distribution's tracker to confirm.
Debian, Ubuntu and Red Hat kernels keep the upstream base (`5.4.0`) and number
their own builds (`-42-generic`): their patch level cannot be read at all, and
KW-NODE-002 says so at low severity instead of KW-NODE-001 guessing.

The end-of-life checks compare against `ctx.today`: the day the inventory was
collected (so a saved snapshot re-evaluates as it did then), or today's date
for an inventory that does not say. The lookups take the date as a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import yaml

from audit.findings import Category, Severity
from audit.model import Node
from checks.engine import CheckContext, Hit, Reference, Target, check

DATA = Path(__file__).parent / "data"



# --- versions ---------------------------------------------------------------------

_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-.~]?(alpha|beta|rc)\.?(\d*))?")
_STAGES = {"alpha": 0, "beta": 1, "rc": 2}
_RELEASE = 3


class Version(NamedTuple):
    """A dotted version that sorts as upstream orders releases (`1.0.0-rc93` < `1.0.0`).

    Anything after the numbers that is not a pre-release marker (`-42-generic`,
    `-eks-1`, `+k3s1`) is a downstream build and does not take part.
    """

    major: int
    minor: int = 0
    patch: int = 0
    stage: int = _RELEASE
    pre: int = 0

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.stage != _RELEASE:
            text += f"-{next(k for k, v in _STAGES.items() if v == self.stage)}{self.pre}"
        return text

    @property
    def cycle(self) -> tuple[int, int]:
        return (self.major, self.minor)


@lru_cache(maxsize=4096)
def parse_version(text: str) -> Version | None:
    """`v1.28.3-eks-1` → 1.28.3, `1.0-rc6` → 1.0.0-rc6; None when it does not start with a number."""
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    major, minor, patch, stage, pre = match.groups()
    return Version(
        int(major), int(minor or 0), int(patch or 0),
        _STAGES[stage] if stage else _RELEASE, int(pre) if pre else 0,
    )


def _version(text: str) -> Version:
    parsed = parse_version(text)
    if parsed is None:
        raise ValueError(f"not a version: {text!r}")
    return parsed


@dataclass(frozen=True)
class Kernel:
    """A node's kernelVersion (`uname -r`)."""

    text: str
    version: Version
    numbered_build: bool
    """Debian/Ubuntu/Red Hat style `5.4.0-42-generic`: the upstream patch level is hidden."""


_KERNEL_BUILD = re.compile(r"^\d+\.\d+(?:\.0)?-\d")


@lru_cache(maxsize=1024)
def parse_kernel(text: str) -> Kernel | None:
    """`5.4.0-42-generic`, `6.1.0-28-cloud-amd64`, `4.14.355-275.570.amzn2.x86_64`, `6.1.112` …"""
    version = parse_version(text)
    if version is None:
        return None
    return Kernel(text=text, version=version, numbered_build=bool(_KERNEL_BUILD.match(text)))


@dataclass(frozen=True)
class Runtime:
    """A node's containerRuntimeVersion (`containerd://1.6.2`)."""

    name: str
    version: Version
    text: str

    def __str__(self) -> str:
        return f"{self.name} {self.text}"


_RUNTIME = re.compile(r"^(?P<name>[a-z0-9.-]+)://(?P<version>.+)$")


@lru_cache(maxsize=1024)
def parse_runtime(text: str) -> Runtime | None:
    match = _RUNTIME.match(text.strip())
    if match is None:
        return None
    version = parse_version(match["version"])
    if version is None:
        return None
    return Runtime(name=match["name"], version=version, text=match["version"])


# --- the tables ---------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """[first affected, first fixed)."""

    start: Version
    end: Version

    def __contains__(self, version: Version) -> bool:
        return self.start <= version < self.end

    def __str__(self) -> str:
        if self.start == Version(0):
            return f"before {self.end}"
        return f"{self.start} up to {self.end}"

    def covers_cycle(self, cycle: tuple[int, int]) -> bool:
        """Every release of the `major.minor` branch is inside (no upstream fix in that branch)."""
        return self.start <= Version(*cycle) and self.end.cycle > cycle


def _spans(pairs: list[list[str]]) -> tuple[Span, ...]:
    return tuple(Span(_version(start), _version(end)) for start, end in pairs)


@dataclass(frozen=True)
class KernelCve:
    """A kernel vulnerability usable for container escape, with its affected upstream ranges."""

    cve: str
    name: str
    summary: str
    source: str
    affected: tuple[Span, ...]

    def span(self, version: Version) -> Span | None:
        return next((s for s in self.affected if version in s), None)


@dataclass(frozen=True)
class RuntimeCve:
    """A runtime (or runc) vulnerability, with the affected releases of each runtime."""

    cve: str
    name: str
    component: str
    summary: str
    fixed: str
    source: str
    severity: Severity | None
    inferred: bool
    affected: Mapping[str, tuple[Span, ...]]

    def span(self, runtime: Runtime) -> Span | None:
        return next((s for s in self.affected.get(runtime.name, ()) if runtime.version in s), None)


@dataclass(frozen=True)
class EndOfLife:
    """A release cycle found past its end of life."""

    cycle: str
    """The release cycle as the table names it (`1.6`, `27`, `20.04`)."""
    date: date
    older_than_listed: bool = False
    """The version predates every cycle in the table; `cycle` and `date` are the oldest listed."""


@dataclass(frozen=True)
class Lifecycle:
    """End-of-life dates per numeric release cycle (`1.7` or `27`)."""

    cycles: Mapping[tuple[int, ...], tuple[str, date | None]]
    source: str

    def ended(self, version: Version, on: date) -> EndOfLife | None:
        """The cycle's end of life when it has passed on `on`; None while supported or unknown."""
        found = self.cycles.get(version.cycle) or self.cycles.get((version.major,))
        if found is not None:
            name, end = found
            return EndOfLife(name, end) if end is not None and end <= on else None
        oldest = min(self.cycles)
        if version.cycle < oldest:
            name, end = self.cycles[oldest]
            if end is not None and end <= on:
                return EndOfLife(name, end, older_than_listed=True)
        return None


def _lifecycle(cycles: Mapping[str, date | None], source: str) -> Lifecycle:
    return Lifecycle({tuple(int(p) for p in key.split(".")): (key, end) for key, end in cycles.items()}, source)


@dataclass(frozen=True)
class OperatingSystem:
    """A distribution: how to recognise its osImage, its releases' end of life, its CVE tracker."""

    name: str
    pattern: re.Pattern[str]
    tracker: str | None
    source: str
    rolling: bool
    releases: Mapping[str, tuple[date, str | None]]

    def release(self, os_image: str) -> str | None:
        match = self.pattern.match(os_image)
        if match is None:
            return None
        return ".".join(g for g in match.groups() if g is not None)


class _OsRelease(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    eol: date
    note: str | None = None


class _OsEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    match: str
    source: str
    tracker: str | None = None
    rolling: bool = False
    releases: dict[str, _OsRelease] = {}


class _KernelEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cve: str
    name: str
    summary: str
    source: str
    affected: list[list[str]]


class _RuntimeCveEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cve: str
    name: str
    component: str
    summary: str
    fixed: str
    source: str
    affected: dict[str, list[list[str]]]
    severity: Severity | None = None
    inferred: bool = False


class _RuntimeEolEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    source: str
    cycles: dict[str, date | None] = {}
    follows: str | None = None


class _RuntimesFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    vulnerabilities: list[_RuntimeCveEntry]
    end_of_life: dict[str, _RuntimeEolEntry]


class _KubernetesEol(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    source: str
    minors: dict[str, date]


class _KubeletSkew(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    source: str
    max_older: dict[str, int]


class _KubernetesFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    end_of_life: _KubernetesEol
    kubelet_skew: _KubeletSkew


def _load(name: str, kind: Any) -> Any:
    return msgspec.convert(yaml.safe_load((DATA / name).read_text()), type=kind)


@dataclass(frozen=True)
class Tables:
    """Everything the node checks know, from checks/data."""

    kernel_cves: tuple[KernelCve, ...]
    runtime_cves: tuple[RuntimeCve, ...]
    runtime_eol: Mapping[str, Lifecycle]
    kubernetes_eol: Lifecycle
    kubelet_max_older: tuple[tuple[tuple[int, int], int], ...]
    """(API server minor from which the rule applies, minors a kubelet may lag), newest first."""
    operating_systems: tuple[OperatingSystem, ...]

    def operating_system(self, os_image: str) -> tuple[OperatingSystem, str] | None:
        for system in self.operating_systems:
            release = system.release(os_image)
            if release is not None:
                return system, release
        return None

    def max_kubelet_lag(self, apiserver: tuple[int, int]) -> int:
        return next(lag for since, lag in self.kubelet_max_older if apiserver >= since)


def load_tables() -> Tables:
    """Read and check the data files (called once, at import)."""
    kernel = _load("kernel_cves.yaml", list[_KernelEntry])
    runtimes = _load("runtimes.yaml", _RuntimesFile)
    kubernetes = _load("kubernetes.yaml", _KubernetesFile)
    systems = _load("operating_systems.yaml", list[_OsEntry])
    kubernetes_eol = _lifecycle(kubernetes.end_of_life.minors, kubernetes.end_of_life.source)
    runtime_eol = {
        name: kubernetes_eol if entry.follows == "kubernetes" else _lifecycle(entry.cycles, entry.source)
        for name, entry in runtimes.end_of_life.items()
    }
    return Tables(
        kernel_cves=tuple(
            KernelCve(e.cve, e.name, e.summary, e.source, _spans(e.affected)) for e in kernel
        ),
        runtime_cves=tuple(
            RuntimeCve(e.cve, e.name, e.component, e.summary, e.fixed, e.source, e.severity, e.inferred,
                       {runtime: _spans(pairs) for runtime, pairs in e.affected.items()})
            for e in runtimes.vulnerabilities
        ),
        runtime_eol=runtime_eol,
        kubernetes_eol=kubernetes_eol,
        kubelet_max_older=tuple(sorted(
            ((_version(since).cycle, lag) for since, lag in kubernetes.kubelet_skew.max_older.items()),
            reverse=True,
        )),
        operating_systems=tuple(
            OperatingSystem(e.name, re.compile(e.match), e.tracker, e.source, e.rolling,
                            {release: (r.eol, r.note) for release, r in e.releases.items()})
            for e in systems
        ),
    )


TABLES = load_tables()


# --- shared wording -----------------------------------------------------------------------

_NVD = "https://nvd.nist.gov/vuln/detail/"
ESCAPE_TO_HOST = Reference("MITRE ATT&CK T1611: Escape to Host", "https://attack.mitre.org/techniques/T1611/")
EXPLOIT_PRIVESC = Reference(
    "MITRE ATT&CK T1068: Exploitation for Privilege Escalation", "https://attack.mitre.org/techniques/T1068/"
)
NSA_CISA = Reference(
    "NSA/CISA Kubernetes Hardening Guide v1.2: Upgrading and application security practices",
    "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
)
SKEW_POLICY = Reference("Kubernetes version skew policy", "https://kubernetes.io/releases/version-skew-policy/")
K8S_RELEASES = Reference("Kubernetes releases and end-of-life dates", "https://kubernetes.io/releases/")


def _distribution_hint(node: Node, cves: list[str]) -> str:
    """Where to confirm CVEs for this node's distribution, from its osImage: `check <tracker> (<name>)`."""
    os_image = node.info.os_image
    found = TABLES.operating_system(os_image)
    if found is None or found[0].tracker is None:
        return f"check your distribution's security tracker ({os_image or 'unknown OS image'})"
    system = found[0]
    tracker = system.tracker.format(cve=cves[0] if len(cves) == 1 else "<CVE>")
    each = " for each" if len(cves) > 1 and tracker != system.tracker else ""
    return f"check {tracker}{each} ({system.name})"


# --- kernels ---------------------------------------------------------------------------------

_KERNEL_PATH = "status.nodeInfo.kernelVersion"


def _kernel(node: Node) -> Kernel | None:
    if node.info.operating_system not in ("", "linux"):
        return None
    return parse_kernel(node.info.kernel_version)


@check(
    id="KW-NODE-001",
    name="kernel-escape-cve",
    title="Kernel in the range of a known container escape",
    category=Category.NODE,
    severity=Severity.HIGH,
    target=Target.NODE,
    rationale="""
        Containers share the node's kernel: a kernel bug reachable from inside a container is a way out of
        every container on the node, whatever their security contexts say. The kernel's upstream version lies
        in a range NVD lists for a local privilege escalation used for container escapes (Dirty COW, Dirty
        Pipe, the cgroup v1 release_agent and fsconfig escapes, OverlayFS and netfilter bugs). Distributions
        backport fixes without changing the upstream version, so the node is possibly affected: confirm with
        the distribution's tracker named in the finding.
    """,
    remediation="""
        Upgrade the node image or kernel package to a release that carries the fix and reboot (drain the
        node first), or replace the node from a current image. Until then keep untrusted workloads off the
        node and enforce the restricted Pod Security Standard, which blocks several of the exploit paths
        (user namespaces with capabilities, unconfined seccomp).
    """,
    references=(
        ESCAPE_TO_HOST, EXPLOIT_PRIVESC, NSA_CISA,
        *(Reference(f"NVD {cve.cve}: {cve.name}", cve.source) for cve in TABLES.kernel_cves),
    ),
)
def kernel_escape_cve(node: Node, ctx: CheckContext) -> Iterator[Hit]:
    kernel = _kernel(node)
    if kernel is None or kernel.numbered_build:
        return
    for cve in TABLES.kernel_cves:
        span = cve.span(kernel.version)
        if span is None:
            continue
        yield Hit(
            message=f"Kernel {kernel.text} is in the range affected by {cve.cve} ({cve.name}: {span}), where"
            f" {cve.summary}. Possibly affected, as vendors backport fixes without changing the version:"
            f" {_distribution_hint(node, [cve.cve])}.",
            field_path=_KERNEL_PATH,
            observed=kernel.text,
            detail=cve.cve,
        )


@check(
    id="KW-NODE-002",
    name="kernel-patch-level-unknown",
    title="Distribution kernel on a base affected by container escapes",
    category=Category.NODE,
    severity=Severity.LOW,
    target=Target.NODE,
    rationale="""
        Debian, Ubuntu and Red Hat kernels report the upstream base they started from (`5.4.0`, `4.18.0`)
        followed by their own build number (`-42-generic`), so the version does not show which upstream fixes
        they carry. When that base lies in the range of a known container escape, whether the node is exposed
        cannot be read from the Kubernetes API: only the distribution's security tracker, matched against the
        installed kernel package, can tell. This is reported at low severity as a prompt to check, not as a
        vulnerability.
    """,
    remediation="""
        Look the kernel package up in the distribution's security tracker (linked in the finding) or with
        its tooling (`pro fix`, `debsecan`, `yum updateinfo`), and keep nodes on the latest kernel of their
        release through an automatic node-image update (drain, reboot) cycle.
    """,
    references=(ESCAPE_TO_HOST, NSA_CISA),
)
def kernel_patch_level_unknown(node: Node, ctx: CheckContext) -> Iterator[Hit]:
    kernel = _kernel(node)
    if kernel is None or not kernel.numbered_build:
        return
    base = kernel.version.cycle
    named: dict[str, str] = {}
    for cve in TABLES.kernel_cves:
        span = cve.span(kernel.version)
        if span is None:
            continue
        fixed = f"no upstream {base[0]}.{base[1]} release is fixed" if span.covers_cycle(base) else (
            f"fixed upstream in {span.end}")
        named[cve.cve] = f"{cve.cve} ({cve.name}; {fixed})"
    if not named:
        return
    yield Hit(
        message=f"Kernel {kernel.text} is a distribution build on upstream {base[0]}.{base[1]}, whose build number"
        f" hides the upstream patch level; that base is in the range of {', '.join(named.values())}. Whether"
        f" the fixes were backported cannot be read from the version: {_distribution_hint(node, list(named))}.",
        field_path=_KERNEL_PATH,
        observed=kernel.text,
    )


# --- container runtimes ------------------------------------------------------------------------

_RUNTIME_PATH = "status.nodeInfo.containerRuntimeVersion"


@check(
    id="KW-NODE-003",
    name="container-runtime-cve",
    title="Container runtime with a known container escape",
    category=Category.NODE,
    severity=Severity.HIGH,
    target=Target.NODE,
    rationale="""
        The container runtime (containerd, CRI-O, Docker with cri-dockerd) and the low-level runc it starts
        containers with stand between every container and the node. Their escape bugs are exploited by
        running a crafted image or exec'ing into a container: runc's /proc/self/exe overwrite
        (CVE-2019-5736) and leaked working directory (CVE-2024-21626, "Leaky Vessels"), containerd's shim
        socket and image-volume bugs, CRI-O's sysctl injection ("cr8escape"). Nodes do not report their runc
        version: for runc bugs the finding infers it from the runtime release, whose release builds bundle
        or pin a runc, and says so.
    """,
    remediation="""
        Upgrade the runtime (and runc, when the OS packages it separately) to a fixed release through the
        node image, then drain and replace or restart the nodes: running containers keep the old shim until
        they are restarted. Confirm runc with `runc --version` on the node.
    """,
    references=(
        ESCAPE_TO_HOST, NSA_CISA,
        *(Reference(f"NVD {cve.cve}: {cve.name}", cve.source) for cve in TABLES.runtime_cves),
    ),
)
def container_runtime_cve(node: Node, ctx: CheckContext) -> Iterator[Hit]:
    runtime = parse_runtime(node.info.container_runtime_version)
    if runtime is None:
        return
    for cve in TABLES.runtime_cves:
        span = cve.span(runtime)
        if span is None:
            continue
        if cve.inferred:
            verdict = (f"Possibly affected, {cve.component} version inferred: {runtime.name} releases {span}"
                       f" ship a {cve.component} without the fix ({cve.fixed}); confirm with"
                       f" `{cve.component} --version` on the node.")
        else:
            verdict = f"Fixed in {cve.fixed}; distribution packages may carry a backport."
        yield Hit(
            message=f"Container runtime {runtime} is in the range affected by {cve.cve} ({cve.name}), where"
            f" {cve.summary}. {verdict}",
            field_path=_RUNTIME_PATH,
            observed=node.info.container_runtime_version,
            detail=cve.cve,
            severity=cve.severity,
        )


@check(
    id="KW-NODE-004",
    name="container-runtime-end-of-life",
    title="Container runtime past end of life",
    category=Category.NODE,
    severity=Severity.MEDIUM,
    target=Target.NODE,
    rationale="""
        A runtime release past its end of life gets no more fixes, including for the next container escape.
        containerd publishes an end of life per minor release (LTS releases for longer), CRI-O's minor
        versions end with the matching Kubernetes minor, and Docker Engine maintains a major line until the
        next one ships.
    """,
    remediation="""
        Move the nodes to a node image with a supported runtime release (Kubernetes 1.36 and later need
        containerd 2.0 or later), draining and replacing them pool by pool.
    """,
    references=(
        Reference("containerd releases and support horizon", "https://containerd.io/releases/"),
        Reference("CRI-O and Kubernetes compatibility matrix",
                  "https://github.com/cri-o/cri-o#compatibility-matrix-cri-o--kubernetes"),
        Reference("Docker Engine end of life (endoflife.date)", "https://endoflife.date/docker-engine"),
        NSA_CISA,
    ),
)
def container_runtime_end_of_life(node: Node, ctx: CheckContext) -> Iterator[Hit]:
    runtime = parse_runtime(node.info.container_runtime_version)
    lifecycle = TABLES.runtime_eol.get(runtime.name) if runtime else None
    if runtime is None or lifecycle is None:
        return
    ended = lifecycle.ended(runtime.version, ctx.today)
    if ended is None:
        return
    which = f"older than {runtime.name} {ended.cycle}, whose" if ended.older_than_listed else (
        f"{runtime.name} {ended.cycle}")
    yield Hit(
        message=f"Container runtime {runtime} is past end of life: {which} support ended {ended.date.isoformat()}.",
        field_path=_RUNTIME_PATH,
        observed=node.info.container_runtime_version,
    )


# --- kubelet ------------------------------------------------------------------------------------

_KUBELET_PATH = "status.nodeInfo.kubeletVersion"


@check(
    id="KW-NODE-005",
    name="kubelet-end-of-life",
    title="Kubelet version past end of life",
    category=Category.NODE,
    severity=Severity.HIGH,
    target=Target.NODE,
    rationale="""
        Kubernetes maintains the three most recent minor versions, each for about fourteen months. A kubelet
        of an older minor gets no security fixes, and the kubelet holds the node's credentials and serves
        exec, attach and logs on port 10250 for every pod on the node. Managed offerings (EKS, GKE, AKS) may
        sell extended support past the upstream date; the finding gives the upstream one.
    """,
    remediation="""
        Upgrade the control plane and then the node pools to a supported minor, one minor at a time,
        replacing nodes from an image with the new kubelet.
    """,
    references=(K8S_RELEASES, SKEW_POLICY, NSA_CISA),
)
def kubelet_end_of_life(node: Node, ctx: CheckContext) -> Iterator[Hit]:
    version = parse_version(node.info.kubelet_version)
    if version is None:
        return
    ended = TABLES.kubernetes_eol.ended(version, ctx.today)
    if ended is None:
        return
    which = f"older than Kubernetes {ended.cycle}, whose" if ended.older_than_listed else (
        f"Kubernetes {ended.cycle}")
    yield Hit(
        message=f"Kubelet {node.info.kubelet_version} is past end of life: {which} support ended"
        f" {ended.date.isoformat()} upstream.",
        field_path=_KUBELET_PATH,
        observed=node.info.kubelet_version,
    )


@dataclass(frozen=True)
class ApiServers:
    """The API server minors seen: /version, and the kube-apiserver static pods when visible."""

    oldest: tuple[int, int]
    newest: tuple[int, int]
    label: str
    """How to name them in a message: `v1.31.4`, or `v1.30.2 to v1.31.4` in a mixed HA control plane."""


def _apiserver_versions(ctx: CheckContext) -> ApiServers | None:
    """The cluster's /version, plus the image tags of kube-apiserver pods in kube-system (kubeadm-style
    control planes show them; in an upgrade they differ, and the skew policy is about each of them)."""
    found: dict[Version, str] = {}
    reported = ctx.inventory.cluster.version
    text = reported.git_version or (f"{reported.major}.{reported.minor.rstrip('+')}" if reported.major else "")
    version = parse_version(text) if text else None
    if version is not None:
        found[version] = text
    for pod in ctx.inventory.pods_by_namespace.get("kube-system", ()):
        for container in pod.spec.containers:
            tag = container.image.partition("@")[0].rpartition(":")[2]
            if container.name == "kube-apiserver" and tag.startswith("v"):
                version = parse_version(tag)
                if version is not None:
                    found.setdefault(version, tag)
    if not found:
        return None
    oldest, newest = min(found), max(found)
    label = found[oldest] if oldest.cycle == newest.cycle else f"{found[oldest]} to {found[newest]}"
    return ApiServers(oldest=oldest.cycle, newest=newest.cycle, label=label)


@check(
    id="KW-NODE-006",
    name="kubelet-version-skew",
    title="Kubelet outside the supported version skew",
    category=Category.NODE,
    severity=Severity.MEDIUM,
    target=Target.NODE,
    rationale="""
        The version skew policy lets a kubelet lag the API server by up to three minor versions (two before
        Kubernetes 1.28) and never run ahead of it. A node outside that window is one nobody tested: API
        changes can silently disable features the kubelet enforces, and it usually means the node pool was
        left behind by upgrades, with the kernel and runtime that came with it.
    """,
    remediation="""
        Upgrade (or replace) the node pool to the control plane's minor version, or at least to within the
        supported skew, after upgrading the control plane.
    """,
    references=(SKEW_POLICY, K8S_RELEASES),
)
def kubelet_version_skew(node: Node, ctx: CheckContext) -> Iterator[Hit]:
    kubelet = parse_version(node.info.kubelet_version)
    servers = ctx.memo("node.apiserver-versions", _apiserver_versions)
    if kubelet is None or servers is None:
        return
    lag = servers.newest[1] - kubelet.minor if servers.newest[0] == kubelet.major else None
    allowed = TABLES.max_kubelet_lag(servers.newest)
    if kubelet.cycle > servers.oldest:
        problem = "is newer than the API server, which the skew policy never allows"
    elif lag is None or lag > allowed:
        problem = (f"is {lag} minor versions older than the API server; up to {allowed} are supported"
                   if lag is not None else "is a different major version from the API server")
    else:
        return
    yield Hit(
        message=f"Kubelet {node.info.kubelet_version} {problem} (API server {servers.label}).",
        field_path=_KUBELET_PATH,
        observed=node.info.kubelet_version,
    )


# --- operating system ------------------------------------------------------------------------------


@check(
    id="KW-NODE-007",
    name="node-os-end-of-life",
    title="Node operating system past end of life",
    category=Category.NODE,
    severity=Severity.HIGH,
    target=Target.NODE,
    rationale="""
        Past its end of life a distribution publishes no more security updates: the node's kernel, runtime,
        OpenSSH and every host package keep their known vulnerabilities for good, and the kernel bugs are
        the container escapes. Rolling node images (Bottlerocket, Container-Optimized OS, Flatcar) publish
        no per-release end of life and are not judged here.
    """,
    remediation="""
        Rebuild the node pools from a supported release of the OS (or a managed node image) and replace the
        nodes; a paid extension (Ubuntu Pro, Red Hat ELS, OpenShift EUS) only buys time to do so.
    """,
    references=(
        Reference("endoflife.date: operating system end-of-life dates", "https://endoflife.date/"),
        Reference("Ubuntu release cycle", "https://ubuntu.com/about/release-cycle"),
        Reference("Debian Long Term Support", "https://wiki.debian.org/LTS"),
        NSA_CISA,
    ),
)
def node_os_end_of_life(node: Node, ctx: CheckContext) -> Iterator[Hit]:
    os_image = node.info.os_image
    found = TABLES.operating_system(os_image)
    if found is None:
        return
    system, release = found
    if system.rolling or release not in system.releases:
        return
    end, note = system.releases[release]
    if end > ctx.today:
        return
    yield Hit(
        message=f"OS image {os_image!r} is past end of life: {system.name} {release} security support ended"
        f" {end.isoformat()}" + (f" ({note})." if note else "."),
        field_path="status.nodeInfo.osImage",
        observed=os_image,
    )
