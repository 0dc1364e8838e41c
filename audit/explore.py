"""Browsable views of a Report: levels of rows that drill into one another.

The dashboard's Workloads, Pods, Nodes, Images and Access panes are the same
browser started at different levels: namespace → workload → pod → container →
image layer → package → vulnerability, or node → pod → …, or image → layer → ….
Each `Level` is plain data over the Report (rows of `rich.text.Text` cells, the
findings of a row, the security-relevant spec of a row), so it is tested
without a terminal and a new inventory kind needs a new level, not new screen
code. An `Explorer` indexes one Report once; levels share its indexes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

import msgspec
from rich.text import Text

from audit.access import ExecGrant
from audit.container_access import ContainerExecAccess, container_exec_access
from audit.findings import Category, Finding, Severity
from audit.images import ImageInventory
from audit.model import Container, Node, ObjectRef, Pod, PodSpec
from audit.report import Report
from audit.styles import GRADE_STYLES, SEVERITY_STYLES
from audit.vulns import VulnMatch
from checks.scoring import Score, score

_VULN_SEVERITY = {"critical": Severity.CRITICAL, "high": Severity.HIGH, "medium": Severity.MEDIUM,
                  "low": Severity.LOW}


@dataclass(frozen=True)
class Column:
    name: str
    justify: str = "left"
    """`left` or `right`."""
    max_width: int = 60


class Row:
    """One line of a level: its cells, what it stands for, and its text for filtering.

    Cells may be made on first use (`make`), so a list of 50,000 rows costs only
    what is drawn: a table asks for the cells of the rows on screen.
    """

    __slots__ = ("_cells", "_make", "key", "search")

    def __init__(self, cells: tuple[Text, ...] | None, key: Any, search: str = "",
                 make: Callable[[], tuple[Text, ...]] | None = None) -> None:
        self._cells = cells
        self._make = make
        self.key = key
        self.search = search
        """Lower-case text a `/` filter matches against."""

    @property
    def cells(self) -> tuple[Text, ...]:
        if self._cells is None:
            assert self._make is not None
            self._cells = self._make()
            self._make = None
        return self._cells

    def __repr__(self) -> str:
        return f"Row({self.key!r})"


def row(key: Any, *cells: Text | str) -> Row:
    texts = tuple(c if isinstance(c, Text) else Text(c) for c in cells)
    return Row(texts, key, " ".join(t.plain for t in texts).lower())


def lazy_row(key: Any, make: Callable[[Any], tuple[Text, ...]], item: Any, *words: str) -> Row:
    """A row whose cells are made from `item` when first drawn; `words` are what `/` finds it by."""
    return Row(None, key, " ".join(words).lower(), make=lambda: make(item))


def number(value: int | float | None, style: str = "") -> Text:
    return Text("" if value is None else str(value), style=style, justify="right")


def severity_text(severity: Severity | str | None, *, waived: bool = False) -> Text:
    if severity is None:
        return Text("-", style="dim")
    if isinstance(severity, str) and severity not in Severity.__members__.values():
        return Text(severity, style="dim")
    sev = Severity(severity)
    return Text(sev.value, style="dim strike" if waived else SEVERITY_STYLES[sev])


def worst(findings: Iterable[Finding]) -> Severity | None:
    ranks = [f.severity for f in findings if f.waiver is None]
    return max(ranks, key=lambda s: s.rank) if ranks else None


def tally(findings: Sequence[Finding]) -> Text:
    """`3 (1 critical)`: how many findings and how many of the worst severity."""
    if not findings:
        return Text("0", style="dim", justify="right")
    top = worst(findings)
    if top is None:
        return Text(f"{len(findings)} waived", style="dim", justify="right")
    count = sum(1 for f in findings if f.severity == top and f.waiver is None)
    return Text.assemble(f"{len(findings)} (", (f"{count} {top.value}", SEVERITY_STYLES[top]), ")",
                         justify="right")


@dataclass(frozen=True)
class Spec:
    """The security-relevant spec of one object, as an ordered mapping shown as YAML."""

    title: str
    fields: dict[str, Any]


class Level(ABC):
    """One list in the browser. Subclasses fill `title`, `columns` and the row methods."""

    title: str = ""
    columns: tuple[Column, ...] = ()

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer

    @abstractmethod
    def rows(self) -> list[Row]:
        """The level's rows, in the order shown."""

    def child(self, key: Any) -> Level | None:
        """The level Enter opens on this row; None when there is nothing below."""
        return None

    def findings(self, key: Any) -> list[Finding]:
        return []

    def spec(self, key: Any) -> Spec | None:
        return None

    def label(self, key: Any) -> str:
        """How the row is named in breadcrumbs."""
        return str(key)


class Explorer:
    """Indexes of one Report that the levels share; built once per Report."""

    def __init__(self, report: Report, *, today: date | None = None) -> None:
        self.report = report
        self.inventory = report.inventory
        self.today = today or (self.inventory.cluster.collected_at.date()
                               if self.inventory.cluster.collected_at else datetime.now(UTC).date())

    # -- indexes --------------------------------------------------------------

    @cached_property
    def findings_by_resource(self) -> dict[ObjectRef, list[Finding]]:
        out: dict[ObjectRef, list[Finding]] = defaultdict(list)
        for finding in self.report.findings:
            out[finding.resource].append(finding)
        return out

    @cached_property
    def findings_by_namespace(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = defaultdict(list)
        for finding in self.report.findings:
            if finding.resource.namespace:
                out[finding.resource.namespace].append(finding)
        return out

    @cached_property
    def images_by_digest(self) -> dict[str, ImageInventory]:
        return self.inventory.images_by_digest

    def image_name(self, digest: str) -> str:
        image = self.images_by_digest.get(digest)
        return image.name if image is not None else digest

    @cached_property
    def vulns_by_image(self) -> dict[str, list[VulnMatch]]:
        out: dict[str, list[VulnMatch]] = defaultdict(list)
        for match in self.inventory.vulnerabilities:
            out[match.image].append(match)
        return out

    @cached_property
    def pods_by_workload(self) -> dict[ObjectRef, list[Pod]]:
        return self.inventory.pods_by_workload

    @cached_property
    def workload_findings(self) -> dict[tuple[str, str], list[Finding]]:
        """(namespace, pod name) → the findings of its workload that name it (or name no pods)."""
        out: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        for ref, pods in self.pods_by_workload.items():
            for finding in self.findings_by_resource.get(ref, ()):
                names = set(finding.pods) if finding.pods else None
                for pod in pods:
                    if names is None or pod.name in names:
                        out[(pod.namespace, pod.name)].append(finding)
        return out

    @cached_property
    def scores(self) -> tuple[Score, dict[str, Score]]:
        """The cluster's score and each namespace's (`checks.scoring`)."""
        return score(self.report.findings, self.report.check_stats)

    @cached_property
    def exec_findings(self) -> list[Finding]:
        return [f for f in self.report.findings if f.category == Category.EXEC_ACCESS]

    @cached_property
    def workloads_by_namespace(self) -> dict[str, list[ObjectRef]]:
        """The top-level workloads of each namespace: those running pods (a bare pod is its own)
        and those with none (scaled to zero, suspended), but no ReplicaSet a Deployment owns."""
        refs: dict[str, set[ObjectRef]] = defaultdict(set)
        for ref in self.pods_by_workload:
            refs[ref.namespace or ""].add(ref)
        for workload in self.inventory.workloads:
            if not any(o.controller for o in workload.metadata.owner_references or ()):
                refs[workload.metadata.namespace or ""].add(workload.ref)
        return {ns: sorted(found, key=lambda r: (r.kind, r.name)) for ns, found in refs.items()}

    def image_findings(self, digest: str) -> list[Finding]:
        return self.findings_by_resource.get(ObjectRef(kind="Image", name=self.image_name(digest)), [])

    def pod_findings(self, pod: Pod) -> list[Finding]:
        own = self.findings_by_resource.get(ObjectRef(kind="Pod", name=pod.name, namespace=pod.namespace), [])
        if pod.workload.kind == "Pod":
            return list(own)
        return [*own, *self.workload_findings.get((pod.namespace, pod.name), ())]

    def find_pod(self, namespace: str, name: str) -> Pod | None:
        return self._pods.get((namespace, name))

    @cached_property
    def _pods(self) -> dict[tuple[str, str], Pod]:
        return {(p.namespace, p.name): p for p in self.inventory.pods}

    def warm(self) -> None:
        """Build the indexes now (off the event loop) so the first drill is as fast as the next."""
        for index in ("findings_by_resource", "findings_by_namespace", "workloads_by_namespace", "vulns_by_image",
                      "workload_findings", "_pods", "scores", "access_by_container"):
            getattr(self, index)
        inventory = self.inventory
        inventory.pods_by_node, inventory.workloads_by_ref, inventory.nodes_by_name, inventory.workloads_by_image  # noqa: B018

    # -- the roots of the panes ----------------------------------------------

    def root(self, name: str) -> Level:
        """The first level of a pane: `workloads`, `pods`, `nodes`, `images` or `access`."""
        roots: dict[str, Callable[[], Level]] = {
            "workloads": lambda: NamespacesLevel(self),
            "pods": lambda: PodsLevel(self, list(self.inventory.pods), "pods"),
            "nodes": lambda: NodesLevel(self),
            "images": lambda: ImagesLevel(self),
            "access": lambda: ContainerAccessLevel(self),
            "matrix": lambda: AccessLevel(self),
        }
        return roots[name]()

    ROOTS = ("workloads", "pods", "nodes", "images", "access", "matrix")

    @cached_property
    def container_access(self) -> list[ContainerExecAccess]:
        """Every container: who can exec (RBAC) × does its image have a shell × who did (audit log)."""
        return container_exec_access(self.report)

    @cached_property
    def access_by_container(self) -> dict[tuple[str, str, str], ContainerExecAccess]:
        return {(a.namespace, a.pod, a.container): a for a in self.container_access}


# -- levels ---------------------------------------------------------------------


class NamespacesLevel(Level):
    title = "namespaces"
    columns = (Column("NAMESPACE"), Column("GRADE"), Column("SCORE", "right"), Column("WORKLOADS", "right"),
               Column("PODS", "right"), Column("FINDINGS", "right"))

    def rows(self) -> list[Row]:
        inventory = self.explorer.inventory
        workloads = {ns: len(refs) for ns, refs in self.explorer.workloads_by_namespace.items()}
        out = []
        for namespace in inventory.namespaces:
            name = namespace.metadata.name
            entry = self.explorer.scores[1].get(name)
            grade = Text(entry.grade, style=GRADE_STYLES.get(entry.grade, "")) if entry else Text("-", style="dim")
            out.append(row(name, name, grade, number(entry.score if entry else None),
                           number(workloads.get(name, 0)), number(len(inventory.pods_by_namespace.get(name, ()))),
                           tally(self.explorer.findings_by_namespace.get(name, []))))
        return out

    def child(self, key: str) -> Level:
        return WorkloadsLevel(self.explorer, key)

    def findings(self, key: str) -> list[Finding]:
        return self.explorer.findings_by_namespace.get(key, [])

    def spec(self, key: str) -> Spec | None:
        namespace = self.explorer.inventory.namespaces_by_name.get(key)
        if namespace is None:
            return None
        labels = namespace.metadata.labels or {}
        return Spec(f"Namespace {key}", {
            "pod-security": {k.removeprefix("pod-security.kubernetes.io/"): v for k, v in labels.items()
                             if k.startswith("pod-security.kubernetes.io/")} or "not labelled",
            "labels": dict(labels),
            "network policies": sum(1 for p in self.explorer.inventory.network_policies
                                    if p.metadata.namespace == key),
        })


class WorkloadsLevel(Level):
    columns = (Column("KIND"), Column("NAME"), Column("PODS", "right"), Column("WORST"),
               Column("FINDINGS", "right"))

    def __init__(self, explorer: Explorer, namespace: str) -> None:
        super().__init__(explorer)
        self.namespace = namespace
        self.title = namespace

    def _refs(self) -> list[ObjectRef]:
        return self.explorer.workloads_by_namespace.get(self.namespace, [])

    def rows(self) -> list[Row]:
        out = []
        for ref in self._refs():
            findings = self.findings(ref)
            out.append(row(ref, ref.kind, ref.name, number(len(self.explorer.pods_by_workload.get(ref, ()))),
                           severity_text(worst(findings)), tally(findings)))
        return out

    def child(self, key: ObjectRef) -> Level:
        return PodsLevel(self.explorer, self.explorer.pods_by_workload.get(key, []), f"{key.kind}/{key.name}")

    def findings(self, key: ObjectRef) -> list[Finding]:
        return self.explorer.findings_by_resource.get(key, [])

    def label(self, key: ObjectRef) -> str:
        return f"{key.kind}/{key.name}"

    def spec(self, key: ObjectRef) -> Spec | None:
        workload = self.explorer.inventory.workloads_by_ref.get(key)
        if workload is not None:
            template = workload.spec.template or (workload.spec.job_template.spec.template
                                                  if workload.spec.job_template and workload.spec.job_template.spec
                                                  else None)
            fields = pod_spec_fields(template.spec) if template else {}
            strategy = workload.spec.strategy or workload.spec.update_strategy
            if workload.spec.replicas is not None:
                fields = {"replicas": workload.spec.replicas, **fields}
            if strategy is not None:
                fields["strategy"] = msgspec.to_builtins(strategy)
            return Spec(f"{key.kind} {key.namespace}/{key.name}", fields)
        pods = self.explorer.pods_by_workload.get(key)
        return Spec(f"{key.kind} {key.namespace}/{key.name}", pod_spec_fields(pods[0].spec)) if pods else None


class PodsLevel(Level):
    columns = (Column("NAMESPACE"), Column("POD"), Column("NODE"), Column("PHASE"), Column("CONTAINERS", "right"),
               Column("WORST"), Column("FINDINGS", "right"))

    def __init__(self, explorer: Explorer, pods: list[Pod], title: str) -> None:
        super().__init__(explorer)
        self.pods = pods
        self.title = title

    def rows(self) -> list[Row]:
        """Cells are made when drawn: a pane of 10,000 pods costs what is on screen."""
        return [lazy_row((pod.namespace, pod.name), self._cells, pod, pod.namespace, pod.name,
                         pod.spec.node_name or "", pod.status.phase or "") for pod in self.pods]

    def _cells(self, pod: Pod) -> tuple[Text, ...]:
        findings = self.explorer.pod_findings(pod)
        return (Text(pod.namespace), Text(pod.name), Text(pod.spec.node_name or ""), Text(pod.status.phase or ""),
                number(len(pod.spec.containers)), severity_text(worst(findings)), tally(findings))

    def child(self, key: tuple[str, str]) -> Level | None:
        pod = self.explorer.find_pod(*key)
        return ContainersLevel(self.explorer, pod) if pod else None

    def findings(self, key: tuple[str, str]) -> list[Finding]:
        pod = self.explorer.find_pod(*key)
        return self.explorer.pod_findings(pod) if pod else []

    def label(self, key: tuple[str, str]) -> str:
        return key[1]

    def spec(self, key: tuple[str, str]) -> Spec | None:
        pod = self.explorer.find_pod(*key)
        if pod is None:
            return None
        fields = {"workload": str(pod.workload), "node": pod.spec.node_name or "", **pod_spec_fields(pod.spec)}
        return Spec(f"Pod {pod.namespace}/{pod.name}", fields)


class ContainersLevel(Level):
    columns = (Column("CONTAINER"), Column("TYPE"), Column("IMAGE", max_width=50), Column("SHELL"),
               Column("USER"), Column("WORST"), Column("FINDINGS", "right"))

    def __init__(self, explorer: Explorer, pod: Pod) -> None:
        super().__init__(explorer)
        self.pod = pod
        self.title = pod.name

    def _containers(self) -> list[tuple[str, Container]]:
        spec = self.pod.spec
        return [*(("init", c) for c in spec.init_containers), *(("app", c) for c in spec.containers),
                *(("ephemeral", c) for c in spec.ephemeral_containers)]

    def rows(self) -> list[Row]:
        out = []
        for kind, container in self._containers():
            image = self.explorer.inventory.image_of(self.pod, container.name)
            findings = self.findings(container.name)
            shell = Text("?", style="dim") if image is None else (
                Text("yes", style="yellow") if image.has_shell else Text("no", style="green"))
            user = _container_user(self.pod, container, image)
            out.append(row(container.name, container.name, kind, container.image, shell, user,
                           severity_text(worst(findings)), tally(findings)))
        return out

    def _image(self, key: str) -> ImageInventory | None:
        return self.explorer.inventory.image_of(self.pod, key)

    def child(self, key: str) -> Level | None:
        image = self._image(key)
        return LayersLevel(self.explorer, image) if image else None

    def findings(self, key: str) -> list[Finding]:
        return [f for f in self.explorer.pod_findings(self.pod) if f.container in (None, key)]

    def spec(self, key: str) -> Spec | None:
        for _, container in self._containers():
            if container.name == key:
                image = self._image(key)
                fields: dict[str, Any] = {"image": container.image}
                if image is not None:
                    fields["digest"] = image.digest
                    fields["image user"] = image.config.user or "(root)"
                    fields["shell"] = [e.path for e in image.executables if e.kind == "shell"] or "none"
                    fields["package managers"] = [e.path for e in image.executables
                                                  if e.kind == "package-manager"] or "none"
                if container.security_context is not None:
                    fields["securityContext"] = msgspec.to_builtins(container.security_context)
                if container.ports:
                    fields["ports"] = msgspec.to_builtins(container.ports)
                if container.volume_mounts:
                    fields["volumeMounts"] = msgspec.to_builtins(container.volume_mounts)
                access = self.explorer.access_by_container.get((self.pod.namespace, self.pod.name, key))
                if access is not None:
                    fields["exec"] = access_fields(access)
                return Spec(f"Container {key} in {self.pod.namespace}/{self.pod.name}", fields)
        return None


class LayersLevel(Level):
    columns = (Column("#", "right"), Column("FROM"), Column("PACKAGES", "right"), Column("VULNS", "right"),
               Column("FIXABLE", "right"), Column("BUILD STEP", max_width=90))

    def __init__(self, explorer: Explorer, image: ImageInventory) -> None:
        super().__init__(explorer)
        self.image = image
        self.title = image.name

    @cached_property
    def _packages_by_layer(self) -> Counter[int]:
        return Counter(p.layer for p in self.image.packages)

    @cached_property
    def _vulns_by_layer(self) -> dict[int, list[VulnMatch]]:
        out: dict[int, list[VulnMatch]] = defaultdict(list)
        for match in self.explorer.vulns_by_image.get(self.image.digest, ()):
            out[match.layer].append(match)
        return out

    def rows(self) -> list[Row]:
        out = []
        for index, layer in enumerate(self.image.layers):
            vulns = self._vulns_by_layer.get(index, [])
            origin = Text("base", style="dim") if index < self.image.base_layers else Text("own", style="bold")
            out.append(row(index, number(index + 1), origin, number(self._packages_by_layer.get(index, 0)),
                           number(len({v.vuln_id for v in vulns})),
                           number(len({v.vuln_id for v in vulns if v.fixed_version})),
                           layer.created_by.strip() or "(no history)"))
        return out

    def child(self, key: int) -> Level:
        return PackagesLevel(self.explorer, self.image, key)

    def label(self, key: int) -> str:
        return f"layer {key + 1}"

    def findings(self, key: int) -> list[Finding]:
        return [f for f in self.explorer.image_findings(self.image.digest)
                if isinstance(f.observed, dict) and f.observed.get("layer") == key]

    def spec(self, key: int) -> Spec | None:
        layer = self.image.layers[key]
        return Spec(f"Layer {key + 1} of {self.title}", {
            "digest": layer.digest, "from": "base image" if key < self.image.base_layers else "own build step",
            "build step": layer.created_by, "created": layer.created.isoformat() if layer.created else "",
            "steps without a layer before it": list(layer.empty_layer_steps),
        })


class PackagesLevel(Level):
    columns = (Column("PACKAGE"), Column("VERSION"), Column("VULNS", "right"), Column("WORST"), Column("FIX"),
               Column("ECOSYSTEM"), Column("SOURCE"))

    def __init__(self, explorer: Explorer, image: ImageInventory, layer: int | None) -> None:
        super().__init__(explorer)
        self.image = image
        self.layer = layer
        self.title = "packages" if layer is None else f"layer {layer + 1}"

    @cached_property
    def _vulns(self) -> dict[tuple[str, str], list[VulnMatch]]:
        out: dict[tuple[str, str], list[VulnMatch]] = defaultdict(list)
        for match in self.explorer.vulns_by_image.get(self.image.digest, ()):
            out[(match.package, match.version)].append(match)
        return out

    def rows(self) -> list[Row]:
        """Vulnerable packages first, worst first; then the rest by name."""
        ranked = []
        for index, attributed in enumerate(self.image.packages):
            if self.layer is not None and attributed.layer != self.layer:
                continue
            package = attributed.package
            vulns = self._vulns.get((package.name, package.version), [])
            top = max((_VULN_SEVERITY[v.severity] for v in vulns if v.severity in _VULN_SEVERITY),
                      key=lambda s: s.rank, default=None)
            ranked.append(((-(top.rank + 1) if top else 0 if vulns else 1, package.name), index, package, vulns, top))
        out = []
        for _, index, package, vulns, top in sorted(ranked, key=lambda r: r[0]):
            fixes = sorted({v.fixed_version for v in vulns if v.fixed_version})
            fix = Text(fixes[-1], style="green") if fixes else Text("no fix yet" if vulns else "", style="dim")
            source = package.source_name or ""
            if package.source_version and package.source_version != package.version:
                source = f"{source} {package.source_version}"
            out.append(row(index, package.name, package.version, number(len({v.vuln_id for v in vulns})),
                           severity_text(top) if vulns else Text(""), fix, package.ecosystem, source))
        return out

    def child(self, key: int) -> Level | None:
        package = self.image.packages[key].package
        if not self._vulns.get((package.name, package.version)):
            return None
        return VulnerabilitiesLevel(self.explorer, self.image, package.name, package.version)

    def label(self, key: int) -> str:
        return self.image.packages[key].package.name

    def findings(self, key: int) -> list[Finding]:
        package = self.image.packages[key].package
        return [f for f in self.explorer.image_findings(self.image.digest)
                if isinstance(f.observed, dict) and f.observed.get("package") == package.name
                and f.observed.get("installed") == package.version]

    def spec(self, key: int) -> Spec | None:
        attributed = self.image.packages[key]
        fields = msgspec.to_builtins(attributed.package)
        fields["layer"] = attributed.layer + 1
        fields["from"] = "base image" if self.image.in_base(attributed) else "own build step"
        return Spec(f"Package {attributed.package.name}", fields)


class VulnerabilitiesLevel(Level):
    columns = (Column("VULNERABILITY"), Column("SEVERITY"), Column("SCORE", "right"), Column("FIXED IN"),
               Column("ALIASES", max_width=30), Column("SUMMARY", max_width=80))

    def __init__(self, explorer: Explorer, image: ImageInventory, package: str | None = None,
                 version: str | None = None) -> None:
        super().__init__(explorer)
        self.image = image
        self.package = package
        self.version = version
        self.title = package or "vulnerabilities"

    def _matches(self) -> list[VulnMatch]:
        return [m for m in self.explorer.vulns_by_image.get(self.image.digest, ())
                if self.package is None or (m.package == self.package and m.version == self.version)]

    def rows(self) -> list[Row]:
        out = []
        for match in sorted(self._matches(), key=lambda m: (-(m.score or 0), m.vuln_id)):
            sev = _VULN_SEVERITY.get(match.severity)
            out.append(row(match.vuln_id, match.vuln_id, severity_text(sev or match.severity),
                           number(match.score), Text(match.fixed_version or "no fix yet",
                                                     style="green" if match.fixed_version else "dim"),
                           ", ".join(match.aliases), match.summary))
        return out

    def findings(self, key: str) -> list[Finding]:
        return [f for f in self.explorer.image_findings(self.image.digest)
                if isinstance(f.observed, dict) and f.observed.get("vulnerability") == key]

    def spec(self, key: str) -> Spec | None:
        for match in self._matches():
            if match.vuln_id == key:
                fields = msgspec.to_builtins(match)
                fields.pop("image", None)
                return Spec(f"{key} in {match.package} {match.version}", fields)
        return None


class NodesLevel(Level):
    title = "nodes"
    columns = (Column("NODE"), Column("KERNEL"), Column("OS", max_width=30), Column("RUNTIME"), Column("KUBELET"),
               Column("PODS", "right"), Column("NAMESPACES", "right"), Column("FINDINGS", "right"))

    def rows(self) -> list[Row]:
        out = []
        by_node = self.explorer.inventory.pods_by_node
        for node in self.explorer.inventory.nodes:
            info = node.info
            pods = by_node.get(node.name, [])
            out.append(row(node.name, node.name, info.kernel_version, info.os_image, info.container_runtime_version,
                           info.kubelet_version, number(len(pods)), number(len({p.namespace for p in pods})),
                           tally(self.findings(node.name))))
        return out

    def child(self, key: str) -> Level:
        return PodsLevel(self.explorer, self.explorer.inventory.pods_by_node.get(key, []), key)

    def findings(self, key: str) -> list[Finding]:
        return self.explorer.findings_by_resource.get(ObjectRef(kind="Node", name=key), [])

    def spec(self, key: str) -> Spec | None:
        node: Node | None = self.explorer.inventory.nodes_by_name.get(key)
        if node is None:
            return None
        pods = self.explorer.inventory.pods_by_node.get(key, [])
        namespaces = Counter(p.namespace for p in pods)
        return Spec(f"Node {key}", {
            **{k: v for k, v in msgspec.to_builtins(node.info).items() if v},
            "taints": msgspec.to_builtins(node.spec.taints) if node.spec.taints else "none",
            "namespaces sharing this node (co-tenancy)": dict(namespaces.most_common()),
            "privileged pods here": sorted(f"{p.namespace}/{p.name}" for p in pods if _privileged(p)),
        })


class ImagesLevel(Level):
    title = "images"
    columns = (Column("IMAGE", max_width=50), Column("OS"), Column("SUPPORT"), Column("AGE", "right"),
               Column("LAYERS", "right"), Column("PACKAGES", "right"), Column("VULNS", "right"),
               Column("FIXABLE", "right"), Column("SHELL"), Column("PKG MGR"), Column("WORKLOADS", "right"))

    def rows(self) -> list[Row]:
        from checks.images import image_age, image_lapse

        out = []
        for image in sorted(self.explorer.inventory.images, key=lambda i: i.name):
            vulns = self.explorer.vulns_by_image.get(image.digest, [])
            os_name = image.os_release.pretty_name or image.os_release.id if image.os_release else ""
            lapse = image_lapse(image, self.explorer.today)
            support = Text("") if lapse is None else (
                Text(f"ended {lapse.lifecycle.eol}", style="red") if lapse.ended
                else Text("reduced", style="yellow"))
            age = image_age(image.config.created, self.explorer.today)
            layers = f"{image.base_layers}+{len(image.layers) - image.base_layers}" if image.base_layers else str(
                len(image.layers))
            out.append(row(image.digest, image.name, os_name, support,
                           number(age.days if age else None), Text(layers, justify="right"),
                           number(len(image.packages)), number(len({v.vuln_id for v in vulns})),
                           number(len({v.vuln_id for v in vulns if v.fixed_version})),
                           _yes_no(image.has_shell), _yes_no(image.has_package_manager),
                           number(len(self.explorer.inventory.workloads_by_image.get(image.digest, ())))))
        return out

    def child(self, key: str) -> Level | None:
        image = self.explorer.images_by_digest.get(key)
        return LayersLevel(self.explorer, image) if image else None

    def label(self, key: str) -> str:
        return self.explorer.image_name(key)

    def findings(self, key: str) -> list[Finding]:
        return self.explorer.image_findings(key)

    def spec(self, key: str) -> Spec | None:
        from checks.images import image_lapse

        image = self.explorer.images_by_digest.get(key)
        if image is None:
            return None
        lapse = image_lapse(image, self.explorer.today)
        return Spec(f"Image {self.label(key)}", {
            "digest": image.digest, "references": list(image.references), "read from": image.source,
            "os": image.os_release.pretty_name if image.os_release else "unknown",
            "os support": "current or unknown" if lapse is None else
                          f"{lapse.label}: {'ended' if lapse.ended else 'reduced support'}, eol {lapse.lifecycle.eol}",
            "created": image.config.created.isoformat() if image.config.created else "",
            "user": image.config.user or "(root)",
            "base layers": f"{image.base_layers} ({image.base_reason})" if image.base_layers else "unknown",
            "shells": [e.path for e in image.executables if e.kind == "shell"] or "none",
            "package managers": [e.path for e in image.executables if e.kind == "package-manager"] or "none",
            "workloads": [str(r) for r in self.explorer.inventory.workloads_by_image.get(key, ())],
            "errors": list(image.errors) or "none",
        })


class ContainerAccessLevel(Level):
    """Every container ranked by exec risk: can (RBAC), has a shell (image), did (audit log)."""

    title = "who can get a shell, and who did"
    columns = (Column("NAMESPACE", max_width=20), Column("POD", max_width=36), Column("CONTAINER", max_width=20),
               Column("RISK"), Column("CAN", "right"), Column("SHELL"), Column("OPENED", "right"),
               Column("DENIED", "right"), Column("LAST SESSION"))

    def rows(self) -> list[Row]:
        return [lazy_row((a.namespace, a.pod, a.container), self._cells, a, a.namespace, a.pod, a.container,
                         "did" if a.did else "", "shell" if a.has_shell else "")
                for a in self.explorer.container_access]

    def _cells(self, access: ContainerExecAccess) -> tuple[Text, ...]:
        evidence = self.explorer.inventory.exec_evidence is not None
        shell = Text("?", style="dim") if access.has_shell is None else _yes_no(access.has_shell)
        last = access.last_session
        return (Text(access.namespace), Text(access.pod), Text(access.container), _risk(access),
                number(len(access.subjects)), shell,
                number(access.opened if evidence else None, "bold red" if access.opened else "dim"),
                number(access.denied if evidence else None, "yellow" if access.denied else "dim"),
                Text(f"{last:%Y-%m-%d %H:%M}" if last else ""))

    def child(self, key: tuple[str, str, str]) -> Level | None:
        access = self.explorer.access_by_container.get(key)
        return ExecPathsLevel(self.explorer, access) if access and (access.grants or access.sessions) else None

    def findings(self, key: tuple[str, str, str]) -> list[Finding]:
        pod = self.explorer.find_pod(key[0], key[1])
        out = self.explorer.pod_findings(pod) if pod else []
        return [f for f in out if f.category == Category.EXEC_ACCESS or f.check_id.startswith("KW-IMG")]

    def label(self, key: tuple[str, str, str]) -> str:
        return f"{key[1]}/{key[2]}"

    def spec(self, key: tuple[str, str, str]) -> Spec | None:
        access = self.explorer.access_by_container.get(key)
        return None if access is None else Spec(f"Exec into {key[0]}/{key[1]} {key[2]}", access_fields(access))


class ExecPathsLevel(Level):
    """One container: every subject that can exec into it, and every identity that did."""

    columns = (Column("WHO", max_width=36), Column("PATH"), Column("CAN"), Column("OPENED", "right"),
               Column("DENIED", "right"), Column("LAST"), Column("VIA / COMMANDS", max_width=90))

    def __init__(self, explorer: Explorer, access: ContainerExecAccess) -> None:
        super().__init__(explorer)
        self.access = access
        self.title = f"{access.pod}/{access.container}"

    def rows(self) -> list[Row]:
        out = []
        for index, summary in enumerate(self.access.sessions):
            commands = "; ".join(" ".join(c) for c in summary.commands[:3])
            out.append(row(("session", index), summary.identity, str(summary.path),
                           Text("?", style="dim"), number(summary.opened, "bold red" if summary.opened else ""),
                           number(summary.denied, "yellow" if summary.denied else ""),
                           f"{summary.last:%Y-%m-%d %H:%M}", commands))
        for index, grant in enumerate(self.access.grants):
            out.append(row(("grant", index), str(grant.subject), grant.path.value, Text("yes", style="yellow"),
                           number(None), number(None), "", _via(grant)))
        return out

    def spec(self, key: tuple[str, int]) -> Spec | None:
        kind, index = key
        if kind == "session":
            summary = self.access.sessions[index]
            return Spec(f"Sessions of {summary.identity}", msgspec.to_builtins(summary))
        grant = self.access.grants[index]
        return Spec(f"{grant.subject} may use {grant.path.value}", msgspec.to_builtins(grant))

    def label(self, key: tuple[str, int]) -> str:
        return key[0]


class AccessLevel(Level):
    title = "exec matrix"
    columns = (Column("SUBJECT", max_width=44), Column("NAMESPACE"), Column("PATH"), Column("VERBS", max_width=20),
               Column("VIA", max_width=60))

    def rows(self) -> list[Row]:
        out = []
        for index, grant in enumerate(self.explorer.report.exec_matrix):
            out.append(row(index, str(grant.subject), grant.namespace, grant.path.value, ",".join(grant.verbs),
                           _via(grant)))
        return out

    def _grant(self, key: int) -> ExecGrant:
        return self.explorer.report.exec_matrix[key]

    def child(self, key: int) -> Level:
        grant = self._grant(key)
        pods = [p for p in self.explorer.inventory.pods
                if grant.namespace in ("*", p.namespace)
                and (not grant.resource_names or p.name in grant.resource_names)]
        return PodsLevel(self.explorer, pods, f"{grant.subject} → {grant.namespace}")

    def findings(self, key: int) -> list[Finding]:
        grant = self._grant(key)
        subject = str(grant.subject)
        return [f for f in self.explorer.exec_findings
                if subject in f.message and grant.namespace in ("*", f.resource.namespace)]

    def spec(self, key: int) -> Spec | None:
        grant = self._grant(key)
        return Spec(f"{grant.subject} may use {grant.path.value}", msgspec.to_builtins(grant))

    def label(self, key: int) -> str:
        return str(self._grant(key).subject)


# -- helpers -----------------------------------------------------------------------


def pod_spec_fields(spec: PodSpec) -> dict[str, Any]:
    """The fields of a pod spec that decide isolation, in the order a reviewer reads them."""
    data = msgspec.to_builtins(spec)
    fields = {key: data[key] for key in _ISOLATION_FIELDS if data.get(key) is not None}
    host_paths = [volume for volume in data.get("volumes", ()) if "hostPath" in volume]
    if host_paths:
        fields["hostPath volumes"] = host_paths
    fields["containers"] = {
        container["name"]: {key: container[key] for key in ("image", "securityContext") if key in container}
        for kind in ("initContainers", "containers", "ephemeralContainers") for container in data.get(kind, ())}
    return fields


_ISOLATION_FIELDS = ("hostNetwork", "hostPID", "hostIPC", "hostUsers", "shareProcessNamespace", "serviceAccountName",
                     "automountServiceAccountToken", "runtimeClassName", "securityContext")


def _yes_no(value: bool) -> Text:
    return Text("yes", style="yellow") if value else Text("no", style="green")


def _privileged(pod: Pod) -> bool:
    return any(c.security_context is not None and c.security_context.privileged
               for c in (*pod.spec.init_containers, *pod.spec.containers))


def _container_user(pod: Pod, container: Container, image: ImageInventory | None) -> Text:
    uid = container.security_context.run_as_user if container.security_context else None
    if uid is None and pod.spec.security_context is not None:
        uid = pod.spec.security_context.run_as_user
    if uid is not None:
        return Text(str(uid), style="red" if uid == 0 else "")
    if image is not None:
        return Text(image.config.user or "root (image)", style="" if image.config.user else "yellow")
    return Text("?", style="dim")


def _risk(access: ContainerExecAccess) -> Text:
    parts = [("can", access.can), ("shell", bool(access.has_shell)), ("did", access.did)]
    text = Text()
    for word, present in parts:
        if present:
            if text:
                text.append(" · ")
            text.append(word, style="bold red" if word == "did" else "yellow")
    return text or Text("-", style="dim")


def access_fields(access: ContainerExecAccess) -> dict[str, Any]:
    """Who can get a shell in one container, whether its image has one, and who did."""
    shell = "not read" if access.has_shell is None else (list(access.shells) or "yes") if access.has_shell else "none"
    return {
        "image has a shell": shell,
        "package manager": "not read" if access.has_package_manager is None else access.has_package_manager,
        "can exec (RBAC)": sorted({f"{g.subject} via {g.path.value}" for g in access.grants}) or "nobody",
        "did exec (audit log)": [f"{s.identity}: {s.opened} opened, {s.denied} denied, last {s.last:%Y-%m-%d %H:%M}"
                                 for s in access.sessions] or "no sessions in the log",
    }


def _via(grant: ExecGrant) -> str:
    return f"{grant.via.binding.kind}/{grant.via.binding.name} → {grant.via.role.kind}/{grant.via.role.name}"


@dataclass
class Trail:
    """The browser's position: the levels opened so far and the row chosen on each."""

    levels: list[Level] = field(default_factory=list)
    keys: list[Any] = field(default_factory=list)

    def breadcrumbs(self) -> list[str]:
        return [level.label(key) for level, key in zip(self.levels, self.keys, strict=False)]
