"""Stream audit log files into exec evidence, in bounded memory.

A log is read in chunks of `CHUNK` bytes. In each chunk the only lines looked
at are those holding one of `NEEDLES` (every exec, attach, port-forward,
debug-container and kubelet-exec URI has one); they are decoded into a narrow
struct, the rest never are. On a real API server those are a fraction of a
percent of the lines, so reading costs little more than the decompression
and the byte search. Memory is one chunk plus the exec events kept.

Nothing here is fatal: a candidate line that is not an audit event is
counted as damaged (and named in a coverage gap with its line number), a
truncated or corrupt gzip stream or an I/O error ends that file with a gap,
and what was read before stays.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, NamedTuple

import msgspec

from audit.exec_evidence import AuditLogFile, ExecEvidence
from audit.findings import CoverageGap
from audit.progress import Progress, ProgressCallback, ignore_progress
from collectors.auditlog.event import event_decoder, time_decoder
from collectors.auditlog.files import audit_log_files, open_log, rotated_at
from collectors.auditlog.request import exec_request
from collectors.auditlog.sessions import SessionFolder
from collectors.auditlog.window import DEFAULT_WINDOW

CHUNK = 8 << 20
NEEDLES = (b"/exec", b"/attach", b"/portforward", b"/portForward", b"/ephemeralcontainers", b"/proxy/run/")
"""Byte strings at least one of which every URI of interest holds (JSON leaves `/` unescaped)."""
_ANY_NEEDLE = re.compile(b"|".join(re.escape(needle) for needle in NEEDLES))
"""One pass for them all: the regular expression engine finds the next `/` with a fast scan and
tries the alternatives there, several times faster than one `bytes.find` pass per needle."""
MAX_LINE = 64 << 20
"""A line longer than this is not an audit event (a RequestResponse-level event with a large body
is a few megabytes); it is counted as damaged and dropped."""
ROTATION_SLACK = timedelta(days=1)
"""A backup rotated this long before the window starts holds nothing in it (whatever the time
zone it was named in)."""


class AuditLogResult(NamedTuple):
    evidence: ExecEvidence
    gaps: tuple[CoverageGap, ...]


def read_audit_logs(
    paths: Iterable[Path],
    *,
    window: timedelta = DEFAULT_WINDOW,
    now: datetime | None = None,
    on_progress: ProgressCallback = ignore_progress,
) -> AuditLogResult:
    """Read audit log files (plain, gzip, rotated, or directories of them) for the exec sessions
    of the last `window` before `now` (default: the current time). Raises AuditLogPathError (from
    `collectors.auditlog.files`) only for paths that are not readable files or log directories."""
    until = now or datetime.now(UTC)
    since = until - window
    files = audit_log_files(paths)
    folder = SessionFolder()
    read: list[AuditLogFile] = []
    lines_so_far = 0
    for path in files:
        rotated = rotated_at(path)
        if rotated is not None and rotated < since - ROTATION_SLACK:
            read.append(AuditLogFile(path=str(path), skipped="rotated before the window"))
            continue

        def progress(lines: int, base: int = lines_so_far, name: str = path.name) -> None:
            on_progress(Progress(source="auditlog", task="read", count=base + lines, message=name))

        try:
            with open_log(path) as stream:
                result = read_stream(stream, str(path), since=since, until=until, folder=folder,
                                     on_chunk=progress)
        except OSError as exc:
            result = AuditLogFile(path=str(path), error=f"cannot read ({exc.strerror or exc})")
        read.append(result)
        lines_so_far += result.lines
    sessions = folder.sessions()
    on_progress(Progress(source="auditlog", task="read", count=lines_so_far, done=True,
                         message=f"{len(sessions)} exec sessions in {len(read)} files"))
    evidence = ExecEvidence(since=since, until=until, files=tuple(read), sessions=tuple(sessions))
    return AuditLogResult(evidence, tuple(gap for f in read for gap in file_gaps(f)))


def read_lines(
    lines: Iterable[bytes], *, since: datetime, until: datetime, source: str = "<lines>"
) -> ExecEvidence:
    """Exec evidence from audit log lines in memory (tests, fixtures): the same reading as a file's."""
    folder = SessionFolder()
    result = read_stream(io.BytesIO(b"\n".join(lines) + b"\n"), source, since=since, until=until, folder=folder)
    return ExecEvidence(since=since, until=until, files=(result,), sessions=tuple(folder.sessions()))


def read_stream(
    stream: BinaryIO,
    name: str,
    *,
    since: datetime,
    until: datetime,
    folder: SessionFolder,
    on_chunk: Callable[[int], None] = lambda lines: None,
) -> AuditLogFile:
    """Feed one stream's exec events inside [since, until] to `folder`; say what the stream held."""
    counts = _Counts()
    rest = b""
    last_line = b""
    error = ""
    overlong = False
    try:
        while True:
            # read1: a gzip stream comes in pieces, so a corrupt tail loses only the piece it is in
            chunk = stream.read1(CHUNK)
            if chunk:
                buffer = rest + chunk
                cut = buffer.rfind(b"\n") + 1
                if cut == 0:
                    rest = b"" if overlong else buffer
                    if len(rest) > MAX_LINE:  # not a log line: drop it, keep memory bounded
                        counts.note_damaged(counts.lines + 1)
                        overlong, rest = True, b""
                    continue
                buffer, rest = buffer[:cut], buffer[cut:]
                if overlong:
                    buffer = buffer[buffer.find(b"\n") + 1:]
                    counts.lines += 1
                    overlong = False
            else:
                buffer, rest = rest, b""
                if overlong:  # the file ends inside the dropped line
                    counts.lines += 1
                    overlong = False
                if not buffer:
                    break
            if counts.first is None and counts.lines == 0:
                counts.first = _line_time(buffer[:buffer.find(b"\n")] if b"\n" in buffer else buffer)
            _scan(buffer, counts, since, until, folder)
            tail = buffer.rstrip(b"\r\n")
            if tail:
                last_line = tail[tail.rfind(b"\n") + 1:]
            counts.lines += buffer.count(b"\n") + (bool(buffer) and not buffer.endswith(b"\n"))
            on_chunk(counts.lines)
            if not chunk:
                break
    except (OSError, EOFError, zlib.error) as exc:
        reason = "the compressed stream ends early" if isinstance(exc, EOFError) else str(exc) or type(exc).__name__
        error = f"reading stopped after line {counts.lines}: {reason}"
    return AuditLogFile(
        path=name, lines=counts.lines, candidates=counts.candidates, events=counts.events, damaged=counts.damaged,
        first_damaged_line=counts.first_damaged_line, first=counts.first,
        last=_line_time(last_line) if last_line else None, error=error,
    )


class _Counts:
    __slots__ = ("candidates", "damaged", "events", "first", "first_damaged_line", "lines")

    def __init__(self) -> None:
        self.lines = 0
        self.candidates = 0
        self.events = 0
        self.damaged = 0
        self.first_damaged_line: int | None = None
        self.first: datetime | None = None

    def note_damaged(self, line: int) -> None:
        self.damaged += 1
        if self.first_damaged_line is None:
            self.first_damaged_line = line


def _candidate_spans(buffer: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of every line holding a needle, each line once, in order."""
    match = _ANY_NEEDLE.search(buffer)
    while match is not None:
        at = match.start()
        start = buffer.rfind(b"\n", 0, at) + 1
        end = buffer.find(b"\n", at)
        if end == -1:
            end = len(buffer)
        yield start, end
        match = _ANY_NEEDLE.search(buffer, end)


def _scan(buffer: bytes, counts: _Counts, since: datetime, until: datetime, folder: SessionFolder) -> None:
    for start, end in _candidate_spans(buffer):
        line = buffer[start:end].strip()
        if not line:
            continue
        counts.candidates += 1
        try:
            event = event_decoder.decode(line)
        except msgspec.DecodeError:  # malformed JSON, or a field of the wrong type
            event = None
        moment = event.time if event is not None else None
        if event is None or moment is None or (event.kind and event.kind != "Event"):
            counts.note_damaged(counts.lines + buffer.count(b"\n", 0, start) + 1)
            continue
        request = exec_request(event.request_uri, event.verb)
        if request is None:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if since <= moment <= until:
            counts.events += 1
            folder.add(event, request, moment)


def _line_time(line: bytes) -> datetime | None:
    try:
        stamp = time_decoder.decode(line)
    except msgspec.DecodeError:
        return None
    moment = stamp.received or stamp.stage_time
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def file_gaps(file: AuditLogFile) -> list[CoverageGap]:
    """The coverage gaps one file's reading leaves: damaged lines, a stream that ended early."""
    gaps = []
    if file.damaged:
        plural = "s" if file.damaged != 1 else ""
        gaps.append(CoverageGap(
            source="auditlog", verb="read", resource=file.path, reason="damaged",
            message=f"{file.damaged} damaged line{plural} skipped (the first at line {file.first_damaged_line})",
        ))
    if file.error:
        gaps.append(CoverageGap(source="auditlog", verb="read", resource=file.path, reason="error",
                                message=file.error))
    return gaps

