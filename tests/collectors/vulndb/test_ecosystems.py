"""OS releases to OSV ecosystems, as the osv-schema ecosystem list spells them and published records use them.

The os-release files are those of the distributions' container images; the records are cut down from
published advisories (ALSA-2023:0946 for openssl on AlmaLinux 9, its Red Hat original RHSA-2023:0946, and
SUSE-SU-2025:02079-1 for icu on openSUSE Leap 15.6), kept to the fields matching reads.
"""

from __future__ import annotations

import json

import pytest

from audit.images import AttributedPackage, ImageInventory, OSRelease, Package
from collectors.layers.os_release import parse_os_release
from collectors.vulndb.database import VulnDB, import_osv
from collectors.vulndb.scan import match_images, os_ecosystems
from collectors.vulndb.update import OSV_ECOSYSTEMS, dump_url, ecosystems_in_use

OS_RELEASES = {
    "ubi9": 'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\nID_LIKE="fedora"\n'
            'VERSION_ID="9.4"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\n',
    "rocky9": 'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
              'VERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n',
    "alma9": 'NAME="AlmaLinux"\nVERSION="9.3 (Shamrock Pampas Cat)"\nID="almalinux"\nID_LIKE="rhel centos fedora"\n'
             'VERSION_ID="9.3"\nPRETTY_NAME="AlmaLinux 9.3 (Shamrock Pampas Cat)"\n',
    "sles15": 'NAME="SLES"\nVERSION="15-SP5"\nVERSION_ID="15.5"\nPRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\n'
              'ID="sles"\nID_LIKE="suse"\n',
    "leap156": 'NAME="openSUSE Leap"\nVERSION="15.6"\nID="opensuse-leap"\nID_LIKE="suse opensuse"\n'
               'VERSION_ID="15.6"\nPRETTY_NAME="openSUSE Leap 15.6"\n',
    "tumbleweed": 'NAME="openSUSE Tumbleweed"\nID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n'
                  'VERSION_ID="20240520"\nPRETTY_NAME="openSUSE Tumbleweed"\n',
    "jammy": 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n',
    "bookworm": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
    "alpine319": 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n',
}
# Ecosystem strings as they occur in the OSV data, plus near misses that must not be taken.
KNOWN = {
    "Red Hat:enterprise_linux:9::appstream", "Red Hat:enterprise_linux:9::baseos", "Red Hat:enterprise_linux:8::baseos",
    "Red Hat:rhel_eus:9.2::appstream", "Rocky Linux:9", "Rocky Linux:8", "AlmaLinux:9", "AlmaLinux:8",
    "SUSE:Linux Enterprise Server 15 SP5", "SUSE:Linux Enterprise Server 15 SP4", "SUSE:Enterprise Storage 7.1",
    "openSUSE:Leap 15.6", "openSUSE:Leap 15.5", "openSUSE:Tumbleweed",
    "Ubuntu:22.04:LTS", "Ubuntu:Pro:22.04:LTS", "Debian:12", "Debian:11", "Alpine:v3.19", "Alpine:v3.1",
}


def os_release(name: str) -> OSRelease:
    return parse_os_release(OS_RELEASES[name], path="etc/os-release")


@pytest.mark.parametrize(("name", "expected"), [
    ("ubi9", ("Red Hat Enterprise Linux 9",
              ("Red Hat:enterprise_linux:9::appstream", "Red Hat:enterprise_linux:9::baseos"))),
    ("rocky9", ("Rocky Linux 9", ("Rocky Linux:9",))),
    ("alma9", ("AlmaLinux 9", ("AlmaLinux:9",))),
    ("sles15", ("SUSE Linux Enterprise Server 15 SP5", ("SUSE:Linux Enterprise Server 15 SP5",))),
    ("leap156", ("openSUSE Leap 15.6", ("openSUSE:Leap 15.6",))),
    ("tumbleweed", ("openSUSE Tumbleweed", ("openSUSE:Tumbleweed",))),
    ("jammy", ("Ubuntu 22.04", ("Ubuntu:22.04:LTS",))),
    ("bookworm", ("Debian 12", ("Debian:12",))),
    ("alpine319", ("Alpine 3.19", ("Alpine:v3.19",))),
])
def test_os_release_to_osv_ecosystems(name: str, expected: tuple[str, tuple[str, ...]]) -> None:
    assert os_ecosystems(os_release(name), KNOWN) == expected


def test_a_release_without_data_maps_to_no_ecosystem() -> None:
    assert os_ecosystems(OSRelease(id="rocky", version_id="10.0"), KNOWN) == ("Rocky Linux 10", ())
    assert os_ecosystems(OSRelease(id="sles", version_id="15.6",
                                   pretty_name="SUSE Linux Enterprise Server 15 SP6"), KNOWN)[1] == ()
    assert os_ecosystems(OSRelease(id="amzn", version_id="2023"), KNOWN) == ("", ())


def rpm_image(name: str, *packages: tuple[str, str, str, str]) -> ImageInventory:
    return ImageInventory(
        digest=f"sha256:{name}", references=(f"{name}:latest",), os_release=os_release(name),
        packages=tuple(AttributedPackage(package=Package(name=n, version=v, ecosystem="rpm", source_name=s,
                                                         source_version=sv), layer=0)
                       for n, v, s, sv in packages))


@pytest.mark.parametrize(("names", "expected"), [
    (["ubi9", "rocky9", "alma9"], ["Red Hat", "Rocky Linux", "AlmaLinux"]),
    (["sles15", "leap156", "tumbleweed"], ["SUSE", "openSUSE"]),
])
def test_rpm_distributions_need_their_own_dumps(names: list[str], expected: list[str]) -> None:
    images = [rpm_image(n, ("bash", "5.1.8-6.el9", "bash", "5.1.8-6.el9")) for n in names]
    assert ecosystems_in_use(images) == expected
    assert set(expected) <= set(OSV_ECOSYSTEMS)


@pytest.mark.parametrize(("ecosystem", "url"), [
    ("Red Hat", "https://osv.example/Red%20Hat/all.zip"),
    ("Rocky Linux", "https://osv.example/Rocky%20Linux/all.zip"),
    ("AlmaLinux", "https://osv.example/AlmaLinux/all.zip"),
    ("openSUSE", "https://osv.example/openSUSE/all.zip"),
])
def test_dump_urls_of_the_rpm_ecosystems(ecosystem: str, url: str) -> None:
    assert dump_url("https://osv.example/", ecosystem) == url


def record(vuln_id: str, ecosystem: str, names: list[str], fixed: str, **extra: object) -> dict:
    return {"id": vuln_id, "modified": "2024-01-01T00:00:00Z", **extra,
            "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}
                         for name in names]}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> VulnDB:
    records = tmp_path_factory.mktemp("osv")
    openssl = ["openssl", "openssl-devel", "openssl-libs", "openssl-perl"]
    for data in [
        record("ALSA-2023:0946", "AlmaLinux:9", openssl, "1:3.0.1-47.el9_1", related=["CVE-2022-4203"]),
        # Red Hat's record names the source package only here: found through the rpm's source name.
        record("RHSA-2023:0946", "Red Hat:enterprise_linux:9::baseos", ["openssl"], "1:3.0.1-47.el9_1"),
        record("SUSE-SU-2025:02079-1", "openSUSE:Leap 15.6", ["icu"], "65.1-150200.4.15.1"),
    ]:
        (records / f"{data['id'].replace(':', '-')}.json").write_text(json.dumps(data))
    path = tmp_path_factory.mktemp("db") / "vulndb.sqlite"
    import_osv([records], path)
    return VulnDB(path)


def test_rpm_packages_match_under_binary_or_source_name_once(db: VulnDB) -> None:
    libs = ("openssl-libs", "1:3.0.1-43.el9_0", "openssl", "1:3.0.1-43.el9_0")
    images = [
        rpm_image("alma9", libs, ("openssl", "1:3.0.1-43.el9_0", "openssl", "1:3.0.1-43.el9_0")),
        rpm_image("ubi9", libs),
        rpm_image("leap156", ("libicu-suse65_1", "65.1-150200.4.10.1", "icu", "65.1-150200.4.10.1")),
        rpm_image("rocky9", libs),
    ]
    matches, gaps = match_images(images, db)
    assert sorted((m.image, m.package, m.vuln_id, m.ecosystem, m.fixed_version) for m in matches) == [
        ("sha256:alma9", "openssl", "ALSA-2023:0946", "AlmaLinux:9", "1:3.0.1-47.el9_1"),
        ("sha256:alma9", "openssl-libs", "ALSA-2023:0946", "AlmaLinux:9", "1:3.0.1-47.el9_1"),
        ("sha256:leap156", "libicu-suse65_1", "SUSE-SU-2025:02079-1", "openSUSE:Leap 15.6", "65.1-150200.4.15.1"),
        ("sha256:ubi9", "openssl-libs", "RHSA-2023:0946", "Red Hat:enterprise_linux:9::baseos", "1:3.0.1-47.el9_1"),
    ]
    # The database holds no Rocky Linux data: said, not passed off as clean.
    assert [(g.resource, g.message) for g in gaps] == [
        ("rocky9:latest", "no vulnerability coverage for Rocky Linux 9 in the database")]


def test_a_fixed_rpm_is_not_matched(db: VulnDB) -> None:
    fixed = rpm_image("alma9", ("openssl-libs", "1:3.0.1-47.el9_1", "openssl", "1:3.0.1-47.el9_1"))
    assert match_images([fixed], db) == ((), ())
