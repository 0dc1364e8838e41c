"""dpkg databases: `var/lib/dpkg/status` and the distroless `var/lib/dpkg/status.d/*` files.

Both are deb822 stanzas (`Field: value` lines, continuation lines starting with
a space or tab, stanzas separated by blank lines). A package counts when its
files are on disk: the `Status` state is `installed`, `triggers-pending`,
`triggers-awaited`, `half-configured` or `unpacked` (not `config-files`,
`half-installed` or `not-installed`). Distroless `status.d` files usually have no
`Status` at all: a package listed there is installed.

`Source:` names the source package that Debian's vulnerability data is keyed by:
`Source: foo (1.2-3)` is a different source version, `Source: foo` alone has the
binary's version, and no `Source` means the source is named as the binary.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from audit.images import Package, PackageDB
from collectors.layers.readers import DatabaseReader, Member, register

STATUS_PATH = "var/lib/dpkg/status"
DISTROLESS_DIR = "var/lib/dpkg/status.d/"
MAX_BYTES = 256 * 1024 * 1024

_ON_DISK_STATES = frozenset({"installed", "triggers-pending", "triggers-awaited", "half-configured", "unpacked"})
_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?$")


def read_dpkg_status(member: Member, stream: BinaryIO, *, kind: str = "dpkg") -> PackageDB:
    """The installed packages of a dpkg status file (or one distroless `status.d` file)."""
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return PackageDB(path=member.path, kind=kind, error=f"over {MAX_BYTES} bytes; not read")
    stanzas, malformed_lines = parse_stanzas(data.decode("utf-8", "replace"))
    packages: list[Package] = []
    skipped = 0
    for fields in stanzas:
        status = fields.get("status")
        if status is None and kind == "dpkg":
            skipped += 1  # the status file always says; a stanza without it is damaged
            continue
        if status is not None and status.rpartition(" ")[2] not in _ON_DISK_STATES:
            continue
        package = _package(fields, member.path)
        if package is None:
            skipped += 1
        else:
            packages.append(package)
    problems = []
    if malformed_lines:
        problems.append(f"{malformed_lines} lines that are not `Field: value` ignored")
    if skipped:
        problems.append(f"{skipped} stanzas without a usable Package, Version or Status skipped")
    error = "; ".join(problems) or None
    return PackageDB(path=member.path, kind=kind, packages=tuple(packages), error=error)


def parse_stanzas(text: str) -> tuple[list[dict[str, str]], int]:
    """The deb822 stanzas of `text`, each as {lower-case field name: value}, and how many lines were
    neither a field, a continuation nor blank. Continuation lines are dropped: none of the fields read
    here has them."""
    stanzas: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    malformed = 0
    for line in text.split("\n"):  # not splitlines(): form feeds and the like may sit inside descriptions
        if not line or line.isspace():
            if fields:
                stanzas.append(fields)
                fields = {}
            continue
        if line[0] in " \t":
            continue
        name, sep, value = line.partition(":")
        if sep and name and name.isascii() and name.isprintable() and " " not in name:
            fields[name.lower()] = value.strip()
        else:
            malformed += 1
    if fields:
        stanzas.append(fields)
    return stanzas, malformed


def _package(fields: dict[str, str], path: str) -> Package | None:
    name = fields.get("package")
    version = fields.get("version")
    if not name or not version or " " in name:
        return None
    source_name, source_version = name, version
    source = fields.get("source")
    if source:
        match = _SOURCE.match(source)
        if match is None:
            return None
        source_name = match.group(1)
        source_version = match.group(2) or version
    return Package(
        name=name,
        version=version,
        ecosystem="deb",
        arch=fields.get("architecture") or None,
        source_name=source_name,
        source_version=source_version,
        path=path,
    )


def _wants_status(member: Member) -> bool:
    return member.path == STATUS_PATH


def _wants_distroless(member: Member) -> bool:
    path = member.path
    return (
        path.startswith(DISTROLESS_DIR)
        and "/" not in path[len(DISTROLESS_DIR) :]
        and not path.endswith(".md5sums")
    )


def _read_distroless(member: Member, stream: BinaryIO) -> PackageDB:
    return read_dpkg_status(member, stream, kind="dpkg-distroless")


STATUS_READER = register(DatabaseReader(kind="dpkg", wants=_wants_status, read=read_dpkg_status))
DISTROLESS_READER = register(DatabaseReader(kind="dpkg-distroless", wants=_wants_distroless, read=_read_distroless))
