"""The os-release file (`etc/os-release`, `usr/lib/os-release`) and the older one-line release files."""

from __future__ import annotations

import re

from audit.images import OSRelease

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
"""In order of precedence (os-release(5)): `etc/os-release` wins when a layer holds both as files."""

RELEASE_FILE_PATHS = ("etc/alpine-release", "etc/debian_version", "etc/redhat-release")
"""One-line release files kept as `LayerInventory.os_files` (their first line)."""

RELEASE_FILE_BYTES = 64 * 1024
"""More than any real release file; a bigger member is not read."""

_ESCAPED = re.compile(r'\\(["\\$`])')


def parse_os_release(text: str, *, path: str) -> OSRelease:
    """Read the `KEY=value` lines of an os-release file (shell syntax, values optionally quoted).

    Unknown keys, comments and malformed lines are ignored, as systemd does.
    """
    values: dict[str, str] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier():
            continue
        values[key] = _unquote(value.strip())
    return OSRelease(
        id=values.get("ID", ""),
        version_id=values.get("VERSION_ID", ""),
        version_codename=values.get("VERSION_CODENAME", ""),
        pretty_name=values.get("PRETTY_NAME", ""),
        id_like=tuple(values.get("ID_LIKE", "").split()),
        path=path,
    )


def first_line(data: bytes) -> str:
    """The first line of a one-line release file, e.g. `3.20.3` or `bookworm/sid`."""
    return data.decode("utf-8", "replace").partition("\n")[0].strip()


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return _ESCAPED.sub(r"\1", value[1:-1])
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value
