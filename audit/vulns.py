"""Known vulnerabilities in the running images, as matched against the offline OSV database.

A `VulnMatch` is one (image, package, vulnerability): the package as installed,
the OSV ecosystem it was matched in, the layer that put it there, and what the
record says (severity, fixed version). `VulnDBInfo` records which database the
matches came from and how fresh it was, so a report says how much to trust a
clean result. Releases the database has no data for are coverage gaps
(`audit.findings.CoverageGap`, source `vulndb`), never a clean result.

This module imports nothing of the Inventory so that `audit.model` can hold these structs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import msgspec


class Struct(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of kubeward's own vulnerability structs."""


SEVERITIES = ("critical", "high", "medium", "low", "unknown")
"""The values of `VulnMatch.severity`, worst first."""


class VulnMatch(Struct, kw_only=True):
    """One known vulnerability of one installed package in one image."""

    image: str
    """The image's digest (`ImageInventory.digest`)."""
    package: str
    """The installed (binary) package name."""
    version: str
    """The installed version."""
    ecosystem: str
    """The OSV ecosystem string the record was matched in, e.g. `Debian:12`, `Ubuntu:22.04:LTS`, `PyPI`."""
    source_package: str | None = None
    """The source package the match was keyed by (Debian, Ubuntu, Alpine), when it differs or was used."""
    layer: int = 0
    """Index into `ImageInventory.layers` of the layer that put the package there at this version."""
    vuln_id: str
    """The OSV record id (`DEBIAN-CVE-2023-5363`, `GHSA-…`)."""
    aliases: tuple[str, ...] = ()
    """Aliases and upstream ids (CVE ids), for display."""
    summary: str = ""
    severity: str = "unknown"
    """One of `SEVERITIES`: from the CVSS base score (v4.0 before v3), else the ecosystem's rating, else `unknown`."""
    score: float | None = None
    """The CVSS base score of `vector`, when the record has a v4.0 or v3 vector."""
    vector: str | None = None
    """The CVSS vector scored: the v4.0 one when the record has one, else v3.x."""
    fixed_version: str | None = None
    """The version that fixes it; None when there is no fix yet."""

    @property
    def display_id(self) -> str:
        """The CVE id when the record has one (what people search for), else the record id."""
        if self.vuln_id.startswith("CVE-"):
            return self.vuln_id
        return next((a for a in self.aliases if a.startswith("CVE-")), self.vuln_id)


class VulnDBInfo(Struct, kw_only=True):
    """The database the matches came from."""

    path: str
    imported_at: datetime | None = None
    newest_modified: datetime | None = None
    """The newest `modified` time of any record: how current the data itself is."""
    records: int = 0


class ImageVulnSummary(Struct, kw_only=True):
    """One image's known vulnerabilities at a glance, and where its fixes would come from."""

    image: str
    """The image's digest."""
    counts: dict[str, int]
    """Distinct vulnerabilities by severity (`SEVERITIES`)."""
    fixable: int = 0
    """Of those, how many have a fixed version."""
    fixable_in_base: int = 0
    """Fixable ones in packages the base image put there: fixed by rebuilding on a newer base image."""
    fixable_in_own_layers: int = 0
    """Fixable ones in packages the image's own build steps added: fixed by upgrading them in the build."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def remedy(self) -> str:
        """What patching this image takes, in a few words."""
        if not self.fixable:
            return "no fix yet" if self.total else "nothing known"
        if self.fixable_in_base and self.fixable_in_own_layers:
            return "rebuild on a newer base and upgrade own layers"
        return "rebuild on a newer base image" if self.fixable_in_base else "upgrade packages in own layers"


def summarise_images(matches: Iterable[VulnMatch], base_layers: Mapping[str, int]) -> list[ImageVulnSummary]:
    """Per image: distinct vulnerabilities by severity and fixable counts split by base and own layers.
    `base_layers` maps an image digest to its base-layer count (0 when unknown: counted as own)."""
    by_image: dict[str, dict[str, VulnMatch]] = {}
    for match in matches:
        by_image.setdefault(match.image, {}).setdefault(match.display_id, match)
    out = []
    for image, found in by_image.items():
        counts = dict.fromkeys(SEVERITIES, 0)
        fixable = [m for m in found.values() if m.fixed_version]
        for match in found.values():
            counts[match.severity if match.severity in counts else "unknown"] += 1
        in_base = sum(1 for m in fixable if m.layer < base_layers.get(image, 0))
        out.append(ImageVulnSummary(image=image, counts=counts, fixable=len(fixable), fixable_in_base=in_base,
                                    fixable_in_own_layers=len(fixable) - in_base))
    return sorted(out, key=lambda s: (*(-s.counts[k] for k in SEVERITIES), s.image))
