"""The apk reader on hand-written `installed` databases in Alpine's own format."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from audit.images import Package
from collectors.layers.apk import read_apk_installed
from collectors.layers.readers import Member
from collectors.layers.scan import scan_layer

FIXTURE = Path(__file__).parent / "fixtures" / "apk" / "installed"


def read(data: bytes, path: str = "lib/apk/db/installed"):
    return read_apk_installed(Member(path=path, size=len(data), mode=0o644), io.BytesIO(data))


def test_an_alpine_installed_database_through_the_scanner() -> None:
    data = FIXTURE.read_bytes()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, content in (("lib/apk/db/installed", data), ("etc/alpine-release", b"3.20.3\n")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    inventory = scan_layer(io.BytesIO(out.getvalue()), digest="sha256:alpine")

    assert inventory.error is None
    assert inventory.os_files == {"etc/alpine-release": "3.20.3"}
    [database] = inventory.databases
    assert (database.path, database.kind, database.error) == ("lib/apk/db/installed", "apk", None)
    assert [(p.name, p.version, p.arch, p.source_name) for p in database.packages] == [
        ("musl", "1.2.5-r0", "x86_64", "musl"),
        ("busybox", "1.36.1-r29", "x86_64", "busybox"),
        ("busybox-binsh", "1.36.1-r29", "x86_64", "busybox"),
        ("libcrypto3", "3.3.2-r0", "x86_64", "openssl"),
        ("ssl_client", "1.36.1-r29", "x86_64", "busybox"),
        ("ca-certificates-bundle", "20240705-r0", "x86_64", "ca-certificates"),
        ("alpine-baselayout-data", "3.6.5-r0", "x86_64", "alpine-baselayout"),
        ("tzdata", "2024b-r0", "noarch", "tzdata"),
    ]
    assert all(p.source_version == p.version and p.ecosystem == "apk" for p in database.packages)


def test_usr_merged_location_and_a_package_without_origin() -> None:
    database = read(b"P:hello\nV:2.12.1-r0\nA:aarch64\n", path="usr/lib/apk/db/installed")
    assert database.packages == (
        Package(name="hello", version="2.12.1-r0", ecosystem="apk", arch="aarch64", source_name="hello",
                source_version="2.12.1-r0", path="usr/lib/apk/db/installed"),
    )


def test_windows_line_ends_and_missing_trailing_blank_line() -> None:
    database = read(b"P:a\r\nV:1-r0\r\n\r\nP:b\r\nV:2-r1\r\no:bee\r\n")
    assert [(p.name, p.version, p.source_name) for p in database.packages] == [("a", "1-r0", "a"), ("b", "2-r1", "bee")]
    assert database.error is None


def test_damaged_stanzas_and_junk_are_errors_not_crashes() -> None:
    database = read(b"P:ok\nV:1-r0\n\nP:no-version\nA:x86_64\n\nnot a field\n\x00\xff\xfe\n\nV:9\nP:late-name\n")
    assert [p.name for p in database.packages] == ["ok", "late-name"]
    assert database.error == "2 lines that are not `X:value` ignored; 1 stanzas without a name or version skipped"
    junk = read(bytes(range(256)) * 100)
    assert junk.packages == ()
    assert junk.error is not None
