"""The dpkg reader against dpkg itself: this machine's own status file, read from a layer, lists what
`dpkg-query` lists; plus distroless `status.d`, `Source:` forms, states, and junk."""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
from pathlib import Path

from audit.images import Package
from collectors.layers.dpkg import read_dpkg_status
from collectors.layers.readers import Member
from collectors.layers.scan import scan_layer
from tests.conftest import require_tool

ON_DISK_ABBREV = frozenset("itWFU")
"""`${db:Status-Abbrev}` status letters of the states the reader counts (installed, triggers-pending,
triggers-awaited, half-configured, unpacked)."""


def layer(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue(), compresslevel=1)


def read(text: bytes, path: str = "var/lib/dpkg/status", kind: str = "dpkg"):
    return read_dpkg_status(Member(path=path, size=len(text), mode=0o644), io.BytesIO(text), kind=kind)


def dpkg_query(fields: str) -> set[tuple[str, ...]]:
    """What dpkg-query says about the packages whose files are on disk."""
    output = subprocess.run(
        [require_tool("dpkg-query"), "-W", "-f", "${db:Status-Abbrev}|" + fields + "\\n"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = set()
    for line in output.splitlines():
        abbrev, _, rest = line.partition("|")
        if abbrev[1:2] in ON_DISK_ABBREV:
            rows.add(tuple(rest.split("|")))
    return rows


def test_this_machines_status_file_read_from_a_layer_agrees_with_dpkg_query() -> None:
    status_file = Path("/var/lib/dpkg/status")
    for _ in range(3):  # apt may run beside the tests: retry until the file is the one dpkg-query read
        status = status_file.read_bytes()
        expected = dpkg_query("${Package}|${Version}|${Architecture}")
        expected_sources = dpkg_query("${Package}|${source:Package}|${source:Version}")
        if status_file.read_bytes() == status:
            break
    os_release = Path("/etc/os-release").read_bytes()  # the file it links to, as a regular member

    inventory = scan_layer(
        io.BytesIO(layer({"var/lib/dpkg/status": status, "etc/os-release": os_release})), digest="sha256:host"
    )

    assert inventory.error is None
    [database] = inventory.databases
    assert (database.path, database.kind, database.error) == ("var/lib/dpkg/status", "dpkg", None)
    assert len(database.packages) > 10
    assert {(p.name, p.version, p.arch) for p in database.packages} == expected
    assert {(p.name, p.source_name, p.source_version) for p in database.packages} == expected_sources
    assert {p.ecosystem for p in database.packages} == {"deb"}
    host_id = next(line[3:].strip('"') for line in os_release.decode().splitlines() if line.startswith("ID="))
    assert inventory.os_release is not None and inventory.os_release.id == host_id


def test_source_forms() -> None:
    database = read(
        b"Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n"
        b"Source: openssl (3.0.15-1~deb12u1)\nVersion: 3.0.15-1~deb12u1+b1\n\n"
        b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\n"
        b"Version: 2.36-9+deb12u9\nDescription: GNU C Library\n shared libraries\n .\n more: text\n\n"
        b"Package: tzdata\nStatus: hold ok installed\nArchitecture: all\nVersion: 2024b-0+deb12u1\n"
    )
    assert database.error is None
    assert database.packages == (
        Package(name="libssl3", version="3.0.15-1~deb12u1+b1", ecosystem="deb", arch="amd64", source_name="openssl",
                source_version="3.0.15-1~deb12u1", path="var/lib/dpkg/status"),
        Package(name="libc6", version="2.36-9+deb12u9", ecosystem="deb", arch="amd64", source_name="glibc",
                source_version="2.36-9+deb12u9", path="var/lib/dpkg/status"),
        Package(name="tzdata", version="2024b-0+deb12u1", ecosystem="deb", arch="all", source_name="tzdata",
                source_version="2024b-0+deb12u1", path="var/lib/dpkg/status"),
    )


def test_only_packages_whose_files_are_on_disk_count() -> None:
    states = [
        "install ok installed", "deinstall ok installed", "install ok unpacked", "install ok half-configured",
        "install ok triggers-pending", "install ok triggers-awaited", "deinstall ok config-files",
        "purge ok not-installed", "install reinstreq half-installed",
    ]
    text = "\n".join(f"Package: p{i}\nStatus: {state}\nVersion: 1.{i}\n" for i, state in enumerate(states))
    database = read(text.encode())
    assert [p.name for p in database.packages] == ["p0", "p1", "p2", "p3", "p4", "p5"]
    assert database.error is None


def test_distroless_status_d_files_through_the_scanner() -> None:
    inventory = scan_layer(
        io.BytesIO(
            layer(
                {
                    "var/lib/dpkg/status.d/base-files": b"Package: base-files\nVersion: 12.4+deb12u5\n"
                    b"Architecture: amd64\n",
                    "var/lib/dpkg/status.d/libssl3": b"Package: libssl3\nSource: openssl\nVersion: 3.0.15-1\n"
                    b"Architecture: amd64\nStatus: install ok installed\n",
                    "var/lib/dpkg/status.d/libssl3.md5sums": b"d41d8cd98f00b204e9800998ecf8427e  usr/lib/x\n",
                    "var/lib/dpkg/status.d/sub/nested": b"Package: nested\nVersion: 1\n",
                }
            )
        ),
        digest="sha256:distroless",
    )
    assert [(db.path, db.kind) for db in inventory.databases] == [
        ("var/lib/dpkg/status.d/base-files", "dpkg-distroless"),
        ("var/lib/dpkg/status.d/libssl3", "dpkg-distroless"),
    ]
    base_files, libssl = (db.packages[0] for db in inventory.databases)
    assert (base_files.name, base_files.source_name, base_files.arch) == ("base-files", "base-files", "amd64")
    assert (libssl.name, libssl.source_name, libssl.source_version) == ("libssl3", "openssl", "3.0.15-1")


def test_binary_junk_is_an_error_not_a_crash() -> None:
    junk = bytes(range(256)) * 64 + b"\xff\xfe\x00:\x00\n\n\x00Package\n"
    database = read(junk)
    assert database.packages == ()
    assert database.error is not None and "lines that are not `Field: value` ignored" in database.error


def test_damaged_stanzas_are_skipped_and_counted() -> None:
    database = read(
        b"Package: good\nStatus: install ok installed\nVersion: 1\n\n"
        b"Package: no-version\nStatus: install ok installed\n\n"
        b"Package: no-status\nVersion: 1\n\n"
        b"Package: bad source\nStatus: install ok installed\nVersion: 1\n\n"
        b"Package: weird-source\nStatus: install ok installed\nVersion: 1\nSource: a (b) c\n"
    )
    assert [p.name for p in database.packages] == ["good"]
    assert database.error == "4 stanzas without a usable Package, Version or Status skipped"
