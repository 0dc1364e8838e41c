"""The apk database: `lib/apk/db/installed` (`usr/lib/apk/db/installed` on usr-merged Alpine).

One stanza per installed package, stanzas separated by blank lines, each line a
one-letter field, a colon and the value: `P:` name, `V:` version (with its
`-rN` release), `A:` architecture, `o:` origin, the APKBUILD the package was
built from (Alpine's security data is keyed by it, with the same version). The
many `F:`/`R:`/`Z:` file lines are skipped.
"""

from __future__ import annotations

from typing import BinaryIO

from audit.images import Package, PackageDB
from collectors.layers.readers import DatabaseReader, Member, register

INSTALLED_PATHS = frozenset({"lib/apk/db/installed", "usr/lib/apk/db/installed"})
MAX_BYTES = 256 * 1024 * 1024


def read_apk_installed(member: Member, stream: BinaryIO) -> PackageDB:
    """The packages of an apk `installed` database."""
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return PackageDB(path=member.path, kind="apk", error=f"over {MAX_BYTES} bytes; not read")
    packages: list[Package] = []
    fields: dict[str, str] = {}
    malformed = 0
    skipped = 0
    for line in data.decode("utf-8", "replace").split("\n"):
        if not line or line.isspace():
            if fields:
                skipped += _add_package(fields, member.path, packages)
                fields = {}
            continue
        if len(line) < 2 or line[1] != ":" or not line[0].isascii() or not line[0].isalpha():
            malformed += 1
            continue
        key = line[0]
        if key in "PVAo" and key not in fields:
            fields[key] = line[2:].strip()
        elif key == "P":
            # A second name without a blank line between: the writer lost a separator; keep both.
            skipped += _add_package(fields, member.path, packages)
            fields = {"P": line[2:].strip()}
    if fields:
        skipped += _add_package(fields, member.path, packages)
    problems = []
    if malformed:
        problems.append(f"{malformed} lines that are not `X:value` ignored")
    if skipped:
        problems.append(f"{skipped} stanzas without a name or version skipped")
    return PackageDB(path=member.path, kind="apk", packages=tuple(packages), error="; ".join(problems) or None)


def _add_package(fields: dict[str, str], path: str, packages: list[Package]) -> int:
    """Append the stanza's package; 1 if it has none to give (counted as skipped), else 0."""
    name = fields.get("P")
    version = fields.get("V")
    if not name or not version:
        return 1
    packages.append(
        Package(
            name=name,
            version=version,
            ecosystem="apk",
            arch=fields.get("A") or None,
            source_name=fields.get("o") or name,
            source_version=version,
            path=path,
        )
    )
    return 0


def _wants(member: Member) -> bool:
    return member.path in INSTALLED_PATHS


READER = register(DatabaseReader(kind="apk", wants=_wants, read=read_apk_installed))
