"""Image manifests and configs: what an image is made of, before any layer is read.

Three documents describe an image on disk or on the wire, and every image
source (the Docker engine's `docker save` stream, archives, registries) reads
them here:

- the image config (`created`, `config.User`, `rootfs.diff_ids`, `history` …),
  which becomes an `ImageConfig` and one `LayerRef` per layer, the history
  steps aligned to the layers they made;
- the docker-archive `manifest.json` (`Config`, `RepoTags`, `Layers`);
- OCI image indexes and manifests (`index.json` of an OCI layout, or a
  registry's responses), with platform selection for multi-platform images.

`plan_images` puts them together for an archive or layout, whichever of the
two layouts it uses (Docker Engine 25+ writes both into `docker save`). Image
documents are hostile input like layers are: each parse error is a
`ManifestError` with a one-line reason.
"""

from __future__ import annotations

import hashlib
import platform as host
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import msgspec

from audit.images import ImageConfig, LayerInventory, LayerRef

JSON_LIMIT = 8 * 1024 * 1024
"""The most bytes read from one image document (config, manifest, index); real ones are kilobytes."""

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
IMAGE_CONFIG_TYPES = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)

BASE_DIGEST = "org.opencontainers.image.base.digest"
BASE_NAME = "org.opencontainers.image.base.name"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"

_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")


class ManifestError(ValueError):
    """An image document that cannot be used; the message is one line and says which and why."""


class ImageSourceError(Exception):
    """An image that could not be read from a source; the lead turns it into a coverage gap."""

    def __init__(self, image: str, reason: str) -> None:
        self.image = image
        self.reason = one_line(reason)
        super().__init__(f"{image}: {self.reason}" if image else self.reason)


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line, cut to `limit` characters: reasons end up in tables and banners."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# ---------------------------------------------------------------- platforms


_VARIANT_DEFAULTS = {"arm64": "v8", "arm": "v7", "amd64": "v1"}

_MACHINE_TO_GOARCH = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
    "i686": ("386", ""),
}


@dataclass(frozen=True, slots=True)
class Platform:
    """An OCI platform: `linux/amd64`, `linux/arm64/v8`."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"not a platform (os/arch[/variant]): {text!r}")
        return cls(*parts)

    def matches(self, other: Platform) -> bool:
        """Whether an image for `other` runs here; an empty variant on this side accepts any."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if not self.variant:
            return True
        default = _VARIANT_DEFAULTS.get(self.architecture, "")
        return (self.variant or default) == (other.variant or default)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    """The platform of this machine, in OCI terms."""
    architecture, variant = _MACHINE_TO_GOARCH.get(host.machine().lower(), (host.machine().lower(), ""))
    return Platform("linux", architecture, variant)


# ---------------------------------------------------------------- documents as msgspec types


class _Platform(msgspec.Struct):
    os: str = ""
    architecture: str = ""
    variant: str = ""


class _Descriptor(msgspec.Struct, rename="camel"):
    media_type: str = ""
    digest: str = ""
    size: int = 0
    platform: _Platform | None = None
    annotations: dict[str, str] | None = None


class _Index(msgspec.Struct, rename="camel"):
    schema_version: int = 2
    media_type: str = ""
    manifests: list[_Descriptor] | None = None
    annotations: dict[str, str] | None = None


class _Manifest(msgspec.Struct, rename="camel"):
    schema_version: int = 2
    media_type: str = ""
    config: _Descriptor | None = None
    layers: list[_Descriptor] | None = None
    annotations: dict[str, str] | None = None


class _RuntimeConfig(msgspec.Struct, rename="pascal"):
    user: str | None = None
    exposed_ports: dict[str, object] | None = None
    labels: dict[str, str] | None = None
    entrypoint: list[str] | str | None = None
    cmd: list[str] | str | None = None


class _History(msgspec.Struct):
    created: str | None = None
    created_by: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None


class _RootFS(msgspec.Struct):
    type: str = ""
    diff_ids: list[str] | None = None


class _Config(msgspec.Struct):
    created: str | None = None
    architecture: str | None = None
    os: str | None = None
    variant: str | None = None
    config: _RuntimeConfig | None = None
    rootfs: _RootFS | None = None
    history: list[_History] | None = None


class _DockerArchiveEntry(msgspec.Struct, rename="pascal"):
    config: str = ""
    repo_tags: list[str] | None = None
    layers: list[str] | None = None
    layer_sources: dict[str, _Descriptor] | None = None


def _decode(raw: bytes, kind: type, what: str):  # type: ignore[no-untyped-def]
    if len(raw) > JSON_LIMIT:
        raise ManifestError(f"{what}: {len(raw)} bytes, more than the {JSON_LIMIT} an image document may have")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.DecodeError as error:  # ValidationError is a DecodeError
        raise ManifestError(f"{what}: {one_line(str(error))}") from None


# ---------------------------------------------------------------- public parsed forms


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A pointer to a blob: an index or manifest entry, a config, a layer."""

    media_type: str
    digest: str
    size: int = 0
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def is_attestation(self) -> bool:
        """buildx stores provenance and SBOM documents as manifests for platform `unknown/unknown`."""
        return self.annotations.get("vnd.docker.reference.type") == "attestation-manifest" or (
            self.platform is not None and self.platform.os == "unknown"
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    """An image manifest: the config blob, the layer blobs (bottom first) and annotations."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HistoryStep:
    """One build step of an image config's history."""

    created_by: str
    created: datetime | None = None
    empty_layer: bool = False


@dataclass(frozen=True, slots=True)
class ParsedConfig:
    """An image config: the facts the checks use, the layers' diff ids and the build history."""

    config: ImageConfig
    diff_ids: tuple[str, ...]
    history: tuple[HistoryStep, ...]


@dataclass(frozen=True, slots=True)
class DockerArchiveEntry:
    """One image of a docker-archive `manifest.json`."""

    config: str
    """Path of the config file in the archive."""
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]
    """Paths of the layer tars in the archive, bottom first."""
    layer_sources: dict[str, Descriptor]
    """Foreign layers (kept outside the archive) by diff id."""


def _descriptor(raw: _Descriptor, what: str) -> Descriptor:
    if not _DIGEST.match(raw.digest):
        raise ManifestError(f"{what}: not a digest: {raw.digest[:80]!r}")
    platform = None
    if raw.platform is not None and (raw.platform.os or raw.platform.architecture):
        platform = Platform(raw.platform.os, raw.platform.architecture, raw.platform.variant)
    return Descriptor(raw.media_type, raw.digest, raw.size, platform, dict(raw.annotations or {}))


def parse_index(raw: bytes, what: str = "index") -> list[Descriptor]:
    """The manifests an image index (OCI index, Docker manifest list, or an OCI layout's `index.json`) lists."""
    index = _decode(raw, _Index, what)
    if index.manifests is None:
        raise ManifestError(f"{what}: no manifests list")
    return [_descriptor(d, f"{what} entry {i + 1}") for i, d in enumerate(index.manifests)]


def parse_manifest(raw: bytes, what: str = "manifest") -> Manifest:
    """An image manifest (OCI or Docker schema 2)."""
    manifest = _decode(raw, _Manifest, what)
    if manifest.schema_version == 1:
        raise ManifestError(f"{what}: Docker schema 1 manifests are not supported")
    if manifest.config is None or manifest.layers is None:
        raise ManifestError(f"{what}: no config or no layers: not an image manifest")
    return Manifest(
        media_type=manifest.media_type,
        config=_descriptor(manifest.config, f"{what} config"),
        layers=tuple(_descriptor(layer, f"{what} layer {i + 1}") for i, layer in enumerate(manifest.layers)),
        annotations=dict(manifest.annotations or {}),
    )


def looks_like_index(raw: bytes) -> bool:
    """Whether a document whose media type is unknown is an index (it lists manifests) rather than a manifest."""
    try:
        document = msgspec.json.decode(raw[:JSON_LIMIT])
    except msgspec.DecodeError:
        return False
    return isinstance(document, dict) and "manifests" in document


def parse_docker_manifest(raw: bytes, what: str = "manifest.json") -> list[DockerArchiveEntry]:
    """The images of a docker-archive `manifest.json`."""
    entries = _decode(raw, list[_DockerArchiveEntry], what)
    out = []
    for number, entry in enumerate(entries, 1):
        if not entry.config:
            raise ManifestError(f"{what} image {number}: no Config")
        sources = {}
        for diff_id, source in (entry.layer_sources or {}).items():
            sources[diff_id] = _descriptor(source, f"{what} image {number} layer source")
        out.append(
            DockerArchiveEntry(
                config=entry.config,
                repo_tags=tuple(entry.repo_tags or ()),
                layers=tuple(entry.layers or ()),
                layer_sources=sources,
            )
        )
    return out


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time as Go writes it (nanoseconds, `Z`); None when absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _words(value: list[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def parse_config(raw: bytes, what: str = "image config") -> ParsedConfig:
    """An image config blob: created, user, ports, labels, platform, entrypoint, cmd, diff ids, history."""
    document = _decode(raw, _Config, what)
    runtime = document.config or _RuntimeConfig()
    diff_ids = tuple((document.rootfs.diff_ids or []) if document.rootfs else [])
    for diff_id in diff_ids:
        if not _DIGEST.match(diff_id):
            raise ManifestError(f"{what}: rootfs.diff_ids has a non-digest: {diff_id[:80]!r}")
    config = ImageConfig(
        created=parse_time(document.created),
        user=runtime.user or "",
        exposed_ports=tuple(sorted(runtime.exposed_ports or {})),
        labels=dict(runtime.labels or {}),
        os=document.os or "",
        architecture=document.architecture or "",
        entrypoint=_words(runtime.entrypoint),
        cmd=_words(runtime.cmd),
    )
    history = tuple(
        HistoryStep(
            # an imported layer has no command, only a comment ("Imported from -")
            created_by=step.created_by or step.comment or "",
            created=parse_time(step.created),
            empty_layer=bool(step.empty_layer),
        )
        for step in document.history or ()
    )
    return ParsedConfig(config=config, diff_ids=diff_ids, history=history)


def align_history(history: Sequence[HistoryStep], digests: Sequence[str]) -> tuple[list[LayerRef], list[str]]:
    """One LayerRef per layer digest (bottom first), with the history step that made it.

    Steps marked `empty_layer` made no layer: they are kept, in order, as the next layer's
    `empty_layer_steps`. Returns the refs and what did not line up (an empty history is no error:
    some image builders write none)."""
    refs: list[LayerRef] = []
    errors: list[str] = []
    pending: list[str] = []
    remaining = iter(digests)
    layer_steps = 0
    for step in history:
        if step.empty_layer:
            pending.append(step.created_by)
            continue
        layer_steps += 1
        digest = next(remaining, None)
        if digest is None:
            continue
        refs.append(
            LayerRef(digest=digest, created_by=step.created_by, created=step.created, empty_layer_steps=tuple(pending))
        )
        pending = []
    refs.extend(LayerRef(digest=digest) for digest in remaining)
    if history and layer_steps != len(digests):
        errors.append(f"history names {layer_steps} layer steps but the image has {len(digests)} layers")
    return refs, errors


def trailing_steps(history: Sequence[HistoryStep]) -> tuple[str, ...]:
    """The steps after the last layer (CMD, ENTRYPOINT, USER …): they belong to no layer."""
    steps: list[str] = []
    for step in reversed(history):
        if not step.empty_layer:
            break
        steps.append(step.created_by)
    return tuple(reversed(steps))


def select_manifest(
    descriptors: Sequence[Descriptor], want: Platform, *, present: frozenset[str] | None = None
) -> Descriptor | None:
    """The manifest of an index that runs on `want`; None when none does.

    Attestations are never images. When `present` is given (the digests a partial export holds),
    manifests whose blob is absent are passed over."""
    for candidate in descriptors:
        if candidate.is_attestation or candidate.platform is None:
            continue
        if present is not None and candidate.digest not in present:
            continue
        if want.matches(candidate.platform):
            return candidate
    return None


# ---------------------------------------------------------------- images of an archive or layout


class LayoutFiles(Protocol):
    """The files of an image archive or layout, by path relative to its root."""

    def read(self, path: str) -> bytes | None:
        """The file's bytes (at most JSON_LIMIT + 1 of them), or None when it is absent."""

    def exists(self, path: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class LayerBlob:
    """A layer as an archive stores it."""

    path: str
    """Path of the layer file in the archive or layout."""
    digest: str
    """What the layer's inventory is cached under: the OCI blob digest, or for a docker-archive the diff id."""
    diff_id: str = ""
    """The digest of the uncompressed tar, when the config tells it."""
    media_type: str = ""


@dataclass
class ImagePlan:
    """One image of an archive, its documents read and its layers not yet."""

    digest: str
    """The image's digest: the manifest (or index) digest for OCI, the config digest for docker-archive."""
    config_digest: str
    references: tuple[str, ...]
    config: ImageConfig
    layers: list[LayerRef]
    blobs: list[LayerBlob]
    """Aligned with `layers`."""
    trailing_steps: tuple[str, ...] = ()
    base_digest: str = ""
    base_name: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class ReadImage:
    """One image as a source read it: documents and the inventory of each layer it scanned.

    `layer_inventories` is aligned with `layers`; None where the layer was skipped because the
    cache already has its digest, or could not be read (then `errors` says which and why).
    The lead folds this into an `ImageInventory`."""

    digest: str
    references: tuple[str, ...]
    config: ImageConfig
    layers: list[LayerRef]
    layer_inventories: list[LayerInventory | None]
    base_digest: str = ""
    errors: list[str] = field(default_factory=list)
    base_name: str = ""
    config_digest: str = ""
    diff_ids: tuple[str, ...] = ()
    """Aligned with `layers` when the config names them; for OCI images `layers[i].digest` is the blob digest."""
    trailing_steps: tuple[str, ...] = ()
    """History steps after the last layer (the image's own CMD, ENTRYPOINT, USER …)."""


def blob_path(digest: str) -> str:
    """Where an OCI layout keeps a blob. Only for digests already checked against `_DIGEST`."""
    algorithm, _, hex_digest = digest.partition(":")
    return f"blobs/{algorithm}/{hex_digest}"


def digest_of(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _read_document(files: LayoutFiles, path: str, what: str, digest: str = "") -> bytes:
    raw = files.read(path)
    if raw is None:
        raise ManifestError(f"{what}: {path} is not in the archive")
    if digest and digest.startswith("sha256:") and digest_of(raw) != digest:
        raise ManifestError(f"{what}: {path} does not match its digest")
    return raw


def plan_images(files: LayoutFiles, *, platform: Platform | None = None) -> list[ImagePlan]:
    """The images of an archive or layout: OCI (`index.json`) and/or docker-archive (`manifest.json`).

    `platform` picks one manifest of a multi-platform image; None prefers this machine's platform
    and otherwise takes the first platform the archive holds. A problem with one image becomes
    that plan's `errors` (and no layers); a problem with the archive as a whole raises ManifestError."""
    index_raw = files.read("index.json")
    docker_raw = files.read("manifest.json")
    if index_raw is None and docker_raw is None:
        raise ManifestError("neither index.json nor manifest.json: not an image archive or OCI layout")
    docker_entries = parse_docker_manifest(docker_raw) if docker_raw is not None else []
    if index_raw is None:
        return [_plan_docker_archive(files, entry) for entry in docker_entries]
    # Docker Engine 25+ writes both: the OCI side has the manifests, manifest.json the RepoTags
    tags_by_config = {entry.config: entry.repo_tags for entry in docker_entries}
    plans = []
    for group in _image_groups(parse_index(index_raw, "index.json")):
        plan = _plan_oci(files, group, platform)
        if plan is None:
            continue
        tags = tags_by_config.get(blob_path(plan.config_digest), ()) if plan.config_digest else ()
        plan.references = tuple(dict.fromkeys((*tags, *plan.references)))
        plans.append(plan)
    return plans


def _image_groups(descriptors: list[Descriptor]) -> list[list[Descriptor]]:
    """Entries of `index.json` that are one image: alone, or the platforms of one name side by side."""
    groups: dict[str, list[Descriptor]] = {}
    loose: list[list[Descriptor]] = []
    for descriptor in descriptors:
        if descriptor.is_attestation:
            continue
        if descriptor.platform is None or descriptor.is_index:
            loose.append([descriptor])
            continue
        name = descriptor.annotations.get(CONTAINERD_NAME) or descriptor.annotations.get(REF_NAME, "")
        groups.setdefault(name, []).append(descriptor)
    return [*loose, *groups.values()]


def _references(annotations: dict[str, str]) -> tuple[str, ...]:
    names = [annotations.get(CONTAINERD_NAME, ""), annotations.get(REF_NAME, "")]
    return tuple(dict.fromkeys(n for n in names if n))


def _choose(files: LayoutFiles, candidates: list[Descriptor], platform: Platform | None) -> Descriptor | None:
    present = frozenset(c.digest for c in candidates if files.exists(blob_path(c.digest)))
    if platform is not None:
        return select_manifest(candidates, platform, present=present)
    chosen = select_manifest(candidates, host_platform(), present=present)
    if chosen is None:
        usable = [c for c in candidates if not c.is_attestation and c.digest in present]
        chosen = usable[0] if usable else None
    return chosen


def _platforms(candidates: list[Descriptor]) -> str:
    return ", ".join(sorted({str(c.platform) for c in candidates if c.platform and not c.is_attestation})) or "none"


def _plan_oci(files: LayoutFiles, group: list[Descriptor], platform: Platform | None) -> ImagePlan | None:
    top = group[0]
    name = ", ".join(_references(top.annotations)) or top.digest
    plan = ImagePlan(
        digest=top.digest,
        config_digest="",
        references=_references(top.annotations),
        config=ImageConfig(),
        layers=[],
        blobs=[],
    )
    try:
        chosen = top
        if len(group) > 1:
            chosen = _choose(files, group, platform)
            if chosen is None:
                raise ManifestError(f"no manifest for {platform or host_platform()} among {_platforms(group)}")
            plan.digest = chosen.digest
        for _depth in range(4):  # an index may point at an index; deeper nesting is no real image
            raw = _read_document(files, blob_path(chosen.digest), "manifest", chosen.digest)
            if not (chosen.is_index or (chosen.media_type not in MANIFEST_TYPES and looks_like_index(raw))):
                break
            entries = parse_index(raw, f"index {chosen.digest}")
            picked = _choose(files, entries, platform)
            if picked is None:
                raise ManifestError(f"no manifest for {platform or host_platform()} among {_platforms(entries)}")
            chosen = picked
        else:
            raise ManifestError("indexes nested more than four deep")
        manifest = parse_manifest(raw, f"manifest {chosen.digest}")
        if manifest.config.media_type and manifest.config.media_type not in IMAGE_CONFIG_TYPES:
            return None  # an artifact (signature, SBOM …) stored beside images, not an image
        config_raw = _read_document(files, blob_path(manifest.config.digest), "config", manifest.config.digest)
        parsed = parse_config(config_raw, f"config {manifest.config.digest}")
    except ManifestError as error:
        plan.errors.append(f"{name}: {error}")
        return plan
    plan.config_digest = manifest.config.digest
    plan.config = parsed.config
    diff_ids = parsed.diff_ids if len(parsed.diff_ids) == len(manifest.layers) else ()
    if parsed.diff_ids and not diff_ids:
        plan.errors.append(
            f"manifest lists {len(manifest.layers)} layers but the config has {len(parsed.diff_ids)} diff ids"
        )
    plan.blobs = [
        LayerBlob(blob_path(layer.digest), layer.digest, diff_ids[i] if diff_ids else "", layer.media_type)
        for i, layer in enumerate(manifest.layers)
    ]
    plan.layers, history_errors = align_history(parsed.history, [b.digest for b in plan.blobs])
    plan.errors.extend(history_errors)
    plan.trailing_steps = trailing_steps(parsed.history)
    # the base image, as buildx and others annotate it; a label is the older habit
    for source in (manifest.annotations, chosen.annotations, top.annotations, parsed.config.labels):
        if not plan.base_digest and source.get(BASE_DIGEST):
            plan.base_digest = source[BASE_DIGEST]
        if not plan.base_name and source.get(BASE_NAME):
            plan.base_name = source[BASE_NAME]
    return plan


def _plan_docker_archive(files: LayoutFiles, entry: DockerArchiveEntry) -> ImagePlan:
    plan = ImagePlan(digest="", config_digest="", references=entry.repo_tags, config=ImageConfig(), layers=[], blobs=[])
    name = ", ".join(entry.repo_tags) or entry.config
    try:
        config_raw = _read_document(files, entry.config, "config")
        parsed = parse_config(config_raw, f"config {entry.config}")
    except ManifestError as error:
        plan.errors.append(f"{name}: {error}")
        return plan
    # the image id is the config's own digest, whatever the file is called
    plan.digest = plan.config_digest = digest_of(config_raw)
    plan.config = parsed.config
    if len(entry.layers) != len(parsed.diff_ids):
        plan.errors.append(
            f"{name}: manifest.json lists {len(entry.layers)} layers but the config has {len(parsed.diff_ids)}"
        )
    pairs = zip(entry.layers, parsed.diff_ids, strict=False)  # a count mismatch is reported above
    plan.blobs = [LayerBlob(path, diff_id, diff_id) for path, diff_id in pairs]
    plan.layers, history_errors = align_history(parsed.history, [b.digest for b in plan.blobs])
    plan.errors.extend(history_errors)
    plan.trailing_steps = trailing_steps(parsed.history)
    labels = parsed.config.labels
    plan.base_digest, plan.base_name = labels.get(BASE_DIGEST, ""), labels.get(BASE_NAME, "")
    return plan
