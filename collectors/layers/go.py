"""Go modules: the build info the Go toolchain embeds in every binary it links.

Since Go 1.18 the linker writes a 32-byte header into the binary's writable
data: the magic `\\xff Go buildinf:` at a 16-byte aligned offset, the pointer
size, and a flags byte whose bit 2 says the two strings follow inline, each
prefixed by its length as an unsigned varint: the toolchain version
(`go1.22.5`) and the module info (`runtime/debug.BuildInfo` in text form,
framed by 16 sentinel bytes at each end), whose tab-separated lines are

    path  github.com/org/app/cmd/app        the main package (not a module: ignored)
    mod   github.com/org/app  (devel)  h1:…  the main module
    dep   golang.org/x/net    v0.23.0  h1:…  a dependency
    =>    ../net-fork         (devel)        replaces the module on the line above

The reader reports the main module, every dependency (a replacement wins: it
is the code actually built in, even when it names a local directory, whose
version is then `(devel)`), and the toolchain itself as the module `stdlib`
with its version (`go1.22.5`; extras such as ` X:boringcrypto` dropped), as
OSV's Go ecosystem calls it. Binaries built outside module mode (GOPATH,
some vendored release builds such as the docker CLI) carry no `mod` line:
only `stdlib` is known for them.

Only ELF files are read, and only as far as needed: the program headers at
the start say where the writable segments lie, the build info is in one of
them (Go's own `debug/buildinfo` looks there too when section headers are
stripped), and the search stops at the first aligned magic followed by a
plausible header (programs using `debug/buildinfo` carry the magic as a
constant too). A non-Go ELF costs reading up to the end of its writable data,
which the layer scan has to read through anyway. Go's pointer-based format
from before 1.18 is reported as not supported.

This reader wants any executable, so it should be asked last: a jar or a
METADATA file with a stray executable bit belongs to its own reader (the
names those readers take are excluded here as well).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from audit.images import Package, PackageDB
from collectors.layers.readers import DatabaseReader, Member, register

BINARY_CAP = 1024 * 1024 * 1024
"""Bytes of one binary read at most while looking for the build info."""
BUILD_INFO_CAP = 4 * 1024 * 1024
"""Longest version or module-info string accepted (a binary with 300 dependencies has about 40 KiB)."""
MIN_BINARY_SIZE = 4096
"""Smaller executables are scripts or stubs: the smallest Go binary is about a megabyte."""

_MAGIC = b"\xff Go buildinf:"
_HEADER_SIZE = 32
_ALIGN = 16
_FLAG_INLINE_STRINGS = 0x2
_CHUNK = 1024 * 1024
_PROGRAM_HEADERS_CAP = 64 * 1024
_PT_LOAD = 1
_PF_X, _PF_W = 0x1, 0x2
# Files other readers own (an executable bit is often set by a careless COPY) or that cannot be ELF.
_NOT_BINARIES = (".jar", ".war", ".ear", ".json", "/METADATA", "/PKG-INFO", ".egg-info", ".py", ".sh", ".pl", ".rb",
                 ".js", ".txt")


def wants_go_binary(member: Member) -> bool:
    """Whether the file may be a Go binary: executable, not tiny, not a script or archive by its name."""
    return member.mode & 0o111 != 0 and member.size >= MIN_BINARY_SIZE and not member.path.endswith(_NOT_BINARIES)


def read_go_binary(
    member: Member, stream: BinaryIO, *, cap: int = BINARY_CAP, info_cap: int = BUILD_INFO_CAP
) -> PackageDB | None:
    """The modules a Go binary was built from; None for anything that is not a Go ELF binary."""
    source = _CappedStream(stream, cap)
    head = source.read(64)
    if not head.startswith(b"\x7fELF"):
        return None
    segments = _writable_segments(head, source)
    if not segments:
        return None
    found = _find_build_info(source, segments)
    if found is None:
        if source.at_cap and segments[-1][1] > cap:
            return _failed(member, f"its writable data lies past the {cap // (1024 * 1024)} MiB cap; not searched")
        return None
    return _decode_build_info(member, found, source, info_cap)


class _CappedStream:
    """Sequential reads from a member's stream that never go past `cap` bytes in all."""

    def __init__(self, stream: BinaryIO, cap: int) -> None:
        self._stream = stream
        self._cap = cap
        self.position = 0

    @property
    def at_cap(self) -> bool:
        return self.position >= self._cap

    def read(self, size: int) -> bytes:
        """Up to `size` bytes; fewer only at the end of the file or the cap."""
        size = min(size, self._cap - self.position)
        parts = []
        while size > 0:
            data = self._stream.read(size)
            if not data:
                break
            parts.append(data)
            size -= len(data)
            self.position += len(data)
        return b"".join(parts)

    def skip_to(self, offset: int) -> bool:
        """Read and drop bytes up to `offset` (the stream may not seek); False at the end or the cap."""
        while self.position < offset:
            if not self.read(min(_CHUNK, offset - self.position)):
                return False
        return True


def _writable_segments(head: bytes, source: _CappedStream) -> list[tuple[int, int]]:
    """(start, end) file ranges of the loadable writable, non-executable segments, in file order."""
    elf_class, encoding = head[4:5], head[5:6]
    order = {b"\x01": "<", b"\x02": ">"}.get(encoding)
    if order is None or elf_class not in (b"\x01", b"\x02") or len(head) < 64:
        return []
    wide = elf_class == b"\x02"
    if wide:
        (table,) = struct.unpack_from(order + "Q", head, 32)
        entry_size, count = struct.unpack_from(order + "HH", head, 54)
    else:
        (table,) = struct.unpack_from(order + "I", head, 28)
        entry_size, count = struct.unpack_from(order + "HH", head, 42)
    table_end = table + entry_size * count
    if entry_size < (56 if wide else 32) or count == 0 or table_end > _PROGRAM_HEADERS_CAP:
        return []
    headers = head + source.read(table_end - len(head)) if table_end > len(head) else head
    if len(headers) < table_end:
        return []
    segments = []
    for entry in range(table, table_end, entry_size):
        if wide:
            kind, flags, offset, _vaddr, _paddr, size = struct.unpack_from(order + "IIQQQQ", headers, entry)
        else:
            kind, offset, _vaddr, _paddr, size, _memsz, flags = struct.unpack_from(order + "7I", headers, entry)
        if kind == _PT_LOAD and flags & (_PF_X | _PF_W) == _PF_W and size > 0:
            segments.append((offset, offset + size))
    return sorted(segments)


def _find_build_info(source: _CappedStream, segments: list[tuple[int, int]]) -> bytearray | None:
    """The bytes from the build info header on (more can be read from `source`), None when there is none.

    A candidate must be 16-byte aligned and look like a header the linker writes: some Go programs
    (debug/buildinfo's users, the go command itself) carry the magic in their data as a constant.
    """
    keep = _HEADER_SIZE - 1
    for start, end in segments:
        if not source.skip_to(start):
            return None
        carried = b""
        while source.position < end:
            chunk = source.read(min(_CHUNK, end - source.position))
            if not chunk:
                return None
            window = carried + chunk
            window_offset = source.position - len(window)
            at = window.find(_MAGIC)
            while at >= 0 and len(window) - at >= _HEADER_SIZE:
                if (window_offset + at) % _ALIGN == 0 and _looks_like_header(window, at):
                    return bytearray(window[at:])
                at = window.find(_MAGIC, at + 1)
            # Keep a candidate whose header the next read completes, or enough to see one straddle the reads.
            carried = window[at:] if at >= 0 else window[-keep:]
    return None


def _looks_like_header(window: bytes, at: int) -> bool:
    pointer_size, flags = window[at + 14], window[at + 15]
    if pointer_size not in (4, 8):
        return False
    if flags & _FLAG_INLINE_STRINGS:
        return window[at + 16 : at + _HEADER_SIZE] == bytes(16)  # the unused pointer slots are zero
    return flags in (0, 1)  # pre-1.18: only the byte order bit


def _decode_build_info(member: Member, blob: bytearray, source: _CappedStream, info_cap: int) -> PackageDB:
    _fill(blob, source, _HEADER_SIZE + 10)  # _find_build_info saw the whole header
    if not blob[15] & _FLAG_INLINE_STRINGS:
        return _failed(member, "pre-1.18 Go build info not supported")
    strings: list[bytes] = []
    position = _HEADER_SIZE
    for what in ("toolchain version", "module info"):
        length_and_start = _uvarint(blob, position)
        if length_and_start is None:
            return _failed(member, f"Go build info {what} length is truncated or malformed")
        length, position = length_and_start
        if length > info_cap:
            return _failed(member, f"Go build info {what} claims {length} bytes, over the {info_cap} cap")
        _fill(blob, source, position + length + 10)
        if len(blob) < position + length:
            return _failed(member, f"Go build info {what} is truncated")
        strings.append(bytes(blob[position : position + length]))
        position += length
    toolchain = strings[0].decode("utf-8", "replace").split()
    if not toolchain:
        return _failed(member, "Go build info has no toolchain version")
    packages, problem = _modules(_unframe(strings[1]).decode("utf-8", "replace"), member.path)
    packages.append(Package(name="stdlib", version=toolchain[0], ecosystem="golang", path=member.path))
    return PackageDB(path=member.path, kind="go-binary", packages=tuple(packages), error=problem)


def _fill(blob: bytearray, source: _CappedStream, size: int) -> None:
    """Read on until `blob` holds `size` bytes, or the file or the cap ends."""
    if len(blob) < size:
        blob += source.read(size - len(blob))


def _uvarint(data: bytearray, position: int) -> tuple[int, int] | None:
    """An unsigned LEB128 varint (Go's binary.Uvarint) and the position after it; None when cut off or too long."""
    value = shift = 0
    for index in range(position, min(position + 10, len(data))):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    return None


def _unframe(module_info: bytes) -> bytes:
    """The module info without its 16-byte sentinels; empty when it is not framed as Go frames it."""
    if len(module_info) >= 33 and module_info[-17:-16] == b"\n":
        return module_info[16:-16]
    return b""


def _modules(text: str, path: str) -> tuple[list[Package], str | None]:
    """The main module and dependencies, replacements applied; the first malformed line, if any."""
    modules: list[tuple[str, str]] = []
    replaceable: int | None = None
    problem = None
    for number, line in enumerate(text.split("\n"), start=1):
        fields = line.split("\t")
        if fields[0] not in ("mod", "dep", "=>"):
            continue
        if len(fields) < 2 or not fields[1]:
            problem = problem or f"malformed Go module info line {number}"
            continue
        module = (fields[1], fields[2] if len(fields) > 2 and fields[2] else "(devel)")
        if fields[0] != "=>":
            modules.append(module)
            replaceable = len(modules) - 1
        elif replaceable is None:
            problem = problem or f"Go module info line {number} replaces nothing"
        else:
            modules[replaceable] = module
            replaceable = None
    packages = [Package(name=name, version=version, ecosystem="golang", path=path) for name, version in modules]
    return packages, problem


def _failed(member: Member, why: str) -> PackageDB:
    return PackageDB(path=member.path, kind="go-binary", error=why)


GO_READER = register(DatabaseReader(kind="go-binary", wants=wants_go_binary, read=read_go_binary, streams=True))
