"""What the command line prints: the audit summary and image inventories, with rich."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from audit.findings import Category, Severity
from audit.images import ImageInventory
from audit.report import Report
from audit.styles import GRADE_STYLES, SEVERITY_STYLES
from audit.trivy import TrivyComparison
from audit.vulns import SEVERITIES, summarise_images
from checks.scoring import score


def print_summary(report: Report, console: Console, *, output: str | None = None) -> None:
    """What was read, what was found, what could not be read, and where the Report went."""
    meta = report.meta
    console.print(f"[bold]kubeward[/] audit of context [bold]{escape(meta.context)}[/] ({escape(meta.server)})")
    version = report.inventory.cluster.version.git_version
    counts = report.inventory.counts()
    console.print(
        f"{'Kubernetes ' + version + ' · ' if version else ''}{counts['pods']} pods, {counts['nodes']} nodes, "
        f"{counts['namespaces']} namespaces"
    )
    cluster, namespaces = score(report.findings, report.check_stats)
    console.print(Text.assemble("Cluster grade ", (cluster.grade, GRADE_STYLES[cluster.grade]),
                                f" ({cluster.score}/100, {cluster.failed} of {cluster.evaluated} evaluations failed)"))
    table = Table(title=f"Findings ({len(report.findings)})", show_edge=False)
    table.add_column("category")
    severities = [s for s in Severity]
    for severity in severities:
        table.add_column(severity.value, justify="right", style=SEVERITY_STYLES[severity])
    by_category = Counter((f.category.value, f.severity) for f in report.findings)
    for category in Category:
        row = [by_category.get((category.value, s), 0) for s in severities]
        if any(row):
            table.add_row(category.value, *(str(n) if n else "·" for n in row))
    console.print(table)
    worst = sorted(namespaces.values(), key=lambda s: (s.score, s.scope))[:10]
    if worst:
        ns_table = Table(title="Namespaces, lowest scores first", show_edge=False)
        for column in ("namespace", "grade", "score", *[s.value for s in severities]):
            ns_table.add_column(column, justify="left" if column == "namespace" else "right")
        for entry in worst:
            ns_table.add_row(entry.scope, Text(entry.grade, style=GRADE_STYLES[entry.grade]), str(entry.score),
                             *(str(entry.counts[s.value]) for s in severities))
        console.print(ns_table)
    if report.inventory.vulnerabilities:
        print_image_vulnerabilities(report, console)
    if report.inventory.trivy_comparison is not None:
        print_trivy_comparison(report.inventory.trivy_comparison, console)
    if report.inventory.exec_evidence is not None:
        print_exec_evidence(report, console)
    if report.gaps:
        gaps = Table(title=f"Coverage gaps ({len(report.gaps)}): not audited", show_edge=False,
                     title_style="bold yellow")
        gaps.add_column("what")
        gaps.add_column("namespace")
        gaps.add_column("why")
        for gap in report.gaps:
            gaps.add_row(f"{gap.verb} {gap.resource}", gap.namespace or "(all)", f"{gap.reason}: {gap.message}")
        console.print(gaps)
    if output:
        console.print(f"Report written to {escape(output)}")




def print_exec_evidence(report: Report, console: Console, *, limit: int = 10) -> None:
    """What the audit log showed: sessions counted, and the containers people opened shells in."""
    from audit.container_access import container_exec_access

    evidence = report.inventory.exec_evidence
    assert evidence is not None
    outcomes = Counter(s.outcome.value for s in evidence.sessions)
    read = [f for f in evidence.files if not f.skipped]
    console.print(f"Audit log: {len(evidence.sessions)} exec sessions ({outcomes['opened']} opened,"
                  f" {outcomes['denied']} denied, {outcomes['failed']} failed) in {len(read)} files,"
                  f" {sum(f.lines for f in read):,} lines, {evidence.since:%Y-%m-%d %H:%M} –"
                  f" {evidence.until:%Y-%m-%d %H:%M} UTC")
    used = [row for row in container_exec_access(report) if row.sessions][:limit]
    if not used:
        return
    table = Table(title="Containers with exec sessions, riskiest first", show_edge=False)
    for column in ("container", "who", "opened", "denied", "last", "shell in image"):
        table.add_column(column, justify="right" if column in ("opened", "denied") else "left")
    for row in used:
        who = sorted({s.identity for s in row.sessions})
        shell = "unknown" if row.has_shell is None else ", ".join(row.shells) or "no"
        last = row.last_session
        table.add_row(Text(f"{row.namespace}/{row.pod}/{row.container}"),
                      Text(", ".join(who[:3]) + (f" +{len(who) - 3}" if len(who) > 3 else "")),
                      str(row.opened), str(row.denied), f"{last:%Y-%m-%d %H:%M}" if last else "", Text(shell))
    console.print(table)


def print_images(images: Sequence[ImageInventory], console: Console) -> None:
    for image in images:
        release = image.os_release
        console.print(Text.assemble((image.name, "bold"),
                                    f"  {image.digest}"))
        console.print(f"OS: {release.pretty_name or release.id + ' ' + release.version_id if release else 'unknown'}"
                      f" · user: {image.config.user or 'root'} · shell: {'yes' if image.has_shell else 'no'}"
                      f" · package manager: {'yes' if image.has_package_manager else 'no'}")
        table = Table(show_edge=False)
        for column in ("layer", "step", "packages"):
            table.add_column(column)
        per_layer = Counter(a.layer for a in image.packages)
        for index, ref in enumerate(image.layers):
            where = "base" if index < image.base_layers else "own"
            table.add_row(f"{index + 1} ({where})", Text((ref.created_by or "")[:80]), str(per_layer.get(index, 0)))
        console.print(table)
        for error in image.errors:
            console.print(Text(f"warning: {error}", style="yellow"))


def print_image_vulnerabilities(report: Report, console: Console, *, limit: int = 10) -> None:
    """The images with the worst known vulnerabilities, and what fixing them takes."""
    inventory = report.inventory
    summaries = summarise_images(inventory.vulnerabilities,
                                 {image.digest: image.base_layers for image in inventory.images})
    names = {image.digest: (image.references[0] if image.references else image.digest) for image in inventory.images}
    table = Table(title=f"Images with known vulnerabilities ({len(summaries)}, worst first)", show_edge=False)
    table.add_column("image")
    for severity in SEVERITIES:
        table.add_column(severity, justify="right")
    table.add_column("fixable", justify="right")
    table.add_column("remedy")
    for entry in summaries[:limit]:
        table.add_row(Text(names.get(entry.image, entry.image)), *(str(entry.counts[s]) for s in SEVERITIES),
                      str(entry.fixable), entry.remedy)
    console.print(table)


def print_trivy_comparison(comparison: TrivyComparison, console: Console, *, limit: int = 5) -> None:
    """One line comparing our matches with Trivy Operator's, and the images they disagree on most."""
    console.print(
        f"Trivy Operator: {comparison.reports} reports, {len(comparison.images)} images compared: "
        f"{comparison.both} vulnerabilities found by both, {comparison.only_kubeward} only by kubeward, "
        f"{comparison.only_trivy} only by Trivy"
        + (f"; {len(comparison.unmatched)} images only Trivy scanned" if comparison.unmatched else ""))
    disagreeing = [c for c in comparison.images if c.only_kubeward or c.only_trivy][:limit]
    if not disagreeing:
        return
    table = Table(show_edge=False)
    for column in ("image", "both", "only kubeward", "only Trivy", "e.g. only Trivy"):
        table.add_column(column, justify="left" if column in ("image", "e.g. only Trivy") else "right")
    for entry in disagreeing:
        table.add_row(Text(entry.reference or entry.image), str(len(entry.both)), str(len(entry.only_kubeward)),
                      str(len(entry.only_trivy)), Text(", ".join(entry.only_trivy[:3])))
    console.print(table)
