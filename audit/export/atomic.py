"""Exports appear whole or not at all.

A file is written to an unnamed temporary file in the target's directory
(Linux `O_TMPFILE`), given a hidden name only once it is complete and synced,
and renamed over the target: an interrupted export (Ctrl-C, a full disk, even
SIGKILL) leaves the previous file as it was and nothing half-written beside it.
Where the filesystem has no unnamed files the temporary file is named from the
start and removed on any error (only a SIGKILL can then leave it behind).

A directory (CSV or CycloneDX files) is built under a hidden temporary name
and renamed into place; an older directory of the same name is moved aside
first and removed after. Leftovers of a killed directory export are removed by
the next export to the same target.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

_MODE = 0o600
"""Exports hold a cluster's weak spots: readable by their owner only, like the Report."""


def _directory_of(target: Path) -> Path:
    return target.parent if str(target.parent) else Path(".")


def _hidden_name(target: Path, kind: str) -> Path:
    return _directory_of(target) / f".{target.name}.{secrets.token_hex(6)}.{kind}"


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file to write the export into; on a clean exit it replaces `path`."""
    target = Path(path)
    directory = _directory_of(target)
    named: Path | None = None
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_RDWR, _MODE)
    except (AttributeError, OSError):
        named = _hidden_name(target, "tmp")
        fd = os.open(named, os.O_CREAT | os.O_EXCL | os.O_RDWR, _MODE)
    out = os.fdopen(fd, "w+b")
    try:
        yield out
        out.flush()
        os.fsync(out.fileno())
        if named is None:
            named = _hidden_name(target, "tmp")
            _link_unnamed(out.fileno(), named)
        os.replace(named, target)
        named = None
    finally:
        out.close()
        if named is not None:
            named.unlink(missing_ok=True)


def _link_unnamed(fd: int, name: Path) -> None:
    """Give an O_TMPFILE file a name. linkat needs AT_SYMLINK_FOLLOW to resolve /proc/self/fd,
    which os.link passes only when it is given a directory descriptor."""
    directory = os.open(_directory_of(name), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(f"/proc/self/fd/{fd}", name.name, dst_dir_fd=directory, follow_symlinks=True)
    finally:
        os.close(directory)


@contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """An empty directory to write the export's files into; on a clean exit it replaces `path`."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(20, "exists and is not a directory", str(target))
    _clean_leftovers(target)
    building = _hidden_name(target, "partial")
    building.mkdir(mode=0o700)
    try:
        yield building
        for file in building.iterdir():
            with open(file, "rb") as written:
                os.fsync(written.fileno())
        aside = None
        if target.exists():
            aside = _hidden_name(target, "previous")
            os.replace(target, aside)
        os.replace(building, target)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def _clean_leftovers(target: Path) -> None:
    """Undo what a killed directory export left: a half-built directory is removed, and a previous
    export moved aside but not replaced is put back."""
    pattern = glob_escape(target.name)
    directory = _directory_of(target)
    for stale in directory.glob(f".{pattern}.*.partial"):
        shutil.rmtree(stale, ignore_errors=True)
    for previous in directory.glob(f".{pattern}.*.previous"):
        if target.exists():
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.replace(previous, target)


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
