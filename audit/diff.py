"""What changed between two audit snapshots: findings matched by fingerprint, images by reference.

A finding is *new* when the newer Report has a fingerprint the older one does
not, *resolved* the other way round, and *changed* when both have it at different
severities. Fingerprints leave out uids and pod names (a finding names the top
workload, not a replica), so a pod replaced by its ReplicaSet, rescheduled to
another node or renamed is the same finding in both.

Images are compared by the references pods use (`nginx:1.27`): a reference
whose known vulnerabilities differ between the two snapshots (a rebuilt image
under the same tag, a newer vulnerability database) is listed with what
appeared and what went.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table
from rich.text import Text

from audit.findings import Finding, Severity
from audit.report import Report
from audit.styles import SEVERITY_STYLES


@dataclass(frozen=True)
class SeverityChange:
    old: Finding
    new: Finding


@dataclass(frozen=True)
class ImageChange:
    reference: str
    old_digest: str | None
    """None: no pod ran this reference in the older snapshot."""
    new_digest: str | None
    """None: no pod runs it any more."""
    appeared: tuple[str, ...]
    """Vulnerability ids (CVE ids where known) found now and not before."""
    went: tuple[str, ...]


@dataclass(frozen=True)
class GroupCounts:
    new: int = 0
    resolved: int = 0
    changed: int = 0


@dataclass(frozen=True)
class ReportDiff:
    new: tuple[Finding, ...]
    resolved: tuple[Finding, ...]
    changed: tuple[SeverityChange, ...]
    unchanged: int
    images: tuple[ImageChange, ...]
    by_category: dict[str, GroupCounts] = field(default_factory=dict)
    by_namespace: dict[str, GroupCounts] = field(default_factory=dict)
    """Namespace → counts; cluster-scoped findings under `(cluster)`."""

    def new_at_or_above(self, severity: Severity, *, include_waived: bool = False) -> list[Finding]:
        """New findings at or above `severity` (waived ones only when asked): what `--fail-on` counts."""
        return [f for f in self.new if f.severity.rank >= severity.rank and (include_waived or f.waiver is None)]


CLUSTER_SCOPE = "(cluster)"


def diff_reports(old: Report, new: Report) -> ReportDiff:
    before = {f.fingerprint: f for f in old.findings}
    after = {f.fingerprint: f for f in new.findings}
    added = tuple(_ordered(f for key, f in after.items() if key not in before))
    resolved = tuple(_ordered(f for key, f in before.items() if key not in after))
    changed = tuple(SeverityChange(old=before[key], new=f) for key, f in after.items()
                    if key in before and before[key].severity != f.severity)
    changed = tuple(sorted(changed, key=lambda c: (-c.new.severity.rank, c.new.check_id, str(c.new.resource))))
    unchanged = sum(1 for key in after if key in before) - len(changed)
    return ReportDiff(
        new=added, resolved=resolved, changed=changed, unchanged=unchanged, images=image_changes(old, new),
        by_category=_grouped(added, resolved, changed, lambda f: f.category.value),
        by_namespace=_grouped(added, resolved, changed, lambda f: f.resource.namespace or CLUSTER_SCOPE),
    )


def image_changes(old: Report, new: Report) -> tuple[ImageChange, ...]:
    before, after = _vulns_by_reference(old), _vulns_by_reference(new)
    out = []
    for reference in sorted(set(before) | set(after)):
        old_digest, old_ids = before.get(reference, (None, frozenset()))
        new_digest, new_ids = after.get(reference, (None, frozenset()))
        if old_ids != new_ids:
            out.append(ImageChange(reference=reference, old_digest=old_digest, new_digest=new_digest,
                                   appeared=tuple(sorted(new_ids - old_ids)), went=tuple(sorted(old_ids - new_ids))))
    return tuple(out)


def _vulns_by_reference(report: Report) -> dict[str, tuple[str, frozenset[str]]]:
    ids: dict[str, set[str]] = {}
    for match in report.inventory.vulnerabilities:
        ids.setdefault(match.image, set()).add(match.display_id)
    out = {}
    for image in report.inventory.images:
        for reference in image.references or (image.digest,):
            out[reference] = (image.digest, frozenset(ids.get(image.digest, ())))
    return out


def _ordered(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity.rank, f.check_id, str(f.resource), f.fingerprint))


def _grouped(new: tuple[Finding, ...], resolved: tuple[Finding, ...], changed: tuple[SeverityChange, ...],
             key: Callable[[Finding], str]) -> dict[str, GroupCounts]:
    counts: dict[str, Counter[str]] = {}
    for kind, findings in (("new", new), ("resolved", resolved), ("changed", [c.new for c in changed])):
        for finding in findings:
            counts.setdefault(key(finding), Counter())[kind] += 1
    return {group: GroupCounts(new=c["new"], resolved=c["resolved"], changed=c["changed"])
            for group, c in sorted(counts.items())}


# --- what `kubeward diff` prints ------------------------------------------------------------------


def print_diff(diff: ReportDiff, console: Console, *, old_name: str, new_name: str, limit: int = 30) -> None:
    """The counts per category and namespace, then the findings themselves (worst first) and the images."""
    console.print(Text.assemble(("kubeward diff", "bold"), f" {old_name} → {new_name}: ",
                                (f"{len(diff.new)} new", "bold red" if diff.new else ""),
                                f", {len(diff.resolved)} resolved, {len(diff.changed)} changed severity, "
                                f"{diff.unchanged} unchanged"))
    for title, groups in (("category", diff.by_category), ("namespace", diff.by_namespace)):
        if not groups:
            continue
        table = Table(title=f"By {title}", show_edge=False)
        for column in (title, "new", "resolved", "changed"):
            table.add_column(column, justify="left" if column == title else "right")
        for group, counts in groups.items():
            table.add_row(Text(group), str(counts.new), str(counts.resolved), str(counts.changed))
        console.print(table)
    for title, findings in (("New findings", diff.new), ("Resolved findings", diff.resolved)):
        if findings:
            table = _finding_table(f"{title} ({len(findings)})")
            for finding in findings[:limit]:
                table.add_row(Text(finding.severity.value, style=SEVERITY_STYLES[finding.severity]),
                              finding.check_id, Text(str(finding.resource)),
                              Text(finding.message) + (Text(" (waived)", style="dim") if finding.waiver else ""))
            if len(findings) > limit:
                table.add_row("", "", Text(f"… and {len(findings) - limit} more", style="dim"), "")
            console.print(table)
    if diff.changed:
        table = _finding_table(f"Changed severity ({len(diff.changed)})")
        for change in diff.changed[:limit]:
            table.add_row(Text.assemble((change.old.severity.value, SEVERITY_STYLES[change.old.severity]), " → ",
                                        (change.new.severity.value, SEVERITY_STYLES[change.new.severity])),
                          change.new.check_id, Text(str(change.new.resource)), Text(change.new.message))
        console.print(table)
    if diff.images:
        table = Table(title=f"Images whose vulnerabilities changed ({len(diff.images)})", show_edge=False)
        for column in ("image", "digest", "appeared", "went"):
            table.add_column(column)
        for image in diff.images[:limit]:
            digests = f"{_short(image.old_digest)} → {_short(image.new_digest)}"
            table.add_row(Text(image.reference), digests, Text(_listed(image.appeared)), Text(_listed(image.went)))
        console.print(table)


def _finding_table(title: str) -> Table:
    table = Table(title=title, show_edge=False)
    for column in ("severity", "check", "object", "message"):
        table.add_column(column, no_wrap=column != "message")
    return table


def _short(digest: str | None) -> str:
    return "(none)" if digest is None else digest.removeprefix("sha256:")[:12]


def _listed(ids: tuple[str, ...], limit: int = 8) -> str:
    more = len(ids) - limit
    return ", ".join(ids[:limit]) + (f" … +{more}" if more > 0 else "")
