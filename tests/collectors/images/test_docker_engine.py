"""Images read from a real dockerd (the session's own, see tests/realparts.py)."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from collectors.images.archive import read_archive_stream
from collectors.images.docker_engine import DockerEngine, describe
from collectors.images.manifest import ImageSourceError
from tests.collectors.images.test_archive import KnownDigests, Recorder, dpkg_query
from tests.realparts import OCIImage, docker_archive, image_config, layer_tar, load_images, oci_layout, sha256


@pytest.fixture(scope="module")
def engine(dockerd) -> Iterator[DockerEngine]:
    engine = DockerEngine.connect(dockerd.base_url, timeout=60)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def layered_facts(dockerd, docker_images) -> dict:
    client = dockerd.client()
    try:
        return client.api.inspect_image(docker_images.layered)
    finally:
        client.close()


EXPECTED_STEPS = [
    ("Imported from -", ()),
    ("/var/lib/dpkg/status", ("/bin/sh -c #(nop)  ENV STAGE=one",)),
    ("/usr/bin/curl", ()),
    ("/var/lib/dpkg/status", ("/bin/sh -c #(nop)  LABEL org.opencontainers.image.base.name=kw-test/base:1",)),
    ("/bin/sh -c rm /usr/bin/curl", ("/bin/sh -c #(nop)  EXPOSE 8080/tcp 9090/udp",)),
]


def steps_of(image) -> list:
    # COPY steps name a content hash before " in <dest>": keep the destination
    return [(ref.created_by.split(" in ")[-1].strip(), ref.empty_layer_steps) for ref in image.layers]


def test_read_image_by_tag(engine, docker_images, layered_facts):
    scan = Recorder()
    image = engine.read_image(docker_images.layered, scan=scan)
    diff_ids = layered_facts["RootFS"]["Layers"]
    assert image.digest == image.config_digest == docker_images.layered_id  # never pushed: no repo digest
    assert image.references == (docker_images.layered,)
    assert image.config.user == "1000:1000"
    assert image.config.exposed_ports == ("8080/tcp", "9090/udp")
    assert image.config.cmd == ("/bin/sh",)
    assert image.config.labels == {"org.opencontainers.image.base.name": "kw-test/base:1"}
    assert (image.config.os, image.config.architecture) == ("linux", layered_facts["Architecture"])
    assert image.config.created is not None
    assert list(image.diff_ids) == diff_ids
    assert [r.digest for r in image.layers] == diff_ids
    assert steps_of(image) == EXPECTED_STEPS
    assert image.trailing_steps == ("/bin/sh -c #(nop)  USER 1000:1000", '/bin/sh -c #(nop)  CMD ["/bin/sh"]')
    assert image.base_name == "kw-test/base:1"
    # each layer was streamed to the scanner once, and its bytes are the layer the engine names
    assert sorted(read for _told, read in scan.handed) == sorted(diff_ids)
    assert [i.digest for i in image.layer_inventories] == diff_ids
    assert image.errors == []


def test_read_image_by_id_and_by_runtime_image_id(engine, docker_images):
    by_id = engine.read_image(docker_images.scratch_id, scan=Recorder())
    by_runtime = engine.read_image(f"docker://{docker_images.scratch_id}", scan=Recorder())
    by_short_id = engine.read_image(docker_images.scratch_id[7:19], scan=Recorder())
    assert by_id == by_runtime == by_short_id
    assert by_id.references == (docker_images.scratch,)
    assert by_id.config.entrypoint == ("/app",)
    assert len(by_id.layers) == 1


def test_all_layers_cached_needs_no_save(engine, docker_images, layered_facts):
    saved = engine.read_image(docker_images.layered, scan=Recorder())
    scan = Recorder()
    cached = engine.read_image(docker_images.layered, scan=scan, cache=KnownDigests(*layered_facts["RootFS"]["Layers"]))
    assert scan.handed == []  # a save of this engine's classic layout would have scanned every layer
    assert cached.layer_inventories == [None] * 5
    # the history API lines up with the saved config's history
    assert [(r.digest, r.created_by, r.empty_layer_steps) for r in cached.layers] == [
        (r.digest, r.created_by, r.empty_layer_steps) for r in saved.layers
    ]
    assert cached.config == saved.config
    assert (cached.digest, cached.references, cached.diff_ids) == (saved.digest, saved.references, saved.diff_ids)


def test_some_layers_cached_in_the_classic_layout_are_read_anyway(engine, docker_images, layered_facts):
    diff_ids = layered_facts["RootFS"]["Layers"]
    scan = Recorder()
    image = engine.read_image(docker_images.layered, scan=scan, cache=KnownDigests(diff_ids[0]))
    # the classic layout names layer files by v1 ids: which is which shows only once hashed
    assert sorted(read for _told, read in scan.handed) == sorted(diff_ids)
    assert all(inventory is not None for inventory in image.layer_inventories)


def test_hand_made_archive_with_a_whiteout_loads_and_reads_back(engine, dockerd):
    base = layer_tar({"etc/os-release": b"ID=debian\n", "usr/bin/wget": b"wget"})
    removal = layer_tar({"usr/bin/.wh.wget": b""})
    history = [
        {"created_by": "ADD rootfs /"},
        {"created_by": "ENV A=1", "empty_layer": True},
        {"created_by": "RUN rm /usr/bin/wget"},
    ]
    config = image_config([sha256(base), sha256(removal)], history=history)
    client = dockerd.client()
    try:
        (image_id,) = load_images(client, docker_archive([([base, removal], config, ["kw-test/loaded:1"])]))
    finally:
        client.close()
    assert image_id == sha256(config)
    scan = Recorder()
    image = engine.read_image("kw-test/loaded:1", scan=scan)
    assert [(r.digest, r.created_by, r.empty_layer_steps) for r in image.layers] == [
        (sha256(base), "ADD rootfs /", ()),
        (sha256(removal), "RUN rm /usr/bin/wget", ("ENV A=1",)),
    ]
    assert sorted(read for _told, read in scan.handed) == sorted([sha256(base), sha256(removal)])


def api_history(*steps: tuple[str, int]) -> list[dict]:
    """History API entries (newest first) for (CreatedBy, Size) steps given oldest first."""
    return [
        {"Created": 1_700_000_000 + i, "CreatedBy": by, "Size": size, "Comment": ""}
        for i, (by, size) in enumerate(steps)
    ][::-1]


def test_describe_tells_layer_steps_from_the_history_api():
    attrs = {
        "Id": "sha256:" + "1" * 64,
        "RootFS": {"Layers": ["sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64]},
    }
    history = api_history(
        ("", 5000),  # an import
        ("/bin/sh -c #(nop)  ENV A=1", 0),
        ("/bin/sh -c #(nop) COPY file:abc in /x ", 0),  # a COPY of an empty file still makes a layer
        ("RUN /bin/sh -c rm /y # buildkit", 0),  # BuildKit writes the instruction
        ('CMD ["sh"]', 0),
    )
    described = describe(attrs, history)
    assert [(r.created_by, r.empty_layer_steps) for r in described.layers] == [
        ("", ()),
        ("/bin/sh -c #(nop) COPY file:abc in /x ", ("/bin/sh -c #(nop)  ENV A=1",)),
        ("RUN /bin/sh -c rm /y # buildkit", ()),
    ]
    assert described.errors == []

    # a step that changed nothing made no layer, which the API does not say: the read falls back to a save
    described = describe({**attrs, "RootFS": {"Layers": attrs["RootFS"]["Layers"][:2]}}, history)
    assert [r.created_by for r in described.layers] == ["", ""]
    assert described.errors == ["the engine's history names 3 layer steps but the image has 2 layers"]


# ---------------------------------------------------------------- errors


def test_missing_image(engine):
    with pytest.raises(ImageSourceError) as caught:
        engine.read_image("kw-test/absent:1", scan=Recorder())
    assert (caught.value.image, caught.value.reason) == ("kw-test/absent:1", "not in the docker engine")


def test_reference_the_engine_refuses(engine):
    with pytest.raises(ImageSourceError) as caught:
        engine.read_image("Not-Lowercase:1", scan=Recorder())
    assert caught.value.reason.startswith("docker engine error 400: ")
    assert "\n" not in caught.value.reason


def test_daemon_not_there(tmp_path):
    where = f"unix://{tmp_path / 'absent.sock'}"
    with pytest.raises(ImageSourceError) as caught:
        DockerEngine.connect(where, timeout=5)
    assert caught.value.image == ""
    assert caught.value.reason.startswith(f"docker engine unreachable at {where}: ")

    # a client made while the daemon was up, asked after it went away
    gone = DockerEngine(docker.DockerClient(base_url=where, version="1.41", timeout=5), where=where)
    with pytest.raises(ImageSourceError) as caught:
        gone.read_image("app:1", scan=Recorder())
    assert caught.value.image == "app:1"
    assert caught.value.reason.startswith(f"docker engine unreachable at {where}: ")
    gone.close()


@pytest.fixture
def silent_socket(tmp_path) -> Iterator[Path]:
    """A unix socket that accepts connections and never answers."""
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_daemon_that_does_not_answer_times_out(silent_socket):
    with pytest.raises(ImageSourceError) as caught:
        DockerEngine.connect(f"unix://{silent_socket}", timeout=0.5)
    assert caught.value.reason == "docker engine did not answer within 0.5 s"

    engine = DockerEngine(docker.DockerClient(base_url=f"unix://{silent_socket}", version="1.41", timeout=0.5))
    with pytest.raises(ImageSourceError) as caught:
        engine.read_image("app:1", scan=Recorder())
    assert caught.value.reason == "docker engine did not answer within 0.5 s"
    engine.close()


class BreaksAfter:
    """A response body that fails part way, as a dropped connection does."""

    def __init__(self, data: bytes, after: int) -> None:
        self._data = io.BytesIO(data[:after])

    def read(self, size: int) -> bytes:
        chunk = self._data.read(size)
        if not chunk:
            raise ConnectionResetError("connection reset by peer")
        return chunk


def test_a_broken_save_stream_fails_the_image_even_when_the_scanner_swallows_it():
    from collectors.layers.scan import scan_layer

    big = layer_tar({"usr/share/blob": bytes(3 * 1024 * 1024)})
    layout = oci_layout([OCIImage([big], image_config([sha256(big)]))])
    archive = layout.tar()
    cut = archive.index(big[:512]) + len(big) // 2  # in the middle of the layer
    with pytest.raises(ConnectionResetError):
        read_archive_stream(BreaksAfter(archive, cut), scan=scan_layer, known_layers=[sha256(big)])


# ---------------------------------------------------------------- the real scanner, end to end


def test_real_scanner_through_the_engine(engine, docker_images):
    from collectors.layers.scan import scan_layer

    image = engine.read_image(docker_images.layered, scan=scan_layer)
    base, added, curl, upgraded, removal = image.layer_inventories
    # the oracle: the imported base layer holds this machine's own dpkg status file
    assert {(p.name, p.version) for p in base.databases[0].packages} == dpkg_query()
    assert {"dash", "sh"} <= {e.name for e in base.executables}
    assert ("kw-added", "1.0-1") in {(p.name, p.version) for p in added.databases[0].packages}
    assert ("kw-added", "2.0.1-1") in {(p.name, p.version) for p in upgraded.databases[0].packages}
    assert [e.name for e in curl.executables] == ["curl"]
    assert removal.whiteouts == ("usr/bin/curl",)
    assert all(i.error is None for i in image.layer_inventories)


def test_dockerd_keeps_everything_in_its_own_directory(dockerd):
    client = dockerd.client()
    try:
        info = client.info()
    finally:
        client.close()
    assert info["Driver"] == "vfs"
    assert info["DockerRootDir"] == str(dockerd.root / "data")
    assert dockerd.socket.is_socket()
    assert dockerd.started_in < 30
