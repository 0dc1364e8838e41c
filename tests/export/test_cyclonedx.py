"""CycloneDX: one SBOM per image, valid by the library's own strict JSON validator, with purls per
ecosystem and the vulnerabilities matched."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from audit.export import export_report
from audit.export.cyclonedx import bom_file_name, package_purl
from audit.images import OSRelease, Package
from audit.report import Report


def test_every_image_bom_is_valid_and_complete(report: Report, tmp_path: Path) -> None:
    path = export_report(report, tmp_path / "sbom.cdx.zip")
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    images = {bom_file_name(image): image for image in report.inventory.images}
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(images)
        vulnerable = 0
        for name in archive.namelist():
            text = archive.read(name).decode()
            assert validator.validate_str(text) is None, name
            bom = json.loads(text)
            image = images[name]
            assert bom["metadata"]["component"]["purl"].startswith("pkg:oci/")
            assert f"@{image.digest}" in bom["metadata"]["component"]["purl"]
            libraries = [c for c in bom.get("components", []) if c["type"] == "library"]
            assert len(libraries) == len({(a.package.name, a.package.version, a.package.path)
                                          for a in image.packages})
            expected = {m.display_id for m in report.inventory.vulnerabilities if m.image == image.digest}
            assert {v["id"] for v in bom.get("vulnerabilities", [])} == expected
            refs = {c["bom-ref"] for c in libraries}
            for vuln in bom.get("vulnerabilities", []):
                assert vuln["affects"] and all(a["ref"] in refs for a in vuln["affects"])
            vulnerable += bool(expected)
    assert vulnerable > 0


def test_directory_form(report: Report, tmp_path: Path) -> None:
    directory = export_report(report, tmp_path / "sbom", fmt="cyclonedx")
    assert sorted(p.name for p in directory.iterdir()) == sorted(bom_file_name(i) for i in report.inventory.images)


DEBIAN = OSRelease(id="debian", version_id="12")


@pytest.mark.parametrize(("package", "release", "purl"), [
    (Package(name="libssl3", version="3.0.11-1~deb12u2", ecosystem="deb", arch="amd64", source_name="openssl"),
     DEBIAN, "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"),
    (Package(name="musl", version="1.2.5-r0", ecosystem="apk", arch="x86_64"), OSRelease(id="alpine",
     version_id="3.20.3"), "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3"),
    (Package(name="openssl-libs", version="1:3.0.7-27.el9", ecosystem="rpm", arch="x86_64"),
     OSRelease(id="rhel", version_id="9.4"), "pkg:rpm/redhat/openssl-libs@1:3.0.7-27.el9?arch=x86_64&distro=rhel-9.4"),
    (Package(name="Django_Rest", version="3.15.2", ecosystem="pypi"), DEBIAN, "pkg:pypi/django-rest@3.15.2"),
    (Package(name="@types/node", version="20.1.0", ecosystem="npm"), DEBIAN, "pkg:npm/%40types/node@20.1.0"),
    (Package(name="golang.org/x/net", version="v0.23.0", ecosystem="golang"), DEBIAN,
     "pkg:golang/golang.org/x/net@v0.23.0"),
    (Package(name="org.apache.logging.log4j:log4j-core", version="2.14.1", ecosystem="maven"), DEBIAN,
     "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"),
])
def test_package_urls_per_ecosystem(package: Package, release: OSRelease, purl: str) -> None:
    assert package_purl(package, release).to_string() == purl
