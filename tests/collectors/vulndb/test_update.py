"""`kubeward db update`: OSV dumps downloaded from a local HTTP server, then imported atomically."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

import pytest

from audit.images import AttributedPackage, ImageInventory, OSRelease, Package
from collectors.vulndb import update
from collectors.vulndb.database import VulnDB, VulnDBError, import_osv
from collectors.vulndb.update import dump_url, ecosystems_in_use, update_database

FIXTURES = Path(__file__).parent / "fixtures" / "osv"
STALL = "stall"
STALL_BODY = "stall-body"


def fixtures_of(ecosystem: str) -> list[Path]:
    """The fixture records whose first affected package is in `ecosystem` (the part before any colon)."""
    found = []
    for path in sorted(FIXTURES.glob("*.json")):
        if path.name == "damaged.json":
            continue
        record = json.loads(path.read_text())
        if record["affected"][0]["package"]["ecosystem"].split(":")[0] == ecosystem:
            found.append(path)
    return found


def dump(paths: list[Path], *extra: tuple[str, bytes]) -> bytes:
    """An OSV `all.zip` holding the given record files (one JSON per record at the root) and extra members."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            archive.write(path, path.name)
        for name, data in extra:
            archive.writestr(name, data)
    return buffer.getvalue()


@dataclass
class Server:
    """A local OSV bucket: `routes` maps a raw request path to (status, body) or to a stall."""

    routes: dict[str, tuple[int, bytes] | str] = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requested.append(self.path)
            route = state.routes.get(self.path, (404, b"Not Found"))
            if route == STALL:
                state.release.wait(30)
                return
            if route == STALL_BODY:
                self.send_response(200)
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                self.wfile.write(b"PK")
                self.wfile.flush()
                state.release.wait(30)
                return
            status, body = route
            self.send_response(status)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        # Stalled handlers first, so `server_close` can join their threads.
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
        assert not thread.is_alive()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".download-" in p.name or p.suffix == ".zip")


def test_downloads_each_top_level_dump_and_imports_them(server: Server, tmp_path: Path) -> None:
    debian = fixtures_of("Debian")
    server.routes = {
        "/Debian/all.zip": (200, dump(debian, ("broken.json", (FIXTURES / "damaged.json").read_bytes()))),
        "/Alpine/all.zip": (200, dump(fixtures_of("Alpine"))),
        "/PyPI/all.zip": (200, dump(fixtures_of("PyPI"))),
        "/npm/all.zip": (200, dump(fixtures_of("npm"))),
    }
    db_path = tmp_path / "data" / "vulns.db"
    workdir = tmp_path / "work"

    result = update_database(db_path, ["Debian", "Alpine", "PyPI", "npm", "Debian"], base_url=server.url,
                             timeout=5, workdir=workdir)

    # Top-level dumps only, each once, never a per-release folder such as `Debian:12`.
    assert server.requested == ["/Debian/all.zip", "/Alpine/all.zip", "/PyPI/all.zip", "/npm/all.zip"]
    assert (result.records, result.withdrawn) == (7, 1)  # 8 records, one withdrawn
    assert [(p.source, p.member) for p in result.problems] == [(f"{server.url}/Debian/all.zip", "broken.json")]
    with VulnDB(db_path) as db:
        assert [r.id for r in db.records_for("Debian:12", "openssl")] == ["DEBIAN-CVE-2023-5363"]
        assert [r.id for r in db.records_for("Alpine:v3.18", "openssl")] == ["ALPINE-CVE-2023-5363"]
        assert [r.id for r in db.records_for("PyPI", "requests")] == ["GHSA-j8r2-6x86-q33q"]
        assert [r.id for r in db.records_for("npm", "semver")] == ["GHSA-c2qf-rxjj-qqgw"]
    assert leftovers(workdir) == []
    assert leftovers(db_path.parent) == []


def test_default_workdir_is_beside_the_database(server: Server, tmp_path: Path) -> None:
    server.routes = {"/npm/all.zip": (200, dump(fixtures_of("npm")))}
    db_path = tmp_path / "vulns.db"

    result = update_database(db_path, ["npm"], base_url=server.url + "/", timeout=5)

    assert result.records == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vulns.db"]


def test_red_hat_is_url_quoted(server: Server, tmp_path: Path) -> None:
    server.routes = {"/Red%20Hat/all.zip": (200, dump(fixtures_of("Debian")))}

    update_database(tmp_path / "vulns.db", ["Red Hat"], base_url=server.url, timeout=5)

    assert server.requested == ["/Red%20Hat/all.zip"]
    assert dump_url("https://example.org/osv/", "Rocky Linux") == "https://example.org/osv/Rocky%20Linux/all.zip"


def test_a_404_names_the_ecosystem_and_leaves_the_database_untouched(server: Server, tmp_path: Path) -> None:
    db_path = tmp_path / "vulns.db"
    import_osv([FIXTURES / "GHSA-j8r2-6x86-q33q.json"], db_path)
    before = digest(db_path)
    server.routes = {"/Debian/all.zip": (200, dump(fixtures_of("Debian")))}

    with pytest.raises(VulnDBError) as raised:
        update_database(db_path, ["Debian", "Go"], base_url=server.url, timeout=5)

    message = str(raised.value)
    assert message.startswith("Go: ") and "HTTP 404" in message and "\n" not in message
    assert digest(db_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vulns.db"]


def test_a_server_error_is_retried_then_reported(server: Server, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(update, "_RETRIES", update._RETRIES.new(backoff_factor=0))
    server.routes = {"/Go/all.zip": (503, b"busy")}

    with pytest.raises(VulnDBError, match=r"^Go: .*503"):
        update_database(tmp_path / "vulns.db", ["Go"], base_url=server.url, timeout=5)

    assert len(server.requested) == 4
    assert not (tmp_path / "vulns.db").exists()


@pytest.mark.parametrize("route", [STALL, STALL_BODY])
def test_a_stalled_server_times_out(server: Server, tmp_path: Path, route: str) -> None:
    server.routes = {"/Maven/all.zip": route}
    started = time.monotonic()

    with pytest.raises(VulnDBError, match=r"^Maven: .*timed out"):
        update_database(tmp_path / "vulns.db", ["Maven"], base_url=server.url, timeout=0.2)

    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []


def test_a_body_that_is_not_a_zip_is_refused(server: Server, tmp_path: Path) -> None:
    server.routes = {"/PyPI/all.zip": (200, b"<html>maintenance</html>")}

    with pytest.raises(VulnDBError, match=r"^PyPI: .* did not return a zip archive$"):
        update_database(tmp_path / "vulns.db", ["PyPI"], base_url=server.url, timeout=5)


def test_a_dump_over_the_size_limit_is_refused(server: Server, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(update, "MAX_DOWNLOAD_BYTES", 100)
    server.routes = {"/npm/all.zip": (200, dump(fixtures_of("npm")))}

    with pytest.raises(VulnDBError, match=r"^npm: .*100-byte limit"):
        update_database(tmp_path / "vulns.db", ["npm"], base_url=server.url, timeout=5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("base_url", ["ftp://mirror.example/osv", "file:///srv/osv", "mirror.example"])
def test_only_http_base_urls_are_accepted(tmp_path: Path, base_url: str) -> None:
    with pytest.raises(VulnDBError, match="base URL"):
        update_database(tmp_path / "vulns.db", ["Debian"], base_url=base_url)


def test_nothing_to_download_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(VulnDBError, match="no ecosystem"):
        update_database(tmp_path / "vulns.db", [])


def image(os_id: str | None, *kinds: str) -> ImageInventory:
    return ImageInventory(
        digest=f"sha256:{os_id}",
        os_release=OSRelease(id=os_id, version_id="1") if os_id else None,
        packages=tuple(AttributedPackage(package=Package(name=f"p{i}", version="1", ecosystem=kind), layer=0)
                       for i, kind in enumerate(kinds)),
    )


@pytest.mark.parametrize(("images", "expected"), [
    ([image("debian", "deb", "pypi")], ["Debian", "PyPI"]),
    ([image("distroless", "deb", "golang")], ["Debian", "Go"]),
    ([image("ubuntu", "deb", "npm", "maven")], ["Ubuntu", "npm", "Maven"]),
    ([image("alpine", "apk")], ["Alpine"]),
    ([image("rhel", "rpm"), image("rocky", "rpm"), image("almalinux", "rpm")], ["Red Hat", "Rocky Linux", "AlmaLinux"]),
    ([image("maven", "maven"), image("debian", "deb"), image("debian", "deb")], ["Debian", "Maven"]),
    # No mapping kubeward's matcher could use: an unknown OS, no os-release, an unknown package kind.
    ([image("amzn", "rpm"), image(None, "deb"), image("debian", "cargo")], []),
    ([], []),
])
def test_ecosystems_in_use(images: list[ImageInventory], expected: list[str]) -> None:
    assert ecosystems_in_use(images) == expected


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no trust store knows, and its key."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_certificates_are_verified(tmp_path: Path) -> None:
    import ssl

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = dump(fixtures_of("npm"))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(tmp_path))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with pytest.raises(VulnDBError, match=r"^npm: .*TLS failed: .*CERTIFICATE_VERIFY_FAILED"):
            update_database(tmp_path / "db" / "vulns.db", ["npm"], base_url=f"https://127.0.0.1:{httpd.server_port}",
                            timeout=5)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
    assert not thread.is_alive()
    assert not (tmp_path / "db" / "vulns.db").exists()


def test_the_db_update_command(server: Server, tmp_path: Path) -> None:
    import subprocess
    import sys

    server.routes["/Debian/all.zip"] = (200, dump(fixtures_of("Debian")))
    server.routes["/PyPI/all.zip"] = (200, dump(fixtures_of("PyPI")))
    kubeward = str(Path(sys.executable).with_name("kubeward"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"}
    db = tmp_path / "osv.sqlite"
    result = subprocess.run([kubeward, "db", "update", "--db", str(db), "--base-url", server.url,
                             "--ecosystem", "Debian", "--ecosystem", "PyPI"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(server.requested) == ["/Debian/all.zip", "/PyPI/all.zip"]
    assert VulnDB(db).status().records > 0
    failed = subprocess.run([kubeward, "db", "update", "--db", str(db), "--base-url", server.url,
                             "--ecosystem", "Go"], capture_output=True, text=True, timeout=60, env=env)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert failed.stderr.strip().startswith("kubeward: error: Go: cannot download")
