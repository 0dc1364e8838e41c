"""The audit snapshot as tables: the sheets of the review spreadsheet, as plain rows.

Built once here and rendered by both `xlsx.py` and `csv.py`, so the two never
disagree about what a column holds. Rows are produced lazily (a sheet's `rows()`
is a fresh iterator each call), so a 10,000-pod report is never held twice.

A cell is text, a number, a date or time, None (empty) or a `Link`. Nothing in
a Report holds a literal environment variable value (the collector never
decodes one), and no sheet shows annotations, commands or arguments, so no
export can carry a credential a pod spec held.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import msgspec

from audit.findings import Finding, Severity, Waiver
from audit.report import Report
from audit.vulns import SEVERITIES, summarise_images
from checks.engine import all_checks
from checks.scoring import score

REVIEW_STATUSES = ("open", "accepted risk", "false positive", "fixed")
"""The review sheet's Status values; every one but `open` becomes a waiver on import."""
STATUS_OF_WAIVER = {"accepted-risk": "accepted risk", "false-positive": "false positive", "fixed": "fixed"}
WAIVER_STATUS_OF = {label: status for status, label in STATUS_OF_WAIVER.items()}
REVIEW_COLUMNS = ("Status", "Owner", "Due", "Justification", "Ticket")
FINDINGS_SHEET = "Findings"
MAX_CELL_CHARS = 32_767
"""What one spreadsheet cell can hold; longer text is cut and marked."""
MAX_LIST_ITEMS = 50


@dataclass(frozen=True, slots=True)
class Link:
    """A hyperlink cell: the xlsx shows `text` linking to `url`; the csv writes the URL."""

    url: str
    text: str


Cell = str | int | float | date | datetime | Link | None
Row = tuple[Cell, ...]
ColumnKind = Literal["text", "wrap", "number", "date", "severity", "link", "status"]

@dataclass(frozen=True)
class Column:
    header: str
    width: int
    kind: ColumnKind = "text"


@dataclass(frozen=True)
class Sheet:
    name: str
    columns: tuple[Column, ...]
    rows: Callable[[], Iterator[Row]]
    """A fresh iterator over the rows (no header) on every call."""

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns)


def build_sheets(report: Report) -> list[Sheet]:
    """Every sheet of the review spreadsheet, in order."""
    return [
        _summary(report), _findings(report), _exec_access(report), _images(report), _layers(report),
        _vulnerabilities(report), _nodes(report), _waivers(report), _run(report),
    ]


# --- cells ------------------------------------------------------------------------------------


def text(value: object) -> str:
    """Any value as cell text, cut to what a cell holds."""
    if value is None:
        return ""
    out = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    if len(out) > MAX_CELL_CHARS:
        out = out[: MAX_CELL_CHARS - 20] + " … (cut)"
    return out


def joined(values: tuple[str, ...] | list[str], limit: int = MAX_LIST_ITEMS) -> str:
    shown = ", ".join(values[:limit])
    more = len(values) - limit
    return text(f"{shown} … and {more} more" if more > 0 else shown)


def _ordered_findings(report: Report) -> list[Finding]:
    return sorted(report.findings, key=lambda f: (-f.severity.rank, f.check_id, f.resource.namespace or "",
                                                  f.resource.kind, f.resource.name, f.container or "",
                                                  f.fingerprint))


# --- the sheets --------------------------------------------------------------------------------


def _summary(report: Report) -> Sheet:
    columns = (Column("Scope", 28), Column("Grade", 7), Column("Score", 7, "number"),
               Column("Evaluated", 10, "number"), Column("Failed", 8, "number"),
               *(Column(s.value.capitalize(), 9, "number") for s in Severity),
               Column("Findings", 9, "number"), Column("Waived", 8, "number"))

    def rows() -> Iterator[Row]:
        cluster, namespaces = score(report.findings, report.check_stats)
        waived = Counter(f.resource.namespace for f in report.findings if f.waiver is not None)
        for entry in (cluster, *sorted(namespaces.values(), key=lambda s: (s.score, s.scope))):
            scope_waived = sum(waived.values()) if entry is cluster else waived.get(entry.scope, 0)
            yield (entry.scope, entry.grade, entry.score, entry.evaluated, entry.failed,
                   *(entry.counts[s.value] for s in Severity), sum(entry.counts.values()), scope_waived)

    return Sheet("Summary", columns, rows)


def _findings(report: Report) -> Sheet:
    columns = (
        Column("Severity", 10, "severity"), Column("Check", 13), Column("Title", 40), Column("Category", 15),
        Column("Namespace", 18), Column("Kind", 14), Column("Name", 30), Column("Container", 18),
        Column("Message", 60, "wrap"), Column("Field path", 40), Column("Observed", 24), Column("Pods", 9, "number"),
        Column("Pod names", 40), Column("Reference", 36, "link"), Column("Fingerprint", 22),
        Column("Status", 15, "status"), Column("Owner", 18), Column("Due", 12, "date"),
        Column("Justification", 40, "wrap"), Column("Ticket", 14),
    )

    def rows() -> Iterator[Row]:
        checks = {c.id: c for c in all_checks()}
        for f in _ordered_findings(report):
            declared = checks.get(f.check_id)
            reference = declared.references[0] if declared and declared.references else None
            waiver = f.waiver
            yield (
                f.severity.value, f.check_id, declared.title if declared else "", f.category.value,
                f.resource.namespace or "", f.resource.kind, f.resource.name, f.container or "", text(f.message),
                f.field_path or "", "" if f.observed is None else text(f.observed), len(f.pods) or None,
                joined(f.pods), Link(reference.url, reference.title) if reference else None, f.fingerprint,
                *_review_cells(waiver),
            )

    return Sheet(FINDINGS_SHEET, columns, rows)


def _review_cells(waiver: Waiver | None) -> tuple[Cell, ...]:
    if waiver is None:
        return ("open", None, None, None, None)
    return (STATUS_OF_WAIVER.get(waiver.status, waiver.status), waiver.owner, waiver.expires, waiver.reason,
            waiver.ticket or None)


def _exec_access(report: Report) -> Sheet:
    columns = (
        Column("Subject kind", 15), Column("Subject", 34), Column("Subject namespace", 18), Column("Namespace", 16),
        Column("Path", 24), Column("Opens a shell", 13), Column("Verbs", 16), Column("Resources", 30),
        Column("Only objects", 24), Column("Binding", 40), Column("Role", 40), Column("Aggregated from", 30),
    )

    def rows() -> Iterator[Row]:
        grants = sorted(report.exec_matrix, key=lambda g: (g.namespace, g.path.value, g.subject.kind,
                                                            g.subject.namespace or "", g.subject.name))
        for g in grants:
            yield (g.subject.kind, g.subject.name, g.subject.namespace or "",
                   "(all namespaces)" if g.cluster_wide else g.namespace, g.path.value,
                   "yes" if g.path.shell else "no", ", ".join(g.verbs), joined(g.resources),
                   joined(g.resource_names), str(g.via.binding), str(g.via.role), joined(g.via.aggregated_from))

    return Sheet("Exec access", columns, rows)


def _images(report: Report) -> Sheet:
    columns = (
        Column("Image", 44), Column("Other references", 30), Column("Digest", 26), Column("Source", 9),
        Column("OS", 26), Column("Created", 18, "date"), Column("User", 10), Column("Shell", 7),
        Column("Package manager", 9), Column("Layers", 7, "number"), Column("Base layers", 7, "number"),
        Column("Packages", 9, "number"), Column("Pods", 7, "number"),
        *(Column(s.capitalize(), 9, "number") for s in SEVERITIES),
        Column("Fixable", 8, "number"), Column("Remedy", 34), Column("Read errors", 30),
    )

    def rows() -> Iterator[Row]:
        inventory = report.inventory
        summaries = {s.image: s for s in summarise_images(
            inventory.vulnerabilities, {i.digest: i.base_layers for i in inventory.images})}
        pods = Counter(status.digest for pod in inventory.pods
                       for status in {s.digest: s for s in (*pod.status.init_container_statuses,
                                                            *pod.status.container_statuses,
                                                            *pod.status.ephemeral_container_statuses)}.values()
                       if status.digest)
        for image in sorted(inventory.images, key=lambda i: i.name):
            release = image.os_release
            found = summaries.get(image.digest)
            counts = found.counts if found else dict.fromkeys(SEVERITIES, 0)
            yield (
                image.name, joined(image.references[1:]), image.digest, image.source,
                (release.pretty_name or f"{release.id} {release.version_id}".strip()) if release else "unknown",
                image.config.created, image.config.user or "root", "yes" if image.has_shell else "no",
                "yes" if image.has_package_manager else "no", len(image.layers), image.base_layers,
                len(image.packages), pods.get(image.digest, 0), *(counts[s] for s in SEVERITIES),
                found.fixable if found else 0, found.remedy if found else "nothing known",
                joined(image.errors, 5),
            )

    return Sheet("Images", columns, rows)


def _layers(report: Report) -> Sheet:
    columns = (
        Column("Image", 44), Column("Layer", 7, "number"), Column("Base or own", 10), Column("Build step", 50),
        Column("Package", 28), Column("Version", 22), Column("Ecosystem", 10), Column("Source package", 20),
        Column("Architecture", 12), Column("Found in", 40),
    )

    def rows() -> Iterator[Row]:
        for image in sorted(report.inventory.images, key=lambda i: i.name):
            name = image.name
            for attributed in sorted(image.packages, key=lambda a: (a.layer, a.package.ecosystem, a.package.name)):
                package = attributed.package
                layer = image.layers[attributed.layer] if attributed.layer < len(image.layers) else None
                yield (
                    name, attributed.layer + 1, "base" if image.in_base(attributed) else "own",
                    text(layer.created_by[:200]) if layer else "", package.name, package.version, package.ecosystem,
                    package.source_name or "", package.arch or "", package.path,
                )

    return Sheet("Layers & packages", columns, rows)


def vulnerability_url(vuln_id: str) -> str:
    return f"https://osv.dev/vulnerability/{vuln_id}"


def _vulnerabilities(report: Report) -> Sheet:
    columns = (
        Column("Severity", 10, "severity"), Column("Vulnerability", 22, "link"), Column("Record", 24),
        Column("Image", 44), Column("Package", 24), Column("Installed", 20), Column("Fixed in", 20),
        Column("Ecosystem", 16), Column("Source package", 18), Column("Layer", 7, "number"),
        Column("Base or own", 10), Column("CVSS", 6, "number"), Column("Vector", 30), Column("Summary", 60, "wrap"),
    )

    def rows() -> Iterator[Row]:
        inventory = report.inventory
        images = inventory.images_by_digest
        order = {s: index for index, s in enumerate(SEVERITIES)}
        for m in sorted(inventory.vulnerabilities, key=lambda m: (order.get(m.severity, len(order)), m.display_id,
                                                                   m.image, m.package)):
            image = images.get(m.image)
            base = image is not None and image.base_layers > 0 and m.layer < image.base_layers
            yield (
                m.severity, Link(vulnerability_url(m.vuln_id), m.display_id),
                m.vuln_id, image.name if image else m.image, m.package, m.version,
                m.fixed_version or "no fix yet", m.ecosystem, m.source_package or "", m.layer + 1,
                "base" if base else "own", m.score, m.vector or "", text(m.summary),
            )

    return Sheet("Vulnerabilities", columns, rows)


def _nodes(report: Report) -> Sheet:
    columns = (
        Column("Node", 30), Column("Kernel", 26), Column("OS image", 30), Column("Container runtime", 24),
        Column("Kubelet", 12), Column("Architecture", 12), Column("Ready", 7), Column("Unschedulable", 9),
        Column("Taints", 36), Column("Pods", 7, "number"), Column("Findings", 9, "number"),
    )

    def rows() -> Iterator[Row]:
        inventory = report.inventory
        on_node = Counter(f.resource.name for f in report.findings if f.resource.kind == "Node")
        for node in sorted(inventory.nodes, key=lambda n: n.name):
            info = node.info
            ready = next((c.status for c in node.status.conditions if c.type == "Ready"), "Unknown")
            taints = [f"{t.key}{'=' + t.value if t.value else ''}:{t.effect}" for t in node.spec.taints]
            yield (node.name, info.kernel_version, info.os_image, info.container_runtime_version,
                   info.kubelet_version, info.architecture, ready, "yes" if node.spec.unschedulable else "no",
                   joined(taints), len(inventory.pods_by_node.get(node.name, ())), on_node.get(node.name, 0))

    return Sheet("Nodes", columns, rows)


def _waivers(report: Report) -> Sheet:
    """Every waiver the Report was reviewed with: those in force (from the findings they cover) and
    those the waiver checks reported (expired, or matching nothing)."""
    columns = (
        Column("State", 16), Column("Check", 13), Column("Fingerprint", 22), Column("Namespace", 18),
        Column("Workload", 30), Column("Image", 36), Column("Status", 15), Column("Owner", 20),
        Column("Reason", 50, "wrap"), Column("Ticket", 14), Column("Expires", 12, "date"),
        Column("Findings covered", 10, "number"),
    )

    def rows() -> Iterator[Row]:
        covered: Counter[Waiver] = Counter(f.waiver for f in report.findings if f.waiver is not None)
        states: dict[Waiver, list[str]] = {w: ["in force"] for w in covered}
        for f in report.findings:
            if f.check_id in ("KW-WAIVE-001", "KW-WAIVE-002") and isinstance(f.observed, dict):
                try:
                    waiver = msgspec.convert(f.observed, type=Waiver, strict=False)
                except msgspec.ValidationError:
                    continue
                states.setdefault(waiver, []).append("expired" if f.check_id == "KW-WAIVE-001" else "matches nothing")
        for waiver, state in sorted(states.items(), key=lambda item: (item[0].expires, item[0].owner)):
            yield (", ".join(state), waiver.check_id or "", waiver.fingerprint or "", waiver.namespace or "",
                   waiver.workload or "", waiver.image or "", STATUS_OF_WAIVER.get(waiver.status, waiver.status),
                   waiver.owner, text(waiver.reason), waiver.ticket, waiver.expires, covered.get(waiver, 0))

    return Sheet("Waivers", columns, rows)


def _run(report: Report) -> Sheet:
    columns = (Column("Section", 14), Column("Item", 40), Column("Value", 50, "wrap"), Column("Detail", 60, "wrap"))

    def rows() -> Iterator[Row]:
        meta = report.meta
        inventory = report.inventory
        cluster = inventory.cluster
        yield ("report", "schema", f"{report.schema} {report.schema_version}", None)
        yield ("report", "kubeward version", meta.tool_version, None)
        yield ("report", "context", meta.context, None)
        yield ("report", "server", meta.server, None)
        yield ("report", "started", meta.started, None)
        yield ("report", "finished", meta.finished, None)
        yield ("report", "Kubernetes version", cluster.version.git_version, None)
        yield ("report", "namespaces audited", ", ".join(cluster.namespaces_scope) or "all", None)
        yield ("report", "findings", len(report.findings), None)
        yield ("report", "findings waived", sum(f.waiver is not None for f in report.findings), None)
        if inventory.vulndb is not None:
            db = inventory.vulndb
            yield ("vulnerability data", "database", db.path, f"{db.records} records")
            yield ("vulnerability data", "imported", db.imported_at, None)
            yield ("vulnerability data", "newest record", db.newest_modified, None)
        for kind, count in inventory.counts().items():
            yield ("inventory", kind, count, None)
        for gap in report.gaps:
            where = f" in namespace {gap.namespace}" if gap.namespace else ""
            yield ("coverage gap", f"{gap.source}: {gap.verb} {gap.resource}{where}", gap.reason, text(gap.message))

    return Sheet("Run", columns, rows)
