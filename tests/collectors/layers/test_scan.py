"""The layer scanner: compression, whiteouts, executables, os-release, hard links, and hostile tars."""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from pathlib import Path

import pytest
import zstandard

from audit.images import Executable, OSRelease
from collectors.layers import scan as scan_module
from collectors.layers.readers import DatabaseReader
from collectors.layers.scan import LayerReadError, Limits, normalise_member_path, open_tar_bytes, scan_layer

MiB = 1024 * 1024
GiB = 1024 * MiB

DPKG_STATUS = b"""Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
"""

OS_RELEASE = b'''PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
'''


def regular(name: str, data: bytes = b"", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    info.mode = 0o777 if kind == tarfile.SYMTYPE else 0o755
    return info, b""


def special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return info, b""


def tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data else None)
    return out.getvalue()


def unterminated(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    """Tar members without the end-of-archive blocks, for crafting what follows by hand."""
    return b"".join(info.tobuf(tarfile.PAX_FORMAT) + data + b"\0" * (-len(data) % 512) for info, data in members)


def scan(blob: bytes, **limits: int):
    return scan_layer(io.BytesIO(blob), digest="sha256:test", limits=Limits(**limits))


SAMPLE = tar(
    regular("etc/os-release", OS_RELEASE),
    regular("etc/debian_version", b"12.5\n"),
    regular("var/lib/dpkg/status", DPKG_STATUS),
    regular("bin/dash", b"\x7fELF", 0o755),
    link("bin/sh", "dash"),
    regular("usr/bin/.wh.curl"),
    regular("opt/app/.wh..wh..opq"),
)


# Compression ------------------------------------------------------------------------------------------------


def test_gzip_zstd_and_plain_tar_scan_the_same() -> None:
    plain = scan(SAMPLE)
    assert plain.error is None
    assert plain.size == len(SAMPLE)
    for blob in (gzip.compress(SAMPLE), zstandard.ZstdCompressor().compress(SAMPLE)):
        compressed = scan(blob)
        assert compressed.error is None
        assert compressed.databases == plain.databases
        assert compressed.executables == plain.executables
        assert compressed.os_release == plain.os_release
        assert compressed.size == plain.size


def test_concatenated_gzip_members_and_zstd_frames_are_one_stream() -> None:
    half = len(SAMPLE) // 1024 * 512
    pigz_style = gzip.compress(SAMPLE[:half]) + gzip.compress(SAMPLE[half:])
    frames = zstandard.ZstdCompressor().compress(SAMPLE[:half]) + zstandard.ZstdCompressor().compress(SAMPLE[half:])
    skippable_first = b"\x5a\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"meta" + frames
    for blob in (pigz_style, frames, skippable_first):
        inventory = scan(blob)
        assert inventory.error is None
        assert [db.path for db in inventory.databases] == ["var/lib/dpkg/status"]


def test_what_a_layer_holds() -> None:
    inventory = scan(gzip.compress(SAMPLE))
    assert inventory.digest == "sha256:test"
    assert inventory.os_release == OSRelease(
        id="debian",
        version_id="12",
        version_codename="bookworm",
        pretty_name="Debian GNU/Linux 12 (bookworm)",
        path="etc/os-release",
    )
    assert inventory.os_files == {"etc/debian_version": "12.5"}
    [status] = inventory.databases
    assert (status.path, status.kind) == ("var/lib/dpkg/status", "dpkg")
    assert [(p.name, p.version) for p in status.packages] == [("base-files", "12.4+deb12u5"), ("bash", "5.2.15-2+b2")]
    assert inventory.whiteouts == ("usr/bin/curl",)
    assert inventory.opaque_dirs == ("opt/app",)
    assert inventory.executables == (
        Executable(path="bin/dash", kind="shell", name="dash"),
        Executable(path="bin/sh", kind="shell", name="sh"),
    )


# Paths, whiteouts, executables ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("usr/bin/sh", "usr/bin/sh"),
        ("./usr/bin/sh", "usr/bin/sh"),
        ("/usr/bin/sh", "usr/bin/sh"),
        ("usr//bin/./sh", "usr/bin/sh"),
        ("usr/lib/../bin/sh", "usr/bin/sh"),
        ("etc/", "etc"),
        ("./", ""),
        ("/../etc/passwd", "etc/passwd"),  # rooted: `..` stops at the root, as the runtime applies it
        ("../etc/passwd", None),
        ("a/../../etc/passwd", None),
        ("usr/.hidden/x", "usr/.hidden/x"),
        ("bin/..sh", "bin/..sh"),
    ],
)
def test_member_paths_are_normalised(name: str, path: str | None) -> None:
    assert normalise_member_path(name) == path


def test_whiteouts_and_opaque_dirs() -> None:
    inventory = scan(
        tar(
            regular("./etc/apt/.wh.sources.list"),
            regular("var/lib/dpkg/status.d/.wh.tzdata"),
            regular(".wh.top-level"),
            regular("usr/share/doc/.wh..wh..opq"),
            regular("usr/lib/.wh..wh.plnk"),  # aufs bookkeeping, not a deletion
        )
    )
    assert inventory.whiteouts == ("etc/apt/sources.list", "var/lib/dpkg/status.d/tzdata", "top-level")
    assert inventory.opaque_dirs == ("usr/share/doc",)
    assert inventory.databases == ()


def test_executables_through_symlinks_hard_links_and_busybox_applets() -> None:
    inventory = scan(
        tar(
            regular("bin/busybox", b"\x7fELF", 0o755),
            link("bin/sh", "/bin/busybox"),
            link("bin/ash", "busybox"),
            link("usr/bin/wget", "/bin/busybox"),
            link("usr/bin/nc", "/bin/busybox", tarfile.LNKTYPE),
            regular("usr/bin/bash", b"#!", 0o755),
            regular("usr/local/bin/pip3.12", b"#!", 0o755),
            regular("usr/bin/apt-get", b"\x7fELF", 0o755),
            regular("usr/sbin/apk", b"\x7fELF", 0o755),
            regular("usr/bin/curl", b"\x7fELF", 0o644),  # not executable: not counted
            regular("opt/tools/bin/curl", b"\x7fELF", 0o755),  # not a usual bin dir
            regular("usr/bin/python3", b"\x7fELF", 0o755),  # interpreters are not recorded
            regular("usr/bin/zsh", b"\x7fELF", 0o755),
            regular("usr/bin/zsh", b"replaced by a plain file", 0o644),  # the later entry wins
        )
    )
    assert {(e.path, e.kind, e.name) for e in inventory.executables} == {
        ("bin/busybox", "shell", "busybox"),
        ("bin/sh", "shell", "sh"),
        ("bin/ash", "shell", "ash"),
        ("usr/bin/wget", "tool", "wget"),
        ("usr/bin/nc", "tool", "nc"),
        ("usr/bin/bash", "shell", "bash"),
        ("usr/local/bin/pip3.12", "package-manager", "pip3.12"),
        ("usr/bin/apt-get", "package-manager", "apt-get"),
        ("usr/sbin/apk", "package-manager", "apk"),
    }
    assert inventory.error is None


def test_os_release_precedence_and_release_files() -> None:
    inventory = scan(
        tar(
            regular("usr/lib/os-release", b'ID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n'),
            regular("etc/os-release", b"ID='rocky'\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n# c\nbad\n"),
            regular("etc/alpine-release", b"3.20.3\n"),
            regular("etc/redhat-release", b"Rocky Linux release 9.4 (Blue Onyx)\nsecond line\n"),
        )
    )
    assert inventory.os_release == OSRelease(
        id="rocky", version_id="9.4", id_like=("rhel", "centos", "fedora"), path="etc/os-release"
    )
    assert inventory.os_files == {
        "etc/alpine-release": "3.20.3",
        "etc/redhat-release": "Rocky Linux release 9.4 (Blue Onyx)",
    }


def test_os_release_symlink_is_not_followed_and_the_file_it_names_counts() -> None:
    inventory = scan(
        tar(link("etc/os-release", "../usr/lib/os-release"), regular("usr/lib/os-release", b"ID=debian\n"))
    )
    assert inventory.os_release == OSRelease(id="debian", path="usr/lib/os-release")


def test_hard_links_to_a_database_read_earlier_repeat_its_facts() -> None:
    inventory = scan(
        tar(
            regular("var/lib/dpkg/status", DPKG_STATUS),
            regular("usr/lib/os-release", b"ID=debian\n"),
            link("var/lib/dpkg/status.d/everything", "var/lib/dpkg/status", tarfile.LNKTYPE),
            link("etc/os-release", "/usr/lib/os-release", tarfile.LNKTYPE),
        )
    )
    status, linked = inventory.databases
    assert linked.path == "var/lib/dpkg/status.d/everything"
    assert [p.name for p in linked.packages] == [p.name for p in status.packages]
    assert {p.path for p in linked.packages} == {"var/lib/dpkg/status.d/everything"}
    assert inventory.os_release == OSRelease(id="debian", path="etc/os-release")


# Hostile tars -----------------------------------------------------------------------------------------------


@pytest.fixture
def nothing_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run in an empty working directory and check it stays empty: the scanner writes nothing."""
    monkeypatch.chdir(tmp_path)
    yield
    assert list(tmp_path.iterdir()) == []


def test_members_climbing_out_of_the_root_are_skipped(nothing_written: None) -> None:
    inventory = scan(
        tar(
            regular("../../etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
            regular("../../bin/sh", b"\x7fELF", 0o755),
            regular("/abs", b"an absolute name lands at the root"),
            regular("/../bin/bash", b"\x7fELF", 0o755),
            regular("var/lib/dpkg/status", DPKG_STATUS),
        )
    )
    assert "'../../etc/passwd' climbs out of the layer root; skipped" in inventory.error
    assert "'../../bin/sh' climbs out" in inventory.error
    assert "/abs" not in inventory.error
    assert [e.path for e in inventory.executables] == ["bin/bash"]
    assert [db.path for db in inventory.databases] == ["var/lib/dpkg/status"]


def test_symlink_loops_are_never_followed(nothing_written: None) -> None:
    inventory = scan(
        tar(
            link("a", "b"),
            link("b", "a"),
            link("bin/sh", "sh"),
            link("var/lib/dpkg/status", "/var/lib/dpkg/status"),
            link("etc/os-release", "../etc/os-release"),
            link("loop", "."),
        )
    )
    assert inventory.error is None
    assert inventory.databases == ()
    assert inventory.os_release is None
    assert [e.path for e in inventory.executables] == ["bin/sh"]


def test_hard_links_out_of_the_layer_are_not_read(nothing_written: None) -> None:
    inventory = scan(
        tar(
            link("var/lib/dpkg/status", "/etc/shadow", tarfile.LNKTYPE),
            link("etc/os-release", "/etc/os-release", tarfile.LNKTYPE),
            link("shadow", "../../../etc/shadow", tarfile.LNKTYPE),
        )
    )
    [status] = inventory.databases
    assert status.packages == ()
    assert status.error == "hard link to 'etc/shadow', whose content was not kept by the scan; not read"
    assert inventory.os_release is None
    assert "hard link 'shadow' points out of the layer root ('../../../etc/shadow'); skipped" in inventory.error


def test_devices_and_fifos_are_ignored_even_at_database_paths(nothing_written: None) -> None:
    inventory = scan(
        tar(
            special("var/lib/dpkg/status", tarfile.CHRTYPE),
            special("lib/apk/db/installed", tarfile.BLKTYPE),
            special("etc/os-release", tarfile.FIFOTYPE),
            special("bin/sh", tarfile.CHRTYPE),
        )
    )
    assert inventory.error is None
    assert inventory.databases == ()
    assert inventory.executables == ()
    assert inventory.os_release is None


def test_a_member_declaring_ten_gigabytes_stops_the_scan_at_once() -> None:
    huge = tarfile.TarInfo("var/lib/big")
    huge.size = 10 * GiB
    blob = unterminated(regular("etc/os-release", b"ID=debian\n")) + huge.tobuf(tarfile.PAX_FORMAT)
    inventory = scan(gzip.compress(blob))
    assert inventory.error == (
        f"'var/lib/big' ({10 * GiB} bytes) would end at byte {10 * GiB + 2560}, "
        f"past the cap of {8 * GiB} bytes per layer"
    )
    assert inventory.os_release == OSRelease(id="debian", path="etc/os-release")
    assert inventory.size < 10_000


def test_a_member_whose_content_is_missing_is_a_truncated_layer() -> None:
    lying = tarfile.TarInfo("usr/share/blob")
    lying.size = 5 * MiB
    blob = unterminated(regular("etc/os-release", b"ID=debian\n")) + lying.tobuf() + b"\0" * 4096
    inventory = scan(blob)
    assert inventory.error == "unreadable tar after 'usr/share/blob': unexpected end of data"
    assert inventory.os_release is not None


def test_a_big_member_nobody_wants_is_skipped_and_one_a_reader_wants_is_not_read() -> None:
    inventory = scan(
        gzip.compress(
            tar(
                regular("usr/share/big.bin", b"\0" * (8 * MiB)),
                regular("var/lib/dpkg/status", DPKG_STATUS * 40),
                regular("usr/lib/os-release", b"ID=debian\n"),
            ),
            compresslevel=1,
        ),
        database_bytes=4096,
    )
    [status] = inventory.databases
    assert status.packages == ()
    assert status.error == f"{len(DPKG_STATUS) * 40} bytes, past the cap of 4096 bytes per database; not read"
    assert inventory.os_release == OSRelease(id="debian", path="usr/lib/os-release")
    assert inventory.error is None


class _Bomb(io.RawIOBase):
    """A gzip stream that never ends: the same 1 MiB tar member, compressed once and repeated forever."""

    def __init__(self) -> None:
        member = unterminated(regular("zeros", b"\0" * MiB))
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        self._head = compressor.compress(b"")
        # A full flush makes the block independent of what came before, so it can repeat.
        self._block = compressor.compress(member) + compressor.flush(zlib.Z_FULL_FLUSH)
        self.handed_out = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data, self._head = (self._head, b"") if self._head else (self._block, b"")
        self.handed_out += len(data)
        return data


def test_a_decompression_bomb_stops_at_the_layer_cap() -> None:
    bomb = _Bomb()
    inventory = scan_layer(bomb, digest="sha256:bomb", limits=Limits(layer_bytes=64 * MiB))
    assert inventory.error.endswith(f"past the cap of {64 * MiB} bytes per layer")
    assert 64 * MiB - 2 * MiB < inventory.size <= 64 * MiB
    assert bomb.handed_out < 1 * MiB  # a thousand-fold ratio, found out after reading little


def test_the_uncompressed_byte_count_is_capped() -> None:
    stream = open_tar_bytes(io.BytesIO(gzip.compress(b"\1" * MiB)), limit=100_000)
    with pytest.raises(LayerReadError, match="layer is larger than the cap of 100000 uncompressed bytes"):
        while stream.read(65536):
            pass
    with pytest.raises(LayerReadError):
        stream.read(1)  # and stays failed, whoever swallowed the first error


def test_a_gzip_of_zeros_ends_at_the_first_end_of_archive_block() -> None:
    inventory = scan(gzip.compress(b"\0" * (16 * MiB)))
    assert inventory.error is None
    assert inventory.size <= 128 * 1024


def test_truncated_gzip_garbage_and_empty_input() -> None:
    compressed = gzip.compress(SAMPLE)
    truncated = scan(compressed[: len(compressed) // 2])
    assert truncated.error is not None and "gzip stream ends early" in truncated.error
    assert scan(b"\x1f\x8b\x08\x00garbage, not deflate").error.startswith("gzip data is corrupt")
    assert scan(b"this is not a tar file at all" * 100).error.startswith("not a tar header at byte 0")
    assert scan(b"").error == "layer is empty (no tar header)"
    assert scan(b"\xfd7zXZ\x00\x00").error == "xz-compressed layers are not supported"


def test_a_zstd_stream_cut_between_members_is_noticed() -> None:
    cut = unterminated(regular("etc/os-release", b"ID=debian\n"), regular("bin/sh", b"x", 0o755))[:1024]
    inventory = scan(zstandard.ZstdCompressor().compress(cut))
    assert inventory.error == "tar ends without its end-of-archive block at byte 1024 (truncated)"
    assert inventory.os_release == OSRelease(id="debian", path="etc/os-release")


def test_an_enormous_pax_header_is_refused() -> None:
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = 512 * MiB
    inventory = scan(pax.tobuf(tarfile.USTAR_FORMAT) + b"\0" * 4096)
    assert inventory.error == f"extended tar header at byte 0 declares {512 * MiB} bytes"


def test_member_count_and_name_length_caps() -> None:
    many = tar(*(regular(f"etc/f{i}") for i in range(20)), regular("bin/sh", b"x", 0o755))
    inventory = scan(many, members=10)
    assert inventory.error == "layer has more than 10 tar entries"
    long_name = tar(regular("bin/sh", b"x", 0o755), regular("x/" * 100 + "y"))
    inventory = scan(long_name, path_length=100)
    assert inventory.error == "tar entry at byte 1024 has a name longer than 100"
    assert [e.path for e in inventory.executables] == ["bin/sh"]


def test_binary_junk_names_are_kept_printable() -> None:
    inventory = scan(tar(regular("etc/.wh.caf\udce9", b""), regular("usr/bin\n/.wh.x")))
    assert inventory.whiteouts == ("etc/caf\ufffd", "usr/bin\n/x")


def test_a_reader_that_raises_costs_only_its_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(member, stream):
        raise RuntimeError("reader bug")

    broken = DatabaseReader(kind="broken", wants=lambda m: m.path == "etc/broken.db", read=explode)
    monkeypatch.setattr(scan_module, "READERS", [broken, *scan_module.READERS])
    inventory = scan(tar(regular("etc/broken.db", b"data"), regular("var/lib/dpkg/status", DPKG_STATUS)))
    broken_db, status = inventory.databases
    assert broken_db.error == "broken reader failed: RuntimeError: reader bug"
    assert len(status.packages) == 2
    assert inventory.error is None
