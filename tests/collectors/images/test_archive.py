"""Image archives: docker-archive and OCI layouts, as tarballs (plain and gzip) and directories.

The layer scanner is passed in; most tests pass `Recorder`, which reads each layer stream it is
handed and records its digest and bytes, so they assert on what the archive reader extracts and
hands over. The end-to-end tests use the real scanner on real `docker save` output.
"""

from __future__ import annotations

import gzip
import io
import json
import lzma
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pytest
import zstandard

from audit.images import LayerInventory
from collectors.images.archive import read_archive, read_archive_stream
from collectors.images.manifest import ImageSourceError, Platform
from tests.realparts import OCIImage, docker_archive, image_config, layer_tar, oci_layout, sha256

LAYER_A = layer_tar({"etc/os-release": b"ID=debian\nVERSION_ID=12\n"})
LAYER_B = layer_tar({"usr/bin/curl": b"curl"})
LAYER_C = layer_tar({"usr/bin/.wh.curl": b""})
A, B, C = sha256(LAYER_A), sha256(LAYER_B), sha256(LAYER_C)


@dataclass
class Recorder:
    """A scan that reads the whole stream and records what it was handed."""

    handed: list[tuple[str, str]] = field(default_factory=list)
    """(digest it was told, sha256 of the bytes it read)."""
    fail_on: bytes = b""

    def __call__(self, stream: BinaryIO, *, digest: str) -> LayerInventory:
        data = stream.read()
        self.handed.append((digest, sha256(data)))
        if self.fail_on and self.fail_on == data:
            raise RuntimeError("boom")
        return LayerInventory(digest=digest, size=len(data))


class KnownDigests:
    """A cache that knows some digests."""

    def __init__(self, *digests: str) -> None:
        self.digests = set(digests)

    def has(self, digest: str) -> bool:
        return digest in self.digests


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


# ---------------------------------------------------------------- docker-archive


@pytest.mark.parametrize("reverse", [False, True], ids=["sorted", "reversed"])
@pytest.mark.parametrize("compress", [False, True], ids=["tar", "tar.gz"])
def test_docker_archive_in_any_member_order(tmp_path, reverse, compress):
    history = [
        {"created_by": "ADD rootfs /"},
        {"created_by": "ENV A=1", "empty_layer": True},
        {"created_by": "COPY curl /usr/bin/"},
        {"created_by": "RUN rm /usr/bin/curl"},
        {"created_by": "CMD sh", "empty_layer": True},
    ]
    config = image_config([A, B, C], history=history, config={"User": "app"})
    archive = docker_archive([([LAYER_A, LAYER_B, LAYER_C], config, ["app:1"])], reverse=reverse)
    path = write(tmp_path, "app.tar.gz" if compress else "app.tar", gzipped(archive) if compress else archive)
    scan = Recorder()

    (image,) = read_archive(path, scan=scan)

    assert image.digest == image.config_digest == sha256(config)
    assert image.references == ("app:1",)
    assert image.config.user == "app"
    assert [(r.digest, r.created_by, r.empty_layer_steps) for r in image.layers] == [
        (A, "ADD rootfs /", ()),
        (B, "COPY curl /usr/bin/", ("ENV A=1",)),
        (C, "RUN rm /usr/bin/curl", ()),
    ]
    assert image.trailing_steps == ("CMD sh",)
    assert image.diff_ids == (A, B, C)
    assert [(i.digest, i.size) for i in image.layer_inventories] == [
        (A, len(LAYER_A)),
        (B, len(LAYER_B)),
        (C, len(LAYER_C)),
    ]
    assert sorted(read for _told, read in scan.handed) == sorted([A, B, C])  # each layer once
    assert image.errors == []


def test_layers_shared_by_images_are_read_once(tmp_path):
    first = image_config([A, B])
    second = image_config([A, C], created="2024-06-01T00:00:00Z")
    path = write(
        tmp_path, "two.tar", docker_archive([([LAYER_A, LAYER_B], first, ["one:1"]), ([LAYER_A, LAYER_C], second, [])])
    )
    scan = Recorder()
    one, two = read_archive(path, scan=scan)
    assert one.references == ("one:1",)
    assert two.references == ()
    assert two.layer_inventories[0] is one.layer_inventories[0]
    assert sorted(read for _told, read in scan.handed) == sorted([A, B, C])


def symlinked_archive() -> bytes:
    """Two images with the same layer, written once and linked, as `docker save` of Engine 20.10 does."""
    config = image_config([A, B])
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in [("aaa/layer.tar", LAYER_A), ("bbb/layer.tar", LAYER_B), ("cfg.json", config)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("ccc/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../aaa/layer.tar"
        tar.addfile(link)
        manifest = json.dumps([{"Config": "cfg.json", "Layers": ["ccc/layer.tar", "bbb/layer.tar"]}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return out.getvalue()


@pytest.mark.parametrize("compress", [False, True], ids=["tar", "tar.gz"])
def test_symlinked_layer_is_followed_inside_the_archive(tmp_path, compress):
    archive = symlinked_archive()
    path = write(tmp_path, "linked.tar", gzipped(archive) if compress else archive)
    (image,) = read_archive(path, scan=Recorder())
    assert [i.digest for i in image.layer_inventories] == [A, B]
    assert image.errors == []


# ---------------------------------------------------------------- OCI layouts


def oci_app(**options) -> tuple:
    """An OCI layout whose first layer blob is gzip-compressed (blob digest ≠ diff id) and second plain."""
    stored = [gzipped(LAYER_A), LAYER_B]
    config = image_config([A, B])
    image = OCIImage(stored, config, layer_media_type="application/vnd.oci.image.layer.v1.tar+gzip")
    return oci_layout([image], name="app:oci", **options), stored


def test_oci_tarball_directory_gzip_and_zstd_read_the_same(tmp_path):
    layout, stored = oci_app()
    blobs = [sha256(stored[0]), sha256(stored[1])]
    results = []
    for path in (
        write(tmp_path, "oci.tar", layout.tar()),
        write(tmp_path, "oci.tar.gz", layout.tar(gzip=True)),
        layout.write(tmp_path / "oci"),
    ):
        scan = Recorder()
        (image,) = read_archive(path, scan=scan)
        assert sorted(scan.handed) == sorted(zip(blobs, blobs, strict=True))  # blobs as stored, told by name
        results.append(image)
    zstd = write(tmp_path, "oci.tar.zst", zstandard.ZstdCompressor().compress(layout.tar()))
    results.append(read_archive(zstd, scan=Recorder())[0])
    first = results[0]
    assert first.digest == layout.manifests[0]
    assert first.references == ("app:oci",)
    assert [r.digest for r in first.layers] == blobs
    assert first.diff_ids == (A, B)
    assert [i.digest for i in first.layer_inventories] == blobs
    assert results[1] == first
    assert results[2] == first
    assert results[3] == first


def test_engine_25_save_layout_with_manifest_json(tmp_path):
    layout = oci_layout([OCIImage([LAYER_A, LAYER_B], image_config([A, B]))], docker_manifest=True)
    files = dict(layout.files)
    files["manifest.json"] = files["manifest.json"].replace(b"null", b'["app:25"]')
    layout.files = files
    for path in (write(tmp_path, "25.tar", layout.tar()), write(tmp_path, "25.tar.gz", layout.tar(gzip=True))):
        (image,) = read_archive(path, scan=Recorder())
        assert image.references == ("app:25",)
        assert [i.digest for i in image.layer_inventories] == [A, B]


def test_multi_platform_archive_reads_the_platform_asked_for(tmp_path):
    amd64 = OCIImage([LAYER_A], image_config([A], architecture="amd64"))
    arm64 = OCIImage([LAYER_B], image_config([B], architecture="arm64"), platform=("linux", "arm64", ""))
    layout = oci_layout([amd64, arm64], name="multi:1", multi_platform=True, attestation=True)
    path = write(tmp_path, "multi.tar", layout.tar())
    scan = Recorder()
    (image,) = read_archive(path, scan=scan, platform=Platform.parse("linux/arm64"))
    assert image.digest == layout.index
    assert image.config.architecture == "arm64"
    assert [told for told, _read in scan.handed] == [B]  # the other platform's layers are not read


def test_cache_skips_known_layers(tmp_path):
    layout, stored = oci_app()
    blobs = [sha256(stored[0]), sha256(stored[1])]
    for path in (write(tmp_path, "oci.tar", layout.tar()), write(tmp_path, "oci.tar.gz", layout.tar(gzip=True))):
        scan = Recorder()
        (image,) = read_archive(path, scan=scan, cache=KnownDigests(blobs[0]))
        assert [told for told, _read in scan.handed] == [blobs[1]]
        assert image.layer_inventories[0] is None
        assert image.layer_inventories[1].digest == blobs[1]
        assert image.errors == []


def test_stream_with_known_layers_skips_the_cached_ones():
    layout = oci_layout([OCIImage([LAYER_A, LAYER_B], image_config([A, B]))])
    scan = Recorder()
    (image,) = read_archive_stream(io.BytesIO(layout.tar()), scan=scan, cache=KnownDigests(A), known_layers=[A, B])
    assert [told for told, _read in scan.handed] == [B]
    assert image.layer_inventories[0] is None


# ---------------------------------------------------------------- damaged and hostile archives


def test_tampered_layers_are_reported_and_dropped(tmp_path):
    layout = oci_layout([OCIImage([LAYER_A, LAYER_B], image_config([A, B]))], name="forged:1")
    layout.files["blobs/sha256/" + A[7:]] = LAYER_C
    (image,) = read_archive(write(tmp_path, "forged.tar", layout.tar()), scan=Recorder())
    assert image.layer_inventories[0] is None
    assert image.layer_inventories[1].digest == B
    assert image.errors == [f"layer 1 ({A}): content does not match its digest (it hashes to {C})"]

    archive = docker_archive([([LAYER_A], image_config([B]), [])])
    (image,) = read_archive(write(tmp_path, "forged-docker.tar", archive), scan=Recorder())
    assert image.layer_inventories == [None]
    assert image.errors == [f"layer 1 ({B}): content does not match its digest (it hashes to {A})"]


def test_missing_layer_is_an_error_of_that_layer(tmp_path):
    layout = oci_layout([OCIImage([LAYER_A, LAYER_B], image_config([A, B]))])
    del layout.files["blobs/sha256/" + B[7:]]
    for path in (write(tmp_path, "gap.tar", layout.tar()), write(tmp_path, "gap.tar.gz", layout.tar(gzip=True))):
        (image,) = read_archive(path, scan=Recorder())
        assert image.layer_inventories[0].digest == A
        assert image.layer_inventories[1] is None
        assert image.errors == [f"layer 2 ({B}): blobs/sha256/{B[7:]} is not in the archive"]


def test_a_failing_scanner_costs_one_layer(tmp_path):
    layout = oci_layout([OCIImage([LAYER_A, LAYER_B], image_config([A, B]))])
    (image,) = read_archive(write(tmp_path, "oci.tar", layout.tar()), scan=Recorder(fail_on=LAYER_A))
    assert image.layer_inventories[0] is None
    assert image.layer_inventories[1].digest == B
    assert image.errors == [f"layer 1 ({A}): scanner failed: RuntimeError: boom"]


def test_directory_reads_nothing_outside_itself(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "layer.tar").write_bytes(LAYER_A)
    archive = tmp_path / "archive"
    archive.mkdir()
    config = image_config([A])
    (archive / "cfg.json").write_bytes(config)
    (archive / "escape").symlink_to(tmp_path / "outside")
    layers = ["../outside/layer.tar"]
    (archive / "manifest.json").write_text(json.dumps([{"Config": "cfg.json", "Layers": layers}]))
    scan = Recorder()
    (image,) = read_archive(archive, scan=scan)
    assert scan.handed == []
    assert image.errors == [f"layer 1 ({A}): ../outside/layer.tar is not in the archive"]

    (archive / "manifest.json").write_text(json.dumps([{"Config": "cfg.json", "Layers": ["escape/layer.tar"]}]))
    (image,) = read_archive(archive, scan=scan)
    assert scan.handed == []
    assert image.errors == [f"layer 1 ({A}): escape/layer.tar is not in the archive"]


def bad_deflate(gz: bytes) -> bytes:
    """A gzip file whose first deflate block has the reserved block type."""
    return gz[:10] + b"\xff" + gz[11:]


def tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.tar", None, "no such file or directory"),
        ("random.tar", b"\x00\x01not a tar at all" * 100, "not a readable tar archive"),
        ("empty.tar", b"", "not a readable tar archive: empty file"),
        ("plain.tar", tar_of({"hello.txt": b"hi"}), "neither index.json nor manifest.json"),
        ("garbage.tar.gz", gzipped(b"garbage" * 100), "not a readable tar archive"),
        ("garbage.tar.zst", zstandard.ZstdCompressor().compress(b"garbage" * 100), "not a readable tar archive"),
        ("corrupt.tar.zst", b"(\xb5/\xfd" + b"\xff" * 64, "damaged compressed archive: "),
        ("corrupt.tar.gz", bad_deflate(gzipped(tar_of({"manifest.json": b"[]"}))), "damaged compressed"),
        ("bad-manifest.tar", tar_of({"manifest.json": b"[not json"}), "manifest.json: JSON is malformed"),
        ("no-images.tar", tar_of({"manifest.json": b"[]"}), "the archive holds no image"),
        ("truncated.tar.gz", oci_layout([OCIImage([LAYER_A], image_config([A]))]).tar(gzip=True)[:300], "cut short"),
        ("truncated.tar.xz", lzma.compress(tar_of({"manifest.json": b"[]"}))[:-30], "cut short"),
    ],
    ids=lambda value: value if isinstance(value, str) and value.endswith((".tar", ".gz")) else "",
)
def test_unreadable_archives_are_image_source_errors(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageSourceError) as caught:
        read_archive(path, scan=Recorder())
    assert caught.value.image == str(path)
    assert reason in caught.value.reason
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("inside a layer", "the archive is cut short"),
        # a plain tar has no trailer: cut between members, what is missing tells
        ("between members", "neither index.json nor manifest.json: not an image archive or OCI layout"),
    ],
)
def test_a_stream_cut_short_is_no_image(where, reason):
    from collectors.layers.scan import scan_layer

    big = layer_tar({"usr/share/blob": bytes(3 * 1024 * 1024)})
    archive = oci_layout([OCIImage([big], image_config([sha256(big)]))]).tar()
    start = archive.index(big[:512])
    cut = start + len(big) // 2 if where == "inside a layer" else start + len(big)
    with pytest.raises(ImageSourceError) as caught:
        read_archive_stream(io.BytesIO(archive[:cut]), scan=scan_layer, name="saved")
    assert caught.value.reason == reason


def test_config_missing_from_the_archive_is_an_error_of_that_image(tmp_path):
    archive = tar_of(
        {"manifest.json": json.dumps([{"Config": "gone.json", "RepoTags": ["x:1"], "Layers": []}]).encode()}
    )
    (image,) = read_archive(write(tmp_path, "x.tar", archive), scan=Recorder())
    assert image.layers == []
    assert image.errors == ["x:1: config: gone.json is not in the archive"]


# ---------------------------------------------------------------- real docker save output, real scanner


@pytest.fixture(scope="module")
def saved_layered(dockerd, docker_images, tmp_path_factory) -> Path:
    """`docker save` of the layered test image, as the engine writes it."""
    path = tmp_path_factory.mktemp("saved") / "layered.tar"
    client = dockerd.client()
    try:
        with path.open("wb") as out:
            for chunk in client.images.get(docker_images.layered).save(named=True):
                out.write(chunk)
    finally:
        client.close()
    return path


def test_docker_save_of_this_engine(saved_layered, dockerd, docker_images):
    with tarfile.open(saved_layered) as tar:
        names = set(tar.getnames())
    client = dockerd.client()
    try:
        major = int(client.version()["Version"].split(".")[0])
        diff_ids = client.api.inspect_image(docker_images.layered)["RootFS"]["Layers"]
    finally:
        client.close()
    # Engine 25 and later write an OCI layout inside `docker save`; Debian 12's 20.10 the classic one
    assert ("index.json" in names) == (major >= 25)
    assert "manifest.json" in names

    scan = Recorder()
    (image,) = read_archive(saved_layered, scan=scan)
    assert image.references == (docker_images.layered,)
    assert image.config_digest == docker_images.layered_id
    assert list(image.diff_ids) == diff_ids
    assert [i.digest for i in image.layer_inventories] == diff_ids
    assert sorted(read for _told, read in scan.handed) == sorted(diff_ids)
    assert [(r.created_by.split("in ")[-1].strip(), r.empty_layer_steps) for r in image.layers] == [
        ("Imported from -", ()),
        ("/var/lib/dpkg/status", ("/bin/sh -c #(nop)  ENV STAGE=one",)),
        ("/usr/bin/curl", ()),
        ("/var/lib/dpkg/status", ("/bin/sh -c #(nop)  LABEL org.opencontainers.image.base.name=kw-test/base:1",)),
        ("/bin/sh -c rm /usr/bin/curl", ("/bin/sh -c #(nop)  EXPOSE 8080/tcp 9090/udp",)),
    ]
    assert image.trailing_steps == ("/bin/sh -c #(nop)  USER 1000:1000", '/bin/sh -c #(nop)  CMD ["/bin/sh"]')
    assert image.base_name == "kw-test/base:1"
    assert image.errors == []

    gz = saved_layered.with_suffix(".tar.gz")
    gz.write_bytes(gzipped(saved_layered.read_bytes()))
    (streamed,) = read_archive(gz, scan=Recorder())
    assert streamed == image


def dpkg_query() -> set[tuple[str, str]]:
    output = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version}\n"], capture_output=True, text=True, check=True
    ).stdout
    return {tuple(line.split(" ", 1)) for line in output.splitlines()}


def test_real_scanner_on_docker_save_output(saved_layered):
    from collectors.layers.scan import scan_layer

    (image,) = read_archive(saved_layered, scan=scan_layer)
    base, added, curl, upgraded, removal = image.layer_inventories
    (status,) = base.databases
    assert status.path == "var/lib/dpkg/status"
    # the oracle: the base layer holds this machine's own dpkg status file
    assert {(p.name, p.version) for p in status.packages} == dpkg_query()
    assert ("kw-added", "1.0-1") in {(p.name, p.version) for p in added.databases[0].packages}
    assert ("kw-added", "2.0.1-1") in {(p.name, p.version) for p in upgraded.databases[0].packages}
    assert [(e.path, e.name) for e in curl.executables] == [("usr/bin/curl", "curl")]
    assert removal.whiteouts == ("usr/bin/curl",)
    assert all(i.error is None for i in image.layer_inventories)
    assert [i.digest for i in image.layer_inventories] == list(image.diff_ids)
