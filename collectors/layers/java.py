"""Java packages: Maven coordinates recorded inside jar, war and ear archives.

Maven writes `META-INF/maven/<groupId>/<artifactId>/pom.properties` into
every archive it builds; shaded ("uber") jars keep those of the libraries
they swallowed, so one jar can name many packages. Each becomes a package
`groupId:artifactId` at `version`, the name OSV's Maven ecosystem uses.

Archives nested one level deep (Spring Boot `BOOT-INF/lib/*.jar`, war
`WEB-INF/lib/*.jar`, ear modules and `lib/*.jar`: any `.jar`/`.war` entry)
are opened too; deeper nesting is not followed.

An archive without any pom.properties (built by Gradle, Ant, or repackaged
by a distribution) falls back to its `META-INF/MANIFEST.MF`:
`Implementation-Title`/`Implementation-Version`, else
`Bundle-SymbolicName`/`Bundle-Version` (OSGi). That is a weaker claim: the
name is a title or bundle name, not Maven coordinates, so it carries no
`groupId:` and will not match Maven vulnerability data by accident; it is
kept for the inventory.

`Package.path` says where inside the archive the package was read, in Java's
URL notation: `app/app.jar!/BOOT-INF/lib/x.jar!/META-INF/maven/g/a/pom.properties`.

A zip needs random access, so the archive is read into memory (bounded), and
everything taken out of it is bounded again: the central directory size
(many entries cost memory before any is read), the entry count, each
small file, each nested archive, and the total of all bytes inflated, so a
zip bomb (nested or overlapping entries) ends in an `error`, not an outage.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass, field
from typing import BinaryIO

from audit.images import Package, PackageDB
from collectors.layers.readers import DatabaseReader, Member, register

_MIB = 1024 * 1024


@dataclass(frozen=True)
class JarLimits:
    """How much of one archive the reader takes in."""

    archive: int = 256 * _MIB
    """Bytes of the archive itself (the file in the layer)."""
    nested_archive: int = 64 * _MIB
    """Bytes of one archive inflated out of another."""
    inflated: int = 256 * _MIB
    """Bytes inflated out of one archive in all, nested archives and their files included."""
    central_directory: int = 32 * _MIB
    """Bytes of an archive's central directory (a fat jar with 100,000 entries has about 10 MiB)."""
    entries: int = 200_000
    """Entries of one archive."""
    small_file: int = 64 * 1024
    """Bytes of one pom.properties or MANIFEST.MF."""


_ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".JAR", ".WAR", ".EAR")
_NESTED_SUFFIXES = (".jar", ".war")
_POM_PREFIX = "META-INF/maven/"
_POM_SUFFIX = "/pom.properties"
_MANIFEST = "META-INF/MANIFEST.MF"
_END_OF_CENTRAL_DIRECTORY = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"


def wants_java_archive(member: Member) -> bool:
    """Whether the file is a jar, war or ear, judged by its name."""
    return member.path.endswith(_ARCHIVE_SUFFIXES)


def read_java_archive(member: Member, stream: BinaryIO, *, limits: JarLimits = JarLimits()) -> PackageDB | None:
    """The Maven packages an archive and the archives inside it name; None when it names none and nothing failed."""
    if member.size > limits.archive:
        return _failed(member, f"archive is {member.size} bytes, over the cap of {limits.archive}; not read")
    data = stream.read(limits.archive + 1)
    if len(data) > limits.archive:
        return _failed(member, f"archive is over the cap of {limits.archive} bytes; not read")
    scan = _ArchiveScan(member.path, limits)
    scan.archive(data, inner="")
    if not scan.packages and not scan.problems:
        return None
    error = None
    if scan.problems:
        more = f" (and {len(scan.problems) - 1} more)" if len(scan.problems) > 1 else ""
        error = f"{scan.problems[0]}{more}"
    return PackageDB(path=member.path, kind="jar", packages=tuple(scan.packages), error=error)


@dataclass
class _ArchiveScan:
    """The walk over one archive and those nested in it: what was found, what went wrong, what is left to inflate.

    `inner` names the nested archive being walked (`BOOT-INF/lib/x.jar`), empty for the outer one.
    """

    path: str
    limits: JarLimits
    packages: list[Package] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    inflated: int = 0
    spent: bool = False
    """The inflation budget is used up: the walk stops."""

    def archive(self, data: bytes, inner: str) -> None:
        directory_size = _central_directory_size(data)
        if directory_size is None:
            self._problem(inner, "", "not a zip archive (no end of central directory record)")
            return
        if directory_size > self.limits.central_directory:
            self._problem(inner, "", f"zip central directory of {directory_size} bytes is over the cap")
            return
        # zipfile raises many kinds of exception for damaged archives (BadZipFile, ValueError,
        # struct.error, an unsupported compression method …); a hostile archive must end
        # in a problem noted, never in an escape.
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                self._entries(archive, inner)
        except Exception as exc:
            self._problem(inner, "", f"unreadable zip ({type(exc).__name__}: {_first_line(exc)})")

    def _entries(self, archive: zipfile.ZipFile, inner: str) -> None:
        entries = archive.infolist()
        if len(entries) > self.limits.entries:
            self._problem(inner, "", f"{len(entries)} zip entries, over the cap of {self.limits.entries}")
            return
        found = 0
        for entry in entries:
            name = entry.filename
            if name.startswith(_POM_PREFIX) and name.endswith(_POM_SUFFIX) and not self.spent:
                found += self._pom_properties(archive, entry, inner)
        if not found and not self.spent:
            self._manifest(archive, inner)
        if inner:
            return  # one level of nesting only
        for entry in entries:
            if entry.filename[-4:].lower() in _NESTED_SUFFIXES and not entry.is_dir() and not self.spent:
                data = self._inflate(archive, entry, self.limits.nested_archive, inner)
                if data is not None:
                    self.archive(data, inner=entry.filename)

    def _pom_properties(self, archive: zipfile.ZipFile, entry: zipfile.ZipInfo, inner: str) -> int:
        data = self._inflate(archive, entry, self.limits.small_file, inner)
        if data is None:
            return 0
        properties = _properties(data)
        group, artifact, version = (properties.get(key, "") for key in ("groupId", "artifactId", "version"))
        if not (group and artifact and version):
            self._problem(inner, entry.filename, "lacks groupId, artifactId or version")
            return 0
        self._package(f"{group}:{artifact}", version, inner, entry.filename)
        return 1

    def _manifest(self, archive: zipfile.ZipFile, inner: str) -> None:
        try:
            entry = archive.getinfo(_MANIFEST)
        except KeyError:
            return
        data = self._inflate(archive, entry, self.limits.small_file, inner)
        if data is None:
            return
        attributes = _manifest_main_section(data)
        for name_key, version_keys in (
            ("Implementation-Title", ("Implementation-Version",)),
            ("Bundle-SymbolicName", ("Bundle-Version", "Implementation-Version")),
        ):
            # Bundle-SymbolicName may carry directives: `org.example.x;singleton:=true`.
            name = attributes.get(name_key, "").split(";")[0].strip()
            version = next((attributes[key] for key in version_keys if attributes.get(key)), "")
            if name and version:
                self._package(name, version, inner, _MANIFEST)
                return

    def _inflate(self, archive: zipfile.ZipFile, entry: zipfile.ZipInfo, cap: int, inner: str) -> bytes | None:
        """The entry's bytes, read no further than `cap` and the scan's budget; None (and a problem) past them."""
        budget = min(cap, self.limits.inflated - self.inflated)
        try:
            with archive.open(entry) as opened:
                data = opened.read(budget + 1)
        except Exception as exc:  # a damaged entry (bad CRC, bad deflate data, encrypted): note it, go on
            self._problem(inner, entry.filename, f"unreadable ({type(exc).__name__}: {_first_line(exc)})")
            return None
        self.inflated += len(data)
        if len(data) <= budget:
            return data
        if budget < cap:
            self.spent = True
            self._problem(inner, entry.filename, f"stopped here: over {self.limits.inflated} bytes inflated in all")
        else:
            self._problem(inner, entry.filename, f"inflates to over {cap} bytes, the cap; not read")
        return None

    def _package(self, name: str, version: str, inner: str, entry: str) -> None:
        path = "!/".join(part for part in (self.path, inner, entry) if part)
        self.packages.append(Package(name=name, version=version, ecosystem="maven", path=path))

    def _problem(self, inner: str, entry: str, what: str) -> None:
        where = "!/".join(part for part in (inner, entry) if part)
        self.problems.append(f"{where}: {what}" if where else what)


def _central_directory_size(data: bytes) -> int | None:
    """The central directory's size from the end records (zip64 too), before zipfile builds an object per entry."""
    end = data.rfind(_END_OF_CENTRAL_DIRECTORY, max(0, len(data) - 22 - 65535))
    if end < 0 or len(data) - end < 22:
        return None
    (size,) = struct.unpack_from("<I", data, end + 12)
    locator = end - 20
    if size == 0xFFFFFFFF and locator >= 0 and data[locator : locator + 4] == _ZIP64_LOCATOR:
        (zip64_end,) = struct.unpack_from("<Q", data, locator + 8)
        if zip64_end + 56 <= len(data) and data[zip64_end : zip64_end + 4] == _ZIP64_END:
            (size,) = struct.unpack_from("<Q", data, zip64_end + 40)
    return size


def _properties(data: bytes) -> dict[str, str]:
    """A Java .properties file's `key=value` / `key: value` lines (comments and continuations aside)."""
    result = {}
    for raw in data.decode("latin-1").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut > 0:
            result[line[:cut].strip()] = line[cut + 1 :].strip()
    return result


def _manifest_main_section(data: bytes) -> dict[str, str]:
    """The main section of a MANIFEST.MF: `Name: value` lines, continued by lines starting with one space."""
    attributes: dict[str, str] = {}
    last = None
    for line in data.decode("utf-8", "replace").splitlines():
        if not line:
            break
        if line.startswith(" ") and last is not None:
            attributes[last] += line[1:]
            continue
        key, colon, value = line.partition(":")
        if colon:
            last = key.strip()
            attributes[last] = value.strip()
    return attributes


def _failed(member: Member, why: str) -> PackageDB:
    return PackageDB(path=member.path, kind="jar", error=why)


def _first_line(exc: Exception) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


JAVA_READER = register(DatabaseReader(kind="jar", wants=wants_java_archive, read=read_java_archive))
