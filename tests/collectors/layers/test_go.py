"""The Go reader: module build info in ELF binaries, checked against `go version -m` and the binaries' own words."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.images import PackageDB
from collectors.layers.go import GO_READER, read_go_binary, wants_go_binary
from collectors.layers.readers import READERS, Member
from tests.conftest import require_tool

PF_X, PF_W, PF_R = 0x1, 0x2, 0x4
INFO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
INFO_END = bytes.fromhex("f932433186182072008242104116d8f2")
MODULE_INFO = (
    "path\texample.com/app/cmd/app\n"
    "mod\texample.com/app\t(devel)\t\n"
    "dep\tgolang.org/x/net\tv0.23.0\th1:7EYJ93RZ9vYSZAIb2x3lnuvqO5zneyfN9Sq6T9rbYc4=\n"
    "dep\tgithub.com/old/lib\tv1.0.0\th1:aaaa\n"
    "=>\tgithub.com/fork/lib\tv1.0.1-fix\th1:bbbb\n"
    "dep\texample.com/local\tv0.0.0-00010101000000-000000000000\n"
    "=>\t../local\t\t\n"
    "build\t-compiler=gc\n"
    "build\tGOOS=linux\n"
)
EXPECTED = [
    ("example.com/app", "(devel)"),
    ("golang.org/x/net", "v0.23.0"),
    ("github.com/fork/lib", "v1.0.1-fix"),  # the replacement wins
    ("../local", "(devel)"),  # a local directory replacement has no version of its own
    ("stdlib", "go1.22.5"),
]


# Synthetic binaries: a real ELF layout (header, program headers, segments) with Go's build info blob --------


def uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def build_info(version: str = "go1.22.5", module_info: str | None = MODULE_INFO, *, flags: int = 0x2) -> bytes:
    """Go's build info blob as the 1.18+ linker writes it (flags 0x2: strings inline)."""
    framed = INFO_START + module_info.encode() + INFO_END if module_info is not None else b""
    header = b"\xff Go buildinf:" + bytes([8, flags]) + bytes(16)
    return header + uvarint(len(version)) + version.encode() + uvarint(len(framed)) + framed


def elf(segments: list[tuple[int, int, int, bytes]], *, wide: bool = True, big_endian: bool = False) -> bytes:
    """An ELF executable with the given loadable segments: (flags, file offset, file size, content)."""
    order = ">" if big_endian else "<"
    ident = b"\x7fELF" + bytes([2 if wide else 1, 2 if big_endian else 1, 1, 0]) + bytes(8)
    count = len(segments)
    if wide:
        header = ident + struct.pack(order + "HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, count, 64, 0, 0)
        tables = [struct.pack(order + "IIQQQQQQ", 1, f, off, 0x400000 + off, 0, size, size, 0x1000)
                  for f, off, size, _ in segments]
    else:
        header = ident + struct.pack(order + "HHIIIIIHHHHHH", 2, 3, 1, 0, 52, 0, 0, 52, 32, count, 40, 0, 0)
        tables = [struct.pack(order + "8I", 1, off, 0x8000 + off, 0, size, size, f, 0x1000)
                  for f, off, size, _ in segments]
    image = bytearray(max(off + size for _, off, size, _ in segments))
    for _, off, _, content in segments:
        image[off : off + len(content)] = content
    start = header + b"".join(tables)
    image[: len(start)] = start
    return bytes(image)


def go_binary(blob: bytes | None = None, *, at: int = 0x200, data_offset: int = 0x2000, **layout: bool) -> bytes:
    """A Go-like binary: text segment first, then writable data holding the build info `at` its start."""
    blob = build_info() if blob is None else blob
    data = bytes(at) + blob + b"\x01" * 512
    return elf([(PF_R | PF_X, 0, data_offset, b""), (PF_R | PF_W, data_offset, len(data), data)], **layout)


def member(path: str = "usr/local/bin/app", size: int = 1 << 20, mode: int = 0o755) -> Member:
    return Member(path=path, size=size, mode=mode)


def read(data: bytes, **options: int) -> tuple[PackageDB | None, int]:
    stream = io.BytesIO(data)
    return read_go_binary(member(size=len(data)), stream, **options), stream.tell()


def modules(database: PackageDB | None) -> list[tuple[str, str]]:
    assert database is not None
    return [(p.name, p.version) for p in database.packages]


# wants ------------------------------------------------------------------------------------------------------


def test_the_reader_is_registered() -> None:
    assert GO_READER in READERS and GO_READER.kind == "go-binary"


@pytest.mark.parametrize(
    ("path", "size", "mode", "wanted"),
    [
        ("usr/local/bin/app", 10 << 20, 0o755, True),
        ("ko-app/server", 10 << 20, 0o700, True),
        ("app/server", 10 << 20, 0o644, False),  # not executable
        ("usr/bin/true", 100, 0o755, False),  # too small to be a Go binary
        ("app/lib/app.jar", 10 << 20, 0o755, False),  # the Java reader's
        ("app/site-packages/x.dist-info/METADATA", 10 << 20, 0o755, False),  # the Python reader's
        ("app/node_modules/x/package.json", 10 << 20, 0o755, False),  # the npm reader's
        ("usr/local/bin/entrypoint.sh", 10 << 20, 0o755, False),
    ],
)
def test_wants_executables_only(path: str, size: int, mode: int, wanted: bool) -> None:
    assert wants_go_binary(member(path, size, mode)) is wanted


# Synthetic binaries -----------------------------------------------------------------------------------------


def test_reads_main_module_dependencies_replacements_and_toolchain() -> None:
    database, _ = read(go_binary())
    assert database is not None and database.kind == "go-binary" and database.error is None
    assert modules(database) == EXPECTED
    assert {(p.ecosystem, p.path) for p in database.packages} == {("golang", "usr/local/bin/app")}


@pytest.mark.parametrize(("wide", "big_endian"), [(True, True), (False, False), (False, True)])
def test_reads_32_bit_and_big_endian_layouts(wide: bool, big_endian: bool) -> None:
    assert modules(read(go_binary(wide=wide, big_endian=big_endian))[0]) == EXPECTED


def test_a_binary_built_outside_module_mode_has_only_the_toolchain() -> None:
    database, _ = read(go_binary(build_info("go1.21.13", "path\tgithub.com/docker/cli/cmd/docker\n")))
    assert modules(database) == [("stdlib", "go1.21.13")]
    assert modules(read(go_binary(build_info("go1.21.13", None)))[0]) == [("stdlib", "go1.21.13")]


def test_toolchain_experiments_are_dropped_from_the_version() -> None:
    database, _ = read(go_binary(build_info("go1.22.5 X:boringcrypto", "")))
    assert modules(database) == [("stdlib", "go1.22.5")]


def test_the_magic_must_be_16_byte_aligned_and_in_writable_data() -> None:
    assert read(go_binary(at=0x208))[0] is None
    blob = build_info()
    read_only = elf([(PF_R | PF_X, 0, 0x2000, b""), (PF_R, 0x2000, 0x1000, bytes(0x100) + blob)])
    assert read(read_only)[0] is None


def test_a_decoy_magic_in_the_data_is_passed_over() -> None:
    # Programs that use debug/buildinfo (the go command itself) carry the magic as a constant.
    decoy = b"\xff Go buildinf:" + b"\x00\x00" + b"not a header...."
    database, _ = read(go_binary(bytes(0x100) + decoy + bytes(0x100 - len(decoy)) + build_info()))
    assert modules(database) == EXPECTED


def test_the_magic_is_found_across_read_chunks() -> None:
    # Data starts 8 bytes past a 16-byte boundary, so the aligned magic straddles the first 1 MiB read.
    chunk = 1024 * 1024
    database, _ = read(go_binary(at=chunk - 8, data_offset=0x2008))
    assert modules(database) == EXPECTED


def test_pre_1_18_build_info_is_not_supported() -> None:
    database, _ = read(go_binary(build_info(flags=0x0)))
    assert database is not None and database.packages == ()
    assert database.error == "pre-1.18 Go build info not supported"


def test_not_elf_or_no_writable_segment_is_not_a_go_binary() -> None:
    assert read(b"#!/bin/sh\n" + b"echo hi\n" * 1000)[0] is None
    assert read(b"MZ\x90\x00" + bytes(8192))[0] is None  # a Windows binary
    assert read(elf([(PF_R | PF_X, 0, 0x3000, b"")]))[0] is None


@pytest.mark.parametrize("cut", [10, 63, 64 + 56 + 10, 0x2000 + 0x100])
def test_a_binary_truncated_before_its_build_info_is_not_a_go_binary(cut: int) -> None:
    assert read(go_binary()[:cut])[0] is None


def test_a_binary_truncated_inside_its_build_info_is_an_error() -> None:
    whole = go_binary()
    start = 0x2000 + 0x200
    assert read(whole[: start + 20])[0] is None  # half a header is not a header
    database, _ = read(whole[: start + 32 + 1 + 8 + 1 + 40])
    assert database is not None and database.packages == ()
    assert database.error == "Go build info module info is truncated"


def test_malformed_module_info_keeps_what_it_can() -> None:
    blob = build_info(module_info="=>\tgithub.com/x/y\tv1.0.0\t\nmod\t\nmod\texample.com/app\tv1.2.3\t\n")
    database, _ = read(go_binary(blob))
    assert modules(database) == [("example.com/app", "v1.2.3"), ("stdlib", "go1.22.5")]
    assert database is not None and database.error == "Go module info line 1 replaces nothing"


def test_string_lengths_are_capped() -> None:
    lying = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16) + uvarint(8) + b"go1.22.5" + uvarint(1 << 40)
    database, consumed = read(go_binary(lying))
    assert database is not None
    assert database.error == f"Go build info module info claims {1 << 40} bytes, over the 4194304 cap"
    assert consumed < 1 << 20
    database, _ = read(go_binary(), info_cap=100)
    assert database is not None and database.error is not None and "over the 100 cap" in database.error


def test_the_read_cap_is_respected() -> None:
    far = go_binary(data_offset=3 << 20)
    database, consumed = read(far, cap=1 << 20)
    assert consumed <= 1 << 20
    assert database is not None and database.packages == ()
    assert database.error == "its writable data lies past the 1 MiB cap; not searched"
    assert modules(read(far, cap=4 << 20)[0]) == EXPECTED


# Real binaries ----------------------------------------------------------------------------------------------


def read_path(path: Path) -> PackageDB | None:
    with path.open("rb") as stream:
        return read_go_binary(member(str(path).lstrip("/"), path.stat().st_size, path.stat().st_mode & 0o777), stream)


def go_version_m(path: Path) -> list[tuple[str, str]]:
    """What `go version -m` (Go's own debug/buildinfo) lists, with the reader's rules: replacement wins, stdlib last."""
    output = subprocess.run(
        [require_tool("go"), "version", "-m", str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    found: list[tuple[str, str]] = []
    for line in output[1:]:
        kind, *fields = line.strip("\t").split("\t")
        if not fields:
            continue  # `go version -m` prints an empty line after a replacement
        module = (fields[0], fields[1] if len(fields) > 1 and fields[1] else "(devel)")
        if kind in ("mod", "dep"):
            found.append(module)
        elif kind == "=>":
            found[-1] = module
    return [*found, ("stdlib", output[0].split(": ", 1)[1].split()[0])]


def installed_go_binaries() -> list[Path]:
    """Go binaries this machine has: the docker CLI and engine, kubectl (often a symlink), containerd, go …"""
    found = []
    for name in ("docker", "dockerd", "kubectl", "containerd", "docker-registry", "ctr", "go"):
        located = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
        if located:
            found.append(Path(os.path.realpath(located)))
    return sorted(set(found))


def test_agrees_with_go_version_m_on_this_machines_go_binaries() -> None:
    require_tool("go")
    binaries = installed_go_binaries()
    if not binaries:
        require_tool("docker")
    for binary in binaries:
        assert modules(read_path(binary)) == go_version_m(binary), binary


def client_go_version(tool: str, *arguments: str) -> str:
    result = subprocess.run([require_tool(tool), *arguments], capture_output=True, text=True, timeout=60)
    return result.stdout.strip()


def test_the_docker_cli_reports_the_same_go_version() -> None:
    """No Go toolchain needed: the docker CLI says which Go built it (the daemon need not run)."""
    version = client_go_version("docker", "version", "--format", "{{.Client.GoVersion}}")
    database = read_path(Path(os.path.realpath(shutil.which("docker") or "")))
    assert version.startswith("go") and ("stdlib", version) in modules(database)


def test_kubectl_reports_the_same_go_version() -> None:
    report = json.loads(client_go_version("kubectl", "version", "--client", "-o", "json"))
    database = read_path(Path(os.path.realpath(shutil.which("kubectl") or "")))
    assert ("stdlib", report["clientVersion"]["goVersion"]) in modules(database)
    assert any(name.startswith("k8s.io/") for name, _ in modules(database))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Binaries the Go toolchain builds here, offline: a module with a local replacement, for three targets."""
    go = require_tool("go")
    root = tmp_path_factory.mktemp("gomod")
    (root / "dep").mkdir()
    (root / "dep" / "go.mod").write_text("module example.com/dep\n\ngo 1.18\n")
    (root / "dep" / "dep.go").write_text('package dep\n\nfunc Hello() string { return "hello" }\n')
    (root / "app").mkdir()
    (root / "app" / "go.mod").write_text(
        "module example.com/app\n\ngo 1.18\n\n"
        "require example.com/dep v1.2.3\n\nreplace example.com/dep v1.2.3 => ../dep\n"
    )
    (root / "app" / "main.go").write_text(
        'package main\n\nimport "example.com/dep"\n\nfunc main() { println(dep.Hello()) }\n'
    )
    environment = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local",
                   "GOWORK": "off", "GO111MODULE": "on"}
    targets = {"amd64-stripped": ("amd64", ["-ldflags=-s -w"]), "386": ("386", []), "s390x": ("s390x", [])}
    builds = {
        name: subprocess.Popen(
            [go, "build", "-trimpath", *flags, "-o", str(root / name), "."],
            cwd=root / "app", env={**environment, "GOARCH": arch}, stderr=subprocess.PIPE, text=True,
        )
        for name, (arch, flags) in targets.items()
    }
    for name, build in builds.items():
        _, errors = build.communicate(timeout=300)
        assert build.returncode == 0, f"go build {name}: {errors}"
    yield {name: root / name for name in targets}


@pytest.mark.parametrize("target", ["amd64-stripped", "386", "s390x"])
def test_binaries_built_here_read_as_go_version_m_reads_them(built: dict[str, Path], target: str) -> None:
    go_version = subprocess.run([require_tool("go"), "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    found = modules(read_path(built[target]))
    assert found == go_version_m(built[target])
    assert found == [("example.com/app", "(devel)"), ("../dep", "(devel)"), ("stdlib", go_version)]
