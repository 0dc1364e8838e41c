"""Fold an image's layers into its final filesystem view, as the runtime does.

Layers apply bottom to top. A whiteout in layer *n* deletes a path, and all
below it, from layers under *n*; an opaque directory hides everything lower
layers put inside it. Facts are keyed by path (a package database, an
executable, a release file), so the topmost surviving one wins.

Each package of the final view is attributed to the layer that put it there
*at its current version*: walking down the unbroken chain of layers that
rewrote its database file, the lowest one still listing the same version.
So a package installed by the base image and untouched since is "in the base
image", and one upgraded by `RUN apt-get upgrade` in build step 7 is "added
by step 7".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from audit.images import AttributedPackage, Executable, LayerInventory, LayerRef, OSRelease, PackageDB

OS_DATABASE_KINDS = frozenset({"dpkg", "dpkg-distroless", "apk", "rpm-sqlite", "rpm-bdb", "rpm-ndb"})

_BASE_END = re.compile(r"^(/bin/sh -c )?(#\(nop\)\s*)?(CMD|ENTRYPOINT)\b", re.IGNORECASE)


@dataclass
class Folded:
    packages: list[AttributedPackage] = field(default_factory=list)
    executables: list[Executable] = field(default_factory=list)
    os_release: OSRelease | None = None
    errors: list[str] = field(default_factory=list)


def _under(path: str, directory: str) -> bool:
    """Whether `path` lies inside `directory` (`""` is the root, which holds everything)."""
    return directory == "" or path.startswith(directory + "/")


AttributionMemo = dict[tuple[str, tuple[tuple[int, str], ...]], list[AttributedPackage]]
"""Attributions already worked out, by database path and the (layer index, layer digest) chain
that wrote it: images built on the same base share them instead of redoing them."""

MEMO_ENTRIES = 4096


def fold_layers(layers: Sequence[LayerInventory], memo: AttributionMemo | None = None) -> Folded:
    """The final view of `layers` (bottom first) with every package attributed to a layer."""
    # path → chain of (layer index, database) since the path was last deleted
    chains: dict[str, list[tuple[int, PackageDB]]] = {}
    executables: dict[str, Executable] = {}
    releases: dict[str, OSRelease] = {}
    os_files: dict[str, str] = {}
    errors: list[str] = []

    def delete(predicate) -> None:  # type: ignore[no-untyped-def]
        for table in (chains, executables, releases, os_files):
            for path in [p for p in table if predicate(p)]:
                del table[path]

    for index, layer in enumerate(layers):
        for gone in layer.whiteouts:
            delete(lambda p, gone=gone: p == gone or _under(p, gone))
        for directory in layer.opaque_dirs:
            delete(lambda p, directory=directory: _under(p, directory))
        for database in layer.databases:
            chains.setdefault(database.path, []).append((index, database))
            if database.error:
                errors.append(f"layer {index + 1}: {database.path}: {database.error}")
        for executable in layer.executables:
            executables[executable.path] = executable
        if layer.os_release is not None:
            releases[layer.os_release.path] = layer.os_release
        os_files.update(layer.os_files)
        if layer.error:
            errors.append(f"layer {index + 1}: {layer.error}")

    packages: list[AttributedPackage] = []
    for path in sorted(chains):
        chain = chains[path]
        if memo is None:
            packages.extend(_attribute(chain))
            continue
        key = (path, tuple((index, layers[index].digest) for index, _ in chain))
        attributed = memo.get(key)
        if attributed is None:
            attributed = _attribute(chain)
            if len(memo) < MEMO_ENTRIES:
                memo[key] = attributed
        packages.extend(attributed)
    return Folded(
        packages=packages,
        executables=sorted(executables.values(), key=lambda e: e.path),
        os_release=_pick_release(releases, os_files),
        errors=errors,
    )


def _attribute(chain: list[tuple[int, PackageDB]]) -> list[AttributedPackage]:
    """The packages of the topmost database in `chain`, each with the layer that introduced
    its current version (the lowest layer of the unbroken run that lists it unchanged)."""
    top_index, top = chain[-1]
    versions_by_layer = [
        (index, {(p.name, p.arch): p.version for p in database.packages}) for index, database in chain
    ]
    out = []
    for package in top.packages:
        key = (package.name, package.arch)
        introduced = top_index
        for index, versions in reversed(versions_by_layer[:-1]):
            if versions.get(key) != package.version:
                break
            introduced = index
        out.append(AttributedPackage(package=package, layer=introduced))
    return out


def _pick_release(releases: dict[str, OSRelease], os_files: dict[str, str]) -> OSRelease | None:
    for path in ("etc/os-release", "usr/lib/os-release"):
        if path in releases:
            return releases[path]
    if "etc/alpine-release" in os_files:
        return OSRelease(id="alpine", version_id=os_files["etc/alpine-release"], path="etc/alpine-release")
    if "etc/debian_version" in os_files:
        return OSRelease(id="debian", version_id=os_files["etc/debian_version"], path="etc/debian_version")
    if "etc/redhat-release" in os_files:
        return OSRelease(id="rhel", pretty_name=os_files["etc/redhat-release"], path="etc/redhat-release")
    return None


def find_base_boundary(
    refs: Sequence[LayerRef], layers: Sequence[LayerInventory], *, base_layer_count: int | None = None
) -> tuple[int, str]:
    """How many bottom layers belong to the base image, and how that was decided.

    In order: a count the source knew (e.g. from the base image's manifest named in
    `org.opencontainers.image.base.digest`); the history, where a base image's steps end
    with its CMD/ENTRYPOINT before the build's own layer-making steps; and last the top
    layer that still rewrites the OS package database. (0, "") when nothing tells.
    """
    if base_layer_count:
        return base_layer_count, "annotation"
    for index in range(len(refs) - 1, 0, -1):
        # steps recorded before layer `index` that made no layer; a CMD among them ends a base image
        if any(_BASE_END.match(step.strip()) for step in refs[index].empty_layer_steps):
            return index, "history"
    last_os = max(
        (i for i, layer in enumerate(layers) if any(d.kind in OS_DATABASE_KINDS for d in layer.databases)),
        default=-1,
    )
    if 0 <= last_os < len(layers) - 1:
        return last_os + 1, "os-database"
    return 0, ""
