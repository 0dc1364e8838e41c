"""The rpm reader against librpm: tiny packages built with `rpmbuild`, installed with `rpm --justdb` into a
temporary rpmdb (SQLite, and a BerkeleyDB `Packages` holding the same headers), read from a layer by the
scanner and by librpm (Debian's python3-rpm) — the two must agree. Plus damaged databases."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest

from audit.images import Package
from collectors.layers.readers import Member
from collectors.layers.rpm import (
    HeaderError,
    bdb_hash_values,
    parse_header,
    parse_source_rpm,
    read_rpm_bdb,
    read_rpm_sqlite,
    sqlite_header_blobs,
)
from collectors.layers.scan import scan_layer
from tests.conftest import IN_CI, require_tool

SYSTEM_PYTHON = "/usr/bin/python3"
"""Debian's python3-rpm is built for the system Python, not the project's virtualenv."""

SPEC = """\
Name: %{pkgname}
Version: %{pkgversion}
Release: %{pkgrelease}
%{?pkgepoch:Epoch: %{pkgepoch}}
Summary: tiny test package
License: MIT

%description
A package without files, for the rpm reader oracle.

%if 0%{?withlibs}
%package libs
Summary: tiny subpackage
%description libs
Built from the same source package.
%files libs
%endif

%files
"""

PACKAGES = [
    # name, version, release, epoch, target, with a -libs subpackage
    ("alpha", "1.2.3", "4.el9", "2", "noarch", False),
    ("beta", "0.9", "1", None, "noarch", False),
    ("gamma", "3.0", "7.fc38", "0", "noarch", False),
    ("delta", "2024.1", "0.1.rc1", "10", "x86_64", False),
    ("omega", "1.0", "1.el8_10", None, "x86_64", True),
]

ORACLE = """
import json, sys, rpm
rpm.addMacro("_dbpath", sys.argv[1])
rpm.addMacro("_db_backend", sys.argv[2])
ts = rpm.TransactionSet()
rows = []
for h in ts.dbMatch():
    rows.append([h["name"], h["epoch"], h["version"], h["release"], h["arch"], h["sourcerpm"]])
print(json.dumps(rows))
"""


def require_python_rpm() -> None:
    found = subprocess.run([SYSTEM_PYTHON, "-c", "import rpm"], capture_output=True).returncode == 0
    if not found:
        message = "Debian python3-rpm is not installed (scripts/test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def librpm_packages(dbpath: Path, backend: str) -> set[tuple]:
    """What librpm reads from a database directory, as (name, version, arch, source name, source version)."""
    output = subprocess.run(
        [SYSTEM_PYTHON, "-c", ORACLE, str(dbpath), backend], check=True, capture_output=True, text=True
    ).stdout
    packages = set()
    for name, epoch, version, release, arch, sourcerpm in json.loads(output):
        prefix = "" if epoch is None else f"{epoch}:"
        source_name, source_version, source_release = sourcerpm.removesuffix(".src.rpm").rsplit("-", 2)
        packages.add((name, f"{prefix}{version}-{release}", arch, source_name,
                      f"{prefix}{source_version}-{source_release}"))
    return packages


def as_tuples(packages: tuple[Package, ...]) -> set[tuple]:
    return {(p.name, p.version, p.arch, p.source_name, p.source_version) for p in packages}


@pytest.fixture(scope="module")
def rpmdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite rpmdb holding the tiny packages, written by rpm itself."""
    rpmbuild, rpm = require_tool("rpmbuild"), require_tool("rpm")
    require_python_rpm()
    work = tmp_path_factory.mktemp("rpm")
    spec = work / "tiny.spec"
    spec.write_text(SPEC)
    for name, version, release, epoch, target, with_libs in PACKAGES:
        # Every path rpmbuild would use under the home directory or /var/tmp points into the temporary dir.
        defines = {"_topdir": work / "top", "_tmppath": work / "tmp", "_dbpath": work / "builddb", "pkgname": name,
                   "pkgversion": version, "pkgrelease": release}
        if epoch is not None:
            defines["pkgepoch"] = epoch
        if with_libs:
            defines["withlibs"] = "1"
        command = [rpmbuild, "-bb", "--quiet", "--nodeps", "--target", target]
        for macro, value in defines.items():
            command += ["--define", f"{macro} {value}"]
        subprocess.run([*command, str(spec)], check=True, capture_output=True)
    dbpath = work / "db"
    dbpath.mkdir()
    built = sorted(str(p) for p in (work / "top" / "RPMS").rglob("*.rpm"))
    assert len(built) == 6
    subprocess.run(
        [rpm, "--dbpath", str(dbpath), "--define", "_db_backend sqlite", "--justdb", "--nodeps", "--noscripts", "-i",
         *built],
        check=True,
        capture_output=True,
    )
    return dbpath


@pytest.fixture(scope="module")
def bdb_dbpath(rpmdb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BerkeleyDB hash `Packages` with the same headers, keyed by instance number as rpm keys it
    (plus rpm's key-0 record), written by BerkeleyDB's own db_load."""
    db_load = require_tool("db5.3_load")
    connection = sqlite3.connect(f"file:{rpmdb / 'rpmdb.sqlite'}?immutable=1", uri=True)
    rows = connection.execute("SELECT hnum, blob FROM Packages").fetchall()
    connection.close()
    lines = ["VERSION=3", "format=bytevalue", "type=hash", "db_pagesize=4096", "HEADER=END"]
    lines += [f" {struct.pack('<I', 0).hex()}", f" {struct.pack('<I', len(rows) + 1).hex()}"]
    for number, blob in rows:
        lines += [f" {struct.pack('<I', number).hex()}", f" {bytes(blob).hex()}"]
    lines.append("DATA=END")
    dbpath = tmp_path_factory.mktemp("bdb")
    dump = dbpath / "dump.txt"
    dump.write_text("\n".join(lines) + "\n")
    subprocess.run([db_load, "-f", str(dump), str(dbpath / "Packages")], check=True, capture_output=True)
    dump.unlink()
    return dbpath


def layer(files: dict[str, bytes]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return io.BytesIO(gzip.compress(out.getvalue(), compresslevel=1))


def test_sqlite_rpmdb_read_from_a_layer_agrees_with_librpm(rpmdb: Path) -> None:
    expected = librpm_packages(rpmdb, "sqlite")
    assert len(expected) == 6
    data = (rpmdb / "rpmdb.sqlite").read_bytes()
    assert data[18:20] == b"\x02\x02"  # rpm leaves it in WAL mode: the reader must cope

    inventory = scan_layer(layer({"var/lib/rpm/rpmdb.sqlite": data}), digest="sha256:rpm")

    assert inventory.error is None
    [database] = inventory.databases
    assert (database.path, database.kind, database.error) == ("var/lib/rpm/rpmdb.sqlite", "rpm-sqlite", None)
    assert as_tuples(database.packages) == expected
    assert {p.ecosystem for p in database.packages} == {"rpm"}
    omega_libs = next(p for p in database.packages if p.name == "omega-libs")
    assert (omega_libs.version, omega_libs.source_name, omega_libs.arch) == ("1.0-1.el8_10", "omega", "x86_64")
    gamma = next(p for p in database.packages if p.name == "gamma")
    assert gamma.version == "0:3.0-7.fc38"


def test_berkeleydb_packages_read_from_a_layer_agrees_with_librpm(rpmdb: Path, bdb_dbpath: Path) -> None:
    expected = librpm_packages(bdb_dbpath, "bdb_ro")
    assert expected == librpm_packages(rpmdb, "sqlite")

    inventory = scan_layer(
        layer({"usr/lib/sysimage/rpm/Packages": (bdb_dbpath / "Packages").read_bytes()}), digest="sha256:bdb"
    )

    assert inventory.error is None
    [database] = inventory.databases
    assert (database.path, database.kind, database.error) == ("usr/lib/sysimage/rpm/Packages", "rpm-bdb", None)
    assert as_tuples(database.packages) == expected


def test_the_sqlite_reader_writes_nothing_beside_the_database(rpmdb: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = (rpmdb / "rpmdb.sqlite").read_bytes()
    database = read_rpm_sqlite(Member("var/lib/rpm/rpmdb.sqlite", len(data), 0o644), io.BytesIO(data))
    assert len(database.packages) == 6
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_header_costs_only_that_package(rpmdb: Path) -> None:
    data = (rpmdb / "rpmdb.sqlite").read_bytes()
    connection = sqlite3.connect(":memory:")
    connection.deserialize(data[:18] + b"\x01\x01" + data[20:])
    connection.execute("UPDATE Packages SET blob = x'0000ffff00000010' WHERE hnum = 1")
    connection.commit()
    damaged = connection.serialize()
    connection.close()
    database = read_rpm_sqlite(Member("var/lib/rpm/rpmdb.sqlite", len(damaged), 0o644), io.BytesIO(damaged))
    assert len(database.packages) == 5
    assert database.error == "1 of 6 package headers unreadable"


def test_malformed_sqlite_files() -> None:
    def read(data: bytes):
        return read_rpm_sqlite(Member("var/lib/rpm/rpmdb.sqlite", len(data), 0o644), io.BytesIO(data))

    junk = read(b"SQLite format 3\x00" + bytes(range(256)) * 40)
    assert junk.packages == () and junk.error.startswith("not a readable rpm SQLite database")
    assert read(b"").error.startswith("not a readable rpm SQLite database")

    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE Other (x)")
    # A view named Packages that would never end: refused before it runs.
    connection.execute(
        "CREATE VIEW Packages AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
        "SELECT i AS hnum, zeroblob(100) AS blob FROM n"
    )
    hostile = connection.serialize()
    connection.close()
    assert read(hostile).error == "not a readable rpm SQLite database: no Packages table"


def test_a_runaway_query_is_stopped() -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)")
    connection.executemany("INSERT INTO Packages VALUES (?, zeroblob(10))", [(i,) for i in range(300_000)])
    connection.commit()
    data = connection.serialize()
    connection.close()
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        sqlite_header_blobs(data, steps=100)


def test_malformed_berkeleydb_files(bdb_dbpath: Path) -> None:
    def read(data: bytes):
        return read_rpm_bdb(Member("var/lib/rpm/Packages", len(data), 0o644), io.BytesIO(data))

    too_short = read(b"\0" * 100)
    assert too_short.error == "not a readable BerkeleyDB hash database: 100 bytes is too short for a metadata page"
    assert read(bytes(range(256)) * 64).error == "not a readable BerkeleyDB hash database: no BerkeleyDB hash magic"
    good = (bdb_dbpath / "Packages").read_bytes()
    truncated = read(good[: len(good) - 4096])
    assert truncated.error is not None and truncated.error.startswith("truncated:")
    # Every overflow page pointing at itself: a loop the reader must not follow forever.
    looped = bytearray(good)
    for page in range(1, len(good) // 4096):
        if looped[page * 4096 + 25] == 7:
            looped[page * 4096 + 16 : page * 4096 + 20] = struct.pack("<I", page)
            looped[page * 4096 + 22 : page * 4096 + 24] = struct.pack("<H", 8)
    values, problem = bdb_hash_values(bytes(looped))
    assert values == [] and problem is not None and "broken page links" in problem


def test_header_parsing_edges() -> None:
    with pytest.raises(HeaderError):
        parse_header(b"\0\0")
    with pytest.raises(HeaderError):
        parse_header(struct.pack(">II", 1, 4) + struct.pack(">iIiI", 1000, 6, 0, 1) + b"abcd")  # no NUL
    with pytest.raises(HeaderError):
        parse_header(struct.pack(">II", 1, 4) + struct.pack(">iIiI", 1000, 6, 900, 1) + b"abc\0")  # outside
    assert parse_header(struct.pack(">II", 1, 4) + struct.pack(">iIiI", 1000, 6, 0, 1) + b"abc\0") == {1000: "abc"}
    assert parse_source_rpm("bash-5.1.8-6.el9.src.rpm") == ("bash", "5.1.8-6.el9")
    assert parse_source_rpm("kernel-5.14.0-427.el9.nosrc.rpm") == ("kernel", "5.14.0-427.el9")
    assert parse_source_rpm("(none)") is None
    assert parse_source_rpm("odd.src.rpm") is None
