"""Images in archives: docker-archive and OCI-layout tarballs and OCI-layout directories.

Nothing is extracted to disk. An uncompressed tarball is a file, so its
members are read in place, in whatever order the image needs them; a
directory likewise. A compressed tarball (`.tar.gz`), and the stream that
`docker save` sends, can only be read front to back, in the order the writer
chose: there the small files (manifests, configs) are kept in memory until the
end, and each layer is handed to the scanner as it passes, its digest computed
on the way so it can be matched to the image afterwards (`read_archive_stream`).

Every layer read in full is checked against its digest: an OCI blob against
its name, an uncompressed docker-archive layer against its diff id. A layer
that does not match is reported and its inventory dropped, so a forged
archive cannot plant an inventory under another layer's digest.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import posixpath
import re
import tarfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import msgspec
import zstandard

from audit.images import LayerInventory
from collectors.images.manifest import (
    JSON_LIMIT,
    ImagePlan,
    ImageSourceError,
    LayerBlob,
    LayoutFiles,
    ManifestError,
    Platform,
    ReadImage,
    one_line,
    plan_images,
)

ScanLayer = Callable[..., LayerInventory]
"""`scan(stream, *, digest) -> LayerInventory`: `collectors.layers.scan.scan_layer` (its limits bound)."""

SMALL_FILE = 1024 * 1024
"""In a stream, files up to this size that are not known layers are kept in memory until the
manifests tell what they are; larger ones are scanned as layers as they pass."""

BUFFER_LIMIT = 128 * 1024 * 1024
"""The most bytes of small files kept from one stream: more is no image archive."""

READ_SIZE = 1024 * 1024
"""Layers are read in pieces this large: fewer, larger copies."""

LINK_HOPS = 8


def _zstd_reader(file: BinaryIO) -> BinaryIO:
    return zstandard.ZstdDecompressor().stream_reader(file, read_across_frames=True)  # type: ignore[return-value]


_DECOMPRESSORS: dict[bytes, Callable[[BinaryIO], BinaryIO]] = {
    # the stdlib readers check the end of the stream, so a truncated archive is told as such
    b"\x1f\x8b": gzip.open,  # type: ignore[dict-item]
    b"BZh": bz2.open,  # type: ignore[dict-item]
    b"\xfd7zXZ\x00": lzma.open,  # type: ignore[dict-item]
    b"(\xb5/\xfd": _zstd_reader,
}
_COMPRESSED_MAGIC = tuple(_DECOMPRESSORS)
_BLOB = re.compile(r"^blobs/(sha256)/([0-9a-f]{64})$")


class LayerCache(Protocol):
    """What an image source asks of the layer cache: whether a digest needs no scan."""

    def has(self, digest: str) -> bool: ...


# ---------------------------------------------------------------- reading a layer once


class _OneWay(io.RawIOBase):
    """A stream read once, front to back, that tarfile can treat as a file.

    tarfile's own stream mode copies every byte through its buffer several times; given
    `tell` and a forward-only `seek` (which reads and drops what it skips) it reads members
    straight from here. The first failure of the source repeats on every later call: the
    scanner records rather than raises what goes wrong inside a layer, and a broken
    connection or damaged compressed archive must still reach the archive reader."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._position = 0
        self.failure: BaseException | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self.failure is not None:
            raise self.failure
        target = offset if whence == io.SEEK_SET else self._position + offset
        if whence not in (io.SEEK_SET, io.SEEK_CUR):
            raise io.UnsupportedOperation("a stream only goes forward")
        if target < self._position:
            # tarfile goes back only to retry a member that ended early: the stream did
            raise EOFError("the archive ends inside a member")
        while self._position < target:
            if not self.read(min(READ_SIZE, target - self._position)):
                self._position = target  # past the end, as a file would: reads give nothing
        return self._position

    def read(self, size: int = -1) -> bytes:
        """All `size` bytes, fewer only at the end: tarfile takes a short read for a cut archive."""
        if size is None or size < 0:
            return self.readall()
        pieces = []
        while size > 0:
            piece = super().read(size)
            if not piece:
                break
            pieces.append(piece)
            size -= len(piece)
        return b"".join(pieces)

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        if self.failure is not None:
            raise self.failure
        try:
            readinto = getattr(self._source, "readinto", None)
            if readinto is not None:
                size = readinto(buffer) or 0
            else:
                data = self._source.read(len(buffer))
                size = len(data)
                buffer[:size] = data
        except Exception as failure:
            self.failure = failure
            raise
        self._position += size
        return size


class _HashingReader(io.RawIOBase):
    """Reads a stream through, hashing every byte and keeping the first few."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._hash = hashlib.sha256()
        self.head = b""
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        readinto = getattr(self._source, "readinto", None)
        if readinto is not None:
            size = readinto(buffer) or 0  # straight into the caller's buffer: one copy fewer
            data = memoryview(buffer)[:size]
        else:
            data = self._source.read(len(buffer))
            size = len(data)
            buffer[:size] = data
        if size:
            self._hash.update(data)
            if len(self.head) < 8:
                self.head += bytes(data[: 8 - len(self.head)])
            self.count += size
        return size

    def drain(self) -> None:
        """Read what the scanner left (tar padding, or all of it after a failure) into the hash."""
        while True:
            data = self._source.read(READ_SIZE)
            if not data:
                return
            self._hash.update(data)
            if len(self.head) < 8:
                self.head += data[: 8 - len(self.head)]
            self.count += len(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    @property
    def compressed(self) -> bool:
        return self.head.startswith(_COMPRESSED_MAGIC)


@dataclass
class ScannedLayer:
    """A layer file read in full: what the scanner found and what the bytes hash to."""

    inventory: LayerInventory | None
    digest: str
    """sha256 of the file as stored."""
    compressed: bool
    error: str = ""


def scan_stream(stream: BinaryIO, *, digest: str, scan: ScanLayer) -> ScannedLayer:
    """Hand `stream` to the scanner once, hashing it on the way, and read it to its end.

    The scanner must not raise for bad content; if it does anyway the layer is reported and the
    image goes on. A failure of the stream itself (the archive, the daemon) still raises."""
    reader = _HashingReader(stream)
    inventory: LayerInventory | None = None
    error = ""
    try:
        inventory = scan(io.BufferedReader(reader, READ_SIZE), digest=digest)
    except Exception as failure:  # a scanner bug must cost one layer, not the audit
        error = f"scanner failed: {type(failure).__name__}: {one_line(str(failure), 160)}"
    reader.drain()
    return ScannedLayer(inventory, reader.digest, reader.compressed, error)


def _accept(scanned: ScannedLayer, blob: LayerBlob, number: int) -> tuple[LayerInventory | None, str]:
    """The inventory to keep for `blob` (its digest set to the blob's), or the reason there is none."""
    where = f"layer {number} ({blob.digest})"
    if scanned.error:
        return None, f"{where}: {scanned.error}"
    if scanned.inventory is None:
        return None, f"{where}: the scanner returned nothing"
    named = _BLOB.match(normal_path(blob.path))
    if named:
        expected = f"{named.group(1)}:{named.group(2)}"
    elif not scanned.compressed:
        expected = blob.diff_id or blob.digest
    else:
        expected = ""  # a compressed docker-archive layer: only its diff id is known, and only after decompression
    if expected.startswith("sha256:") and scanned.digest != expected:
        return None, f"{where}: content does not match its digest (it hashes to {scanned.digest})"
    inventory = scanned.inventory
    if inventory.digest != blob.digest:
        inventory = msgspec.structs.replace(inventory, digest=blob.digest)
    return inventory, ""


# ---------------------------------------------------------------- paths


def normal_path(name: str) -> str:
    """A member name as a path relative to the archive root (`..` stops at the root, as in a
    container); "" for the root itself."""
    path = posixpath.normpath("/" + name.replace("\\", "/")).lstrip("/")
    return "" if path in ("", ".") else path


def _link_target(path: str, member: tarfile.TarInfo) -> str:
    if member.issym():
        return normal_path(posixpath.join(posixpath.dirname(path), member.linkname))
    return normal_path(member.linkname)  # hard links name a path from the archive root


def _resolve(path: str, links: dict[str, str]) -> str:
    for _hop in range(LINK_HOPS):
        if path not in links:
            return path
        path = links[path]
    return ""


# ---------------------------------------------------------------- the three kinds of archive


class _TarFiles:
    """An uncompressed tarball, read in place."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self._tar = tar
        self.members: dict[str, tarfile.TarInfo] = {}
        self.links: dict[str, str] = {}
        for member in tar.getmembers():
            path = normal_path(member.name)
            if not path:
                continue
            if member.issym() or member.islnk():
                self.links[path] = _link_target(path, member)
            elif member.isfile():
                self.members[path] = member
                self.links.pop(path, None)  # a later entry replaces an earlier one

    def _member(self, path: str) -> tarfile.TarInfo | None:
        return self.members.get(_resolve(normal_path(path), self.links))

    def exists(self, path: str) -> bool:
        return self._member(path) is not None

    def read(self, path: str) -> bytes | None:
        member = self._member(path)
        if member is None:
            return None
        stream = self._tar.extractfile(member)
        return stream.read(JSON_LIMIT + 1) if stream is not None else None

    def open(self, path: str) -> BinaryIO | None:
        member = self._member(path)
        return self._tar.extractfile(member) if member is not None else None  # type: ignore[return-value]


class _DirectoryFiles:
    """An OCI layout (or an unpacked docker-archive) in a directory; nothing outside it is read."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def _path(self, path: str) -> Path | None:
        relative = normal_path(path)
        if not relative:
            return None
        candidate = (self._root / relative).resolve()
        if not candidate.is_relative_to(self._root) or not candidate.is_file():
            return None
        return candidate

    def exists(self, path: str) -> bool:
        return self._path(path) is not None

    def read(self, path: str) -> bytes | None:
        found = self._path(path)
        if found is None:
            return None
        with found.open("rb") as file:
            return file.read(JSON_LIMIT + 1)

    def open(self, path: str) -> BinaryIO | None:
        found = self._path(path)
        return found.open("rb") if found is not None else None


@dataclass
class _StreamedFiles:
    """What a front-to-back pass kept: small files, layers already scanned, and the names seen."""

    small: dict[str, bytes] = field(default_factory=dict)
    scanned: dict[str, ScannedLayer] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    """Known layers passed over because the cache has them."""
    present: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)
    buffered: int = 0

    def exists(self, path: str) -> bool:
        return _resolve(normal_path(path), self.links) in self.present

    def read(self, path: str) -> bytes | None:
        return self.small.get(_resolve(normal_path(path), self.links))


# ---------------------------------------------------------------- public entry points


def read_archive(
    path: Path, *, scan: ScanLayer, cache: LayerCache | None = None, platform: Platform | None = None
) -> list[ReadImage]:
    """Every image of a docker-archive or OCI-layout tarball (`.tar`, `.tar.gz`, `.tar.zst` …) or OCI-layout directory.

    Layers whose digest `cache.has` are not read (their inventory is None). `platform` picks one
    manifest of a multi-platform image (None: this machine's, else the first the archive holds).
    Raises ImageSourceError when the archive as a whole cannot be read."""
    name = str(path)
    try:
        if path.is_dir():
            directory = _DirectoryFiles(path)
            return _read_in_place(directory, directory.open, name, scan, cache, platform)
        with path.open("rb") as file:
            head = file.read(512)
        opener = next((open_ for magic, open_ in _DECOMPRESSORS.items() if head.startswith(magic)), None)
        if opener is not None:
            with path.open("rb") as file, opener(file) as plain:
                return read_archive_stream(plain, scan=scan, cache=cache, platform=platform, name=name)
        with tarfile.open(path, mode="r:") as tar:
            files = _TarFiles(tar)
            return _read_in_place(files, files.open, name, scan, cache, platform)
    except FileNotFoundError:
        raise ImageSourceError(name, "no such file or directory") from None
    except tarfile.TarError as error:
        raise ImageSourceError(name, f"not a readable tar archive: {error}") from None
    except (gzip.BadGzipFile, zlib.error, lzma.LZMAError, zstandard.ZstdError) as error:
        raise ImageSourceError(name, f"damaged compressed archive: {error}") from None
    except OSError as error:
        raise ImageSourceError(name, f"cannot read: {error.strerror or error}") from None


def read_archive_stream(
    stream: BinaryIO,
    *,
    scan: ScanLayer,
    cache: LayerCache | None = None,
    known_layers: Iterable[str] = (),
    platform: Platform | None = None,
    name: str = "archive",
) -> list[ReadImage]:
    """Every image of an archive read front to back once (a compressed tarball, `docker save`).

    `known_layers` are digests the caller knows are layers (the Docker engine's diff ids): an OCI
    blob named by one of them is skipped when the cache has it. A docker-archive layer's identity
    is only known once it has been hashed, so those are all scanned. A failure of `stream` itself
    is raised as it came, even when it first surfaced inside a layer the scanner was reading."""
    files = _StreamedFiles()
    known = frozenset(known_layers)
    source = _OneWay(stream)
    try:
        with tarfile.open(fileobj=source, mode="r:") as tar:
            for member in tar:
                _take(tar, member, files, known, scan, cache, name)
        while source.read(READ_SIZE):  # past the end marker: a compressed stream checks its trailer here
            pass
    except tarfile.TarError as error:
        if source.failure is not None:  # tarfile wraps some failures of its source: say the real one
            raise source.failure from None
        if "unexpected end of data" in str(error):
            raise ImageSourceError(name, "the archive is cut short") from None
        raise ImageSourceError(name, f"not a readable tar archive: {error}") from None
    except EOFError:
        raise ImageSourceError(name, "the archive is cut short") from None
    plans = _plans(files, name, platform)
    return _read_images(plans, lambda blob, number: _streamed_layer(files, blob, number, scan, cache))


# ---------------------------------------------------------------- in place


def _plans(files: LayoutFiles, name: str, platform: Platform | None) -> list[ImagePlan]:
    try:
        plans = plan_images(files, platform=platform)
    except ManifestError as error:
        raise ImageSourceError(name, str(error)) from None
    if not plans:
        raise ImageSourceError(name, "the archive holds no image")
    return plans


def _read_in_place(
    files: LayoutFiles,
    open_file: Callable[[str], BinaryIO | None],
    name: str,
    scan: ScanLayer,
    cache: LayerCache | None,
    platform: Platform | None,
) -> list[ReadImage]:
    plans = _plans(files, name, platform)
    return _read_images(plans, lambda blob, number: _layer_in_place(open_file, blob, number, scan, cache))


def _read_images(
    plans: list[ImagePlan], read_layer: Callable[[LayerBlob, int], tuple[LayerInventory | None, str]]
) -> list[ReadImage]:
    """Each plan with its layers read, each distinct layer once however many images share it."""
    inventories: dict[str, tuple[LayerInventory | None, str]] = {}
    images = []
    for plan in plans:
        layer_inventories: list[LayerInventory | None] = []
        errors = list(plan.errors)
        for number, blob in enumerate(plan.blobs, 1):
            if blob.digest not in inventories:
                inventories[blob.digest] = read_layer(blob, number)
            inventory, error = inventories[blob.digest]
            layer_inventories.append(inventory)
            if error:
                errors.append(error)
        images.append(_read_image(plan, layer_inventories, errors))
    return images


def _layer_in_place(
    open_file: Callable[[str], BinaryIO | None],
    blob: LayerBlob,
    number: int,
    scan: ScanLayer,
    cache: LayerCache | None,
) -> tuple[LayerInventory | None, str]:
    if cache is not None and cache.has(blob.digest):
        return None, ""
    stream = open_file(blob.path)
    if stream is None:
        return None, f"layer {number} ({blob.digest}): {blob.path} is not in the archive"
    with stream:
        return _accept(scan_stream(stream, digest=blob.digest, scan=scan), blob, number)


# ---------------------------------------------------------------- front to back


def _take(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    files: _StreamedFiles,
    known: frozenset[str],
    scan: ScanLayer,
    cache: LayerCache | None,
    name: str,
) -> None:
    """Keep, scan or pass over one member of a stream, as what it must be tells."""
    path = normal_path(member.name)
    if not path:
        return
    if member.issym() or member.islnk():
        files.links[path] = _link_target(path, member)
        return
    if not member.isfile():
        return
    files.present.add(path)
    files.links.pop(path, None)
    blob = _BLOB.match(path)
    digest = f"{blob.group(1)}:{blob.group(2)}" if blob else ""
    cached = bool(digest) and cache is not None and cache.has(digest)
    if digest in known or path.endswith("/layer.tar"):
        if cached:
            files.skipped.add(path)
        else:
            files.scanned[path] = _scan_member(tar, member, digest, scan)
    elif member.size <= SMALL_FILE:
        files.buffered += member.size
        if files.buffered > BUFFER_LIMIT:
            raise ImageSourceError(name, f"more than {BUFFER_LIMIT // 2**20} MiB of small files: not an image archive")
        stream = tar.extractfile(member)
        files.small[path] = stream.read() if stream is not None else b""
    elif cached:
        files.skipped.add(path)
    else:
        # large and not a known layer: nothing else in an image is this big
        files.scanned[path] = _scan_member(tar, member, digest, scan)


def _scan_member(tar: tarfile.TarFile, member: tarfile.TarInfo, digest: str, scan: ScanLayer) -> ScannedLayer:
    stream = tar.extractfile(member)
    if stream is None:
        return ScannedLayer(None, "", False, "not a regular file")
    # until the manifests are read a docker-archive layer's digest is unknown; _accept sets it
    return scan_stream(stream, digest=digest or "sha256:" + "0" * 64, scan=scan)


def _streamed_layer(
    files: _StreamedFiles, blob: LayerBlob, number: int, scan: ScanLayer, cache: LayerCache | None
) -> tuple[LayerInventory | None, str]:
    path = _resolve(normal_path(blob.path), files.links)
    if path in files.scanned:
        return _accept(files.scanned[path], blob, number)
    if path in files.small:
        if cache is not None and cache.has(blob.digest):
            return None, ""
        scanned = scan_stream(io.BytesIO(files.small[path]), digest=blob.digest, scan=scan)
        return _accept(scanned, blob, number)
    if path in files.skipped or (cache is not None and cache.has(blob.digest)):
        return None, ""
    return None, f"layer {number} ({blob.digest}): {blob.path} is not in the archive"


def _read_image(plan: ImagePlan, layer_inventories: list[LayerInventory | None], errors: list[str]) -> ReadImage:
    diff_ids = tuple(blob.diff_id for blob in plan.blobs)
    return ReadImage(
        digest=plan.digest,
        references=plan.references,
        config=plan.config,
        layers=plan.layers,
        layer_inventories=layer_inventories,
        base_digest=plan.base_digest,
        errors=errors,
        base_name=plan.base_name,
        config_digest=plan.config_digest,
        diff_ids=diff_ids if all(diff_ids) else (),
        trailing_steps=plan.trailing_steps,
    )
