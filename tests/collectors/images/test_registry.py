"""RegistryClient against a real `docker-registry` on loopback.

Images are built here from tar layers (a dpkg status file, a shell symlink, a whiteout in a later layer) and
pushed over the distribution API, then read back: config, layer digests and the bytes the scanner is fed,
platform choice in a multi-platform index, Basic auth over TLS, bearer tokens (password, identity token,
credential helper), and every failure as one line. A small proxy in front of the registry tampers with or
stalls what it answers, for the digest checks and timeouts.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import urllib3

from audit.images import LayerInventory
from collectors.images.manifest import Descriptor, ImageSourceError, Platform
from collectors.images.registry import (
    DockerCredentialStore,
    ImageReference,
    RegistryClient,
    _Failure,
    choose_manifest,
    parse_challenge,
    parse_reference,
)
from tests.registry_server import BASIC_USERS, OCI_INDEX, Pushed, RegistryServer, free_port, sha256_digest

GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_GZIP_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DPKG_STATUS = """\
Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: dash
Status: install ok installed
Architecture: amd64
Version: 0.5.12-2
"""
CURL_STATUS = DPKG_STATUS + """
Package: curl
Status: install ok installed
Architecture: amd64
Source: curl
Version: 7.88.1-10+deb12u5
"""


# --- images built here ------------------------------------------------------------------------------------------


def tar_layer(files: dict[str, bytes] = {}, symlinks: dict[str, str] = {}) -> bytes:  # noqa: B006
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if "/bin/" in name else 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in symlinks.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


@dataclass(frozen=True)
class BuiltImage:
    tars: list[bytes]
    """Uncompressed layer tars, bottom first."""
    layers: list[tuple[bytes, str]]
    """Blobs as pushed, with their media types."""
    config: bytes

    @property
    def layer_digests(self) -> list[str]:
        return [sha256_digest(blob) for blob, _ in self.layers]


def app_image(architecture: str = "amd64") -> BuiltImage:
    """Three layers: a base with dpkg status and /bin/sh → dash, curl added, curl deleted (a whiteout)."""
    tars = [
        tar_layer(
            {
                "etc/os-release": b'ID=debian\nVERSION_ID="12"\n',
                "var/lib/dpkg/status": DPKG_STATUS.encode(),
                "bin/dash": b"\x7fELF dash for " + architecture.encode(),
            },
            {"bin/sh": "dash"},
        ),
        tar_layer({"var/lib/dpkg/status": CURL_STATUS.encode(), "usr/bin/curl": b"\x7fELF curl"}),
        tar_layer({"usr/bin/.wh.curl": b""}),
    ]
    layers = [(gzip.compress(tars[0], mtime=0), GZIP_LAYER), (gzip.compress(tars[1], mtime=0), GZIP_LAYER)]
    layers.append((tars[2], TAR_LAYER))
    config = {
        "architecture": architecture,
        "os": "linux",
        "created": "2024-05-06T07:08:09.123456789Z",
        "config": {
            "User": "1000:1000",
            "ExposedPorts": {"8080/tcp": {}},
            "Labels": {"org.opencontainers.image.base.name": "debian:12"},
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["serve"],
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(t) for t in tars]},
        "history": [
            {"created_by": "ADD rootfs.tar /"},
            {"created_by": "ENV LANG=C.UTF-8", "empty_layer": True},
            {"created_by": "RUN apt-get install -y curl"},
            {"created_by": "RUN rm /usr/bin/curl"},
            {"created_by": 'CMD ["serve"]', "empty_layer": True},
        ],
    }
    return BuiltImage(tars, layers, json.dumps(config).encode())


def small_image(label: str, size: int = 0) -> BuiltImage:
    """One uncompressed layer naming `label`, optionally with `size` bytes of incompressible filler."""
    tars = [tar_layer({f"{label}.txt": label.encode(), **({"filler": os.urandom(size)} if size else {})})]
    rootfs = {"type": "layers", "diff_ids": [sha256_digest(tars[0])]}
    config = {"architecture": "amd64", "os": "linux", "rootfs": rootfs}
    return BuiltImage(tars, [(tars[0], TAR_LAYER)], json.dumps(config).encode())


def push(server: RegistryServer, repository: str, tag: str, image: BuiltImage, *, oci: bool = True) -> Pushed:
    layers = image.layers if oci else [(blob, DOCKER_GZIP_LAYER if kind == GZIP_LAYER else kind)
                                       for blob, kind in image.layers]
    return server.push_image(repository, tag, image.config, layers, oci=oci)


@dataclass(frozen=True)
class Pushed3:
    app: BuiltImage
    app_manifest: Pushed
    amd64: BuiltImage
    arm64: BuiltImage
    index: Pushed
    amd64_manifest: Pushed
    big: BuiltImage


@pytest.fixture(scope="module")
def images(registry: RegistryServer) -> Pushed3:
    """Pushed once: `app:1.0` (Docker schema 2), `multi:1` (an OCI index: amd64, arm64, an attestation),
    `big:1` (one 3 MiB layer)."""
    app = app_image()
    app_manifest = push(registry, "team/app", "1.0", app, oci=False)
    amd64, arm64 = app_image("amd64"), small_image("arm64")
    amd64_manifest = push(registry, "multi", "amd64", amd64)
    arm64_manifest = push(registry, "multi", "arm64", arm64)
    attestation = push(registry, "multi", "attestation", small_image("attestation"))
    index = registry.push_index(
        "multi",
        "1",
        [
            (attestation, {"platform": {"os": "unknown", "architecture": "unknown"},
                           "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}),
            (arm64_manifest, {"platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}),
            (amd64_manifest, {"platform": {"os": "linux", "architecture": "amd64"},
                              "annotations": {"org.opencontainers.image.base.digest": "sha256:" + "b" * 64}}),
        ],
    )
    big = small_image("big", size=3 << 20)
    push(registry, "big", "1", big)
    return Pushed3(app, app_manifest, amd64, arm64, index, amd64_manifest, big)


class RecordingScanner:
    """A layer "scanner" that reads the stream with tarfile and remembers what it saw."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.members: dict[str, list[str]] = {}
        self.contents: dict[str, dict[str, bytes]] = {}
        self.stop_after = stop_after

    def __call__(self, stream: io.BufferedIOBase, *, digest: str) -> LayerInventory:
        if self.stop_after is not None:
            stream.read(self.stop_after)
            return LayerInventory(digest=digest, error="stopped early on purpose")
        names, contents = [], {}
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                names.append(member.name + (f" -> {member.linkname}" if member.issym() else ""))
                if member.isfile():
                    contents[member.name] = tar.extractfile(member).read()
        self.members[digest], self.contents[digest] = names, contents
        whiteouts = tuple(n.replace(".wh.", "") for n in names if "/.wh." in n)
        return LayerInventory(digest=digest, whiteouts=whiteouts)


def client(**options: object) -> RegistryClient:
    options.setdefault("docker_config", Path("/nonexistent/kubeward-test/config.json"))
    options.setdefault("timeout", 5.0)
    return RegistryClient(**options)  # type: ignore[arg-type]


def reason_of(call: Callable[[], object]) -> str:
    with pytest.raises(ImageSourceError) as caught:
        call()
    assert "\n" not in caught.value.reason
    return caught.value.reason


# --- references, challenges, platforms (pure) -------------------------------------------------------------------

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx", ImageReference("docker.io", "library/nginx", "latest")),
        ("nginx:1.27", ImageReference("docker.io", "library/nginx", "1.27")),
        ("library/nginx:1.27", ImageReference("docker.io", "library/nginx", "1.27")),
        ("docker.io/nginx", ImageReference("docker.io", "library/nginx", "latest")),
        ("index.docker.io/library/nginx", ImageReference("docker.io", "library/nginx", "latest")),
        ("bitnami/redis:7", ImageReference("docker.io", "bitnami/redis", "7")),
        (f"nginx@{DIGEST}", ImageReference("docker.io", "library/nginx", None, DIGEST)),
        ("localhost/app", ImageReference("localhost", "app", "latest")),
        ("localhost:5000/x", ImageReference("localhost:5000", "x", "latest")),
        (f"registry:5000/ns/img:tag@{DIGEST}", ImageReference("registry:5000", "ns/img", "tag", DIGEST)),
        ("quay.io/prometheus/node-exporter:v1.8.2", ImageReference("quay.io", "prometheus/node-exporter", "v1.8.2")),
        ("Registry/app", ImageReference("Registry", "app", "latest")),  # upper case: a host, as Docker has it
        ("[::1]:5000/app:1", ImageReference("[::1]:5000", "app", "1")),
        ("gcr.io/a/b/c/d__e-f.g:x_y", ImageReference("gcr.io", "a/b/c/d__e-f.g", "x_y")),
    ],
)
def test_references_normalise_as_docker_does(text: str, expected: ImageReference) -> None:
    assert parse_reference(text) == expected


def test_a_digest_wins_over_the_tag() -> None:
    reference = parse_reference(f"registry:5000/ns/img:tag@{DIGEST}")
    assert reference.manifest_reference == DIGEST
    assert str(reference) == f"registry:5000/ns/img:tag@{DIGEST}"
    assert parse_reference("nginx").manifest_reference == "latest"


@pytest.mark.parametrize(
    "text",
    ["NGINX", "ns/Img", "nginx:", "nginx:-x", ":tag", "-bad/x", "a" * 64, "nginx@sha256:abc", "x/" + "a" * 260, ""],
)
def test_invalid_references_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_reference(text)


def test_bearer_and_basic_challenges() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:samalba/my-app:pull,push",error="insufficient_scope"'
    )
    assert challenge is not None and challenge.scheme == "bearer"
    assert challenge.parameters == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:samalba/my-app:pull,push",
        "error": "insufficient_scope",
    }
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and (basic.scheme, basic.parameters) == ("basic", {"realm": "Registry Realm"})
    assert parse_challenge("") is None


def _entry(digest_char: str, os: str, arch: str, variant: str = "", **annotations: str) -> Descriptor:
    return Descriptor(OCI_INDEX, "sha256:" + digest_char * 64, 1, Platform(os, arch, variant), annotations)


def test_platform_choice_prefers_the_default_variant_and_skips_attestations() -> None:
    entries = [
        _entry("a", "unknown", "unknown", **{"vnd.docker.reference.type": "attestation-manifest"}),
        _entry("b", "linux", "arm", "v6"),
        _entry("c", "linux", "arm", "v7"),
        _entry("d", "linux", "arm64", "v8"),
        _entry("e", "linux", "amd64"),
    ]
    assert choose_manifest(entries, None).digest == entries[4].digest  # linux/amd64 by default
    assert choose_manifest(entries, ("linux", "arm", None)).digest == entries[2].digest
    assert choose_manifest(entries, ("linux", "arm", "v6")).digest == entries[1].digest
    assert choose_manifest(entries, ("linux", "arm64", None)).digest == entries[3].digest
    with pytest.raises(_Failure, match=r"no linux/s390x image in the index \(it has linux/amd64, linux/arm/v6"):
        choose_manifest(entries, ("linux", "s390x", None))


@pytest.mark.parametrize(
    ("registry_name", "insecure", "plain"),
    [
        ("127.0.0.1:5000", (), True),
        ("127.8.9.10", (), True),
        ("localhost:5000", (), True),
        ("[::1]:5000", (), False),  # not in Docker's default insecure range
        ("registry.example:5000", (), False),
        ("registry.example:5000", ("registry.example:5000",), True),
        ("registry.example:5001", ("registry.example:5000",), False),
        ("10.1.2.3:5000", ("10.0.0.0/8",), True),
        ("docker.io", (), False),
    ],
)
def test_which_registries_may_be_plain_http(registry_name: str, insecure: tuple[str, ...], plain: bool) -> None:
    assert client(insecure=insecure).allows_plain_http(registry_name) is plain


def test_credentials_from_docker_config(tmp_path: Path) -> None:
    def auth(user: str, password: str) -> str:
        return base64.b64encode(f"{user}:{password}".encode()).decode()

    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {"auth": auth("hubuser", "hubpass")},
                    "https://registry.example:5000/v2/": {"auth": auth("me", "pa:ss")},
                    "tokens.example": {"identitytoken": "refresh-me"},
                    "broken.example": {"auth": "not base64!"},
                    "empty.example": {},
                }
            }
        )
    )
    store = DockerCredentialStore(config, timeout=5)
    hub = store.lookup("docker.io")
    assert hub is not None and (hub.username, hub.password) == ("hubuser", "hubpass")
    mine = store.lookup("registry.example:5000")
    assert mine is not None and (mine.username, mine.password) == ("me", "pa:ss")
    token = store.lookup("tokens.example")
    assert token is not None and token.identity_token == "refresh-me"
    assert store.lookup("empty.example") is None
    assert store.lookup("elsewhere.example") is None
    with pytest.raises(_Failure, match=r"malformed credentials for broken\.example"):
        store.lookup("broken.example")


# --- reading from the registry ----------------------------------------------------------------------------------


def test_reads_a_docker_schema2_image_by_tag(registry: RegistryServer, images: Pushed3) -> None:
    scanner = RecordingScanner()
    with client() as registry_client:
        read = registry_client.read_image(f"{registry.address}/team/app:1.0", scan=scanner)
    app = images.app
    assert read.digest == images.app_manifest.digest
    assert read.references == (f"{registry.address}/team/app:1.0",)
    assert read.config_digest == sha256_digest(app.config)
    assert read.config.user == "1000:1000"
    assert read.config.exposed_ports == ("8080/tcp",)
    assert read.config.entrypoint == ("/bin/sh", "-c") and read.config.cmd == ("serve",)
    assert read.config.created is not None and read.config.created.year == 2024
    assert read.base_name == "debian:12"
    assert [layer.digest for layer in read.layers] == app.layer_digests
    assert [layer.created_by for layer in read.layers] == [
        "ADD rootfs.tar /",
        "RUN apt-get install -y curl",
        "RUN rm /usr/bin/curl",
    ]
    assert read.layers[1].empty_layer_steps == ("ENV LANG=C.UTF-8",)
    assert read.trailing_steps == ('CMD ["serve"]',)
    assert read.diff_ids == tuple(sha256_digest(t) for t in app.tars)
    assert [inventory.digest for inventory in read.layer_inventories] == app.layer_digests
    assert read.errors == []
    # the scanner was fed each layer blob as stored, and read the same tar that was built
    base, added, _ = app.layer_digests
    assert scanner.members[base] == ["etc/os-release", "var/lib/dpkg/status", "bin/dash", "bin/sh -> dash"]
    assert scanner.contents[base]["var/lib/dpkg/status"] == DPKG_STATUS.encode()
    assert scanner.contents[added]["var/lib/dpkg/status"] == CURL_STATUS.encode()
    assert read.layer_inventories[2].whiteouts == ("usr/bin/curl",)


def test_cached_layers_are_not_fetched(registry: RegistryServer, images: Pushed3) -> None:
    class Cache:
        def __init__(self, known: set[str]) -> None:
            self.known, self.asked = known, []

        def has(self, digest: str) -> bool:
            self.asked.append(digest)
            return digest in self.known

    base = images.app.layer_digests[0]
    cache, scanner = Cache({base}), RecordingScanner()
    read = client().read_image(f"{registry.address}/team/app:1.0", scan=scanner, cache=cache)
    assert cache.asked == images.app.layer_digests
    assert base not in scanner.members and len(scanner.members) == 2
    assert read.layer_inventories[0] is None and read.layer_inventories[1] is not None
    assert [layer.digest for layer in read.layers] == images.app.layer_digests


def test_an_index_resolves_to_the_node_platform(registry: RegistryServer, images: Pushed3) -> None:
    reader = client()
    amd64 = reader.read_image(f"{registry.address}/multi:1", scan=RecordingScanner())
    assert amd64.digest == images.index.digest  # the repo digest the kubelet reports
    assert amd64.config_digest == sha256_digest(images.amd64.config)
    assert [layer.digest for layer in amd64.layers] == images.amd64.layer_digests
    assert amd64.base_digest == "sha256:" + "b" * 64  # from the index entry's annotations

    arm64 = reader.read_image(f"{registry.address}/multi:1", platform=("linux", "arm64", None), scan=RecordingScanner())
    assert arm64.config.architecture == "amd64"  # small_image writes amd64; what counts is which manifest was read
    assert [layer.digest for layer in arm64.layers] == images.arm64.layer_digests

    by_digest = reader.read_image(
        f"{registry.address}/multi@{images.index.digest}", platform=("linux", "arm64", "v8"), scan=RecordingScanner()
    )
    assert [layer.digest for layer in by_digest.layers] == images.arm64.layer_digests
    assert by_digest.digest == images.index.digest

    multi, s390x = f"{registry.address}/multi:1", ("linux", "s390x", None)
    reason = reason_of(lambda: reader.read_image(multi, platform=s390x, scan=RecordingScanner()))
    assert reason == "no linux/s390x image in the index (it has linux/amd64, linux/arm64/v8)"


def test_pull_by_manifest_digest(registry: RegistryServer, images: Pushed3) -> None:
    reference = f"{registry.address}/multi:ignored@{images.amd64_manifest.digest}"
    read = client().read_image(reference, scan=RecordingScanner())
    assert read.digest == images.amd64_manifest.digest
    assert [layer.digest for layer in read.layers] == images.amd64.layer_digests


def test_missing_things_are_not_found(registry: RegistryServer, images: Pushed3) -> None:
    reader = client()
    reason = reason_of(lambda: reader.read_image(f"{registry.address}/team/app:2.0", scan=RecordingScanner()))
    assert reason.startswith(f"not found: manifest {registry.address}/team/app:2.0 (MANIFEST_UNKNOWN")
    reason = reason_of(lambda: reader.read_image(f"{registry.address}/nobody/here", scan=RecordingScanner()))
    assert reason.startswith(f"not found: manifest {registry.address}/nobody/here:latest")
    # a digest that is not the content of anything in the repository
    reason = reason_of(lambda: reader.read_image(f"{registry.address}/team/app@{DIGEST}", scan=RecordingScanner()))
    assert reason.startswith(f"not found: manifest {registry.address}/team/app@{DIGEST}")


def test_invalid_reference_is_a_reason_too() -> None:
    assert reason_of(lambda: client().read_image("not a reference", scan=RecordingScanner())).startswith(
        "invalid reference format"
    )


def test_an_artifact_is_not_an_image(registry: RegistryServer) -> None:
    chart = b'{"name":"chart","version":"1.0.0"}'
    config_digest = registry.push_blob("charts/web", chart)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config_digest,
                   "size": len(chart)},
        "layers": [],
    }
    registry.push_manifest("charts/web", "1.0.0", json.dumps(manifest).encode(), manifest["mediaType"])
    reason = reason_of(lambda: client().read_image(f"{registry.address}/charts/web:1.0.0", scan=RecordingScanner()))
    assert reason == (
        "unsupported media type: not a container image (config is application/vnd.cncf.helm.config.v1+json)"
    )


def test_a_scanner_that_stops_early(registry: RegistryServer, images: Pushed3) -> None:
    reader = client()
    # a small remainder is read to the end and checked
    small = reader.read_image(f"{registry.address}/team/app:1.0", scan=RecordingScanner(stop_after=10))
    assert small.errors == []
    # a large one is left unread: noted, not failed
    big = reader.read_image(f"{registry.address}/big:1", scan=RecordingScanner(stop_after=10))
    [digest] = images.big.layer_digests
    assert len(big.errors) == 1
    assert big.errors[0].startswith(f"layer {digest} not verified: the scanner stopped")
    # the connection it left was not handed back half-read: the next read works
    assert reader.read_image(f"{registry.address}/big:1", scan=RecordingScanner()).errors == []


def test_registry_down() -> None:
    address = f"127.0.0.1:{free_port('127.0.0.1')}"
    started = time.monotonic()
    reason = reason_of(lambda: client().read_image(f"{address}/app:1", scan=RecordingScanner()))
    assert reason == "registry down: cannot connect to 127.0.0.1 (connection refused)"
    assert time.monotonic() - started < 3  # bounded retries


# --- a proxy that tampers with or stalls the registry's answers ---------------------------------------------------

Tamper = Callable[[str, int, dict[str, str], bytes], tuple[int, dict[str, str], bytes] | None]


class TamperingProxy:
    """Plain HTTP on 127.0.0.1, forwarding GETs to a registry; `tamper(path, status, headers, body)` may
    rewrite an answer; paths containing `stall_on` hang until the test ends, paths containing `redirect_on`
    are redirected to the registry itself (as registries send blobs to a storage service)."""

    def __init__(self, upstream: RegistryServer) -> None:
        self.upstream = upstream
        self.tamper: Tamper = lambda *_: None
        self.stall_on = ""
        self.redirect_on = ""
        self.requests: list[str] = []
        self.release = threading.Event()
        self._http = urllib3.PoolManager()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.requests.append(self.path)
                if proxy.stall_on and proxy.stall_on in self.path:
                    proxy.release.wait(10)
                    return
                if proxy.redirect_on and proxy.redirect_on in self.path:
                    self.send_response(307)
                    self.send_header("Location", proxy.upstream.url + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                forwarded = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization")}
                upstream = proxy._http.request("GET", proxy.upstream.url + self.path, headers=forwarded, redirect=False)
                headers = {k: v for k, v in upstream.headers.items() if k.lower() not in ("content-length", "date")}
                status, body = upstream.status, upstream.data
                changed = proxy.tamper(self.path, status, headers, body)
                if changed is not None:
                    status, headers, body = changed
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def start(self) -> TamperingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def proxy(registry: RegistryServer, images: Pushed3) -> Iterator[TamperingProxy]:
    server = TamperingProxy(registry).start()
    yield server
    server.stop()


def test_a_tampered_manifest_fails_its_digest(proxy: TamperingProxy, images: Pushed3) -> None:
    def add_whitespace(path: str, status: int, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        return (status, headers, body + b"\n") if "/manifests/" in path else None

    proxy.tamper = add_whitespace
    tampered = sha256_digest(images.app_manifest.body + b"\n")
    reason = reason_of(lambda: client().read_image(f"{proxy.address}/team/app:1.0", scan=RecordingScanner()))
    assert reason == (
        f"digest mismatch: manifest {proxy.address}/team/app:1.0 is {tampered}, "
        f"registry announced {images.app_manifest.digest}"
    )
    reference = f"{proxy.address}/team/app@{images.app_manifest.digest}"
    reason = reason_of(lambda: client().read_image(reference, scan=RecordingScanner()))
    assert reason == f"digest mismatch: manifest {reference} is {tampered}, asked for {images.app_manifest.digest}"


def test_a_tampered_config_or_layer_fails_its_digest(proxy: TamperingProxy, images: Pushed3) -> None:
    config_digest = sha256_digest(images.app.config)
    layer_digest = images.app.layer_digests[1]

    def flip(target: str) -> Tamper:
        def tamper(path: str, status: int, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
            if path.endswith(target):
                return status, headers, body[:-1] + bytes([body[-1] ^ 1])
            return None

        return tamper

    proxy.tamper = flip(config_digest)
    reason = reason_of(lambda: client().read_image(f"{proxy.address}/team/app:1.0", scan=RecordingScanner()))
    assert reason.startswith(f"digest mismatch: config blob {config_digest} has content sha256:")
    proxy.tamper = flip(layer_digest)
    reason = reason_of(lambda: client().read_image(f"{proxy.address}/team/app:1.0", scan=RecordingScanner()))
    assert reason == f"digest mismatch: layer blob {layer_digest} has other content"

    def cut(path: str, status: int, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        return (status, headers, body[:-5]) if path.endswith(layer_digest) else None

    proxy.tamper = cut
    size = len(images.app.layers[1][0])
    reason = reason_of(lambda: client().read_image(f"{proxy.address}/team/app:1.0", scan=RecordingScanner()))
    assert reason == f"layer blob {layer_digest} truncated: got {size - 5} of {size} bytes"


def test_schema1_manifests_are_refused_by_name(proxy: TamperingProxy) -> None:
    schema1 = json.dumps({"schemaVersion": 1, "name": "team/app", "tag": "1.0", "fsLayers": [], "history": []})

    def old(path: str, status: int, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        if "/manifests/" not in path:
            return None
        headers = {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}
        return 200, headers, schema1.encode()

    proxy.tamper = old
    reason = reason_of(lambda: client().read_image(f"{proxy.address}/team/app:1.0", scan=RecordingScanner()))
    assert reason.startswith("unsupported media type: Docker schema 1 manifest")


def test_a_stalled_registry_times_out(proxy: TamperingProxy) -> None:
    proxy.stall_on = "/manifests/"
    started = time.monotonic()
    reason = reason_of(lambda: client(timeout=0.3, retries=1).read_image(f"{proxy.address}/team/app:1.0",
                                                                        scan=RecordingScanner()))
    assert reason == "timeout: 127.0.0.1 sent nothing for 0.3 s"
    assert time.monotonic() - started < 2.5
    assert sum("/manifests/" in path for path in proxy.requests) == 2  # one retry, then it gives up


def test_server_errors_are_retried_then_reported(proxy: TamperingProxy) -> None:
    def unavailable(path: str, status: int, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        return (503, {}, b"") if "/manifests/" in path else None

    proxy.tamper = unavailable
    reason = reason_of(lambda: client().read_image(f"{proxy.address}/team/app:1.0", scan=RecordingScanner()))
    assert reason == f"registry error: {proxy.address} answered HTTP 503 for manifest {proxy.address}/team/app:1.0"
    assert sum("/manifests/" in path for path in proxy.requests) == 3  # two retries


def test_blobs_redirected_elsewhere_are_followed(proxy: TamperingProxy, images: Pushed3) -> None:
    proxy.redirect_on = "/blobs/"
    scanner = RecordingScanner()
    read = client().read_image(f"{proxy.address}/team/app:1.0", scan=scanner)
    assert read.errors == [] and set(scanner.members) == set(images.app.layer_digests)
    assert sum("/blobs/" in path for path in proxy.requests) == 4  # config and three layers, each redirected


def test_foreign_layers_are_noted_not_fetched(proxy: TamperingProxy, images: Pushed3) -> None:
    def foreign(path: str, status: int, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        if "/manifests/" not in path:
            return None
        manifest = json.loads(body)
        manifest["layers"][2]["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        manifest["layers"][2]["urls"] = ["https://windows.example/base.tar.gz"]
        headers.pop("Docker-Content-Digest", None)  # the document is no longer what the registry stored
        return status, headers, json.dumps(manifest).encode()

    proxy.tamper = foreign
    scanner = RecordingScanner()
    read = client().read_image(f"{proxy.address}/team/app:1.0", scan=scanner)
    foreign_digest = images.app.layer_digests[2]
    assert read.errors == [f"layer {foreign_digest} not read: a foreign layer, kept outside the registry"]
    assert read.layer_inventories[2] is None and foreign_digest not in scanner.members
    assert not any(path.endswith(foreign_digest) for path in proxy.requests)


# --- Basic auth over TLS ----------------------------------------------------------------------------------------


def docker_config(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "docker-config.json"
    path.write_text(json.dumps(document))
    return path


def login(server: RegistryServer, user: str, password: str) -> dict:
    return {"auths": {server.address: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}


@pytest.fixture(scope="module")
def basic_app(basic_registry: RegistryServer) -> Pushed:
    return push(basic_registry, "team/app", "1.0", app_image())


@pytest.fixture
def ca_file(basic_registry: RegistryServer, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_bytes(basic_registry.ca_pem)
    return path


def test_basic_auth_over_tls(basic_registry: RegistryServer, basic_app: Pushed, ca_file: Path, tmp_path: Path) -> None:
    reference = f"{basic_registry.address}/team/app:1.0"
    config = docker_config(tmp_path, login(basic_registry, "reader", BASIC_USERS["reader"]))
    read = client(docker_config=config, ca_file=ca_file).read_image(reference, scan=RecordingScanner())
    assert read.digest == basic_app.digest and len(read.layers) == 3

    wrong = docker_config(tmp_path, login(basic_registry, "reader", "guess"))
    wrong_client = client(docker_config=wrong, ca_file=ca_file)
    reason = reason_of(lambda: wrong_client.read_image(reference, scan=RecordingScanner()))
    assert reason.startswith(f"unauthorized: {basic_registry.address} refused user reader to team/app")
    reason = reason_of(lambda: client(ca_file=ca_file).read_image(reference, scan=RecordingScanner()))
    assert reason.startswith(f"unauthorized: {basic_registry.address} refused anonymous access to team/app")


def test_tls_is_verified_unless_the_registry_is_named_insecure(
    basic_registry: RegistryServer, basic_app: Pushed, tmp_path: Path
) -> None:
    reference = f"{basic_registry.address}/team/app:1.0"
    config = docker_config(tmp_path, login(basic_registry, "reader", BASIC_USERS["reader"]))
    reason = reason_of(lambda: client(docker_config=config).read_image(reference, scan=RecordingScanner()))
    assert reason.startswith("TLS failure talking to ::1:") and "CERTIFICATE_VERIFY_FAILED" in reason
    insecure = client(docker_config=config, insecure={basic_registry.address})
    assert insecure.read_image(reference, scan=RecordingScanner()).digest == basic_app.digest


# --- bearer tokens ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_images(token_registry: RegistryServer) -> dict[str, Pushed]:
    return {
        "private": push(token_registry, "private/app", "1.0", app_image()),
        "public": push(token_registry, "public/app", "1.0", small_image("public")),
    }


def test_anonymous_bearer_token_for_a_public_repository(
    token_registry: RegistryServer, token_images: dict[str, Pushed]
) -> None:
    assert token_registry.token_server is not None
    token_registry.token_server.requests.clear()
    read = client().read_image(f"{token_registry.address}/public/app:1.0", scan=RecordingScanner())
    assert read.digest == token_images["public"].digest
    # one token for the manifest, config and layer requests: it is cached per repository
    assert token_registry.token_server.requests == [
        ("GET", {"service": "kubeward-test-registry", "scope": "repository:public/app:pull"}, None)
    ]
    private = f"{token_registry.address}/private/app:1.0"
    reason = reason_of(lambda: client().read_image(private, scan=RecordingScanner()))
    assert reason.startswith(f"unauthorized: {token_registry.address} refused anonymous access to private/app")


def test_bearer_token_with_a_password(
    token_registry: RegistryServer, token_images: dict[str, Pushed], tmp_path: Path
) -> None:
    reference = f"{token_registry.address}/private/app:1.0"
    config = docker_config(tmp_path, login(token_registry, "reader", BASIC_USERS["reader"]))
    read = client(docker_config=config).read_image(reference, scan=RecordingScanner())
    assert read.digest == token_images["private"].digest
    assert token_registry.token_server.requests[-1][2] == "reader"

    wrong = docker_config(tmp_path, login(token_registry, "reader", "guess"))
    reason = reason_of(lambda: client(docker_config=wrong).read_image(reference, scan=RecordingScanner()))
    assert reason == f"unauthorized: the token service of {token_registry.address} refused the credentials of reader"


def test_bearer_token_from_an_identity_token(
    token_registry: RegistryServer, token_images: dict[str, Pushed], tmp_path: Path
) -> None:
    config = docker_config(tmp_path, {"auths": {token_registry.address: {"identitytoken": "refresh-for-reader"}}})
    read = client(docker_config=config).read_image(f"{token_registry.address}/private/app:1.0", scan=RecordingScanner())
    assert read.digest == token_images["private"].digest
    method, form, account = token_registry.token_server.requests[-1]
    assert (method, account) == ("POST", "reader")
    assert form == {
        "grant_type": "refresh_token",
        "service": "kubeward-test-registry",
        "scope": "repository:private/app:pull",
        "client_id": "kubeward",
    }


def write_credential_helper(directory: Path, name: str, server: str, user: str, secret: str) -> None:
    helper = directory / f"docker-credential-{name}"
    answer = json.dumps({"ServerURL": server, "Username": user, "Secret": secret})
    helper.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 2\n'
        "read -r server\n"
        f"if [ \"$server\" = '{server}' ]; then echo '{answer}'; exit 0; fi\n"
        "echo 'credentials not found in native keychain'; exit 1\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)


def test_credentials_from_a_helper(
    token_registry: RegistryServer,
    token_images: dict[str, Pushed],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    write_credential_helper(tmp_path, "kwtest", token_registry.address, "reader", BASIC_USERS["reader"])
    reference = f"{token_registry.address}/private/app:1.0"
    helpers = docker_config(tmp_path, {"credHelpers": {token_registry.address: "kwtest"}})
    assert client(docker_config=helpers).read_image(reference, scan=RecordingScanner()).digest == (
        token_images["private"].digest
    )
    assert token_registry.token_server.requests[-1][2] == "reader"
    store = docker_config(tmp_path, {"credsStore": "kwtest"})
    assert client(docker_config=store).read_image(reference, scan=RecordingScanner()).layers

    # the helper knows nothing for this registry: anonymous, which the private repository refuses
    write_credential_helper(tmp_path, "other", "elsewhere.example", "x", "y")
    other = docker_config(tmp_path, {"credsStore": "other"})
    reason = reason_of(lambda: client(docker_config=other).read_image(reference, scan=RecordingScanner()))
    assert reason.startswith(f"unauthorized: {token_registry.address} refused anonymous access")

    missing = docker_config(tmp_path, {"credsStore": "not-installed"})
    reason = reason_of(lambda: client(docker_config=missing).read_image(reference, scan=RecordingScanner()))
    assert reason == f"credential helper docker-credential-not-installed (named in {missing}) is not installed"


def test_one_client_serves_many_threads(
    token_registry: RegistryServer, token_images: dict[str, Pushed], tmp_path: Path
) -> None:
    config = docker_config(tmp_path, login(token_registry, "reader", BASIC_USERS["reader"]))
    shared = client(docker_config=config)
    results: list[str] = []

    def read() -> None:
        for _ in range(3):
            read = shared.read_image(f"{token_registry.address}/private/app:1.0", scan=RecordingScanner())
            results.append(read.digest)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [token_images["private"].digest] * 12


def test_docker_config_location_follows_docker_config_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert RegistryClient().credentials.path == tmp_path / "config.json"
    monkeypatch.delenv("DOCKER_CONFIG")
    assert RegistryClient().credentials.path == Path.home() / ".docker" / "config.json"


def test_layer_streaming_keeps_up(registry: RegistryServer, images: Pushed3) -> None:
    """Not a benchmark: only that the hashing wrapper reads a 3 MiB layer in large pieces, fed byte-exact."""
    seen = {}

    def scan(stream: io.BufferedIOBase, *, digest: str) -> LayerInventory:
        hasher = hashlib.sha256()
        while chunk := stream.read(1 << 16):
            hasher.update(chunk)
        seen[digest] = "sha256:" + hasher.hexdigest()
        return LayerInventory(digest=digest)

    client().read_image(f"{registry.address}/big:1", scan=scan)
    assert seen == {d: d for d in images.big.layer_digests}
