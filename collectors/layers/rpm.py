"""rpm databases: `rpmdb.sqlite` (rpm 4.16 and later) and the BerkeleyDB hash `Packages` (RHEL 8 and older).

Both store one rpm header blob per installed package; the header format is
parsed here (index entries, then the data store) for NAME, VERSION, RELEASE,
EPOCH, ARCH and SOURCERPM. The SQLite file is loaded into an in-memory database
with `deserialize`, so nothing is written beside it; the BerkeleyDB file is
parsed page by page (hash pages point at chains of overflow pages that hold the
blobs). `gpg-pubkey` entries are the imported signing keys, not packages, and
are left out. The NDB `Packages.db` (SUSE) is not read.

Versions read as rpm prints them, `[epoch:]version-release`. The source package
comes from SOURCERPM (`bash-5.1.8-6.el9.src.rpm`: `bash`, `5.1.8-6.el9`) and
carries the binary's epoch, since a spec's Epoch applies to every package it
builds.
"""

from __future__ import annotations

import sqlite3
import struct
from typing import BinaryIO

from audit.images import Package, PackageDB
from collectors.layers.readers import DatabaseReader, Member, register

RPM_DIRS = ("var/lib/rpm/", "usr/lib/sysimage/rpm/")
"""`usr/lib/sysimage/rpm` is where Fedora 36+ and openSUSE keep it (`var/lib/rpm` links there)."""
MAX_BYTES = 256 * 1024 * 1024


class HeaderError(ValueError):
    """An rpm header blob that cannot be read."""


# Header blobs -----------------------------------------------------------------------------------------------

_NAME, _VERSION, _RELEASE, _EPOCH, _ARCH, _SOURCERPM = 1000, 1001, 1002, 1003, 1022, 1044
_WANTED_TAGS = frozenset({_NAME, _VERSION, _RELEASE, _EPOCH, _ARCH, _SOURCERPM})
_TYPE_INT32, _TYPE_STRING = 4, 6
_MAX_INDEX_ENTRIES = 0xFFFF
_INDEX_ENTRY = struct.Struct(">iIiI")


def parse_header(blob: bytes) -> dict[int, str | int]:
    """The tags of an rpm header blob (as stored in the databases: no lead, no magic) that name a package."""
    if len(blob) < 8:
        raise HeaderError(f"header of {len(blob)} bytes is too short")
    entries, data_length = struct.unpack_from(">II", blob, 0)
    store = 8 + 16 * entries
    if entries > _MAX_INDEX_ENTRIES or store + data_length > len(blob):
        raise HeaderError(f"header claims {entries} tags and {data_length} data bytes, more than its {len(blob)}")
    end = store + data_length
    values: dict[int, str | int] = {}
    for tag, kind, offset, count in _INDEX_ENTRY.iter_unpack(memoryview(blob)[8:store]):
        if tag not in _WANTED_TAGS:
            continue
        start = store + offset
        if offset < 0 or start >= end or count < 1:
            raise HeaderError(f"tag {tag} points outside the header's data")
        if kind == _TYPE_STRING:
            stop = blob.find(b"\0", start, end)
            if stop < 0:
                raise HeaderError(f"tag {tag} is a string without its terminating NUL")
            values[tag] = blob[start:stop].decode("utf-8", "replace")
        elif kind == _TYPE_INT32 and start + 4 <= end:
            values[tag] = struct.unpack_from(">I", blob, start)[0]
        else:
            raise HeaderError(f"tag {tag} has type {kind}, not the string or number it should be")
    return values


def package_from_header(values: dict[int, str | int], path: str) -> Package | None:
    """The Package an rpm header describes; None for `gpg-pubkey` entries (signing keys)."""
    name, version, release = values.get(_NAME), values.get(_VERSION), values.get(_RELEASE)
    if not isinstance(name, str) or not isinstance(version, str) or not isinstance(release, str):
        raise HeaderError("header without NAME, VERSION or RELEASE")
    if name == "gpg-pubkey":
        return None
    epoch = values.get(_EPOCH)
    prefix = f"{epoch}:" if isinstance(epoch, int) else ""
    arch = values.get(_ARCH)
    source_name, source_version = name, f"{prefix}{version}-{release}"
    source_rpm = values.get(_SOURCERPM)
    if isinstance(source_rpm, str):
        parsed = parse_source_rpm(source_rpm)
        if parsed is not None:
            source_name, source_version = parsed[0], prefix + parsed[1]
    return Package(
        name=name,
        version=f"{prefix}{version}-{release}",
        ecosystem="rpm",
        arch=arch if isinstance(arch, str) and arch else None,
        source_name=source_name,
        source_version=source_version,
        path=path,
    )


def parse_source_rpm(filename: str) -> tuple[str, str] | None:
    """`bash-5.1.8-6.el9.src.rpm` → (`bash`, `5.1.8-6.el9`); None if it is not shaped like that."""
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if filename.endswith(suffix):
            parts = filename[: -len(suffix)].rsplit("-", 2)
            if len(parts) == 3 and all(parts):
                return parts[0], f"{parts[1]}-{parts[2]}"
    return None


def _packages_from_blobs(blobs: list[bytes], path: str) -> tuple[list[Package], int]:
    """The packages of the header blobs, and how many blobs could not be read."""
    packages: list[Package] = []
    bad = 0
    for blob in blobs:
        try:
            package = package_from_header(parse_header(blob), path)
        except HeaderError:
            bad += 1
            continue
        if package is not None:
            packages.append(package)
    return packages, bad


def _database(path: str, kind: str, blobs: list[bytes], problem: str | None) -> PackageDB:
    packages, bad = _packages_from_blobs(blobs, path)
    problems = [problem] if problem else []
    if bad:
        problems.append(f"{bad} of {len(blobs)} package headers unreadable")
    return PackageDB(path=path, kind=kind, packages=tuple(packages), error="; ".join(problems) or None)


def _read_capped(member: Member, stream: BinaryIO, kind: str) -> bytes | PackageDB:
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return PackageDB(path=member.path, kind=kind, error=f"over {MAX_BYTES} bytes; not read")
    return data


# SQLite -----------------------------------------------------------------------------------------------------

_SQLITE_STEPS = 200_000
"""Progress-handler calls (each 1,000 VM steps) a query may take: far above any real rpmdb, and a stop
for a hostile file whose `Packages` makes SQLite loop."""


def read_rpm_sqlite(member: Member, stream: BinaryIO) -> PackageDB:
    """The packages of an `rpmdb.sqlite`, read from memory."""
    data = _read_capped(member, stream, "rpm-sqlite")
    if isinstance(data, PackageDB):
        return data
    try:
        blobs = sqlite_header_blobs(data)
    except (sqlite3.Error, HeaderError) as error:
        return PackageDB(path=member.path, kind="rpm-sqlite", error=f"not a readable rpm SQLite database: {error}")
    return _database(member.path, "rpm-sqlite", blobs, None)


def sqlite_header_blobs(data: bytes, *, steps: int = _SQLITE_STEPS) -> list[bytes]:
    """The header blobs of the `Packages` table of an SQLite rpmdb, in install order; SQLite stops
    (`OperationalError: interrupted`) after `steps` thousand virtual-machine steps."""
    if len(data) < 512:
        raise HeaderError(f"{len(data)} bytes is too short for an SQLite database")
    if len(data) >= 20 and data[18:20] == b"\x02\x02":
        # WAL mode, which an in-memory database cannot open: read it as a rollback-journal database.
        # (rpm checkpoints the WAL when it closes the database, so a clean image has nothing in it.)
        data = data[:18] + b"\x01\x01" + data[20:]
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(data)
        taken = 0

        def budget() -> bool:
            nonlocal taken
            taken += 1
            return taken > steps

        connection.set_progress_handler(budget, 1000)
        connection.execute("PRAGMA query_only = ON")
        connection.execute("PRAGMA trusted_schema = OFF")
        kind = connection.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
        if kind is None or kind[0] != "table":
            raise HeaderError("no Packages table")
        return [bytes(row[0]) for row in connection.execute("SELECT blob FROM Packages ORDER BY hnum")]
    finally:
        connection.close()


# BerkeleyDB -------------------------------------------------------------------------------------------------

_BDB_HASH_MAGIC = 0x061561
_BDB_BTREE_MAGIC = 0x053162
_PAGE_HEADER = 26
_P_HASH_UNSORTED, _P_OVERFLOW, _P_HASH = 2, 7, 13
_H_OFFPAGE = 3


def read_rpm_bdb(member: Member, stream: BinaryIO) -> PackageDB:
    """The packages of a BerkeleyDB `Packages` hash database."""
    data = _read_capped(member, stream, "rpm-bdb")
    if isinstance(data, PackageDB):
        return data
    try:
        blobs, problem = bdb_hash_values(data)
    except HeaderError as error:
        return PackageDB(path=member.path, kind="rpm-bdb", error=f"not a readable BerkeleyDB hash database: {error}")
    return _database(member.path, "rpm-bdb", blobs, problem)


def bdb_hash_values(data: bytes) -> tuple[list[bytes], str | None]:
    """The values stored off-page in a BerkeleyDB hash database (rpm's header blobs are), and what was wrong
    if some could not be followed.

    Layout (db_page.h): page 0 is the metadata page (magic at 12, page size at 20, encryption at 24,
    last page number at 32, in the byte order of the machine that wrote it); every page starts with a
    26-byte header (next page at 16, item count at 20, high free offset at 22, type at 25). A hash page's
    item offsets follow its header, keys and values alternating; an off-page value (type 3) names the
    first overflow page and the total length, and each overflow page holds `high free offset` bytes.
    """
    if len(data) < 512:
        raise HeaderError(f"{len(data)} bytes is too short for a metadata page")
    order = "<"
    magic = struct.unpack_from("<I", data, 12)[0]
    if magic != _BDB_HASH_MAGIC:
        order = ">"
        magic = struct.unpack_from(">I", data, 12)[0]
    if magic == _BDB_BTREE_MAGIC:
        raise HeaderError("a btree database, not rpm's hash Packages")
    if magic != _BDB_HASH_MAGIC:
        raise HeaderError("no BerkeleyDB hash magic")
    page_size = struct.unpack_from(order + "I", data, 20)[0]
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        raise HeaderError(f"page size {page_size} is not a power of two from 512 to 65536")
    if data[24] != 0:
        raise HeaderError("encrypted database")
    last_page = struct.unpack_from(order + "I", data, 32)[0]
    pages = min(last_page + 1, len(data) // page_size)
    problem = None if pages == last_page + 1 else f"truncated: {pages} of {last_page + 1} pages present"
    page_header = struct.Struct(order + "IHHBB")  # from offset 16: next page, entries, high free offset, level, type
    item_offset = struct.Struct(order + "H")
    offpage = struct.Struct(order + "II")
    values: list[bytes] = []
    broken = 0
    for page in range(1, pages):
        base = page * page_size
        page_type = data[base + 25]
        if page_type not in (_P_HASH, _P_HASH_UNSORTED):
            continue
        entries = item_offset.unpack_from(data, base + 20)[0]
        if _PAGE_HEADER + 2 * entries > page_size:
            broken += 1
            continue
        for index in range(1, entries, 2):  # values are the odd items
            offset = item_offset.unpack_from(data, base + _PAGE_HEADER + 2 * index)[0]
            if offset >= page_size:
                broken += 1
                continue
            if data[base + offset] != _H_OFFPAGE:
                continue  # an inline value: rpm keeps small bookkeeping records there, never headers
            if offset + 12 > page_size:
                broken += 1
                continue
            first, length = offpage.unpack_from(data, base + offset + 4)
            value = _overflow_chain(data, first, length, page_size, pages, page_header)
            if value is None:
                broken += 1
            else:
                values.append(value)
    if broken:
        problem = "; ".join(filter(None, (problem, f"{broken} values with broken page links skipped")))
    return values, problem


def _overflow_chain(
    data: bytes, first: int, length: int, page_size: int, pages: int, page_header: struct.Struct
) -> bytes | None:
    """The bytes of an off-page value, following its overflow pages; None if the chain is broken."""
    if length > len(data):
        return None
    chunks: list[bytes] = []
    collected = 0
    page = first
    seen = 0
    while page != 0 and collected < length:
        seen += 1
        if page >= pages or seen > pages:
            return None  # out of the file, or a loop
        base = page * page_size
        next_page, _, used, _, page_type = page_header.unpack_from(data, base + 16)
        if page_type != _P_OVERFLOW or _PAGE_HEADER + used > page_size:
            return None
        chunks.append(data[base + _PAGE_HEADER : base + _PAGE_HEADER + used])
        collected += used
        page = next_page
    if collected != length:
        return None
    return b"".join(chunks)


# Registration -----------------------------------------------------------------------------------------------


def _in_rpm_dir(path: str, name: str) -> bool:
    return any(path == directory + name for directory in RPM_DIRS)


def _wants_sqlite(member: Member) -> bool:
    return member.path.endswith("/rpmdb.sqlite") and _in_rpm_dir(member.path, "rpmdb.sqlite")


def _wants_bdb(member: Member) -> bool:
    return member.path.endswith("/Packages") and _in_rpm_dir(member.path, "Packages")


SQLITE_READER = register(DatabaseReader(kind="rpm-sqlite", wants=_wants_sqlite, read=read_rpm_sqlite))
BDB_READER = register(DatabaseReader(kind="rpm-bdb", wants=_wants_bdb, read=read_rpm_bdb))
