"""The Report, kubeward's audit snapshot: inventory, findings, metadata and coverage gaps.

A Report serialises to JSON losslessly and back. The TUI, every exporter and
`diff` work from a Report, so a saved snapshot reopens offline.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

import msgspec

from audit.access import ExecGrant
from audit.findings import CheckStat, CoverageGap, Finding
from audit.model import Inventory

SCHEMA = "kubeward.report"
SCHEMA_VERSION = 1


class ReportError(Exception):
    """A file that is not a readable Report; the message is one line naming the file."""


class ReportMeta(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    tool_version: str
    context: str = ""
    server: str = ""
    started: datetime | None = None
    finished: datetime | None = None


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """Inventory + findings + metadata + coverage gaps: one audit snapshot.

    Every top-level field is always written (no omitted defaults), so the header
    that identifies a snapshot is always there.
    """

    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION
    meta: ReportMeta
    inventory: Inventory = Inventory()
    findings: tuple[Finding, ...] = ()
    gaps: tuple[CoverageGap, ...] = ()
    check_stats: tuple[CheckStat, ...] = ()
    """What each check evaluated, so passes show and scores can be computed."""
    exec_matrix: tuple[ExecGrant, ...] = ()
    """Every RBAC path to a shell: subject × namespace × path, with the binding and role it comes from."""


class _Header(msgspec.Struct):
    """Just enough of a file to tell whether it is a Report of this schema version."""

    schema: str = ""
    schema_version: int = 0


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Report)
_header_decoder = msgspec.json.Decoder(_Header)


def dumps(report: Report) -> bytes:
    return _encoder.encode(report)


def loads(data: bytes, *, source: str = "<report>") -> Report:
    """Decode a Report, turning every kind of damage into a one-line ReportError."""
    try:
        header = _header_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ReportError(f"{source}: not a kubeward report ({_first_line(exc)})") from None
    except msgspec.ValidationError:
        raise ReportError(f"{source}: not a kubeward report (no {SCHEMA} header)") from None
    if header.schema != SCHEMA:
        raise ReportError(f"{source}: not a kubeward report (no {SCHEMA} header)")
    if header.schema_version != SCHEMA_VERSION:
        raise ReportError(
            f"{source}: report schema version {header.schema_version} is not supported"
            f" (this kubeward reads version {SCHEMA_VERSION})"
        )
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ReportError(f"{source}: damaged report ({_first_line(exc)})") from None


def load_report(path: str | os.PathLike[str]) -> Report:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ReportError(f"{path}: cannot read report ({exc.strerror or exc})") from None
    return loads(data, source=str(path))


def save_report(report: Report, path: str | os.PathLike[str]) -> Path:
    """Write atomically: an existing file is replaced only by a complete new one."""
    return write_atomic(Path(path), dumps(report))


def write_atomic(path: Path, data: bytes) -> Path:
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
