"""Read every distinct running image, from the first source that has it.

Images come from the pods: the digest a container status reports (deduplicated,
so 10,000 containers cost a few hundred reads), the names the pods use, and
the platform of the node that runs them. Each image is tried against the
configured sources in order (the Docker engine, then the image's registry);
its layers are scanned once per layer digest (the cache remembers), folded into
the final filesystem and attributed. An image no source can read becomes a
coverage gap naming the image and every source's reason; the audit goes on.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from audit.findings import CoverageGap
from audit.images import ImageInventory, LayerInventory
from audit.model import Inventory
from audit.progress import Progress, ProgressCallback, ignore_progress
from collectors.images.archive import read_archive
from collectors.images.cache import LayerCache
from collectors.images.manifest import ImageSourceError, ReadImage
from collectors.layers.fold import AttributionMemo, find_base_boundary, fold_layers
from collectors.layers.scan import scan_layer

Platform = tuple[str, str, str | None]


@dataclass(frozen=True)
class ImageRequest:
    """One distinct image the cluster runs."""

    digest: str | None
    """`sha256:…` from the container statuses; None for containers that have not started."""
    references: tuple[str, ...]
    """Every name pods use for it, spec names first."""
    repository_digest: str | None
    """`repo@sha256:…` from the status imageID: the exact thing to pull."""
    platform: Platform

    @property
    def key(self) -> str:
        return self.digest or self.references[0]

    @property
    def candidates(self) -> tuple[str, ...]:
        """What to ask a source for, most exact first."""
        return tuple(dict.fromkeys([*([self.repository_digest] if self.repository_digest else []),
                                    *self.references]))


@dataclass
class _Seen:
    platform: Platform
    digest: str | None = None
    references: list[str] = field(default_factory=list)
    repository_digest: str | None = None

    def add(self, *names: str | None) -> None:
        self.references.extend(n for n in names if n and n not in self.references)


def images_in_use(inventory: Inventory) -> list[ImageRequest]:
    """The distinct images of the running pods (by digest; by name until a container starts)."""
    found: dict[str, _Seen] = {}
    for pod in inventory.pods:
        node = inventory.nodes_by_name.get(pod.spec.node_name or "")
        platform: Platform = ("linux", "amd64", None)
        if node is not None:
            platform = (node.info.operating_system or "linux", node.info.architecture or "amd64", None)
        specs = {c.name: c.image for _, c in pod.spec.all_containers()}
        started = set()
        for status in (*pod.status.init_container_statuses, *pod.status.container_statuses,
                       *pod.status.ephemeral_container_statuses):
            started.add(status.name)
            key = status.digest or specs.get(status.name) or status.image
            if not key:
                continue
            seen = found.setdefault(key, _Seen(platform=platform, digest=status.digest))
            seen.add(specs.get(status.name), status.image)
            if seen.repository_digest is None and "@" in status.image_id:
                seen.repository_digest = status.image_id.split("://", 1)[-1]
        for name, image in specs.items():
            if name not in started and image:
                found.setdefault(image, _Seen(platform=platform)).add(image)
    return [
        ImageRequest(digest=s.digest, references=tuple(s.references), repository_digest=s.repository_digest,
                     platform=s.platform)
        for _, s in sorted(found.items())
    ]


ImageReader = Callable[[str, Platform, Callable[..., LayerInventory], LayerCache], ReadImage]
"""A source: (reference, platform, scan, cache) → ReadImage, blocking; raises ImageSourceError."""


class ArchiveSource:
    """Images from docker-archive / OCI-layout tarballs or directories the user named, matched to
    the pods by digest or by name. The archives are read once, on first use."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self._images: list[ReadImage] | None = None
        self._errors: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, reference: str, platform: Platform, scan: Callable[..., LayerInventory],
                 cache: LayerCache) -> ReadImage:
        with self._lock:
            if self._images is None:
                self._images = []
                for path in self.paths:
                    try:
                        self._images.extend(read_archive(path, scan=scan, cache=cache))
                    except ImageSourceError as error:
                        self._errors.append(f"{path}: {error.reason}")
        name = reference.split("://", 1)[-1]
        digest = name.rpartition("@")[2] if "@" in name else None
        for read in self._images:
            if name in read.references or (digest is not None and digest in (read.digest, read.config_digest)):
                return read
        detail = f" ({'; '.join(self._errors)})" if self._errors else ""
        raise ImageSourceError(reference, f"not in the image archives given{detail}")


@dataclass
class ImageCollector:
    sources: Sequence[tuple[str, ImageReader]]
    """(name, reader) in the order to try them."""
    cache: LayerCache
    concurrency: int = 4
    timeout: float = 900.0
    """Seconds one image may take across all its sources."""
    on_progress: ProgressCallback = ignore_progress
    _gaps: list[CoverageGap] = field(default_factory=list)
    _bases: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    """Base image reference → its diff ids (None: could not be read), shared by the images built on it."""
    _attributions: AttributionMemo = field(default_factory=dict)
    """Package attributions of layer chains already folded, shared by images on the same base."""

    def build(self, read: ReadImage, *, source: str, digest: str | None = None, references: Sequence[str] = (),
              base_layer_count: int | None = None) -> ImageInventory:
        """`build_image` with this run's cache and shared attributions."""
        return build_image(read, source=source, cache=self.cache, digest=digest, references=references,
                           base_layer_count=base_layer_count, memo=self._attributions)

    def scan(self, stream: BinaryIO, *, digest: str) -> LayerInventory:
        """Scan one layer and remember it; a layer that could not be read in full is not cached
        (a network cut looks the same as a damaged layer, and the next run should try again)."""
        inventory = scan_layer(stream, digest=digest)
        if inventory.error is None:
            self.cache.put(inventory)
        return inventory

    async def collect(self, inventory: Inventory) -> tuple[tuple[ImageInventory, ...], tuple[CoverageGap, ...]]:
        requests = images_in_use(inventory)
        semaphore = asyncio.Semaphore(self.concurrency)
        done = 0
        started = time.monotonic()

        async def one(request: ImageRequest) -> ImageInventory | None:
            nonlocal done
            async with semaphore:
                image = await self._read(request)
            done += 1
            self.on_progress(Progress(source="images", task="images", count=done))
            return image

        results = await asyncio.gather(*(one(r) for r in requests))
        images = tuple(image for image in results if image is not None)
        elapsed = time.monotonic() - started
        self.on_progress(Progress(source="images", task="images", count=len(images), done=True,
                                  failed=len(images) < len(requests),
                                  message=f"{len(images)} of {len(requests)} images in {elapsed:.1f}s"))
        return images, tuple(self._gaps)

    async def _read(self, request: ImageRequest) -> ImageInventory | None:
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self.read, request.candidates, request.platform, digest=request.digest,
                                  references=request.references),
                timeout=self.timeout,
            )
        except ImageSourceError as error:
            reason = error.reason
        except TimeoutError:
            reason = f"no answer within {self.timeout:g}s"
        self._gaps.append(CoverageGap(
            source="images", verb="read", resource=request.references[0] if request.references else request.key,
            reason="unreadable", message=reason,
        ))
        return None

    def read(self, candidates: Sequence[str], platform: Platform, *, digest: str | None = None,
             references: Sequence[str] = ()) -> ImageInventory:
        """One image from the first source that has it under any of `candidates` (most exact first),
        scanned, folded and with its base image found. Blocking; raises ImageSourceError naming
        every source's reason."""
        reasons: list[str] = []
        for name, reader in self.sources:
            for reference in candidates:
                try:
                    read = reader(reference, platform, self.scan, self.cache)
                except ImageSourceError as error:
                    reasons.append(f"{name}: {error.reason}")
                    continue
                return self.build(read, source=name, digest=digest, references=references,
                                  base_layer_count=self._base_layer_count(read, platform))
        raise ImageSourceError(candidates[0] if candidates else "",
                               "; ".join(dict.fromkeys(reasons)) or "no image source is configured")

    def _base_layer_count(self, read: ReadImage, platform: Platform) -> int | None:
        """How many layers the base image the `org.opencontainers.image.base.*` annotations name
        contributed: its diff ids must be a prefix of this image's. Reads only the base's manifest
        and config (no layer), once per base."""
        reference = base_reference(read.base_name, read.base_digest)
        if reference is None or not read.diff_ids:
            return None
        if reference not in self._bases:
            self._bases[reference] = None
            for _, reader in self.sources:
                try:
                    self._bases[reference] = reader(reference, platform, _never_scan, _EVERY_LAYER_KNOWN).diff_ids
                    break
                except ImageSourceError:
                    continue
        base = self._bases[reference]
        if not base or tuple(read.diff_ids[:len(base)]) != tuple(base):
            return None
        return len(base)


class _EveryLayerKnown:
    """A cache stand-in that makes a source skip every layer: for reading documents only."""

    def has(self, digest: str) -> bool:
        return True


_EVERY_LAYER_KNOWN = _EveryLayerKnown()


def _never_scan(stream: BinaryIO, *, digest: str) -> LayerInventory:
    raise AssertionError("a base image is read for its documents only")


def base_reference(name: str, digest: str) -> str | None:
    """`docker.io/library/python@sha256:…` from the base annotations (the digest wins over a tag)."""
    if not name:
        return None
    if not digest:
        return name
    repository = name.split("@", 1)[0]
    last = repository.rsplit("/", 1)[-1]
    if ":" in last:  # a tag, not a registry port
        repository = repository[: len(repository) - len(last)] + last.split(":", 1)[0]
    return f"{repository}@{digest}"


def build_image(
    read: ReadImage, *, source: str, cache: LayerCache, digest: str | None = None, references: Sequence[str] = (),
    base_layer_count: int | None = None, memo: AttributionMemo | None = None,
) -> ImageInventory:
    """Fold what a source read into an ImageInventory, taking skipped layers from the cache."""
    errors = list(read.errors)
    layers: list[LayerInventory] = []
    for index, ref in enumerate(read.layers):
        scanned = read.layer_inventories[index] if index < len(read.layer_inventories) else None
        if scanned is None:
            keys = [ref.digest, *(read.diff_ids[index:index + 1] if index < len(read.diff_ids) else [])]
            scanned = next((found for key in keys if (found := cache.get(key)) is not None), None)
        if scanned is None:
            errors.append(f"layer {index + 1} ({ref.digest[:19]}…) was not read")
            scanned = LayerInventory(digest=ref.digest)
        layers.append(scanned)
    folded = fold_layers(layers, memo)
    base_layers, base_reason = find_base_boundary(read.layers, layers, base_layer_count=base_layer_count)
    return ImageInventory(
        digest=digest or read.digest,
        references=tuple(dict.fromkeys([*references, *read.references])),
        source=source,
        config=read.config,
        layers=tuple(read.layers),
        base_layers=base_layers,
        base_reason=base_reason,
        os_release=folded.os_release,
        packages=tuple(folded.packages),
        executables=tuple(folded.executables),
        errors=tuple([*errors, *folded.errors]),
    )
