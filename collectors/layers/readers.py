"""The contract between the layer scanner and the package-database readers.

The scanner walks a layer's tar stream once. For every regular file it asks
each reader whether it `wants` the member (by path, size and mode, without
reading it); the first that does gets the member's stream and returns a
PackageDB (or None when the file turned out not to be one, e.g. an ELF binary
without Go build info). A reader enforces its own size cap and never raises
for bad content: it returns a PackageDB with `error` set, keeping what it read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from audit.images import PackageDB


@dataclass(frozen=True, slots=True)
class Member:
    """A regular file in a layer, as the scanner sees it before reading it."""

    path: str
    """Normalised: relative to the root, no leading slash, no `.` or `..`."""
    size: int
    mode: int
    """Permission bits (0o755 …): readers of binaries look at the executable bits."""


@dataclass(frozen=True)
class DatabaseReader:
    kind: str
    wants: Callable[[Member], bool]
    read: Callable[[Member, BinaryIO], PackageDB | None]
    streams: bool = False
    """Reads in constant memory under its own cap (Go binaries can be gigabytes), so the
    scanner's per-database size cap does not apply."""


READERS: list[DatabaseReader] = []
"""Every reader, in the order the scanner asks them. Reader modules append to it on import;
`collectors.layers.scan` imports them all."""


def register(reader: DatabaseReader) -> DatabaseReader:
    if any(r.kind == reader.kind for r in READERS):
        raise ValueError(f"a database reader for {reader.kind} is registered twice")
    READERS.append(reader)
    return reader
