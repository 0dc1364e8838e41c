"""What is inside the running images: per-layer facts and the folded image view.

A `LayerInventory` is what one layer blob holds, computed once per layer digest
and cached: the package databases found in it (each keyed by its path), the
interesting executables (shells, package managers, attacker tools), the
os-release file, and the whiteouts that delete what lower layers put there.
`fold_layers` applies the layers in order, as the container runtime does,
and attributes every package of the final filesystem to the layer that put it
there at its current version.
"""

from __future__ import annotations

from datetime import datetime

import msgspec


class Struct(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of kubeward's own image structs."""


class Package(Struct):
    """One installed package, as its database or metadata file records it."""

    name: str
    version: str
    ecosystem: str
    """`deb`, `apk`, `rpm`, `pypi`, `npm`, `golang`, `maven`."""
    arch: str | None = None
    source_name: str | None = None
    """dpkg `Source:` package (Debian vulnerability data is keyed by it); apk `origin`; rpm source rpm name."""
    source_version: str | None = None
    path: str = ""
    """The file it was read from, e.g. `var/lib/dpkg/status`, `usr/lib/python3/dist-packages/x.dist-info/METADATA`."""


class PackageDB(Struct):
    """One package database or metadata file found in a layer, with what it lists."""

    path: str
    """Normalised, relative to the root, no leading slash."""
    kind: str
    """`dpkg`, `dpkg-distroless`, `apk`, `rpm-sqlite`, `rpm-bdb`, `rpm-ndb`, `python`, `npm`, `go-binary`, `jar`."""
    packages: tuple[Package, ...] = ()
    error: str | None = None
    """Why the file could not be read in full (malformed, too large …); the packages read so far stay."""


class OSRelease(Struct):
    id: str = ""
    """`debian`, `ubuntu`, `alpine`, `rhel`, `rocky`, `almalinux`, `amzn`, `distroless` …"""
    version_id: str = ""
    version_codename: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()
    path: str = ""


class Executable(Struct):
    """A file of interest for the exec surface: a shell, a package manager or a tool."""

    path: str
    kind: str
    """`shell`, `package-manager` or `tool`."""
    name: str
    """What it is: `bash`, `busybox`, `apt`, `pip`, `curl` …"""


class LayerInventory(Struct):
    """What one layer holds. Cached on disk under `digest`; never depends on other layers."""

    digest: str
    """The digest of the layer as stored (compressed blob) or, for an uncompressed tar, its diff id."""
    size: int = 0
    """Bytes of uncompressed tar read."""
    databases: tuple[PackageDB, ...] = ()
    executables: tuple[Executable, ...] = ()
    os_release: OSRelease | None = None
    os_files: dict[str, str] = {}
    """Other release files by path (`etc/alpine-release`, `etc/debian_version` …) and their first line."""
    whiteouts: tuple[str, ...] = ()
    """Paths this layer deletes from the layers below (from `.wh.<name>` entries)."""
    opaque_dirs: tuple[str, ...] = ()
    """Directories whose lower-layer content this layer hides (`.wh..wh..opq`)."""
    error: str | None = None
    """Why the layer could not be read in full (hostile or damaged input); facts found before it stay."""
    scanner_version: int = 1
    """Bumped when the scanner learns something new, so older cache entries are recomputed."""


class LayerRef(Struct):
    """A layer as one image uses it, with the history step that made it."""

    digest: str
    created_by: str = ""
    """The history `created_by` of the build step, e.g. `RUN apt-get install -y curl`."""
    created: datetime | None = None
    empty_layer_steps: tuple[str, ...] = ()
    """History steps before this layer that made no layer (ENV, USER, …), for context."""


class AttributedPackage(Struct):
    package: Package
    layer: int
    """Index into ImageInventory.layers of the layer that put it there at this version."""


class ImageConfig(Struct):
    created: datetime | None = None
    user: str = ""
    """The default user; empty means root."""
    exposed_ports: tuple[str, ...] = ()
    labels: dict[str, str] = {}
    os: str = ""
    architecture: str = ""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()


class ImageInventory(Struct):
    """One distinct image (by digest) as the cluster runs it."""

    digest: str
    """The image's digest as the runtime reports it (`sha256:…` of the manifest, or of the config)."""
    references: tuple[str, ...] = ()
    """The names pods use for it (`nginx:1.27`, `registry:5000/app@sha256:…`)."""
    source: str = ""
    """Where it was read from: `docker`, `registry`, `archive`."""
    config: ImageConfig = ImageConfig()
    layers: tuple[LayerRef, ...] = ()
    base_layers: int = 0
    """How many of the bottom layers are the base image (0: unknown)."""
    base_reason: str = ""
    """How the base boundary was found: `annotation`, `history`, `os-database`."""
    os_release: OSRelease | None = None
    packages: tuple[AttributedPackage, ...] = ()
    executables: tuple[Executable, ...] = ()
    errors: tuple[str, ...] = ()
    """Layers or databases that could not be read in full."""

    @property
    def name(self) -> str:
        """How findings and reports name the image: its first reference, else its digest."""
        return self.references[0] if self.references else self.digest

    @property
    def has_shell(self) -> bool:
        return any(e.kind == "shell" for e in self.executables)

    @property
    def has_package_manager(self) -> bool:
        return any(e.kind == "package-manager" for e in self.executables)

    def in_base(self, attributed: AttributedPackage) -> bool:
        return self.base_layers > 0 and attributed.layer < self.base_layers
