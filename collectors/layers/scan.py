"""Scan one layer blob: stream its tar once, in memory, and find what it holds.

The blob is sniffed for its compression (gzip, zstd or none), decompressed as it
is read and walked member by member with `tarfile` in streaming mode. Nothing is
extracted and no link is ever followed: the scanner only looks at member
headers, and reads the content of the few members someone wants (a package
database reader, the os-release files). Every byte counts against `Limits`, so a
hostile layer (decompression bomb, enormous or endless members, millions of
entries, paths escaping the root) ends the scan with an `error` and the facts
found so far, never with an exception.

Decisions worth knowing:
- Paths are normalised as the container runtime applies them: `./` and leading
  `/` go, `.` and `..` resolve lexically, and `..` at the root of an absolute
  name stays at the root (Docker's `filepath.Clean`). A relative name that
  climbs out of the root is skipped and recorded in `error` (the runtime
  refuses such a layer).
- Executables count by name in the usual bin dirs, whatever points where:
  regular files and hard links with an execute bit, and symlinks (`bin/sh ->
  dash` is a shell, busybox applets are links to busybox). Interpreters
  (python, perl, node …) are not recorded: they are the application runtime
  of the images that ship them, so they say nothing an image's purpose does not.
- A hard link has no content of its own in a tar, and a stream cannot go back
  to its target. When the link's path is one a reader wants and the target was
  read earlier in the layer, the target's PackageDB (or os-release) is recorded
  again under the link's path; otherwise the link gets a PackageDB whose error
  says its content was not kept.
- Device files, fifos and directories are ignored; symlink loops are harmless
  because nothing follows links.
"""

from __future__ import annotations

import abc
import tarfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

import msgspec
import zstandard

from audit.images import Executable, LayerInventory, OSRelease, PackageDB
from collectors.layers import apk, dpkg, go, java, npm, python, rpm  # noqa: F401  (each registers its readers)
from collectors.layers.os_release import (
    OS_RELEASE_PATHS,
    RELEASE_FILE_BYTES,
    RELEASE_FILE_PATHS,
    first_line,
    parse_os_release,
)
from collectors.layers.readers import READERS, DatabaseReader, Member

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what one layer may cost. Reaching the layer, member or path caps stops the scan with an error;
    a database over its cap is recorded with an error and not read, and the scan goes on."""

    layer_bytes: int = 8 * GiB
    """Uncompressed tar bytes per layer (a decompression bomb stops here)."""
    database_bytes: int = 256 * MiB
    """Size of one package database file handed to a reader; a bigger one gets a PackageDB error."""
    members: int = 2_000_000
    """Tar entries per layer."""
    path_length: int = 4096
    """Length of a member name or link target (Linux PATH_MAX)."""


class LayerReadError(Exception):
    """The layer cannot be read on: corrupt compression, a broken tar, a cap reached. One-line message."""


def scan_layer(stream: BinaryIO, *, digest: str, limits: Limits = Limits()) -> LayerInventory:
    """Read one layer blob (gzip, zstd or plain tar) from `stream` once and describe what it holds.

    Never raises for bad content: the inventory's `error` says what stopped the scan or what was
    skipped, and everything found before stays.
    """
    scan = _LayerScan(limits)
    tar_bytes: _TarBytes | None = None
    try:
        tar_bytes = open_tar_bytes(stream, limit=limits.layer_bytes)
        with tarfile.open(fileobj=tar_bytes, mode="r|", bufsize=_TAR_BUFFER, tarinfo=_LayerTarInfo) as archive:
            scan.walk(archive)
    except LayerReadError as error:
        scan.stop(str(error))
    except tarfile.TarError as error:
        scan.stop(f"unreadable tar after {scan.last_member!r}: {error}")
    except Exception as error:  # hostile input must never end the audit; say what broke and where
        scan.stop(f"unexpected {type(error).__name__} after {scan.last_member!r}: {error}")
    return scan.inventory(digest, size=tar_bytes.count if tar_bytes is not None else 0)


# Decompression ----------------------------------------------------------------------------------------------

_TAR_BUFFER = 64 * 1024
"""What tarfile asks of the stream at a time: large enough to skip content fast, small enough that its
buffer copies stay cheap for many small members."""

_INPUT_CHUNK = 128 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_SKIPPABLE_FIRST = frozenset(bytes([first]) for first in range(0x50, 0x60))
"""A zstd stream may open with a skippable frame (magic 0x184D2A5?, little-endian)."""
_UNSUPPORTED_MAGIC = {b"\xfd7zXZ\x00": "xz", b"BZh": "bzip2", b"\x04\x22\x4d\x18": "lz4"}


def open_tar_bytes(stream: BinaryIO, *, limit: int) -> _TarBytes:
    """The uncompressed tar inside a layer blob, sniffed from its first bytes, capped at `limit` bytes."""
    head = _read_head(stream, 6)
    if head.startswith(_GZIP_MAGIC):
        return _GzipTarBytes(stream, head, limit)
    if head.startswith(_ZSTD_MAGIC) or (head[:1] in _ZSTD_SKIPPABLE_FIRST and head[1:4] == b"\x2a\x4d\x18"):
        return _ZstdTarBytes(stream, head, limit)
    for magic, name in _UNSUPPORTED_MAGIC.items():
        if head.startswith(magic):
            raise LayerReadError(f"{name}-compressed layers are not supported")
    return _PlainTarBytes(stream, head, limit)


def _read_head(stream: BinaryIO, size: int) -> bytes:
    head = b""
    while len(head) < size:
        more = stream.read(size - len(head))
        if not more:
            break
        head += more
    return head


class _TarBytes(abc.ABC):
    """A forward-only file object over the uncompressed tar: counts the bytes and stops at the cap.

    Once it fails it keeps failing, so a reader that swallows the error cannot hide it from the scan.
    """

    def __init__(self, limit: int) -> None:
        self.count = 0
        """Uncompressed bytes handed out so far."""
        self.limit = limit
        self._failure: str | None = None

    def read(self, size: int = -1) -> bytes:
        if self._failure is not None:
            raise LayerReadError(self._failure)
        try:
            data = self._decompress(size if size is not None and size > 0 else _INPUT_CHUNK)
        except LayerReadError as error:
            self._failure = str(error)
            raise
        self.count += len(data)
        if self.count > self.limit:
            self._failure = f"layer is larger than the cap of {self.limit} uncompressed bytes"
            raise LayerReadError(self._failure)
        return data

    @abc.abstractmethod
    def _decompress(self, size: int) -> bytes:
        """Up to `size` more uncompressed bytes; b"" at the end."""


class _PlainTarBytes(_TarBytes):
    def __init__(self, source: BinaryIO, head: bytes, limit: int) -> None:
        super().__init__(limit)
        self._source = source
        self._head = head

    def _decompress(self, size: int) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return self._source.read(size)


class _GzipTarBytes(_TarBytes):
    """Gzip, including several concatenated gzip members (pigz and some registries write them)."""

    def __init__(self, source: BinaryIO, head: bytes, limit: int) -> None:
        super().__init__(limit)
        self._source = source
        self._input = head
        self._inflater = zlib.decompressobj(31)

    def _decompress(self, size: int) -> bytes:
        inflater = self._inflater
        while True:
            if inflater.eof:
                rest = inflater.unused_data or self._source.read(_INPUT_CHUNK)
                if not rest.startswith(_GZIP_MAGIC[:len(rest)]) or not rest:
                    return b""  # the end, or padding after it that gzip(1) also ignores
                inflater = self._inflater = zlib.decompressobj(31)
                self._input = rest
            if not self._input:
                self._input = self._source.read(_INPUT_CHUNK)
                if not self._input:
                    raise LayerReadError(f"gzip stream ends early, after {self.count} uncompressed bytes (truncated)")
            try:
                data = inflater.decompress(self._input, size)
            except zlib.error as error:
                raise LayerReadError(f"gzip data is corrupt after {self.count} uncompressed bytes: {error}") from None
            self._input = inflater.unconsumed_tail
            if data:
                return data


class _ZstdTarBytes(_TarBytes):
    """Zstandard, frame after frame. A stream cut between frames is caught by the tar's missing end block."""

    def __init__(self, source: BinaryIO, head: bytes, limit: int) -> None:
        super().__init__(limit)
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            _Prefixed(head, source), read_size=_INPUT_CHUNK, read_across_frames=True, closefd=False
        )

    def _decompress(self, size: int) -> bytes:
        try:
            return self._reader.read(size)
        except zstandard.ZstdError as error:
            raise LayerReadError(f"zstd data is corrupt after {self.count} uncompressed bytes: {error}") from None


class _Prefixed:
    """The sniffed first bytes, then the rest of the stream."""

    def __init__(self, head: bytes, source: BinaryIO) -> None:
        self._head = head
        self._source = source

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = self._head, b""
            return data
        return self._source.read(size)


# Tar headers ------------------------------------------------------------------------------------------------

_HEADER_BYTES = 1 * MiB
"""Cap on a pax or GNU long-name header, which tarfile would otherwise read whole into memory."""

_EXTENDED_HEADER_TYPES = frozenset(
    {tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE}
)


class _LayerTarInfo(tarfile.TarInfo):
    """tarfile's header reader, made strict where it would silently stop or trust a size."""

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tarfile_)
        except tarfile.EOFHeaderError:
            raise  # the end-of-archive block: the proper end
        except tarfile.EmptyHeaderError:
            if tarfile_.offset == 0:
                raise LayerReadError("layer is empty (no tar header)") from None
            raise LayerReadError(
                f"tar ends without its end-of-archive block at byte {tarfile_.offset} (truncated)"
            ) from None
        except tarfile.TruncatedHeaderError:
            raise LayerReadError(f"tar header cut short at byte {tarfile_.offset} (truncated)") from None
        except tarfile.InvalidHeaderError as error:
            raise LayerReadError(f"not a tar header at byte {tarfile_.offset}: {error}") from None

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        # tarfile documents _proc_member as the hook for subclasses.
        if self.type in _EXTENDED_HEADER_TYPES and self.size > _HEADER_BYTES:
            raise LayerReadError(f"extended tar header at byte {self.offset} declares {self.size} bytes")
        return super()._proc_member(tarfile_)


# Paths ------------------------------------------------------------------------------------------------------


def normalise_member_path(name: str) -> str | None:
    """The path a member lands on, relative to the root without a leading slash; None if it climbs out.

    `./usr/bin/sh`, `/usr/bin/sh` and `usr/lib/../bin/sh` all give `usr/bin/sh`; `/../etc/x` stays at
    the root (`etc/x`) as the runtime applies it, while `../etc/x` escapes and gives None.
    """
    if not (name.startswith((".", "/")) or "/." in name or "//" in name or name.endswith("/")):
        return name  # the common case: already clean
    rooted = name.startswith("/")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            elif not rooted:
                return None
            continue
        parts.append(part)
    return "/".join(parts)


def _printable(path: str) -> str:
    """The path as it can be stored: names that are not UTF-8 keep their bytes as replacement characters."""
    if path.isascii():
        return path
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# Executables ------------------------------------------------------------------------------------------------

_BIN_DIRS = frozenset({"bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin"})

_EXECUTABLE_KINDS: dict[str, str] = {
    **dict.fromkeys(("sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox"), "shell"),
    **dict.fromkeys(
        ("apt", "apt-get", "dpkg", "apk", "dnf", "yum", "microdnf", "tdnf", "rpm", "zypper", "pip", "pip3", "npm",
         "gem"),
        "package-manager",
    ),
    **dict.fromkeys(("curl", "wget", "nc", "nc.openbsd", "nc.traditional", "ncat", "netcat", "socat", "nmap"), "tool"),
}


def executable_kind(name: str) -> str | None:
    """`shell`, `package-manager` or `tool` for a file name of interest in a bin dir, else None."""
    kind = _EXECUTABLE_KINDS.get(name)
    if kind is None and name.startswith("pip3."):
        return "package-manager"  # pip3.11 and friends
    return kind


_EXECUTE_BITS = 0o111


# The walk ---------------------------------------------------------------------------------------------------

_WHITEOUT_PREFIX = ".wh."
_OPAQUE_MARKER = ".wh..wh..opq"
_ERRORS_KEPT = 10


class _LayerScan:
    """The state of one walk over a layer's tar: what has been found, and what went wrong."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.last_member = ""
        self.databases: dict[str, PackageDB] = {}
        self.executables: dict[str, Executable] = {}
        self.os_releases: dict[str, OSRelease] = {}
        self.os_files: dict[str, str] = {}
        self.whiteouts: dict[str, None] = {}
        self.opaque_dirs: dict[str, None] = {}
        self.errors: list[str] = []
        self.error_count = 0

    def note(self, message: str) -> None:
        """Record something skipped; the walk goes on."""
        self.error_count += 1
        if len(self.errors) < _ERRORS_KEPT:
            self.errors.append(message)

    def stop(self, message: str) -> None:
        """Record why the walk ended early."""
        self.error_count += 1
        self.errors.append(message)

    def walk(self, archive: tarfile.TarFile) -> None:
        limits = self.limits
        # streaming readers (Go binaries: any large executable) come last, so nothing more
        # specific loses a file to them
        readers = tuple(sorted(READERS, key=lambda reader: reader.streams))
        bin_dirs = _BIN_DIRS
        kinds = _EXECUTABLE_KINDS
        members = 0
        while (info := archive.next()) is not None:
            archive.members.clear()  # tarfile keeps every header otherwise: millions of them in a big layer
            members += 1
            name = info.name
            self.last_member = name
            if members > limits.members:
                raise LayerReadError(f"layer has more than {limits.members} tar entries")
            if len(name) > limits.path_length or len(info.linkname) > limits.path_length:
                raise LayerReadError(f"tar entry at byte {info.offset} has a name longer than {limits.path_length}")
            if archive.offset > limits.layer_bytes:
                # Checked before tarfile skips the content, so a huge declared size costs nothing.
                raise LayerReadError(
                    f"{name!r} ({info.size} bytes) would end at byte {archive.offset}, "
                    f"past the cap of {limits.layer_bytes} bytes per layer"
                )
            path = normalise_member_path(name)
            if path is None:
                self.note(f"{name!r} climbs out of the layer root; skipped")
                continue
            directory, _, base = path.rpartition("/")
            if base.startswith(_WHITEOUT_PREFIX):
                self._whiteout(directory, base)
                continue
            if (base in kinds or base.startswith("pip3.")) and directory in bin_dirs:
                self._executable(info, path, base)
            if info.isreg():
                self._regular_file(archive, info, path, readers)
            elif info.islnk():
                self._hard_link(info, path, readers)

    def _whiteout(self, directory: str, base: str) -> None:
        if base == _OPAQUE_MARKER:
            self.opaque_dirs[_printable(directory)] = None
        elif not base.startswith(_WHITEOUT_PREFIX + _WHITEOUT_PREFIX) and len(base) > len(_WHITEOUT_PREFIX):
            # `.wh..wh.*` other than the opaque marker are aufs bookkeeping, not deletions.
            hidden = base[len(_WHITEOUT_PREFIX) :]
            self.whiteouts[_printable(f"{directory}/{hidden}" if directory else hidden)] = None

    def _executable(self, info: tarfile.TarInfo, path: str, base: str) -> None:
        if info.issym() or ((info.isreg() or info.islnk()) and info.mode & _EXECUTE_BITS):
            kind = executable_kind(base)
            if kind is not None:
                self.executables[path] = Executable(path=path, kind=kind, name=base)
                return
        self.executables.pop(path, None)  # a later entry replaced an executable with something else

    def _regular_file(
        self, archive: tarfile.TarFile, info: tarfile.TarInfo, path: str, readers: tuple[DatabaseReader, ...]
    ) -> None:
        if path in _RELEASE_PATHS:
            self._release_file(archive, info, path)
            return
        member = Member(path=path, size=info.size, mode=info.mode)
        for reader in readers:
            if reader.wants(member):
                self._read_database(archive, info, member, reader)
                return

    def _read_database(
        self, archive: tarfile.TarFile, info: tarfile.TarInfo, member: Member, reader: DatabaseReader
    ) -> None:
        path = _printable(member.path)
        if info.size > self.limits.database_bytes and not reader.streams:
            self.databases[path] = PackageDB(
                path=path,
                kind=reader.kind,
                error=f"{info.size} bytes, past the cap of {self.limits.database_bytes} bytes per database; not read",
            )
            return
        content = archive.extractfile(info)
        if content is None:
            return
        try:
            database = reader.read(member, content)
        except (LayerReadError, tarfile.ReadError):
            raise  # the layer itself broke under the reader: that ends the scan, not just this database
        except Exception as error:  # a reader bug or an input it did not expect must not end the scan
            message = f"{reader.kind} reader failed: {type(error).__name__}: {error}"
            database = PackageDB(path=path, kind=reader.kind, error=message.replace("\n", " "))
        if database is not None:
            self.databases[path] = database

    def _release_file(self, archive: tarfile.TarFile, info: tarfile.TarInfo, path: str) -> None:
        if info.size > RELEASE_FILE_BYTES:
            self.note(f"{path} is {info.size} bytes, too big for a release file; not read")
            return
        content = archive.extractfile(info)
        if content is None:
            return
        data = content.read(RELEASE_FILE_BYTES)
        if path in OS_RELEASE_PATHS:
            self.os_releases[path] = parse_os_release(data.decode("utf-8", "replace"), path=path)
        else:
            self.os_files[path] = first_line(data)

    def _hard_link(self, info: tarfile.TarInfo, path: str, readers: tuple[DatabaseReader, ...]) -> None:
        target = normalise_member_path(info.linkname)
        if target is None:
            self.note(f"hard link {info.name!r} points out of the layer root ({info.linkname!r}); skipped")
            return
        if path in OS_RELEASE_PATHS:
            if target in self.os_releases:
                self.os_releases[path] = msgspec.structs.replace(self.os_releases[target], path=path)
            return
        if path in _RELEASE_PATHS:
            if target in self.os_files:
                self.os_files[path] = self.os_files[target]
            return
        member = Member(path=path, size=info.size, mode=info.mode)
        reader = next((r for r in readers if r.wants(member)), None)
        if reader is None:
            return
        path = _printable(path)
        source = self.databases.get(_printable(target))
        if source is None:
            self.databases[path] = PackageDB(
                path=path,
                kind=reader.kind,
                error=f"hard link to {target!r}, whose content was not kept by the scan; not read",
            )
            return
        self.databases[path] = msgspec.structs.replace(
            source,
            path=path,
            packages=tuple(msgspec.structs.replace(p, path=path) for p in source.packages),
        )

    def inventory(self, digest: str, *, size: int) -> LayerInventory:
        os_release = next((self.os_releases[p] for p in OS_RELEASE_PATHS if p in self.os_releases), None)
        error = None
        if self.errors:
            more = self.error_count - len(self.errors)
            error = "; ".join(self.errors) + (f"; and {more} more" if more > 0 else "")
            error = error.replace("\r", " ").replace("\n", " ")  # one line, whatever an exception said
        return LayerInventory(
            digest=digest,
            size=size,
            databases=tuple(self.databases.values()),
            executables=tuple(self.executables.values()),
            os_release=os_release,
            os_files=dict(self.os_files),
            whiteouts=tuple(self.whiteouts),
            opaque_dirs=tuple(self.opaque_dirs),
            error=error,
        )


_RELEASE_PATHS = frozenset(OS_RELEASE_PATHS + RELEASE_FILE_PATHS)
