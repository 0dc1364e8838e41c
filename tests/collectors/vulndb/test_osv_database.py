"""Importing OSV dumps into the SQLite database: zip and directory sources, damage, duplicates, atomicity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from collectors.vulndb import database
from collectors.vulndb.database import ImportProgress, VulnDB, VulnDBError, import_osv
from collectors.vulndb.osv import normalized_timestamp

FIXTURES = Path(__file__).parent / "fixtures" / "osv"
GOOD = sorted(p.name for p in FIXTURES.glob("*.json") if p.name != "damaged.json")
CORRUPT_MEMBER = "DEBIAN-CVE-2099-0001.json"


def write_dump(path: Path, corrupt_member: bool = True) -> Path:
    """The fixtures as an OSV `all.zip` (one JSON per record at the root), plus a member whose bytes are damaged."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for fixture in sorted(FIXTURES.glob("*.json")):
            archive.write(fixture, fixture.name)
        if corrupt_member:
            body = json.dumps({"id": "DEBIAN-CVE-2099-0001", "modified": "2024-01-01T00:00:00Z", "marker": "X" * 64})
            archive.writestr(zipfile.ZipInfo(CORRUPT_MEMBER), body, compress_type=zipfile.ZIP_STORED)
    if corrupt_member:
        # Flip stored bytes: the member's CRC no longer matches, as after a bad download.
        data = path.read_bytes()
        at = data.index(b"X" * 64)
        path.write_bytes(data[:at] + b"Y" * 8 + data[at + 8:])
    return path


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    return write_dump(tmp_path / "all.zip")


def ids(records: list) -> list[str]:
    return [r.id for r in records]


def test_zip_import_stores_records_and_reports_damage(dump: Path, tmp_path: Path) -> None:
    result = import_osv([dump], tmp_path / "db" / "vulndb.sqlite")
    assert (result.records, result.withdrawn, result.duplicates) == (len(GOOD) - 1, 1, 0)
    reasons = {(p.member, p.reason.split(":")[0]) for p in result.problems}
    assert reasons == {("damaged.json", "not an OSV record"), (CORRUPT_MEMBER, "damaged zip member")}
    assert all(p.source == str(dump) for p in result.problems)


def test_records_are_found_by_ecosystem_and_package(dump: Path, tmp_path: Path) -> None:
    path = tmp_path / "vulndb.sqlite"
    import_osv([dump], path)
    with VulnDB(path) as db:
        assert ids(db.records_for("Debian:12", "glibc")) == ["DEBIAN-CVE-2010-4756", "DEBIAN-CVE-2023-4911"]
        assert ids(db.records_for("Debian:12", "openssl")) == ["DEBIAN-CVE-2023-5363"]
        assert db.records_for("Debian:11", "openssl") == []
        alpine = db.records_for("Alpine:v3.18", "openssl")
        assert [(r.id, r.upstream, r.related_ids) for r in alpine] == [
            ("ALPINE-CVE-2023-5363", ("CVE-2023-5363",), ("CVE-2023-5363",))]
        assert ids(db.records_for("PyPI", "Requests")) == ["GHSA-j8r2-6x86-q33q"]
        assert ids(db.records_for("PyPI", "requests", include_withdrawn=True)) == [
            "GHSA-j8r2-6x86-q33q", "TEST-WITHDRAWN-0001"]
        semver = db.records_for("npm", "semver")[0]
        assert [a.ranges[0].events[-1].fixed for a in semver.affected] == ["5.7.2", "6.3.1", "7.5.2"]
        assert semver.severity[0].score.startswith("CVSS:3.1/")


def test_status_counts_records_per_ecosystem(dump: Path, tmp_path: Path) -> None:
    path = tmp_path / "vulndb.sqlite"
    before = time.time()
    import_osv([dump], path)
    with VulnDB(path) as db:
        status = db.status()
    expected: dict[str, tuple[int, str]] = {}
    for name in GOOD:
        record = json.loads((FIXTURES / name).read_text())
        if "withdrawn" in record:
            continue
        ecosystem = record["affected"][0]["package"]["ecosystem"]
        count, newest = expected.get(ecosystem, (0, ""))
        expected[ecosystem] = (count + 1, max(newest, normalized_timestamp(record["modified"])))
    assert {e.ecosystem: (e.records, e.newest_modified) for e in status.ecosystems} == expected
    assert status.records == len(GOOD) - 1
    assert before - 1 <= status.imported_at.timestamp() <= time.time() + 1
    assert 0 <= status.age_days() < 0.01


def test_directory_import_matches_zip_import(tmp_path: Path) -> None:
    result = import_osv([FIXTURES], tmp_path / "vulndb.sqlite")
    assert result.records == len(GOOD) - 1
    assert [(p.member, p.reason.split(":")[0]) for p in result.problems] == [("damaged.json", "not an OSV record")]


def test_the_newest_copy_of_a_record_wins(tmp_path: Path) -> None:
    older, newer = tmp_path / "older", tmp_path / "newer"
    for folder, modified, fixed in ((older, "2024-01-01T00:00:00.5Z", "1.0"), (newer, "2024-01-01T00:00:01Z", "2.0")):
        folder.mkdir()
        record = {"id": "X-1", "modified": modified, "affected": [{"package": {"ecosystem": "npm", "name": "a"},
                  "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}
        (folder / "X-1.json").write_text(json.dumps(record))
    for order in ([older, newer], [newer, older]):
        path = tmp_path / "vulndb.sqlite"
        result = import_osv(order, path)
        assert (result.records, result.duplicates) == (1, 1)
        with VulnDB(path) as db:
            assert db.records_for("npm", "a")[0].affected[0].ranges[0].events[1].fixed == "2.0"


def snapshot(path: Path) -> tuple[list[str], str]:
    with VulnDB(path) as db:
        return ids(db.records_for("Debian:12", "glibc")), db.status().imported_at.isoformat()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_import_leaves_the_previous_database(
        dump: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]) -> None:
    folder = tmp_path / "db"
    path = folder / "vulndb.sqlite"
    import_osv([FIXTURES], path)
    before = snapshot(path)
    monkeypatch.setattr(database, "PROGRESS_EVERY", 1)
    seen: list[ImportProgress] = []

    def interrupt(progress: ImportProgress) -> None:
        seen.append(progress)
        if progress.records_read == 3:
            raise error("stop")

    with pytest.raises(error):
        import_osv([dump], path, progress=interrupt)
    assert [p.records_read for p in seen] == [1, 2, 3]
    assert snapshot(path) == before
    assert sorted(os.listdir(folder)) == ["vulndb.sqlite"]


def test_unreadable_sources_are_refused_before_anything_changes(tmp_path: Path) -> None:
    path = tmp_path / "vulndb.sqlite"
    import_osv([FIXTURES], path)
    before = snapshot(path)
    not_a_zip = tmp_path / "all.zip"
    not_a_zip.write_bytes(b"<html>not found</html>")
    for sources in ([tmp_path / "missing.zip"], [not_a_zip], [FIXTURES / "damaged.json"]):
        with pytest.raises(VulnDBError):
            import_osv(sources, path)
        assert snapshot(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.zip", "vulndb.sqlite"]


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "junk.sqlite").write_text("junk")
    with pytest.raises(VulnDBError):
        VulnDB(tmp_path / "junk.sqlite")
    with pytest.raises(VulnDBError):
        VulnDB(tmp_path / "absent.sqlite")


KILLED_IMPORT = """
import sys, time
from pathlib import Path
from collectors.vulndb import database
database.PROGRESS_EVERY = 1

def stall(progress):
    if progress.records_read == 3:
        Path(sys.argv[3]).write_text("ready")
        time.sleep(60)

database.import_osv([sys.argv[1]], sys.argv[2], progress=stall)
"""


def test_a_killed_import_leaves_the_previous_database_and_the_next_import_cleans_up(
        dump: Path, tmp_path: Path) -> None:
    folder = tmp_path / "db"
    path = folder / "vulndb.sqlite"
    import_osv([FIXTURES], path)
    before = snapshot(path)
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", KILLED_IMPORT, str(dump), str(path), str(ready)],
                             cwd=Path(__file__).parents[3])
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert child.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline, "the import never got going"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert snapshot(path) == before
    leftovers = [p for p in os.listdir(folder) if p != "vulndb.sqlite"]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".vulndb.sqlite.import-{child.pid}-")
    import_osv([dump], path)
    assert sorted(os.listdir(folder)) == ["vulndb.sqlite"]
