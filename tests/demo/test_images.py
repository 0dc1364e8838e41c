"""The demo image archive and OSV data: deterministic, complete, readable by kubeward, and matched end to end."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from audit.images import ImageInventory
from collectors.images.archive import read_archive
from collectors.images.cache import LayerCache
from collectors.images.collector import ArchiveSource, build_image
from collectors.layers.scan import scan_layer
from collectors.vulndb.database import VulnDB, import_osv
from collectors.vulndb.scan import match_images
from demo.cluster import generate_cluster
from demo.images import image_references, write_demo_images
from demo.osv import demo_osv_records, write_demo_osv

PODS = 400
SEED = 7
WRITE_SECONDS = 2.0
MAX_BYTES = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return generate_cluster(pods=PODS, seed=SEED)


@pytest.fixture(scope="module")
def archive(objects: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_images(objects, tmp_path_factory.mktemp("images") / "demo-images.tar", seed=SEED)


@pytest.fixture(scope="module")
def images(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ImageInventory]:
    """Every image of the archive, read and scanned as `kubeward --image-archive` does, by its tag."""
    cache = LayerCache(tmp_path_factory.mktemp("cache"))

    def scan(stream, *, digest: str):  # type: ignore[no-untyped-def]
        inventory = scan_layer(stream, digest=digest)
        cache.put(inventory)
        return inventory

    try:
        reads = read_archive(archive, scan=scan, cache=cache)
        built = [build_image(read, source="archive", cache=cache) for read in reads]
    finally:
        cache.close()
    return {image.references[0]: image for image in built}


@pytest.fixture(scope="module")
def vulndb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("osv")
    source = write_demo_osv(root / "osv")
    result = import_osv([source], root / "vulns.db")
    assert result.problems == ()
    return root / "vulns.db"


def _pod_images(objects: list[dict]) -> set[str]:
    found = set()
    for obj in objects:
        if obj["kind"] == "Pod":
            for field in ("containers", "initContainers", "ephemeralContainers"):
                found |= {container["image"] for container in obj["spec"].get(field) or ()}
    return found


def _pod_images_with_init(objects: list[dict]) -> bool:
    return any(obj["kind"] == "Pod" and obj["spec"].get("initContainers") for obj in objects)


# ---------------------------------------------------------------- the archive


def test_the_archive_is_byte_identical_for_the_same_input(objects: list[dict], archive: Path, tmp_path: Path) -> None:
    again = write_demo_images(generate_cluster(pods=PODS, seed=SEED), tmp_path / "again.tar", seed=SEED)
    assert again.read_bytes() == archive.read_bytes()


def test_the_archive_for_the_400_pod_demo_is_small_and_quick(objects: list[dict], tmp_path: Path) -> None:
    began = time.perf_counter()
    path = write_demo_images(objects, tmp_path / "timed.tar", seed=SEED)
    seconds = time.perf_counter() - began
    size = path.stat().st_size
    print(f"\nwrote {len(image_references(objects))} images, {size} bytes, in {seconds:.3f} s")
    assert seconds < WRITE_SECONDS
    assert size < MAX_BYTES


def test_every_pod_image_is_in_the_archive_by_its_exact_name(
    objects: list[dict], images: dict[str, ImageInventory]
) -> None:
    wanted = _pod_images(objects)
    assert _pod_images_with_init(objects)  # init containers are counted too, so the walk covers them
    assert wanted == set(image_references(objects))
    assert set(images) == wanted
    assert all(len(image.references) == 1 for image in images.values())


def test_the_archive_source_finds_each_pod_image(objects: list[dict], archive: Path, tmp_path: Path) -> None:
    source = ArchiveSource([archive])
    cache = LayerCache(tmp_path)
    try:
        for reference in sorted(_pod_images(objects)):
            assert reference in source(reference, None, scan_layer, cache).references  # type: ignore[arg-type]
    finally:
        cache.close()


def test_images_are_read_without_errors_and_share_base_layers(images: dict[str, ImageInventory]) -> None:
    assert all(image.errors == () for image in images.values())
    assert all(len(image.layers) == 2 for image in images.values())
    bases = {image.layers[0].digest for image in images.values()}
    assert len(bases) == 4


def test_debian_images_have_packages_and_a_shell(images: dict[str, ImageInventory]) -> None:
    image = images["docker.io/library/nginx:1.27.2"]
    assert image.os_release is not None and (image.os_release.id, image.os_release.version_id) == ("debian", "12")
    packages = {p.package.name: p.package for p in image.packages}
    assert len(packages) >= 40
    assert (packages["libssl3"].source_name, packages["libssl3"].version) == ("openssl", "3.0.11-1~deb12u1")
    assert (packages["libc6"].source_name, packages["libc6"].version) == ("glibc", "2.36-9+deb12u3")
    assert packages["libcurl4"].source_name == "curl" and packages["zlib1g"].source_name == "zlib"
    assert image.has_shell
    assert {"bin/sh", "bin/bash", "usr/bin/apt"} <= {e.path for e in image.executables}


def test_alpine_images_have_apk_packages_and_busybox(images: dict[str, ImageInventory]) -> None:
    image = images["docker.io/library/busybox:1.36.1"]
    assert image.os_release is not None and image.os_release.id == "alpine"
    packages = {p.package.name: p.package for p in image.packages}
    assert (packages["libssl3"].source_name, packages["libssl3"].version) == ("openssl", "3.1.4-r0")
    assert "musl" in packages
    assert image.has_shell


def test_distroless_images_have_packages_and_no_shell(images: dict[str, ImageInventory]) -> None:
    image = images["registry.k8s.io/kube-apiserver:v1.35.2"]
    assert {p.package.name for p in image.packages} >= {"libc6", "libssl3", "base-files"}
    assert not image.has_shell
    assert image.executables == ()
    assert image.config is not None and image.config.user == "10001"


def test_some_images_run_as_root_and_some_do_not(images: dict[str, ImageInventory]) -> None:
    users = {image.config.user if image.config else None for image in images.values()}
    assert "10001" in users and ({"", None} & users)


def test_one_or_two_images_are_on_end_of_life_debian_10(images: dict[str, ImageInventory]) -> None:
    old = [ref for ref, image in images.items() if image.os_release and image.os_release.version_id == "10"]
    assert 1 <= len(old) <= 2


def test_application_layers_carry_language_packages(images: dict[str, ImageInventory]) -> None:
    found = {(p.package.ecosystem, p.package.name, p.package.version) for i in images.values() for p in i.packages}
    assert ("pypi", "requests", "2.25.1") in found
    assert ("npm", "semver", "7.5.1") in found


# ---------------------------------------------------------------- OSV data and matching


def test_every_osv_record_imports_without_problems(tmp_path: Path) -> None:
    source = write_demo_osv(tmp_path / "osv")
    files = sorted(source.rglob("*.json"))
    assert len(files) == len(demo_osv_records())
    result = import_osv([source], tmp_path / "vulns.db")
    assert (result.records, result.problems, result.duplicates) == (len(files), (), 0)


def test_matching_finds_the_known_vulnerabilities(images: dict[str, ImageInventory], vulndb: Path) -> None:
    with VulnDB(vulndb) as db:
        matches, gaps = match_images(list(images.values()), db)
    by_image: dict[str, set[str]] = {}
    for match in matches:
        by_image.setdefault(match.image, set()).add(match.vuln_id)
    debian12 = [i for i in images.values() if i.os_release and i.os_release.version_id == "12"]
    assert debian12
    assert all("DEBIAN-CVE-2023-5363" in by_image.get(i.digest, set()) for i in debian12)
    found = {vuln for vulns in by_image.values() for vuln in vulns}
    # glibc 2.36-9+deb12u3 and curl 7.88.1-10+deb12u4 already carry these fixes
    assert "DEBIAN-CVE-2023-4911" not in found
    assert "DEBIAN-CVE-2023-38545" not in found
    assert {
        "DEBIAN-CVE-2024-2961",
        "DEBIAN-CVE-2023-0286",
        "ALPINE-CVE-2023-5678",
        "GHSA-j8r2-6x86-q33q",
        "GHSA-c2qf-rxjj-qqgw",
        "DEBIAN-CVE-2023-45853",
    } <= found
    openssl = next(m for m in matches if m.vuln_id == "DEBIAN-CVE-2023-5363")
    assert (openssl.fixed_version, openssl.severity, openssl.score) == ("3.0.11-1~deb12u2", "high", 7.5)
    assert gaps == ()
