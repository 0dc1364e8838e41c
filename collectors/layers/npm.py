"""npm packages: the `package.json` at the root of every package under `node_modules`.

A package installed by npm, yarn or pnpm is a directory `node_modules/<name>`
or `node_modules/@scope/<name>` whose `package.json` names it and gives the
exact installed version. Only those files count: a `package.json` deeper
inside a package (`node_modules/x/test/fixtures/package.json`, a `dist/`
stub saying `{"type": "module"}`) describes nothing installed, and one without
both `name` and `version` is not a package either (the reader returns None).

The application's own top-level `package.json` (outside `node_modules`) is
not read: it is the image's application rather than a dependency, its
dependencies are ranges rather than installed versions (those are in
`node_modules`), and its name ("api", "server") would collide with unrelated
packages of the public registry when matched against vulnerability data.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import msgspec

from audit.images import Package, PackageDB
from collectors.layers.readers import DatabaseReader, Member, register

MANIFEST_CAP = 1024 * 1024
"""Bytes of package.json read at most: most are a few KiB; old npm embedded the README (rarely 100 KiB)."""


class _Manifest(msgspec.Struct):
    # Any, not str: a number or object here is junk to report, not a decode failure of the whole file.
    name: Any = None
    version: Any = None


_decoder = msgspec.json.Decoder(_Manifest)


def wants_npm_manifest(member: Member) -> bool:
    """Whether the file is the package.json of a package installed under node_modules (by path alone)."""
    path = member.path
    if not path.endswith("/package.json"):
        return False
    parts = path.rsplit("/", 4)
    # .../node_modules/<name>/package.json, or .../node_modules/@scope/<name>/package.json
    if len(parts) >= 3 and parts[-3] == "node_modules" and not parts[-2].startswith((".", "@")):
        return True
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@") and len(parts[-3]) > 1


def read_npm_manifest(member: Member, stream: BinaryIO, *, cap: int = MANIFEST_CAP) -> PackageDB | None:
    """The package a package.json names, None when it names none, `error` when it is junk or too large."""
    if member.size > cap:
        return _failed(member, f"package.json is {member.size} bytes, over the {cap // 1024} KiB cap")
    data = stream.read(cap + 1)
    if len(data) > cap:
        return _failed(member, f"package.json is over the {cap // 1024} KiB cap")
    try:
        manifest = _decoder.decode(data.removeprefix(b"\xef\xbb\xbf"))
    except msgspec.DecodeError as exc:
        return _failed(member, f"not valid JSON ({_first_line(exc)})")
    name, version = manifest.name, manifest.version
    if not (isinstance(name, str) and isinstance(version, str) and name.strip() and version.strip()):
        return None
    package = Package(name=name.strip(), version=version.strip(), ecosystem="npm", path=member.path)
    return PackageDB(path=member.path, kind="npm", packages=(package,))


def _failed(member: Member, why: str) -> PackageDB:
    return PackageDB(path=member.path, kind="npm", error=why)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


NPM_READER = register(DatabaseReader(kind="npm", wants=wants_npm_manifest, read=read_npm_manifest))
