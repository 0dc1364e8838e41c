"""The Python reader: core metadata of installed distributions, checked against importlib.metadata."""

from __future__ import annotations

import importlib.metadata
import io
import sysconfig
from pathlib import Path

import pytest

from audit.images import Package, PackageDB
from collectors.layers.python import (
    PYTHON_READER,
    normalized_pypi_name,
    read_python_metadata,
    wants_python_metadata,
)
from collectors.layers.readers import READERS, Member

FIXTURES = Path(__file__).parent / "fixtures" / "lang" / "python"
SITE = "usr/local/lib/python3.12/site-packages"


def member(path: str, size: int = 1000, mode: int = 0o644) -> Member:
    return Member(path=path, size=size, mode=mode)


def read_bytes(path: str, data: bytes, **options: int) -> tuple[PackageDB, int]:
    stream = io.BytesIO(data)
    return read_python_metadata(member(path, len(data)), stream, **options), stream.tell()


def read_fixture(fixture: str, path: str) -> tuple[PackageDB, int]:
    return read_bytes(path, (FIXTURES / fixture).read_bytes())


def test_the_reader_is_registered() -> None:
    assert PYTHON_READER in READERS and PYTHON_READER.kind == "python"


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        (f"{SITE}/rich-15.0.0.dist-info/METADATA", True),
        ("usr/lib/python3/dist-packages/PyJWT-2.6.0.egg-info/PKG-INFO", True),
        ("usr/lib/python3/dist-packages/rpm-4.18.0.egg-info", True),  # the egg-info that is a file
        (f"{SITE}/foo-1.0-py3.11.egg/EGG-INFO/PKG-INFO", True),
        ("app/.venv/lib/python3.11/site-packages/attrs-23.2.0.dist-info/METADATA", True),
        (f"{SITE}/rich-15.0.0.dist-info/RECORD", False),
        (f"{SITE}/rich-15.0.0.dist-info/WHEEL", False),
        ("usr/share/doc/foo/METADATA", False),  # not in a dist-info
        ("src/foo-1.0/PKG-INFO", False),  # an unpacked sdist, not an installed distribution
        (f"{SITE}/rich/__init__.py", False),
        ("METADATA", False),
    ],
)
def test_wants_core_metadata_files_by_path(path: str, wanted: bool) -> None:
    assert wants_python_metadata(member(path)) is wanted


def test_reads_a_real_wheel_metadata_and_stops_before_the_body() -> None:
    path = f"{SITE}/rich-15.0.0.dist-info/METADATA"
    database, read = read_fixture("rich-15.0.0.dist-info/METADATA", path)
    assert database.kind == "python" and database.path == path and database.error is None
    assert database.packages == (Package(name="rich", version="15.0.0", ecosystem="pypi", path=path),)
    assert read < (FIXTURES / "rich-15.0.0.dist-info/METADATA").stat().st_size  # the README body is never read


def test_reads_an_egg_info_directory_and_an_egg_info_file() -> None:
    pkg_info = "usr/lib/python3/dist-packages/PyJWT-2.6.0.egg-info/PKG-INFO"
    database, _ = read_fixture("PyJWT-2.6.0.PKG-INFO", pkg_info)
    assert [(p.name, p.version, p.path) for p in database.packages] == [("PyJWT", "2.6.0", pkg_info)]
    egg_file = "usr/lib/python3/dist-packages/rpm-4.18.0.egg-info"
    database, _ = read_fixture("rpm-4.18.0.egg-info", egg_file)
    assert [(p.name, p.version) for p in database.packages] == [("rpm", "4.18.0")]


def test_a_truncated_metadata_file_is_an_error_not_a_package() -> None:
    database, _ = read_fixture("truncated.dist-info/METADATA", f"{SITE}/truncated.dist-info/METADATA")
    assert database.packages == ()
    assert database.error == "no Version in the header"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "no Name and Version in the header"),
        (b"Metadata-Version: 2.1\nName: x\n\nVersion: 1.0\n", "no Version in the header"),  # Version in the body
        (b"\x00\xff\xfe garbage \x80\n\x81\x82", "no Name and Version in the header"),
        (b"Name:\nVersion: 1.0\n", "no Name in the header"),
    ],
)
def test_malformed_metadata_is_reported(data: bytes, error: str) -> None:
    database, _ = read_bytes(f"{SITE}/x.dist-info/METADATA", data)
    assert (database.packages, database.error) == ((), error)


def test_header_details_follow_rfc822() -> None:
    data = (
        b"Metadata-Version: 1.1\r\n"
        b"Description: A legacy PKG-INFO puts the README in the header,\r\n"
        b"        Name: indented-bait\r\n"  # a continuation line, not a field
        b"        \r\n"  # whitespace only: still a continuation, not the end of the header
        b"version: 0.9.1\r\n"  # field names are case-insensitive
        b"NAME: Flask_SQLAlchemy\r\n"
        b"\r\n"
    )
    database, _ = read_bytes("usr/lib/python3/dist-packages/Flask_SQLAlchemy.egg-info", data)
    assert [(p.name, p.version) for p in database.packages] == [("Flask_SQLAlchemy", "0.9.1")]


def test_the_header_cap_is_respected() -> None:
    endless_header = b"Metadata-Version: 2.1\n" + b"Classifier: Framework :: Foo\n" * 10_000 + b"Name: late\n"
    database, read = read_bytes(f"{SITE}/x.dist-info/METADATA", endless_header, cap=4096)
    assert read <= 4096
    assert database.packages == () and database.error == "no Name and Version in the first 4 KiB"


@pytest.mark.parametrize(
    ("name", "normalized"),
    [("Flask_SQLAlchemy", "flask-sqlalchemy"), ("zope.interface", "zope-interface"), ("PyJWT", "pyjwt"),
     ("a-_.-b", "a-b"), ("requests", "requests")],
)
def test_names_normalize_as_pep_503_says(name: str, normalized: str) -> None:
    assert normalized_pypi_name(name) == normalized


def site_directories() -> list[Path]:
    directories = [Path(sysconfig.get_paths()["purelib"]), Path("/usr/lib/python3/dist-packages")]
    return [d for d in directories if d.is_dir()]


@pytest.mark.parametrize("directory", site_directories(), ids=str)
def test_agrees_with_importlib_metadata_on_this_machine(directory: Path) -> None:
    """importlib.metadata (the standard library's own reader, an email parser) is the oracle."""
    expected = set()
    for distribution in importlib.metadata.distributions(path=[str(directory)]):
        name, version = distribution.metadata["Name"], distribution.version
        if name and version:
            expected.add((name, version))
    found = set()
    for candidate in directory.iterdir():
        metadata_files = [candidate / "METADATA", candidate / "PKG-INFO"] if candidate.is_dir() else [candidate]
        for file in metadata_files:
            path = str(file).lstrip("/")
            if file.is_file() and wants_python_metadata(member(path)):
                with file.open("rb") as stream:
                    database = read_python_metadata(member(path, file.stat().st_size), stream)
                found.update((p.name, p.version) for p in database.packages)
    assert len(expected) >= 5, f"too few distributions in {directory} to compare"
    assert found == expected
