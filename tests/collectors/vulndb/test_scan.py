"""Matching image packages against the OSV test records: ecosystems per OS release, source keys, gaps, severity."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from audit.images import AttributedPackage, ImageInventory, LayerRef, OSRelease, Package
from collectors.vulndb.database import VulnDB, import_osv
from collectors.vulndb.osv import OSVRecord, Severity
from collectors.vulndb.scan import database_info, match_images, os_ecosystems, rate

FIXTURES = Path(__file__).parent / "fixtures" / "osv"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> VulnDB:
    path = tmp_path_factory.mktemp("vulndb") / "vulndb.sqlite"
    import_osv([FIXTURES], path)
    return VulnDB(path)


def deb(name: str, version: str, source: str | None = None, source_version: str | None = None,
        layer: int = 0) -> AttributedPackage:
    return AttributedPackage(package=Package(name=name, version=version, ecosystem="deb", source_name=source,
                                             source_version=source_version), layer=layer)


def pkg(ecosystem: str, name: str, version: str, layer: int = 1, source: str | None = None) -> AttributedPackage:
    return AttributedPackage(package=Package(name=name, version=version, ecosystem=ecosystem, source_name=source),
                             layer=layer)


def image(digest: str, os_release: OSRelease | None, *packages: AttributedPackage) -> ImageInventory:
    return ImageInventory(digest=digest, references=(f"{digest}:latest",), os_release=os_release,
                          layers=(LayerRef(digest="l0"), LayerRef(digest="l1")), base_layers=1, packages=packages)


BOOKWORM = OSRelease(id="debian", version_id="12", version_codename="bookworm")
DEBIAN_12 = image(
    "debian12", BOOKWORM,
    deb("openssl", "3.0.11-1~deb12u1"),
    deb("libssl3", "3.0.11-1~deb12u1", "openssl"),
    deb("libcurl4", "7.88.1-10+deb12u4", "curl"),  # the fixed version: not affected
    deb("libc6", "2.36-9+deb12u1", "glibc"),
    # Source version differs from the binary's: the source version decides.
    deb("libc-bin", "2.36-9+deb12u1+b1", "glibc", "2.36-9+deb12u3", layer=1),
    pkg("pypi", "Requests", "2.28.0"),
)
ALPINE = image("alpine318", OSRelease(id="alpine", version_id="3.18.4"),
               pkg("apk", "libssl3", "3.1.3-r0", layer=0, source="openssl"),
               pkg("apk", "busybox", "1.36.1-r2", layer=0, source="busybox"))
STRETCH = image("debian9", OSRelease(id="debian", version_id="9", pretty_name="Debian GNU/Linux 9 (stretch)"),
                deb("libc6", "2.24-11+deb9u4", "glibc"))


def by_image(matches: tuple, digest: str) -> dict[tuple[str, str], object]:
    return {(m.vuln_id, m.package): m for m in matches if m.image == digest}


def test_debian_matches_by_source_package_and_version(db: VulnDB) -> None:
    matches, gaps = match_images([DEBIAN_12], db)
    found = by_image(matches, "debian12")
    assert set(found) == {
        ("DEBIAN-CVE-2023-5363", "openssl"),  # libssl3 of the same source is the same finding
        ("DEBIAN-CVE-2023-4911", "libc6"),
        ("DEBIAN-CVE-2010-4756", "libc6"),
        # libc-bin's glibc source is fixed for CVE-2023-4911, but nothing fixes CVE-2010-4756.
        ("DEBIAN-CVE-2010-4756", "libc-bin"),
        ("GHSA-j8r2-6x86-q33q", "Requests"),
    }
    openssl = found["DEBIAN-CVE-2023-5363", "openssl"]
    assert (openssl.ecosystem, openssl.fixed_version, openssl.layer) == ("Debian:12", "3.0.11-1~deb12u2", 0)
    assert openssl.aliases == ("CVE-2023-5363",)
    assert openssl.severity == "unknown"  # the record carries no rating: never silently low
    glibc = found["DEBIAN-CVE-2023-4911", "libc6"]
    assert glibc.source_package == "glibc"
    assert glibc.fixed_version == "2.36-9+deb12u3"
    assert found["DEBIAN-CVE-2010-4756", "libc6"].fixed_version is None  # no fix yet
    assert not gaps


def test_language_packages_use_their_ecosystem_and_cvss(db: VulnDB) -> None:
    matches, _ = match_images([DEBIAN_12], db)
    requests = by_image(matches, "debian12")["GHSA-j8r2-6x86-q33q", "Requests"]
    assert (requests.ecosystem, requests.fixed_version) == ("PyPI", "2.31.0")
    assert (requests.severity, requests.score) == ("medium", 6.1)
    assert requests.vector == "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"
    assert "CVE-2023-32681" in requests.aliases


def test_alpine_matches_by_origin_in_its_release(db: VulnDB) -> None:
    matches, gaps = match_images([ALPINE], db)
    assert [(m.vuln_id, m.package, m.ecosystem, m.fixed_version) for m in matches] == [
        ("ALPINE-CVE-2023-5363", "libssl3", "Alpine:v3.18", "3.1.4-r0")]
    assert not gaps


def test_release_without_data_is_a_coverage_gap_not_clean(db: VulnDB) -> None:
    matches, gaps = match_images([STRETCH, DEBIAN_12], db)
    assert not [m for m in matches if m.image == "debian9"]
    assert [(g.resource, g.reason, g.message) for g in gaps] == [
        ("debian9:latest", "no-coverage", "no vulnerability coverage for Debian 9 in the database")]


def test_unknown_os_and_language_without_data_are_gaps(db: VulnDB) -> None:
    odd = image("odd", OSRelease(id="gentoo", version_id="2.14", pretty_name="Gentoo Linux"),
                pkg("deb", "libc6", "2.36-9"), pkg("golang", "stdlib", "go1.21.3"))
    none = image("none", None, pkg("apk", "musl", "1.2.4-r2"))
    _, gaps = match_images([odd, none], db)
    assert sorted(g.message for g in gaps) == sorted([
        "no vulnerability coverage for Go packages in the database",
        "no vulnerability coverage for deb packages on Gentoo Linux in the database",
        "no vulnerability coverage for apk packages (no os-release) in the database",
    ])


def test_unorderable_version_is_skipped_with_one_gap(db: VulnDB) -> None:
    broken = image("broken", BOOKWORM, deb("libssl3", "3.0.11-1~deb12u1", "openssl"),
                   pkg("pypi", "requests", "not a version!"), pkg("pypi", "requests", "also bad"))
    matches, gaps = match_images([broken], db)
    assert [m.vuln_id for m in matches] == ["DEBIAN-CVE-2023-5363"]
    assert len(gaps) == 1
    assert gaps[0].reason == "unorderable-version"
    assert "requests not a version!" in gaps[0].message and "requests also bad" in gaps[0].message


def test_withdrawn_records_never_match(db: VulnDB) -> None:
    old = image("old", BOOKWORM, pkg("pypi", "requests", "2.0.0"))
    matches, _ = match_images([old], db)
    assert "TEST-WITHDRAWN-0001" not in {m.vuln_id for m in matches}


def test_distroless_is_debian_and_ubuntu_lts_ecosystems_are_found() -> None:
    known = {"Debian:12", "Ubuntu:22.04:LTS", "Ubuntu:Pro:22.04:LTS", "Alpine:v3.19", "Rocky Linux:9",
             "Red Hat:enterprise_linux:9::baseos", "Red Hat:enterprise_linux:9::appstream"}
    assert os_ecosystems(OSRelease(id="distroless", version_id="12"), known) == ("Debian 12", ("Debian:12",))
    assert os_ecosystems(OSRelease(id="ubuntu", version_id="22.04"), known) == (
        "Ubuntu 22.04", ("Ubuntu:22.04:LTS",))
    assert os_ecosystems(OSRelease(id="alpine", version_id="3.19.1"), known)[1] == ("Alpine:v3.19",)
    assert os_ecosystems(OSRelease(id="rocky", version_id="9.3"), known)[1] == ("Rocky Linux:9",)
    assert os_ecosystems(OSRelease(id="rhel", version_id="9.3"), known)[1] == (
        "Red Hat:enterprise_linux:9::appstream", "Red Hat:enterprise_linux:9::baseos")
    assert os_ecosystems(OSRelease(id="debian", version_id=""), known) == ("", ())


V4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


@pytest.mark.parametrize(("record", "expected"), [
    (OSVRecord(id="a", modified="x", severity=(Severity("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),)),
     ("critical", 9.8)),
    # A v4.0 vector is scored, before the ecosystem's rating and before a v3 vector of the same record.
    (OSVRecord(id="b", modified="x", severity=(Severity("CVSS_V4", V4),),
               database_specific={"severity": "MODERATE"}), ("critical", 9.3)),
    (OSVRecord(id="b3", modified="x", severity=(Severity("CVSS_V3", "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N"),
                                                Severity("CVSS_V4", V4))), ("critical", 9.3)),
    # A malformed v4.0 vector falls back to v3.
    (OSVRecord(id="b4", modified="x", severity=(Severity("CVSS_V4", "CVSS:4.0/AV:N"),
                                                Severity("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"))),
     ("critical", 9.8)),
    (OSVRecord(id="c", modified="x", severity=(Severity("Ubuntu", "high"),)), ("high", None)),
    (OSVRecord(id="d", modified="x", database_specific={"urgency": "low**"}), ("low", None)),
    (OSVRecord(id="e", modified="x", database_specific={"urgency": "not yet assigned"}), ("unknown", None)),
    (OSVRecord(id="f", modified="x"), ("unknown", None)),
])
def test_severity_sources(record: OSVRecord, expected: tuple[str, float | None]) -> None:
    severity, score, _ = rate(record)
    assert (severity, score) == expected


def test_database_info(db: VulnDB) -> None:
    info = database_info(db)
    assert info.records == db.status().records > 0
    assert info.imported_at is not None and info.newest_modified is not None
    assert info.newest_modified.year == 2024


def test_two_hundred_images_of_three_hundred_packages_in_two_seconds(db: VulnDB) -> None:
    shared = [deb(f"lib{i}", f"1.{i}-1", f"src{i % 120}") for i in range(280)]
    images = [image(f"img{n}", BOOKWORM, *shared, *DEBIAN_12.packages,
                    *(pkg("pypi", f"pkg{n}-{i}", "1.0") for i in range(14))) for n in range(200)]
    started = time.perf_counter()
    matches, _ = match_images(images, db)
    assert time.perf_counter() - started < 2.0
    assert len(matches) == 200 * 5
