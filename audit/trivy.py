"""Our vulnerability matches beside Trivy Operator's, image by image.

Where the cluster runs Trivy Operator, its VulnerabilityReports (one per
workload container) are a second opinion on the same images. They are joined
to kubeward's images by digest (`report.artifact.digest`), or, for operators
that leave the digest out, by registry, repository and tag against the names
pods use. Vulnerabilities are compared by identifier: Trivy reports CVE ids
where there is one, kubeward's OSV records carry them as aliases
(`DEBIAN-CVE-2023-5363` is `CVE-2023-5363`), so a match on any of a record's
ids counts as agreement. Packages are not compared: Trivy lists every binary
package of a vulnerable source package, kubeward one match per source package.

Only images both sides saw are compared; an image Trivy scanned that kubeward
could not read is listed by name, never counted as a disagreement.

This module imports nothing of the Inventory at run time so that `audit.model`
can hold these structs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from audit.images import ImageInventory
    from audit.model import VulnerabilityReport
    from audit.vulns import VulnMatch


class Struct(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of the comparison structs."""


class TrivyImageComparison(Struct):
    """One image's vulnerabilities as kubeward and Trivy Operator see them."""

    image: str
    """The image's digest (`ImageInventory.digest`)."""
    reference: str = ""
    """The name pods use for it, for display."""
    reports: int = 0
    """How many VulnerabilityReports cover this image (one per workload container running it)."""
    both: tuple[str, ...] = ()
    """Vulnerabilities both found, by kubeward's display id (the CVE id where there is one)."""
    only_kubeward: tuple[str, ...] = ()
    only_trivy: tuple[str, ...] = ()
    """Trivy's ids that none of kubeward's matches for the image carries."""


class TrivyComparison(Struct):
    """kubeward's matches and Trivy Operator's reports, image by image."""

    reports: int = 0
    """VulnerabilityReports read."""
    images: tuple[TrivyImageComparison, ...] = ()
    """The images both sides saw, most disagreement first."""
    unmatched: tuple[str, ...] = ()
    """Images Trivy scanned that kubeward has no inventory for (`registry/repository:tag`)."""

    @property
    def both(self) -> int:
        return sum(len(i.both) for i in self.images)

    @property
    def only_kubeward(self) -> int:
        return sum(len(i.only_kubeward) for i in self.images)

    @property
    def only_trivy(self) -> int:
        return sum(len(i.only_trivy) for i in self.images)


def compare_with_trivy(reports: Iterable[VulnerabilityReport], images: Sequence[ImageInventory],
                       matches: Iterable[VulnMatch]) -> TrivyComparison:
    """Join Trivy's reports to kubeward's images and compare the vulnerabilities found in each."""
    reports = list(reports)
    by_digest = {image.digest: image for image in images}
    by_reference: dict[str, ImageInventory] = {}
    for image in images:
        for reference in image.references:
            by_reference.setdefault(_normalized(reference), image)
    trivy_ids: dict[str, set[str]] = {}
    report_counts: dict[str, int] = {}
    unmatched: set[str] = set()
    for report in reports:
        artifact = report.report.artifact
        name = _report_reference(report)
        image = by_digest.get(artifact.digest) if artifact.digest else None
        if image is None and artifact.tag:
            image = by_reference.get(_normalized(name))
        if image is None:
            unmatched.add(f"{name}@{artifact.digest}" if artifact.digest else name)
            continue
        trivy_ids.setdefault(image.digest, set()).update(
            v.vulnerability_id for v in report.report.vulnerabilities if v.vulnerability_id)
        report_counts[image.digest] = report_counts.get(image.digest, 0) + 1
    ours: dict[str, dict[str, set[str]]] = {}
    for match in matches:
        if match.image in report_counts:
            ids = ours.setdefault(match.image, {}).setdefault(match.display_id, set())
            ids.update((match.vuln_id, *match.aliases, match.display_id))
    compared = [_compare_image(by_digest[digest], report_counts[digest], ours.get(digest, {}), trivy_ids[digest])
                for digest in report_counts]
    compared.sort(key=lambda c: (-(len(c.only_kubeward) + len(c.only_trivy)), c.reference, c.image))
    return TrivyComparison(reports=len(reports), images=tuple(compared), unmatched=tuple(sorted(unmatched)))


def _compare_image(image: ImageInventory, reports: int, ours: dict[str, set[str]],
                   theirs: set[str]) -> TrivyImageComparison:
    canonical = {alias: display for display, ids in ours.items() for alias in ids}
    both = {canonical[t] for t in theirs if t in canonical}
    return TrivyImageComparison(
        image=image.digest, reference=image.references[0] if image.references else "", reports=reports,
        both=tuple(sorted(both)), only_kubeward=tuple(sorted(set(ours) - both)),
        only_trivy=tuple(sorted(t for t in theirs if t not in canonical)),
    )


def _report_reference(report: VulnerabilityReport) -> str:
    """`registry/repository:tag` of the scanned image, as Trivy names it."""
    artifact, server = report.report.artifact, report.report.registry.server
    name = f"{server}/{artifact.repository}" if server else artifact.repository
    return f"{name}:{artifact.tag}" if artifact.tag else name


def _normalized(reference: str) -> str:
    """An image reference in one spelling: registry host always present (Docker Hub as `docker.io`,
    its official images under `library/`), tag `latest` when none is given, any digest dropped."""
    name = reference.partition("@")[0]
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        name += ":latest"
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        first, rest = "docker.io", name
    if first in ("index.docker.io", "registry-1.docker.io"):
        first = "docker.io"
    if first == "docker.io" and "/" not in rest:
        rest = f"library/{rest}"
    return f"{first}/{rest}"
