"""The npm reader: package.json at package roots under node_modules, checked against `npm ls`."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from audit.images import Package, PackageDB
from collectors.layers.npm import NPM_READER, read_npm_manifest, wants_npm_manifest
from collectors.layers.readers import READERS, Member
from tests.conftest import require_tool

FIXTURES = Path(__file__).parent / "fixtures" / "lang" / "npm"
APP = "usr/src/app"


def member(path: str, size: int = 1000) -> Member:
    return Member(path=path, size=size, mode=0o644)


def read_bytes(
    data: bytes, path: str = f"{APP}/node_modules/x/package.json", **options: int
) -> tuple[PackageDB | None, int]:
    stream = io.BytesIO(data)
    return read_npm_manifest(member(path, len(data)), stream, **options), stream.tell()


def test_the_reader_is_registered() -> None:
    assert NPM_READER in READERS and NPM_READER.kind == "npm"


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        (f"{APP}/node_modules/semver/package.json", True),
        (f"{APP}/node_modules/@npmcli/arborist/package.json", True),  # scoped
        (f"{APP}/node_modules/semver/node_modules/lru-cache/package.json", True),  # nested install
        (f"{APP}/node_modules/@scope/a/node_modules/@other/b/package.json", True),
        (f"{APP}/node_modules/.pnpm/glob@10.3.10/node_modules/glob/package.json", True),  # pnpm's store
        ("node_modules/semver/package.json", True),  # a layer whose root is the app directory
        ("usr/lib/node_modules/npm/package.json", True),  # a global install
        (f"{APP}/package.json", False),  # the application itself
        (f"{APP}/node_modules/glob/dist/esm/package.json", False),  # a module-type stub
        (f"{APP}/node_modules/glob/test/fixtures/package.json", False),  # a test fixture inside a package
        (f"{APP}/node_modules/@npmcli/package.json", False),  # a scope is not a package
        (f"{APP}/node_modules/@/x/package.json", False),
        (f"{APP}/node_modules/.bin/package.json", False),
        (f"{APP}/node_modules/semver/package.json.bak", False),
        (f"{APP}/node_modules/semver/index.js", False),
    ],
)
def test_wants_package_roots_under_node_modules_only(path: str, wanted: bool) -> None:
    assert wants_npm_manifest(member(path)) is wanted


def test_reads_real_package_manifests() -> None:
    for relative, name, version in [
        ("node_modules/semver/package.json", "semver", "7.8.5"),
        ("node_modules/@npmcli/arborist/package.json", "@npmcli/arborist", "9.9.1"),
    ]:
        path = f"{APP}/{relative}"
        database, _ = read_bytes((FIXTURES / relative).read_bytes(), path)
        assert database is not None and database.kind == "npm" and database.error is None
        assert database.packages == (Package(name=name, version=version, ecosystem="npm", path=path),)


def test_a_byte_order_mark_is_tolerated() -> None:
    database, _ = read_bytes(b'\xef\xbb\xbf{"name": "bom", "version": "1.0.0"}')
    assert database is not None and [(p.name, p.version) for p in database.packages] == [("bom", "1.0.0")]


@pytest.mark.parametrize(
    "data",
    [b'{"type": "module"}', b'{"name": "x"}', b'{"version": "1.0.0"}', b'{"name": "x", "version": 1}',
     b'{"name": ["x"], "version": "1"}', b'{"name": "", "version": "1.0.0"}', b'{"name": "x", "version": null}'],
)
def test_manifests_without_a_name_and_version_are_not_packages(data: bytes) -> None:
    assert read_bytes(data)[0] is None


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"not json at all", b'["name", "version"]', b'{"name": "x", "version": "1"} trailing', b"\xff\xfe{}"],
)
def test_junk_json_is_an_error(data: bytes) -> None:
    database, _ = read_bytes(data)
    assert database is not None and database.packages == ()
    assert database.error is not None and database.error.startswith("not valid JSON (") and "\n" not in database.error


def test_the_size_cap_is_respected() -> None:
    big = json.dumps({"name": "big", "version": "1.0.0", "readme": "x" * 5000}).encode()
    stream = io.BytesIO(big)
    database = read_npm_manifest(member(f"{APP}/node_modules/big/package.json", len(big)), stream, cap=1024)
    assert database is not None and database.error == f"package.json is {len(big)} bytes, over the 1 KiB cap"
    assert stream.tell() == 0  # the declared size was enough: nothing read
    # A stream longer than its declared size (never trusted) stops at the cap too.
    stream = io.BytesIO(big)
    database = read_npm_manifest(member(f"{APP}/node_modules/big/package.json", 100), stream, cap=1024)
    assert database is not None and database.error == "package.json is over the 1 KiB cap" and stream.tell() <= 1025


def npm_ls(directory: Path, *extra: str) -> set[tuple[str, str, str]]:
    """(package directory, name, version) for every package `npm ls` finds installed (the oracle)."""
    environment = {**os.environ, "npm_config_logs_max": "0", "npm_config_update_notifier": "false"}
    result = subprocess.run(
        [require_tool("npm"), "ls", "--all", "--parseable", "--long", *extra],
        cwd=directory, capture_output=True, text=True, timeout=120, env=environment,
    )
    found = set()
    for line in result.stdout.splitlines():
        where, _, spec = line.partition(":")
        name, _, version = spec.split(":")[0].rpartition("@")
        if name and Path(where) != directory:
            found.add((where, name, version))
    return found


def read_tree(root: Path) -> set[tuple[str, str, str]]:
    """(package directory, name, version) for every package.json under `root` the reader takes."""
    found = set()
    for directory, _, files in os.walk(root):
        if "package.json" not in files:
            continue
        file = Path(directory) / "package.json"
        path = str(file).lstrip("/")
        if wants_npm_manifest(member(path)):
            with file.open("rb") as stream:
                database = read_npm_manifest(member(path, file.stat().st_size), stream)
            if database is not None:
                found.update((directory, p.name, p.version) for p in database.packages)
    return found


def test_agrees_with_npm_ls_on_a_hand_built_tree(tmp_path: Path) -> None:
    modules = tmp_path / "node_modules"
    shutil.copytree(FIXTURES / "node_modules", modules)
    for relative, content in {
        "package.json": {"name": "my-app", "version": "1.0.0", "dependencies": {"semver": "*", "glob": "*"}},
        "node_modules/semver/node_modules/lru-cache/package.json": {"name": "lru-cache", "version": "6.0.0"},
        "node_modules/@types/node/package.json": {"name": "@types/node", "version": "20.11.5"},
        "node_modules/glob/package.json": {"name": "glob", "version": "10.3.10"},
        "node_modules/glob/dist/esm/package.json": {"type": "module"},
        "node_modules/glob/test/fixtures/package.json": {"name": "fixture", "version": "0.0.0"},
    }.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(json.dumps(content))
    expected = npm_ls(tmp_path)
    assert {name for _, name, _ in expected} == {"semver", "lru-cache", "@npmcli/arborist", "@types/node", "glob"}
    assert read_tree(tmp_path) == expected


def test_agrees_with_npm_ls_on_this_machines_global_packages() -> None:
    npm = require_tool("npm")
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60).stdout.strip()
    if not root or not Path(root).is_dir() or not any(Path(root).iterdir()):
        pytest.skip(f"no global node_modules at {root!r} to compare with (npm from Debian keeps none)")
    expected = npm_ls(Path(root).parent, "--global")
    assert len(expected) >= 1
    assert read_tree(Path(root)) == expected
