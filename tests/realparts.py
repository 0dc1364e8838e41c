"""Real parts for the image tests: a private `dockerd`, images built in it, and hand-made image files.

`dockerd` (session fixture) starts Debian's `dockerd` with the vfs storage
driver, no bridge, no iptables, no TCP listener, its data, exec root and
socket in a temporary directory, and stops it at the end of the session. It
starts in well under a second here; building the test images takes a few.

`docker_images` (session fixture) loads it with images the tests share:

- `base`: `docker import` of a root filesystem made from this machine's own
  `/etc/os-release` and `/var/lib/dpkg/status`, with `dash`, `rm` and the C
  library copied from this machine so that `RUN` steps work (`bin/sh` is a
  symlink to dash, as on Debian);
- `layered`: `docker build` `FROM` base, adding a package and a fake `curl`,
  upgrading the package by rewriting the dpkg status file in a later layer,
  then deleting `curl` with `RUN rm` (a real whiteout written by the engine),
  with ENV/USER/EXPOSE/CMD steps that make no layer between them;
- `scratch`: `docker build` `FROM scratch` with a distroless-style
  `var/lib/dpkg/status.d/` and its os-release.

The helpers below (`layer_tar`, `import_image`, `build_image`, `load_images`,
`docker_archive`, `oci_layout`) are for any test that needs an image of its own.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from demo.images import docker_archive_members
from tests.conftest import require_tool

DOCKERD_START_TIMEOUT = 60.0
DOCKERD_STOP_TIMEOUT = 20.0

# ---------------------------------------------------------------- hand-made image files

Entry = bytes | str | tuple[str, str]
"""What `layer_tar` writes at a path: file content (bytes), a symlink target (str), or ("dir", "")."""


def layer_tar(entries: dict[str, Entry], *, mtime: int = 1_700_000_000, parents: bool = False) -> bytes:
    """An uncompressed layer tar. Paths are written as given (so `.wh.` whiteouts, `..` and
    absolute names are possible); with `parents`, missing parent directories come first (0755)."""
    if parents:
        directories: dict[str, Entry] = {}
        for path in entries:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in entries:
                    directories[directory] = ("dir", "")
        entries = {**directories, **entries}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for number, (path, entry) in enumerate(entries.items()):
            info = tarfile.TarInfo(path)
            # distinct times: vfs tells a changed file by size and time, so a rewrite must differ
            info.mtime = mtime + number
            if isinstance(entry, tuple):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(entry, str):
                info.type, info.linkname = tarfile.SYMTYPE, entry
                tar.addfile(info)
            else:
                executable = "/bin/" in f"/{path}" or ".so" in path  # the loader needs its x bit too
                info.size, info.mode = len(entry), 0o755 if executable else 0o644
                tar.addfile(info, io.BytesIO(entry))
    return out.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_config(
    diff_ids: list[str],
    *,
    history: list[dict] | None = None,
    config: dict | None = None,
    os_name: str = "linux",
    architecture: str = "amd64",
    created: str = "2024-05-01T10:20:30.123456789Z",
    labels: dict[str, str] | None = None,
) -> bytes:
    """An image config blob. Without `history`, one step per layer (`COPY layer-N /`)."""
    runtime = dict(config or {})
    if labels:
        runtime["Labels"] = labels
    document = {
        "architecture": architecture,
        "os": os_name,
        "created": created,
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history
        if history is not None
        else [{"created": created, "created_by": f"COPY layer-{i + 1} /"} for i in range(len(diff_ids))],
    }
    return json.dumps(document).encode()


def _add(tar: tarfile.TarFile, path: str, data: bytes) -> None:
    info = tarfile.TarInfo(path)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def docker_archive(images: list[tuple[list[bytes], bytes, list[str]]], *, reverse: bool = False) -> bytes:
    """A classic docker-archive (as `docker save` before Engine 25 writes it): one `<id>/layer.tar`
    per layer, `<config digest>.json`, `manifest.json`. `images` are (layer tars, config, repo tags).
    `reverse` writes the members in the opposite order (readers must not rely on order)."""
    members = docker_archive_members(images)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path in sorted(members, reverse=reverse):
            _add(tar, path, members[path])
    return out.getvalue()


@dataclass
class OCIImage:
    """One image for `oci_layout`: its layer blobs as stored (plain or gzip), config, annotations."""

    layers: list[bytes]
    config: bytes
    platform: tuple[str, str, str] = ("linux", "amd64", "")
    annotations: dict[str, str] = field(default_factory=dict)
    """Manifest annotations (e.g. `org.opencontainers.image.base.digest`)."""
    layer_media_type: str = "application/vnd.oci.image.layer.v1.tar"


@dataclass
class OCILayout:
    """An OCI layout in memory: every file by path, and the digests a test asserts on."""

    files: dict[str, bytes]
    manifests: list[str]
    """Manifest digests, one per OCIImage given, in order."""
    index: str = ""
    """The digest of the nested image index, when the images were written as one multi-platform image."""

    def tar(self, *, gzip: bool = False, extra: dict[str, bytes] | None = None) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz" if gzip else "w") as tar:
            for path, data in {**self.files, **(extra or {})}.items():
                _add(tar, path, data)
        return out.getvalue()

    def write(self, directory: Path) -> Path:
        for path, data in self.files.items():
            target = directory / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return directory


def _descriptor(media_type: str, data: bytes, **extra: object) -> dict:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def oci_layout(
    images: list[OCIImage],
    *,
    name: str = "",
    multi_platform: bool = False,
    docker_manifest: bool = False,
    attestation: bool = False,
) -> OCILayout:
    """An OCI image layout. With `multi_platform`, `index.json` points at one image index listing every
    image by platform (as buildx writes); otherwise each image is its own `index.json` entry.
    `docker_manifest` adds the `manifest.json` that Docker Engine 25+ writes beside the OCI files;
    `attestation` adds a buildx-style attestation manifest to the multi-platform index."""
    files: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}
    entries, manifests, docker_entries = [], [], []
    for image in images:
        for layer in image.layers:
            files["blobs/sha256/" + sha256(layer)[7:]] = layer
        files["blobs/sha256/" + sha256(image.config)[7:]] = image.config
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": _descriptor("application/vnd.oci.image.config.v1+json", image.config),
                "layers": [_descriptor(image.layer_media_type, layer) for layer in image.layers],
                **({"annotations": image.annotations} if image.annotations else {}),
            }
        ).encode()
        files["blobs/sha256/" + sha256(manifest)[7:]] = manifest
        manifests.append(sha256(manifest))
        os_name, architecture, variant = image.platform
        platform = {"os": os_name, "architecture": architecture, **({"variant": variant} if variant else {})}
        annotations = {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name} if name else {}
        entries.append(
            _descriptor(
                "application/vnd.oci.image.manifest.v1+json",
                manifest,
                platform=platform,
                **({"annotations": annotations} if annotations and not multi_platform else {}),
            )
        )
        docker_entries.append(
            {
                "Config": "blobs/sha256/" + sha256(image.config)[7:],
                "RepoTags": [name] if name else None,
                "Layers": ["blobs/sha256/" + sha256(layer)[7:] for layer in image.layers],
            }
        )
    index_digest = ""
    if multi_platform:
        if attestation:
            statement = b'{"_type": "https://in-toto.io/Statement/v0.1"}'
            files["blobs/sha256/" + sha256(statement)[7:]] = statement
            attestation_manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": _descriptor("application/vnd.oci.image.config.v1+json", b"{}"),
                    "layers": [_descriptor("application/vnd.in-toto+json", statement)],
                }
            ).encode()
            files["blobs/sha256/" + sha256(b"{}")[7:]] = b"{}"
            files["blobs/sha256/" + sha256(attestation_manifest)[7:]] = attestation_manifest
            entries.insert(
                0,
                _descriptor(
                    "application/vnd.oci.image.manifest.v1+json",
                    attestation_manifest,
                    platform={"os": "unknown", "architecture": "unknown"},
                    annotations={"vnd.docker.reference.type": "attestation-manifest"},
                ),
            )
        nested = json.dumps(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
        ).encode()
        files["blobs/sha256/" + sha256(nested)[7:]] = nested
        index_digest = sha256(nested)
        annotations = {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name} if name else {}
        entries = [
            _descriptor(
                "application/vnd.oci.image.index.v1+json",
                nested,
                **({"annotations": annotations} if annotations else {}),
            )
        ]
    files["index.json"] = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    ).encode()
    if docker_manifest:
        files["manifest.json"] = json.dumps(docker_entries).encode()
    return OCILayout(files=files, manifests=manifests, index=index_digest)


# ---------------------------------------------------------------- the private dockerd


@dataclass
class Dockerd:
    """A running dockerd of the tests' own."""

    root: Path
    process: subprocess.Popen
    started_in: float
    """Seconds from launch until `/_ping` answered."""

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket}"

    def client(self, timeout: float = 120.0):  # type: ignore[no-untyped-def]
        """A docker SDK client for this daemon (the caller closes it)."""
        import docker

        return docker.DockerClient(base_url=self.base_url, timeout=timeout)

    def log_tail(self, lines: int = 20) -> str:
        log = self.root / "dockerd.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def _dockerd_major(dockerd: str) -> int:
    version = subprocess.run([dockerd, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"version (\d+)\.", version)
    return int(match.group(1)) if match else 0


def _pings(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(2)
            connection.connect(str(path))
            connection.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = b""
            while chunk := connection.recv(4096):
                answer += chunk
        return answer.startswith(b"HTTP/1.") and b" 200 " in answer.split(b"\r\n", 1)[0]
    except OSError:
        return False


def start_dockerd(root: Path, *, dockerd: str = "dockerd") -> Dockerd:
    """Start dockerd with everything it keeps under `root` and no network setup; return once it answers."""
    config: dict[str, object] = {}
    if _dockerd_major(dockerd) < 23:
        # before Engine 23 the daemon writes a trust key to /etc/docker unless told otherwise
        config["deprecated-key-path"] = str(root / "key.json")
    (root / "daemon.json").write_text(json.dumps(config))
    command = [
        dockerd,
        f"--config-file={root / 'daemon.json'}",
        "--storage-driver=vfs",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--bridge=none",
        "--userland-proxy=false",
        f"--data-root={root / 'data'}",
        f"--exec-root={root / 'exec'}",
        f"--pidfile={root / 'dockerd.pid'}",
        f"--host=unix://{root / 'docker.sock'}",
    ]
    began = time.monotonic()
    with (root / "dockerd.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    daemon = Dockerd(root=root, process=process, started_in=0.0)
    while not _pings(daemon.socket):
        if process.poll() is not None or time.monotonic() - began > DOCKERD_START_TIMEOUT:
            stop_dockerd(daemon)
            raise RuntimeError(f"dockerd did not start (exit {process.returncode}):\n{daemon.log_tail()}")
        time.sleep(0.05)
    daemon.started_in = time.monotonic() - began
    return daemon


def stop_dockerd(daemon: Dockerd) -> None:
    """SIGTERM, wait, SIGKILL: the daemon stops its containerd and containers itself on SIGTERM."""
    if daemon.process.poll() is None:
        daemon.process.send_signal(signal.SIGTERM)
        try:
            daemon.process.wait(DOCKERD_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
            daemon.process.wait(DOCKERD_STOP_TIMEOUT)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Dockerd]:
    """The tests' own dockerd, started once per session (a missing dockerd fails under CI)."""
    binary = require_tool("dockerd")
    # a short path: the daemon's and containerd's unix sockets live under it
    root = Path(tempfile.mkdtemp(prefix="kw-dockerd-"))
    try:
        daemon = start_dockerd(root, dockerd=binary)
        try:
            yield daemon
        finally:
            stop_dockerd(daemon)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- images in it


def import_image(client, rootfs: bytes, repository: str, tag: str = "latest") -> str:  # type: ignore[no-untyped-def]
    """`docker import` of a root filesystem tar; returns the image id."""
    result = client.api.import_image_from_data(rootfs, repository=repository, tag=tag)
    status = json.loads(result.strip().splitlines()[-1])
    if "error" in status:
        raise RuntimeError(f"docker import failed: {status['error']}")
    return client.images.get(f"{repository}:{tag}").id


def build_image(client, tag: str, dockerfile: str, files: dict[str, Entry] | None = None) -> str:  # type: ignore[no-untyped-def]
    """`docker build` (the classic builder, no network) of `dockerfile` with `files` as the context;
    returns the image id."""
    context = layer_tar({"Dockerfile": dockerfile.encode(), **(files or {})})
    image, _log = client.images.build(
        fileobj=io.BytesIO(context), custom_context=True, tag=tag, rm=True, forcerm=True, network_mode="none"
    )
    return image.id


def load_images(client, archive: bytes) -> list[str]:  # type: ignore[no-untyped-def]
    """`docker load` of an archive (e.g. from `docker_archive`); returns the ids of the images in it."""
    return [image.id for image in client.images.load(archive)]


def _shared_libraries(binary: str) -> list[str]:
    """The libraries `binary` loads, as ldd names them (the loader included)."""
    output = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30, check=True).stdout
    found = []
    for line in output.splitlines():
        match = re.search(r"(/\S+) \(0x", line)
        if match:
            found.append(match.group(1))
    return found


def host_rootfs() -> dict[str, Entry]:
    """This machine's os-release and dpkg status, with a shell and `rm` that run (for `RUN`)."""
    entries: dict[str, Entry] = {
        "etc/os-release": Path("/etc/os-release").read_bytes(),
        "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes(),
        "usr/bin/dash": Path(shutil.which("dash") or "/usr/bin/dash").read_bytes(),
        "usr/bin/rm": Path(shutil.which("rm") or "/usr/bin/rm").read_bytes(),
        "usr/bin/sh": "dash",
        "bin": "usr/bin",
        "tmp": ("dir", ""),
    }
    for library in {*_shared_libraries("/usr/bin/dash"), *_shared_libraries("/usr/bin/rm")}:
        entries[library.lstrip("/")] = Path(library).read_bytes()
    return entries


ADDED_PACKAGE = """Package: kw-added
Status: install ok installed
Priority: optional
Section: misc
Maintainer: kubeward tests <tests@example.invalid>
Architecture: all
Source: kw-added-src ({version})
Version: {version}
Description: a package the layered test image adds and upgrades

"""


@dataclass(frozen=True)
class DockerImages:
    """The images `docker_images` built, by tag, with their ids."""

    base: str
    base_id: str
    layered: str
    layered_id: str
    scratch: str
    scratch_id: str
    built_in: float
    """Seconds the builds took."""


LAYERED_DOCKERFILE = """FROM {base}
ENV STAGE=one
COPY status-added /var/lib/dpkg/status
COPY bin/curl /usr/bin/curl
LABEL org.opencontainers.image.base.name={base}
COPY status-upgraded /var/lib/dpkg/status
EXPOSE 8080/tcp 9090/udp
RUN rm /usr/bin/curl
USER 1000:1000
CMD ["/bin/sh"]
"""

SCRATCH_DOCKERFILE = """FROM scratch
COPY rootfs/ /
ENTRYPOINT ["/app"]
"""


@pytest.fixture(scope="session")
def docker_images(dockerd: Dockerd) -> Iterator[DockerImages]:
    """The shared test images (see the module docstring), built once per session."""
    began = time.monotonic()
    host_status = Path("/var/lib/dpkg/status").read_text()
    client = dockerd.client()
    try:
        base_id = import_image(client, layer_tar(host_rootfs(), parents=True), "kw-test/base", "1")
        layered_id = build_image(
            client,
            "kw-test/layered:1",
            LAYERED_DOCKERFILE.format(base="kw-test/base:1"),
            {
                "status-added": (host_status.rstrip("\n") + "\n\n" + ADDED_PACKAGE.format(version="1.0-1")).encode(),
                "status-upgraded": (
                    host_status.rstrip("\n") + "\n\n" + ADDED_PACKAGE.format(version="2.0.1-1")
                ).encode(),
                "bin/curl": b"\x7fELF not really curl\n",
            },
        )
        scratch_id = build_image(
            client,
            "kw-test/scratch:1",
            SCRATCH_DOCKERFILE,
            {
                "rootfs/etc/os-release": b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Distroless"\n',
                "rootfs/var/lib/dpkg/status.d/base-files": (
                    b"Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\nStatus: install ok installed\n\n"
                ),
                "rootfs/app": b"#!/nothing\n",
            },
        )
        yield DockerImages(
            base="kw-test/base:1",
            base_id=base_id,
            layered="kw-test/layered:1",
            layered_id=layered_id,
            scratch="kw-test/scratch:1",
            scratch_id=scratch_id,
            built_in=time.monotonic() - began,
        )
    finally:
        client.close()


def docker_cli_env(daemon: Dockerd) -> dict[str, str]:
    """The environment for a `docker` command against `daemon`."""
    return {**os.environ, "DOCKER_HOST": daemon.base_url}
