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
