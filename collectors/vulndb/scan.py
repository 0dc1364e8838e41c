"""Match the packages of the running images against the offline OSV database.

Each package is looked up in the OSV ecosystem its image's OS release (or its
language) puts it in: `deb` packages of a Debian 12 image in `Debian:12` (a
distroless image's os-release says debian), of Ubuntu 22.04 in every
`Ubuntu:22.04…` ecosystem the database holds (`Ubuntu:22.04:LTS`), `apk`
packages in `Alpine:v3.19`, `rpm` packages in every `Red Hat:enterprise_linux:9::…`
stream (`::baseos`, `::appstream` …), `Rocky Linux:9`, `AlmaLinux:9`,
`SUSE:Linux Enterprise Server 15 SP5` or `openSUSE:Leap 15.6` (SUSE's releases
are named after os-release's PRETTY_NAME, less the vendor word); language
packages in `PyPI`, `npm`, `Go`, `Maven`. These strings are the ones the
osv-schema ecosystem list defines and the published records use. Ubuntu Pro
(ESM) ecosystems (`Ubuntu:Pro:22.04:LTS`) are left out: their fixes need a
subscription the image may not have.

Debian, Ubuntu and Alpine data is keyed by source package, so those are looked
up by source name and source version when the package has them. The rpm
distributions differ: AlmaLinux, Rocky Linux and Red Hat records name binary
packages (`openssl-libs`), SUSE's name the source package with its binaries in
`ecosystem_specific`; an rpm is looked up under both names, and a record found
under both counts once.

What cannot be judged is said, never passed off as clean: an OS release (or
language) the database holds no data for is one `CoverageGap` per image, and
so is the list of packages whose version the ecosystem cannot order.

Images share most of their packages, so records are read once per
(ecosystem, name) and judged once per (ecosystem, name, version).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from audit.findings import CoverageGap
from audit.images import AttributedPackage, ImageInventory, OSRelease, Package
from audit.vulns import SEVERITIES, VulnDBInfo, VulnMatch
from collectors.vulndb import versions
from collectors.vulndb.cvss import base_score, severity_of
from collectors.vulndb.database import VulnDB
from collectors.vulndb.match import record_affects, record_fixed_version
from collectors.vulndb.osv import OSVRecord, package_key

LANGUAGE_ECOSYSTEMS = {"pypi": "PyPI", "npm": "npm", "golang": "Go", "maven": "Maven"}
"""Package ecosystem (as the image scan names it) → OSV ecosystem."""

OS_FAMILIES: dict[str, tuple[str, str]] = {
    "debian": ("deb", "Debian"), "ubuntu": ("deb", "Ubuntu"), "alpine": ("apk", "Alpine"),
    "rhel": ("rpm", "Red Hat"), "rocky": ("rpm", "Rocky Linux"), "almalinux": ("rpm", "AlmaLinux"),
    "suse": ("rpm", "SUSE"), "opensuse": ("rpm", "openSUSE"),
}
"""OS family (see `os_family`) → (the package kind it installs with, its top-level OSV ecosystem)."""
# os-release ids that belong to a family under another name.
_FAMILY_OF_ID = {"distroless": "debian", "sles": "suse", "sles_sap": "suse", "sle-micro": "suse", "sl-micro": "suse",
                 "opensuse-leap": "opensuse", "opensuse-tumbleweed": "opensuse", "opensuse-leap-micro": "opensuse",
                 "opensuse-microos": "opensuse", "opensuse-slowroll": "opensuse"}
# Rating words of the ecosystems' own scales (Debian urgency, Ubuntu priority, GHSA severity) → ours.
_RATINGS = {"critical": "critical", "high": "high", "important": "high", "medium": "medium", "moderate": "medium",
            "low": "low", "negligible": "low", "unimportant": "low"}
_RATING_KEYS = ("severity", "urgency", "priority")


@dataclass(frozen=True, slots=True)
class _Judgement:
    """What one record says about one (ecosystem, name, version)."""

    record: OSVRecord
    ecosystem: str
    fixed: str | None
    severity: str
    score: float | None
    vector: str | None


def match_images(images: Sequence[ImageInventory], db: VulnDB) -> tuple[tuple[VulnMatch, ...], tuple[CoverageGap, ...]]:
    """Every known vulnerability of every image's packages, and what could not be judged."""
    matcher = _Matcher(db, frozenset(e.ecosystem for e in db.status().ecosystems))
    matches: list[VulnMatch] = []
    gaps: list[CoverageGap] = []
    for image in images:
        image_matches, image_gaps = matcher.image(image)
        matches += image_matches
        gaps += image_gaps
    return tuple(matches), tuple(gaps)


def database_info(db: VulnDB) -> VulnDBInfo:
    """Which database the matches came from, when it was imported and how new its newest record is."""
    status = db.status()
    newest = max((e.newest_modified for e in status.ecosystems), default=None)
    return VulnDBInfo(path=status.path, imported_at=status.imported_at,
                      newest_modified=datetime.fromisoformat(newest) if newest else None, records=status.records)


def os_ecosystems(os_release: OSRelease | None, known: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    """(label, the OSV ecosystems of `known` that hold this release's data); label "" for an OS we cannot map."""
    if os_release is None:
        return "", ()
    family, version = os_family(os_release), os_release.version_id
    major = version.split(".")[0]
    if family == "debian" and major.isdigit():
        label, wanted = f"Debian {major}", (lambda e: e == f"Debian:{major}")
    elif family == "ubuntu" and version:
        label, wanted = f"Ubuntu {version}", (lambda e: e == f"Ubuntu:{version}" or e.startswith(f"Ubuntu:{version}:"))
    elif family == "alpine" and version.count(".") >= 1:
        minor = ".".join(version.split(".")[:2])
        label, wanted = f"Alpine {minor}", (lambda e: e == f"Alpine:v{minor}")
    elif family == "rhel" and major.isdigit():
        label, wanted = f"Red Hat Enterprise Linux {major}", (
            lambda e: e.startswith(f"Red Hat:enterprise_linux:{major}:"))
    elif family == "rocky" and major.isdigit():
        label, wanted = f"Rocky Linux {major}", (lambda e: e == f"Rocky Linux:{major}")
    elif family == "almalinux" and major.isdigit():
        label, wanted = f"AlmaLinux {major}", (lambda e: e == f"AlmaLinux:{major}")
    elif family in ("suse", "opensuse") and os_release.pretty_name:
        # `SUSE:Linux Enterprise Server 15 SP5` / `openSUSE:Leap 15.6`; the full PRETTY_NAME is accepted too.
        vendor = OS_FAMILIES[family][1]
        label = os_release.pretty_name
        names = {f"{vendor}:{label}", f"{vendor}:{label.removeprefix(vendor + ' ')}"}
        wanted = names.__contains__
    else:
        return "", ()
    return label, tuple(sorted(e for e in known if wanted(e)))


def rate(record: OSVRecord, entries: Sequence[object] = ()) -> tuple[str, float | None, str | None]:
    """(severity, CVSS base score, vector) of a record: the CVSS base score, else the ecosystem's rating, else unknown.

    `entries` are the record's `Affected` entries for the package, whose own ratings come first.
    A CVSS v4.0 vector is preferred to a v3 one wherever both are given (FIRST recommends v4.0, and a
    record that carries both was scored in v4.0 last); v3.x is used when there is no usable v4.0 vector.
    v2 vectors are not scored. A record with nothing usable is `unknown`, never `low`.
    """
    ratings = [s for entry in entries for s in getattr(entry, "severity", ())] + list(record.severity)
    vectors = [r.score for r in ratings if r.score.startswith("CVSS:4.0/")]
    vectors += [r.score for r in ratings if r.score.startswith("CVSS:3")]
    for vector in vectors:
        try:
            score = base_score(vector)
        except ValueError:
            continue
        if score > 0:
            return severity_of(score), score, vector
    words = [r.score for r in ratings if r.type == "Ubuntu"]
    for specific in [*(getattr(e, "ecosystem_specific", None) for e in entries),
                     *(getattr(e, "database_specific", None) for e in entries), record.database_specific]:
        if isinstance(specific, dict):
            words += [specific[k] for k in _RATING_KEYS if isinstance(specific.get(k), str)]
    for word in words:
        # Debian marks unconfirmed urgencies with asterisks (`low**`).
        severity = _RATINGS.get(word.strip().strip("*").lower())
        if severity is not None:
            return severity, None, None
    return "unknown", None, None


class _Matcher:
    """Matches images one by one, sharing record reads and judgements across them."""

    def __init__(self, db: VulnDB, known: frozenset[str]) -> None:
        self.db = db
        self.known = known
        self._records: dict[tuple[str, str], list[OSVRecord]] = {}
        self._judged: dict[tuple[str, str, str], tuple[_Judgement, ...] | versions.VersionError] = {}

    def image(self, image: ImageInventory) -> tuple[list[VulnMatch], list[CoverageGap]]:
        """The matches of one image and its coverage gaps."""
        label, os_ecos = os_ecosystems(image.os_release, self.known)
        os_kind = OS_FAMILIES.get(os_family(image.os_release), ("", ""))[0] if image.os_release else None
        uncovered: set[str] = set()
        unorderable: list[str] = []
        found: dict[tuple[str, str, str, str], VulnMatch] = {}
        for attributed in image.packages:
            package = attributed.package
            if package.ecosystem in LANGUAGE_ECOSYSTEMS:
                ecosystem = LANGUAGE_ECOSYSTEMS[package.ecosystem]
                ecosystems: tuple[str, ...] = (ecosystem,) if ecosystem in self.known else ()
                if not ecosystems:
                    uncovered.add(f"{ecosystem} packages")
            elif package.ecosystem == os_kind and os_ecos:
                ecosystems = os_ecos
            else:
                uncovered.add(_os_label(image.os_release, label, package.ecosystem))
                continue
            seen: set[tuple[str, str]] = set()
            for name, version in _lookup_keys(package):
                for ecosystem in ecosystems:
                    judged = self._judge(ecosystem, name, version)
                    if isinstance(judged, versions.VersionError):
                        unorderable.append(f"{package.name} {package.version}")
                        break
                    for j in judged:
                        # An rpm found under its binary and its source name: the first name wins.
                        if (j.ecosystem, j.record.id) not in seen:
                            seen.add((j.ecosystem, j.record.id))
                            self._keep(found, image, attributed, (name, version), j)
        return sorted(found.values(), key=_match_order), _gaps(image, uncovered, unorderable)

    def _judge(self, ecosystem: str, name: str, version: str) -> tuple[_Judgement, ...] | versions.VersionError:
        key = (ecosystem, name, version)
        if key not in self._judged:
            try:
                self._judged[key] = tuple(self._judge_uncached(ecosystem, name, version))
            except versions.VersionError as error:
                self._judged[key] = error
        return self._judged[key]

    def _judge_uncached(self, ecosystem: str, name: str, version: str) -> list[_Judgement]:
        compare = functools.partial(versions.compare, ecosystem)
        out = []
        for record in self._records_for(ecosystem, name):
            if not record_affects(record, ecosystem, name, version, compare):
                continue
            entries = [a for a in record.affected if a.package is not None and a.package.ecosystem == ecosystem
                       and package_key(ecosystem, a.package.name) == package_key(ecosystem, name)]
            severity, score, vector = rate(record, entries)
            fixed = record_fixed_version(record, ecosystem, name, version, compare)
            out.append(_Judgement(record, ecosystem, fixed, severity, score, vector))
        return out

    def _records_for(self, ecosystem: str, name: str) -> list[OSVRecord]:
        key = (ecosystem, package_key(ecosystem, name))
        if key not in self._records:
            self._records[key] = self.db.records_for(ecosystem, name)
        return self._records[key]

    @staticmethod
    def _keep(found: dict[tuple[str, str, str, str], VulnMatch], image: ImageInventory,
              attributed: AttributedPackage, looked_up: tuple[str, str], judged: _Judgement) -> None:
        """Record a match once per (source) package: binaries of one source share its vulnerabilities,
        and the one that came in the lowest layer says where the vulnerable code entered the image."""
        package = attributed.package
        name, version = looked_up
        key = (judged.ecosystem, name, version, judged.record.id)
        if key in found and found[key].layer <= attributed.layer:
            return
        record = judged.record
        found[key] = VulnMatch(
            image=image.digest, package=package.name, version=package.version, ecosystem=judged.ecosystem,
            source_package=name if name != package.name else package.source_name, layer=attributed.layer,
            vuln_id=record.id, aliases=record.related_ids, summary=record.summary or "",
            severity=judged.severity, score=judged.score, vector=judged.vector, fixed_version=judged.fixed,
        )


def os_family(os_release: OSRelease) -> str:
    """The OS family whose data applies (a key of `OS_FAMILIES`, or the os-release id when unknown):
    distroless images are Debian underneath; SLES and SLE Micro are `suse`, openSUSE's flavours `opensuse`."""
    return _FAMILY_OF_ID.get(os_release.id, os_release.id)


def _lookup_keys(package: Package) -> list[tuple[str, str]]:
    """(name, version) pairs as the ecosystem's data is keyed, in order of preference: source package for
    Debian/Ubuntu/Alpine; for rpm the binary package, then the source package when it differs; else binary."""
    if package.ecosystem in ("deb", "apk") and package.source_name:
        return [(package.source_name, package.source_version or package.version)]
    if package.ecosystem == "rpm" and package.source_name and package.source_name != package.name:
        return [(package.name, package.version), (package.source_name, package.source_version or package.version)]
    if package.ecosystem == "golang" and package.name == "stdlib":
        # Go binaries record `go1.21.3`; the Go vulnerability database says `1.21.3`.
        return [(package.name, package.version.removeprefix("go"))]
    return [(package.name, package.version)]


def _os_label(os_release: OSRelease | None, label: str, kind: str) -> str:
    if os_release is None:
        return f"{kind} packages (no os-release)"
    if label and kind == OS_FAMILIES.get(os_family(os_release), ("", ""))[0]:
        return label
    name = os_release.pretty_name or f"{os_release.id} {os_release.version_id}".strip()
    return f"{kind} packages on {name}"


def _gaps(image: ImageInventory, uncovered: set[str], unorderable: list[str]) -> list[CoverageGap]:
    resource = image.references[0] if image.references else image.digest
    gaps = [CoverageGap(source="vulndb", verb="match", resource=resource, reason="no-coverage",
                        message=f"no vulnerability coverage for {what} in the database")
            for what in sorted(uncovered)]
    if unorderable:
        listed = ", ".join(sorted(set(unorderable)))
        gaps.append(CoverageGap(source="vulndb", verb="match", resource=resource, reason="unorderable-version",
                                message=f"not checked, version cannot be ordered: {listed}"))
    return gaps


def _match_order(match: VulnMatch) -> tuple[int, str, str]:
    return SEVERITIES.index(match.severity), match.vuln_id, match.package
