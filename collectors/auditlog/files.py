"""Which files make an audit log, in what order, and how to open them.

`--audit-log` takes files or directories. A directory holds the live file
(`audit.log`) and its rotated backups, named by the API server (lumberjack)
after the moment of rotation: `audit-2026-11-20T10-00-00.000.log`, gzipped to
`….log.gz` when `--audit-log-compress` is on. Files are read oldest first; a
gzip stream is recognised by its magic bytes, not its name.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

_ROTATED = re.compile(r"-(\d{4})-(\d{2})-(\d{2})T(\d{2})-(\d{2})-(\d{2})(?:\.(\d{3}))?(?=\.|$)")
_LOG_NAME = re.compile(r"(\.log|\.json|\.jsonl)(\.\d+)?(\.gz)?$|\.gz$")
_GZIP_MAGIC = b"\x1f\x8b"


class AuditLogPathError(Exception):
    """A path given as an audit log that cannot be one; one line naming it."""


def rotated_at(path: Path) -> datetime | None:
    """When a rotated backup was rotated, from its name (UTC; lumberjack's default), else None."""
    match = _ROTATED.search(path.name)
    if match is None:
        return None
    year, month, day, hour, minute, second, millis = match.groups()
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                        int(millis or 0) * 1000, tzinfo=UTC)
    except ValueError:
        return None


def _order(path: Path) -> tuple[int, datetime, str]:
    moment = rotated_at(path)
    return (0, moment, path.name) if moment is not None else (1, datetime.min.replace(tzinfo=UTC), path.name)


def audit_log_files(paths: Iterable[Path]) -> list[Path]:
    """The files to read, oldest first within each directory. Raises AuditLogPathError for a path
    that does not exist, cannot be read, or is a directory without audit log files."""
    out: list[Path] = []
    for path in paths:
        if not path.exists():
            raise AuditLogPathError(f"audit log {path}: no such file or directory")
        if path.is_dir():
            try:
                found = sorted((p for p in path.iterdir()
                                if p.is_file() and not p.name.startswith(".") and _LOG_NAME.search(p.name)),
                               key=_order)
            except OSError as exc:
                raise AuditLogPathError(f"audit log {path}: cannot list ({exc.strerror or exc})") from None
            if not found:
                raise AuditLogPathError(f"audit log {path}: the directory holds no audit log files"
                                        " (*.log, *.json, *.jsonl, *.gz)")
            out.extend(found)
        elif not os.access(path, os.R_OK):
            raise AuditLogPathError(f"audit log {path}: permission denied")
        else:
            out.append(path)
    return out


@contextmanager
def open_log(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, decompressed when it is a gzip stream."""
    with path.open("rb") as raw:
        if raw.read(2) != _GZIP_MAGIC:
            raw.seek(0)
            yield raw
            return
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            yield stream  # type: ignore[misc]
