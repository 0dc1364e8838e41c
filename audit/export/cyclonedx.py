"""A CycloneDX 1.6 SBOM per running image, with the vulnerabilities found in it.

Each image is one BOM (`<image>-<digest>.cdx.json`, in a directory or a .zip):
the image itself is the BOM's subject (an `oci` package URL), every package of
its final filesystem is a component with the package URL of its ecosystem
(deb, apk, rpm with the distribution; PyPI, npm, Go, Maven), and the layer that
put it there is a property. The known vulnerabilities are the BOM's
`vulnerabilities`, each affecting the components it was matched on, with its
CVSS rating and fixed version.
"""

from __future__ import annotations

import os
import re
import uuid
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from cyclonedx.model import Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from audit.export.atomic import atomic_directory, atomic_file
from audit.export.sheets import vulnerability_url
from audit.images import ImageInventory, OSRelease, Package
from audit.report import Report
from audit.vulns import VulnMatch

_NAMESPACE = uuid.UUID("5b1f3c52-8d0e-4c1e-9a57-6b3f0d0a7c11")
"""Serial numbers are derived from the image digest and the audit time, so one export is reproducible."""

_SEVERITY = {"critical": VulnerabilitySeverity.CRITICAL, "high": VulnerabilitySeverity.HIGH,
             "medium": VulnerabilitySeverity.MEDIUM, "low": VulnerabilitySeverity.LOW,
             "unknown": VulnerabilitySeverity.UNKNOWN}
_RPM_DISTROS = {"rhel": "redhat", "centos": "centos", "rocky": "rocky", "almalinux": "almalinux",
                "fedora": "fedora", "amzn": "amazon", "ol": "oracle", "opensuse-leap": "opensuse",
                "sles": "suse"}


def write_cyclonedx(report: Report, path: str | os.PathLike[str]) -> Path:
    """A .zip when `path` ends in .zip, else a directory of `.cdx.json` files; replaced only when complete."""
    target = Path(path)
    if target.suffix.lower() == ".zip":
        with atomic_file(target) as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in image_boms(report):
                archive.writestr(name, text)
        return target
    with atomic_directory(target) as directory:
        for name, text in image_boms(report):
            (directory / name).write_text(text, encoding="utf-8")
    return target


def image_boms(report: Report) -> Iterator[tuple[str, str]]:
    """(file name, CycloneDX JSON) for every image of the Report, one at a time."""
    by_image: dict[str, list[VulnMatch]] = {}
    for match in report.inventory.vulnerabilities:
        by_image.setdefault(match.image, []).append(match)
    used: set[str] = set()
    for image in sorted(report.inventory.images, key=lambda i: i.digest):
        name = bom_file_name(image)
        while name in used:
            name = name.replace(".cdx.json", "-1.cdx.json")
        used.add(name)
        bom = image_bom(image, by_image.get(image.digest, []), report)
        yield name, JsonV1Dot6(bom).output_as_string()


def bom_file_name(image: ImageInventory) -> str:
    reference = image.references[0] if image.references else "image"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", reference.split("@")[0]).strip("_")[:80] or "image"
    return f"{slug}-{image.digest.removeprefix('sha256:')[:12]}.cdx.json"


def image_purl(image: ImageInventory) -> PackageURL:
    reference = image.references[0] if image.references else ""
    repository = reference.split("@")[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository, tag = repository.rsplit(":", 1)
    else:
        tag = ""
    qualifiers = {}
    if repository:
        qualifiers["repository_url"] = repository
    if tag:
        qualifiers["tag"] = tag
    if image.config.architecture:
        qualifiers["arch"] = image.config.architecture
    name = (repository.rsplit("/", 1)[-1] or "image").lower()
    return PackageURL(type="oci", name=name, version=image.digest, qualifiers=qualifiers)


def package_purl(package: Package, release: OSRelease | None) -> PackageURL:
    """The package URL of an installed package, per the purl spec's rules for its ecosystem."""
    qualifiers: dict[str, str] = {}
    if package.arch:
        qualifiers["arch"] = package.arch
    distro = f"{release.id}-{release.version_id}" if release and release.id and release.version_id else ""
    ecosystem = package.ecosystem
    if ecosystem in ("deb", "apk", "rpm"):
        if distro:
            qualifiers["distro"] = distro
        vendor = release.id if release and release.id else ""
        if ecosystem == "rpm":
            vendor = _RPM_DISTROS.get(vendor, vendor)
        if ecosystem == "apk" and not vendor:
            vendor = "alpine"
        if ecosystem == "deb" and not vendor:
            vendor = "debian"
        if package.source_name and package.source_name != package.name and ecosystem == "deb":
            qualifiers["upstream"] = package.source_name
        return PackageURL(type=ecosystem, namespace=vendor or None, name=package.name, version=package.version,
                          qualifiers=qualifiers or None)
    if ecosystem == "pypi":
        return PackageURL(type="pypi", name=package.name, version=package.version)
    if ecosystem == "npm":
        scope, _, name = package.name.rpartition("/")
        return PackageURL(type="npm", namespace=scope or None, name=name, version=package.version)
    if ecosystem == "golang":
        namespace, _, name = package.name.rpartition("/")
        return PackageURL(type="golang", namespace=namespace or None, name=name, version=package.version)
    if ecosystem == "maven":
        group, _, artifact = package.name.partition(":")
        if artifact:
            return PackageURL(type="maven", namespace=group, name=artifact, version=package.version)
    return PackageURL(type="generic", name=package.name, version=package.version)


def image_bom(image: ImageInventory, matches: list[VulnMatch], report: Report) -> Bom:
    subject = Component(
        type=ComponentType.CONTAINER, name=image.name,
        version=image.digest, purl=image_purl(image), bom_ref=f"image:{image.digest}",
        properties=[Property(name="kubeward:reference", value=r) for r in image.references],
    )
    refs: dict[tuple[str, str, str], str] = {}
    components = []
    seen: set[str] = set()
    for attributed in image.packages:
        package = attributed.package
        purl = package_purl(package, image.os_release)
        bom_ref = purl.to_string()
        if bom_ref in seen:
            bom_ref = f"{bom_ref}#{package.path}"
            if bom_ref in seen:
                continue
        seen.add(bom_ref)
        refs.setdefault((package.name, package.version, package.ecosystem), bom_ref)
        if package.source_name:
            refs.setdefault((package.source_name, package.source_version or package.version, package.ecosystem),
                            bom_ref)
        layer = image.layers[attributed.layer] if attributed.layer < len(image.layers) else None
        properties = [
            Property(name="kubeward:layer", value=str(attributed.layer + 1)),
            Property(name="kubeward:layer-origin", value="base" if image.in_base(attributed) else "own"),
        ]
        if layer is not None:
            properties.append(Property(name="kubeward:layer-digest", value=layer.digest))
            if layer.created_by:
                properties.append(Property(name="kubeward:layer-created-by", value=layer.created_by[:500]))
        if package.path:
            properties.append(Property(name="kubeward:found-in", value=package.path))
        components.append(Component(type=ComponentType.LIBRARY, name=package.name, version=package.version,
                                    purl=purl, bom_ref=bom_ref, properties=properties))
    release = image.os_release
    if release is not None and release.id:
        components.append(Component(type=ComponentType.OPERATING_SYSTEM, name=release.id,
                                    version=release.version_id or None, description=release.pretty_name or None,
                                    bom_ref=f"os:{release.id}:{release.version_id}"))
    stamp = report.meta.finished
    metadata = BomMetaData(component=subject, timestamp=stamp)
    metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name="kubeward",
                                            version=report.meta.tool_version))
    bom = Bom(components=components, metadata=metadata,
              serial_number=uuid.uuid5(_NAMESPACE, f"{image.digest}|{stamp.isoformat() if stamp else ''}"),
              vulnerabilities=list(_vulnerabilities(matches, refs)))
    bom.register_dependency(subject, components)  # the image holds every package: the graph's one level
    return bom


def _vulnerabilities(matches: list[VulnMatch], refs: dict[tuple[str, str, str], str]) -> Iterator[Vulnerability]:
    by_id: dict[str, list[VulnMatch]] = {}
    for match in matches:
        by_id.setdefault(match.vuln_id, []).append(match)
    for vuln_id, found in sorted(by_id.items()):
        first = found[0]
        affects = []
        targets: set[str] = set()
        for match in found:
            ecosystem = _package_ecosystem(match)
            ref = refs.get((match.package, match.version, ecosystem))
            if ref is None and match.source_package:
                ref = refs.get((match.source_package, match.version, ecosystem))
            if ref is None or ref in targets:
                continue
            targets.add(ref)
            affects.append(BomTarget(ref=ref, versions=[BomTargetVersionRange(
                version=match.version, status=ImpactAnalysisAffectedStatus.AFFECTED)]))
        rating = VulnerabilityRating(
            source=VulnerabilitySource(name="OSV", url=XsUri(vulnerability_url(vuln_id))),
            severity=_SEVERITY.get(first.severity, VulnerabilitySeverity.UNKNOWN),
            score=Decimal(str(first.score)) if first.score is not None else None,
            method=_method(first.vector), vector=first.vector)
        fixes = sorted({m.fixed_version for m in found if m.fixed_version})
        yield Vulnerability(
            bom_ref=f"vuln:{vuln_id}", id=first.display_id,
            source=VulnerabilitySource(name="OSV", url=XsUri(vulnerability_url(vuln_id))),
            references=[VulnerabilityReference(id=alias, source=VulnerabilitySource(
                name="OSV", url=XsUri(vulnerability_url(alias)))) for alias in sorted({vuln_id, *first.aliases})
                if alias != first.display_id],
            ratings=[rating], description=first.summary or None,
            recommendation=f"Upgrade to {', '.join(fixes)}" if fixes else "No fixed version yet",
            affects=affects,
        )


def _package_ecosystem(match: VulnMatch) -> str:
    """The Package.ecosystem of the package a match was made on, from its OSV ecosystem name."""
    name = match.ecosystem.split(":")[0].lower()
    return {"debian": "deb", "ubuntu": "deb", "alpine": "apk", "pypi": "pypi", "npm": "npm", "go": "golang",
            "maven": "maven"}.get(name, "rpm")


def _method(vector: str | None) -> VulnerabilityScoreSource | None:
    if not vector:
        return None
    if vector.startswith("CVSS:3.1"):
        return VulnerabilityScoreSource.CVSS_V3_1
    if vector.startswith("CVSS:3"):
        return VulnerabilityScoreSource.CVSS_V3
    if vector.startswith("CVSS:4"):
        return VulnerabilityScoreSource.CVSS_V4
    return VulnerabilityScoreSource.OTHER
