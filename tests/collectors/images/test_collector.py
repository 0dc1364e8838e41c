"""The image collector end to end: pods → distinct images → a real registry → layers
scanned once, folded, attributed; unreadable images become coverage gaps."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from audit.model import Inventory
from collectors.images.cache import LayerCache
from collectors.images.collector import ImageCollector, images_in_use
from collectors.images.registry import RegistryClient
from collectors.kube import inventory_from_objects

GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

BASE_STATUS = (
    "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\n\n"
    "Package: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.11-1~deb12u2\n"
)
UPGRADED_STATUS = BASE_STATUS.replace("3.0.11-1~deb12u2", "3.0.15-1~deb12u1") + (
    "\nPackage: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1-10+deb12u8\n"
)


def layer(files: dict[str, str], links: dict[str, str] | None = None) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def push_app(registry, name: str) -> tuple[str, list[bytes]]:  # type: ignore[no-untyped-def]
    layers = [
        layer({"etc/os-release": 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
               "var/lib/dpkg/status": BASE_STATUS}, links={"bin/sh": "dash"}),
        layer({"app/server.py": "print('hello')\n"}),
        layer({"var/lib/dpkg/status": UPGRADED_STATUS}),
    ]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2026-10-01T12:00:00Z",
        "config": {"User": "10001", "ExposedPorts": {"8080/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": [
            "sha256:" + hashlib.sha256(gzip.decompress(b)).hexdigest() for b in layers]},
        "history": [
            {"created_by": "ADD rootfs.tar /"},
            {"created_by": 'CMD ["bash"]', "empty_layer": True},
            {"created_by": "COPY app /app"},
            {"created_by": "RUN apt-get install -y curl && apt-get upgrade -y"},
        ],
    }).encode()
    pushed = registry.push_image(name, "1.0", config, [(b, GZIP_LAYER) for b in layers])
    return pushed.digest, layers


def pod(name: str, image: str, image_id: str, node: str = "node-1") -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "shop"},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": image}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "app", "image": image, "imageID": image_id, "ready": True}]},
    }


def registry_source(client: RegistryClient):  # type: ignore[no-untyped-def]
    def read(reference, platform, scan, cache):  # type: ignore[no-untyped-def]
        return client.read_image(reference, platform=platform, scan=scan, cache=cache)

    return read


async def test_images_are_read_once_folded_and_attributed(registry, tmp_path: Path) -> None:
    digest, _ = push_app(registry, "shop/app")
    image = f"{registry.address}/shop/app:1.0"
    image_id = f"{registry.address}/shop/app@{digest}"
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
            "status": {"nodeInfo": {"architecture": "amd64", "operatingSystem": "linux"}}}
    inventory: Inventory = inventory_from_objects(
        [node, *(pod(f"app-{i}", image, image_id) for i in range(50))]
    )
    assert len(images_in_use(inventory)) == 1  # fifty pods, one image

    cache = LayerCache(tmp_path / "cache")
    with RegistryClient(timeout=10) as client:
        collector = ImageCollector(sources=[("registry", registry_source(client))], cache=cache)
        images, gaps = await collector.collect(inventory)
    assert gaps == ()
    [found] = images
    assert found.digest == digest and found.source == "registry"
    assert image in found.references
    assert found.config.user == "10001"
    assert found.os_release is not None and found.os_release.version_id == "12"
    assert found.has_shell
    packages = {a.package.name: (a.package.version, a.layer, found.in_base(a)) for a in found.packages}
    assert packages == {
        "libc6": ("2.36-9+deb12u4", 0, True),
        "openssl": ("3.0.15-1~deb12u1", 2, False),
        "curl": ("7.88.1-10+deb12u8", 2, False),
    }
    assert (found.base_layers, found.base_reason) == (1, "history")
    assert found.layers[2].created_by.startswith("RUN apt-get install")
    assert cache.stats()[0] == 3

    # a second run reads every layer from the cache and gives the same image
    with RegistryClient(timeout=10) as client:
        again, _ = await ImageCollector(sources=[("registry", registry_source(client))], cache=cache).collect(inventory)
    assert again == images


async def test_an_unreadable_image_is_a_coverage_gap(registry, tmp_path: Path) -> None:
    image = f"{registry.address}/shop/missing:9.9"
    inventory = inventory_from_objects([pod("ghost", image, f"{registry.address}/shop/missing@sha256:{'0' * 64}")])
    with RegistryClient(timeout=5) as client:
        collector = ImageCollector(sources=[("registry", registry_source(client))], cache=LayerCache(tmp_path))
        images, gaps = await collector.collect(inventory)
    assert images == ()
    [gap] = gaps
    assert (gap.source, gap.verb, gap.resource, gap.reason) == ("images", "read", image, "unreadable")
    assert gap.message.startswith("registry: not found")


async def test_base_image_from_the_oci_annotations(registry, tmp_path: Path) -> None:
    from collectors.images.collector import base_reference

    base_layers = [layer({"var/lib/dpkg/status": BASE_STATUS}), layer({"etc/os-release": "ID=debian\n"})]
    own = layer({"var/lib/dpkg/status": UPGRADED_STATUS})

    def config(layers: list[bytes]) -> bytes:
        return json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [
            "sha256:" + hashlib.sha256(gzip.decompress(b)).hexdigest() for b in layers]}}).encode()

    base = registry.push_image("shop/base", "1", config(base_layers), [(b, GZIP_LAYER) for b in base_layers])
    all_layers = [*base_layers, own]
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": registry.push_blob("shop/derived", config(all_layers)), "size": len(config(all_layers))},
        "layers": [{"mediaType": GZIP_LAYER, "digest": registry.push_blob("shop/derived", b), "size": len(b)}
                   for b in all_layers],
        "annotations": {"org.opencontainers.image.base.name": f"{registry.address}/shop/base:1",
                        "org.opencontainers.image.base.digest": base.digest},
    }
    digest = registry.push_manifest("shop/derived", "1", json.dumps(manifest).encode(), manifest["mediaType"])
    inventory = inventory_from_objects([pod("d", f"{registry.address}/shop/derived:1",
                                            f"{registry.address}/shop/derived@{digest}")])
    with RegistryClient(timeout=10) as client:
        collector = ImageCollector(sources=[("registry", registry_source(client))], cache=LayerCache(tmp_path))
        [image], gaps = await collector.collect(inventory)
    assert gaps == ()
    assert (image.base_layers, image.base_reason) == (2, "annotation")
    assert {a.package.name: image.in_base(a) for a in image.packages} == {"libc6": True, "openssl": False,
                                                                        "curl": False}
    assert base_reference("registry:5000/ns/base:1.2", "sha256:ab") == "registry:5000/ns/base@sha256:ab"
    assert base_reference("python:3.12", "") == "python:3.12"
