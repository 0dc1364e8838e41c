"""The offline OSV database: import OSV dumps into SQLite, then look records up by (ecosystem, package).

`import_osv` streams each source (an OSV `all.zip`, a directory of OSV JSON
files, or one JSON file) record by record into a new database file beside the
target and moves it into place with `os.replace` only once everything is
written: a failed, interrupted or killed import leaves the previous database
as it was. A damaged zip member or record is counted with its name and reason
and skipped. Each import builds the database afresh from the sources given.

Layout: `records` holds each record once (the newest `modified` wins when the
same id comes from several sources) as msgpack; `packages` indexes it by every
(ecosystem, package) it affects, with the ecosystem exactly as written in the
record (`Debian:12`, `Alpine:v3.19`), so a top-level dump can be filtered by
release at query time.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from collectors.vulndb.osv import OSVRecord, decode_record, normalized_timestamp, package_key

SCHEMA_VERSION = 1
MAX_RECORD_BYTES = 64 * 1024 * 1024
PROGRESS_EVERY = 1000
_TEMP_INFIX = ".import-"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE records (
    id TEXT NOT NULL UNIQUE,
    modified TEXT NOT NULL,
    withdrawn INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE packages (ecosystem TEXT NOT NULL, name TEXT NOT NULL, record INTEGER NOT NULL);
-- Kept up during the import: a record seen again in a later dump replaces its rows.
CREATE INDEX packages_by_record ON packages (record);
CREATE TABLE ecosystems (ecosystem TEXT PRIMARY KEY, records INTEGER NOT NULL, newest_modified TEXT NOT NULL);
"""
# Built after the bulk insert: one sort instead of a B-tree update per row.
_INDEXES = ("CREATE INDEX packages_by_name ON packages (ecosystem, name)",)


class VulnDBError(Exception):
    """The database cannot be read, or an import cannot start or produced nothing."""


class ImportProblem(msgspec.Struct, frozen=True):
    """A record that was skipped: the source path, the member or file inside it, and why."""

    source: str
    member: str
    reason: str


class ImportProgress(msgspec.Struct, frozen=True):
    """Where an import is: the source being read, records read so far (all sources), problems so far."""

    source: str
    records_read: int
    problems: int


class ImportResult(msgspec.Struct, frozen=True):
    """What an import stored and skipped."""

    path: str
    records: int
    withdrawn: int
    duplicates: int
    problems: tuple[ImportProblem, ...]
    seconds: float


class EcosystemStatus(msgspec.Struct, frozen=True):
    """Records (not withdrawn) that affect a package of one ecosystem string, and the newest of them."""

    ecosystem: str
    records: int
    newest_modified: str


class DBStatus(msgspec.Struct, frozen=True):
    """The database's content per ecosystem and when it was imported."""

    path: str
    imported_at: datetime
    records: int
    ecosystems: tuple[EcosystemStatus, ...]

    def age_days(self, now: datetime | None = None) -> float:
        """Days since the import."""
        return ((now or datetime.now(UTC)) - self.imported_at).total_seconds() / 86400


def import_osv(
    paths: Iterable[str | os.PathLike[str]],
    db_path: str | os.PathLike[str],
    *,
    progress: Callable[[ImportProgress], None] | None = None,
) -> ImportResult:
    """Build the database at `db_path` from OSV sources, replacing the previous one only on success.

    Raises `VulnDBError` when a source is missing or not readable as a whole, or when no record could be read;
    the previous database is then untouched. `progress` is called every `PROGRESS_EVERY` records; an exception
    it raises aborts the import the same way.
    """
    sources = [Path(p) for p in paths]
    for source in sources:
        _check_source(source)
    target = Path(db_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(target)
    started = time.perf_counter()
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}{_TEMP_INFIX}{os.getpid()}-",
                                     suffix=".tmp")
    os.close(fd)
    temp = Path(temp_name)
    try:
        writer = _Writer(temp)
        try:
            for source in sources:
                writer.add_source(source, progress)
            if writer.stored == 0:
                raise VulnDBError(f"no OSV record could be read from {', '.join(map(str, sources))}")
            writer.finish()
        finally:
            writer.close()
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        # KeyboardInterrupt included: whatever stopped us, the half-built file must not stay behind.
        temp.unlink(missing_ok=True)
        raise
    return ImportResult(path=str(target), records=writer.stored - writer.withdrawn, withdrawn=writer.withdrawn,
                        duplicates=writer.duplicates, problems=tuple(writer.problems),
                        seconds=time.perf_counter() - started)


class VulnDB:
    """A read-only view of an imported database."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise VulnDBError(f"no vulnerability database at {self.path}; run `kubeward db import PATH`")
        try:
            self._conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                         check_same_thread=False)
            version = self._meta("schema_version")
        except sqlite3.DatabaseError as error:
            raise VulnDBError(f"{self.path} is not a kubeward vulnerability database: {error}") from error
        if version != str(SCHEMA_VERSION):
            raise VulnDBError(f"{self.path} has schema {version}, this kubeward reads {SCHEMA_VERSION}; re-import")
        self._decoder = msgspec.msgpack.Decoder(OSVRecord)

    def records_for(self, ecosystem: str, name: str, *, include_withdrawn: bool = False) -> list[OSVRecord]:
        """The records affecting package `name` of `ecosystem` (exactly as in OSV, e.g. `Debian:12`), by id."""
        rows = self._conn.execute(
            "SELECT r.data FROM packages p JOIN records r ON r.rowid = p.record"
            " WHERE p.ecosystem = ? AND p.name = ? AND (? OR r.withdrawn = 0) ORDER BY r.id",
            (ecosystem, package_key(ecosystem, name), include_withdrawn),
        )
        return [self._decoder.decode(data) for (data,) in rows]

    def status(self) -> DBStatus:
        """Records per ecosystem, the newest modification of each, and the import time."""
        rows = self._conn.execute("SELECT ecosystem, records, newest_modified FROM ecosystems ORDER BY ecosystem")
        (total,) = self._conn.execute("SELECT count(*) FROM records WHERE withdrawn = 0").fetchone()
        return DBStatus(
            path=str(self.path),
            imported_at=datetime.fromisoformat(self._meta("imported_at")),
            records=total,
            ecosystems=tuple(EcosystemStatus(*row) for row in rows),
        )

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> VulnDB:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _meta(self, key: str) -> str:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise VulnDBError(f"{self.path} lacks `{key}`; re-import")
        return row[0]


class _Writer:
    """The database being built: one transaction, committed at `finish`."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        # The file is thrown away on any failure, so crash safety inside it buys nothing.
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.executescript(_SCHEMA)
        self.conn.execute("BEGIN")
        self.encoder = msgspec.msgpack.Encoder()
        self.read = 0
        self.stored = 0
        self.withdrawn = 0
        self.duplicates = 0
        self.problems: list[ImportProblem] = []

    def add_source(self, source: Path, progress: Callable[[ImportProgress], None] | None) -> None:
        """Store every record of one source."""
        for member, data in _read_source(source, self.problems):
            try:
                record = decode_record(data)
            except (msgspec.DecodeError, ValueError) as error:
                self.problems.append(ImportProblem(str(source), member, f"not an OSV record: {error}"))
                continue
            self._store(record)
            self.read += 1
            if progress is not None and self.read % PROGRESS_EVERY == 0:
                progress(ImportProgress(str(source), self.read, len(self.problems)))

    def _store(self, record: OSVRecord) -> None:
        modified = normalized_timestamp(record.modified)
        withdrawn = record.withdrawn is not None
        existing = self.conn.execute("SELECT rowid, modified, withdrawn FROM records WHERE id = ?",
                                     (record.id,)).fetchone()
        if existing is not None:
            self.duplicates += 1
            rowid, old_modified, old_withdrawn = existing
            if old_modified >= modified:
                return
            self.conn.execute("DELETE FROM packages WHERE record = ?", (rowid,))
            self.conn.execute("UPDATE records SET modified = ?, withdrawn = ?, data = ? WHERE rowid = ?",
                              (modified, withdrawn, self.encoder.encode(record), rowid))
            self.withdrawn += withdrawn - old_withdrawn
        else:
            rowid = self.conn.execute("INSERT INTO records (id, modified, withdrawn, data) VALUES (?, ?, ?, ?)",
                                      (record.id, modified, withdrawn, self.encoder.encode(record))).lastrowid
            self.stored += 1
            self.withdrawn += withdrawn
        keys = {(a.package.ecosystem, package_key(a.package.ecosystem, a.package.name))
                for a in record.affected if a.package is not None and a.package.ecosystem and a.package.name}
        self.conn.executemany("INSERT INTO packages (ecosystem, name, record) VALUES (?, ?, ?)",
                              [(ecosystem, name, rowid) for ecosystem, name in keys])

    def finish(self) -> None:
        """Build the indexes and the per-ecosystem summary, write the metadata, commit."""
        for statement in _INDEXES:
            # Not `executescript`: it would commit first.
            self.conn.execute(statement)
        self.conn.execute(
            "INSERT INTO ecosystems SELECT p.ecosystem, count(DISTINCT p.record), max(r.modified)"
            " FROM packages p JOIN records r ON r.rowid = p.record WHERE r.withdrawn = 0 GROUP BY p.ecosystem"
        )
        self.conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("schema_version", str(SCHEMA_VERSION)),
            ("imported_at", datetime.now(UTC).isoformat()),
            ("problems", str(len(self.problems))),
        ])
        self.conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (rolling back anything uncommitted)."""
        self.conn.close()


def _check_source(source: Path) -> None:
    """Refuse, before anything is written, a source that is missing or cannot be read as a whole."""
    if source.is_dir():
        return
    if not source.is_file():
        raise VulnDBError(f"{source}: no such file or directory")
    if source.suffix.lower() == ".json":
        return
    if not zipfile.is_zipfile(source):
        raise VulnDBError(f"{source}: neither a zip archive, a JSON file nor a directory")


def _read_source(source: Path, problems: list[ImportProblem]) -> Iterator[tuple[str, bytes]]:
    """(member name, JSON bytes) of each record file in a source; unreadable ones go to `problems`."""
    if source.is_dir():
        yield from _read_directory(source, problems)
    elif source.suffix.lower() == ".json":
        yield from _read_files(source.parent, [source], problems)
    else:
        yield from _read_zip(source, problems)


def _read_zip(source: Path, problems: list[ImportProblem]) -> Iterator[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise VulnDBError(f"{source}: cannot open the zip archive: {error}") from error
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.lower().endswith(".json"):
                continue
            if info.file_size > MAX_RECORD_BYTES:
                problems.append(ImportProblem(str(source), info.filename, f"over {MAX_RECORD_BYTES} bytes"))
                continue
            try:
                with archive.open(info) as member:
                    data = member.read(MAX_RECORD_BYTES + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
                # CRC mismatch, corrupt deflate stream, truncated member, unsupported method or encryption.
                problems.append(ImportProblem(str(source), info.filename, f"damaged zip member: {error}"))
                continue
            if len(data) > MAX_RECORD_BYTES:
                problems.append(ImportProblem(str(source), info.filename, f"over {MAX_RECORD_BYTES} bytes"))
                continue
            yield info.filename, data


def _read_directory(source: Path, problems: list[ImportProblem]) -> Iterator[tuple[str, bytes]]:
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() == ".json" and p.is_file())
    yield from _read_files(source, files, problems)


def _read_files(root: Path, files: list[Path], problems: list[ImportProblem]) -> Iterator[tuple[str, bytes]]:
    for path in files:
        name = str(path.relative_to(root))
        try:
            if path.stat().st_size > MAX_RECORD_BYTES:
                problems.append(ImportProblem(str(root), name, f"over {MAX_RECORD_BYTES} bytes"))
                continue
            data = path.read_bytes()
        except OSError as error:
            problems.append(ImportProblem(str(root), name, f"unreadable: {error}"))
            continue
        yield name, data


def _remove_stale_temp_files(target: Path) -> None:
    """Delete temp files left by imports that were killed (their process no longer exists)."""
    prefix = f".{target.name}{_TEMP_INFIX}"
    for candidate in target.parent.glob(f"{_glob_escape(prefix)}*.tmp"):
        pid_text = candidate.name[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit() or _process_exists(int(pid_text)):
            continue
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


def _glob_escape(text: str) -> str:
    """`text` with glob metacharacters made literal."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
