"""Python packages: the `Name` and `Version` of installed distributions.

An installed distribution leaves its core metadata in one of three places:
`<name>-<version>.dist-info/METADATA` (wheels, modern pip),
`<name>.egg-info/PKG-INFO` (setuptools, `pip install -e`, `.egg` directories
have `EGG-INFO/PKG-INFO`), or an `<name>.egg-info` that is itself a file
holding PKG-INFO (distutils, and many Debian `python3-*` packages). All are
RFC 822 headers followed by a body that may hold the whole README, so the
reader stops at the first blank line, or as soon as it has both fields.

The name is kept as the distribution wrote it (`Flask-SQLAlchemy`); matching
against vulnerability data compares `normalized_pypi_name` of both sides, as
PyPI itself does (PEP 503).
"""

from __future__ import annotations

import re
from typing import BinaryIO

from audit.images import Package, PackageDB
from collectors.layers.readers import DatabaseReader, Member, register

HEADER_CAP = 256 * 1024
"""Bytes of header read at most: real headers are a few KiB; the body, which can be huge, is never read."""

_CHUNK = 16 * 1024
_SEPARATORS = re.compile(r"[-_.]+")
_METADATA_ENDINGS = ("/METADATA", "/PKG-INFO", ".egg-info")
_METADATA_PATHS = (".dist-info/METADATA", ".egg-info/PKG-INFO", "/EGG-INFO/PKG-INFO", ".egg-info")


def normalized_pypi_name(name: str) -> str:
    """The PEP 503 form of a distribution name: `Flask_SQLAlchemy` and `flask.sqlalchemy` give `flask-sqlalchemy`."""
    return _SEPARATORS.sub("-", name).lower()


def wants_python_metadata(member: Member) -> bool:
    """Whether the file is a distribution's core metadata, judged by its path alone."""
    path = member.path
    if not path.endswith(_METADATA_ENDINGS):  # one C call for the millions of files that are not
        return False
    return path.endswith(_METADATA_PATHS)


def read_python_metadata(member: Member, stream: BinaryIO, *, cap: int = HEADER_CAP) -> PackageDB:
    """The one distribution a METADATA/PKG-INFO file describes; `error` says why it could not be read."""
    name, version, complete = _name_and_version(stream, cap)
    package = Package(name=name, version=version, ecosystem="pypi", path=member.path) if name and version else None
    error = None
    if package is None:
        missing = " and ".join(field for field, value in (("Name", name), ("Version", version)) if not value)
        where = "in the first " + _size(cap) if not complete else "in the header"
        error = f"no {missing} {where}"
    return PackageDB(path=member.path, kind="python", packages=(package,) if package else (), error=error)


def _name_and_version(stream: BinaryIO, cap: int) -> tuple[str, str, bool]:
    """Name and Version from the header; the flag says the whole header was seen (a blank line or the end)."""
    fields = {"name": "", "version": ""}
    pending = b""
    read = 0
    while read < cap:
        chunk = stream.read(min(_CHUNK, cap - read))
        if not chunk:
            _take_line(pending, fields)  # the last line may lack its newline
            return fields["name"], fields["version"], True
        read += len(chunk)
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if _take_line(line, fields):
                return fields["name"], fields["version"], True
        if fields["name"] and fields["version"]:
            return fields["name"], fields["version"], True
    return fields["name"], fields["version"], False


def _take_line(line: bytes, fields: dict[str, str]) -> bool:
    """Record a `Name:`/`Version:` line; True when the line ends the header (it is empty)."""
    line = line.rstrip(b"\r")
    if not line:
        return True
    key, colon, value = line.partition(b":")
    if colon and not line[:1].isspace():
        field = key.strip().lower().decode("ascii", "replace")
        if field in fields and not fields[field]:
            fields[field] = value.strip().decode("utf-8", "replace")
    return False


def _size(n: int) -> str:
    return f"{n // 1024} KiB" if n >= 1024 else f"{n} bytes"


PYTHON_READER = register(DatabaseReader(kind="python", wants=wants_python_metadata, read=read_python_metadata))
