"""The whole pipeline: API server double + real registry → Report with images, findings, matrix."""

from __future__ import annotations

from pathlib import Path

from audit.pipeline import AuditOptions, ImageOptions, run_audit
from audit.report import dumps, loads
from collectors.kubeconfig import load_kube_target
from tests.collectors.images.test_collector import pod, push_app


async def test_audit_reads_the_running_images(serve, registry, tmp_path: Path) -> None:
    digest, _ = push_app(registry, "shop/pipeline")
    image = f"{registry.address}/shop/pipeline:1.0"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    objects = [namespace, pod("web-a", image, f"{registry.address}/shop/pipeline@{digest}"),
               pod("web-b", image, f"{registry.address}/shop/pipeline@{digest}"),
               pod("ghost", f"{registry.address}/shop/gone:1", f"{registry.address}/shop/gone@sha256:{'1' * 64}")]
    _, kubeconfig = serve(objects)
    target = load_kube_target(str(kubeconfig), environ={})
    options = AuditOptions(images=ImageOptions(sources=("registry",), cache_dir=tmp_path / "cache"))
    report = await run_audit(target, options)
    [found] = report.inventory.images
    assert found.digest == digest
    web = next(p for p in report.inventory.pods if p.name == "web-a")
    assert report.inventory.image_of(web, "app") == found
    assert [(g.source, g.resource) for g in report.gaps] == [("images", f"{registry.address}/shop/gone:1")]
    assert loads(dumps(report)) == report  # images survive the snapshot


async def test_images_can_be_turned_off(serve, tmp_path: Path) -> None:
    _, kubeconfig = serve([pod("web", "nginx:1.27", "docker.io/library/nginx@sha256:" + "2" * 64)])
    report = await run_audit(load_kube_target(str(kubeconfig), environ={}), AuditOptions(images=None))
    assert report.inventory.images == () and report.gaps == ()


async def test_images_from_an_archive_given_on_the_command_line(serve, tmp_path: Path) -> None:
    from tests.realparts import docker_archive, image_config, layer_tar, sha256

    layers = [layer_tar({"etc/alpine-release": b"3.20.3\n", "lib/apk/db/installed":
                         b"P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\no:busybox\n",
                         "bin/busybox": b"\x7fELF", "bin/sh": "/bin/busybox"})]
    archive = tmp_path / "images.tar"
    archive.write_bytes(docker_archive([(layers, image_config([sha256(layers[0])]), ["shop/tiny:2.0"])]))
    _, kubeconfig = serve([pod("tiny", "shop/tiny:2.0", "docker.io/shop/tiny@sha256:" + "3" * 64)])
    options = AuditOptions(images=ImageOptions(sources=(), archives=(archive,), cache_dir=tmp_path / "cache"))
    report = await run_audit(load_kube_target(str(kubeconfig), environ={}), options)
    [found] = report.inventory.images
    assert found.source == "archive"
    assert found.digest == "sha256:" + "3" * 64  # the cluster's name for it, so pods find it
    assert {(a.package.name, a.package.version) for a in found.packages} == {("musl", "1.2.5-r0"),
                                                                           ("busybox", "1.36.1-r29")}
    assert found.os_release is not None and found.os_release.id == "alpine"
    assert found.has_shell


async def test_images_are_matched_against_the_vulnerability_database(serve, registry, tmp_path: Path) -> None:
    from collectors.vulndb.database import import_osv

    fixtures = Path(__file__).parents[1] / "collectors" / "vulndb" / "fixtures" / "osv"
    db = tmp_path / "osv.sqlite"
    import_osv([fixtures], db)
    digest, _ = push_app(registry, "shop/vulnerable")
    image = f"{registry.address}/shop/vulnerable:1.0"
    _, kubeconfig = serve([pod("app", image, f"{registry.address}/shop/vulnerable@{digest}")])
    target = load_kube_target(str(kubeconfig), environ={})
    images = ImageOptions(sources=("registry",), cache_dir=tmp_path / "cache")
    report = await run_audit(target, AuditOptions(images=images, vulndb=db))
    # glibc 2.36-9+deb12u4 still has CVE-2010-4756 (no fix); openssl and curl are past their fixes
    assert [(m.source_package, m.vuln_id, m.fixed_version) for m in report.inventory.vulnerabilities] == [
        ("glibc", "DEBIAN-CVE-2010-4756", None)]
    vulnerable = [f for f in report.findings if f.category == "vulnerability"]
    assert [(f.check_id, str(f.resource)) for f in vulnerable] == [("KW-VULN-002", f"Image/{image}")]
    assert "in the base image" in vulnerable[0].message
    assert report.inventory.vulndb is not None and report.inventory.vulndb.records == 7

    missing = await run_audit(target, AuditOptions(images=images, vulndb=tmp_path / "none.sqlite"))
    assert [(g.source, g.reason) for g in missing.gaps] == [("vulndb", "unavailable")]
    assert missing.inventory.vulnerabilities == ()
