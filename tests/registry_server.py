"""A real `docker-registry` (Debian's build of distribution) on loopback, for tests that read images over HTTP.

Three session fixtures, each its own registry process with its own config and storage under a temporary
directory (the packaged /etc/docker/registry/config.yml listens on every interface and is never used):

- `registry`: anonymous, plain HTTP on 127.0.0.1.
- `basic_registry`: HTTPS on [::1] with a throwaway CA, Basic auth from an htpasswd file (bcrypt hashes made by
  `htpasswd` from apache2-utils). Docker treats only 127.0.0.0/8 as insecure by default, so [::1] is a
  "secure" registry whose certificate has to verify.
- `token_registry`: plain HTTP on 127.0.0.1 with `auth.token`, and a small token server (`TokenServer`) that
  signs ES256 JWTs the registry verifies against the certificate in its `rootcertbundle`.

A test module makes them visible with `registry = registry_server.registry` (an assignment, so ruff sees no
shadowed import); each module that does so gets its own instance. Pushing goes over the distribution API
(monolithic blob upload, then the manifest): `RegistryServer.push_blob`, `push_manifest`, `push_image`,
`push_index`.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.server
import json
import secrets
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import urllib3
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from demo.tls import issue_certificate
from tests.conftest import require_tool

BASIC_USERS = {"reader": "reader-secret", "pusher": "pusher-secret"}
"""Accounts of `basic_registry` (and of the token server): user → password."""

TOKEN_SERVICE = "kubeward-test-registry"
TOKEN_ISSUER = "kubeward-test-token-issuer"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
REFRESH_TOKENS = {"refresh-for-reader": "reader"}
"""Identity tokens the token server exchanges in the OAuth2 refresh-token flow, → the account they stand for."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class RegistryServer:
    """One running `docker-registry serve` process and how to talk to it."""

    host: str
    port: int
    directory: Path
    scheme: str = "http"
    ca_pem: bytes = b""
    """The CA that signed the server certificate (HTTPS only)."""
    process: subprocess.Popen | None = None
    push_authorization: str | None = None
    """`Authorization` header value the push helpers send (None: anonymous)."""
    token_server: TokenServer | None = None
    _http: urllib3.PoolManager = field(default_factory=urllib3.PoolManager)

    @property
    def address(self) -> str:
        """The registry part of an image reference: `127.0.0.1:5000`, `[::1]:5000`."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    def start(self, config: dict) -> RegistryServer:
        path = self.directory / "config.yml"
        path.write_text(yaml.safe_dump(config))
        log = (self.directory / "registry.log").open("wb")
        self.process = subprocess.Popen(
            [require_tool("docker-registry"), "serve", str(path)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        if self.scheme == "https":
            ca_file = self.directory / "ca.pem"
            ca_file.write_bytes(self.ca_pem)
            self._http = urllib3.PoolManager(ca_certs=str(ca_file))
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(self.directory / 'registry.log').read_text()[-2000:]}")
            try:
                response = self._http.request("GET", f"{self.url}/v2/", timeout=1, retries=False)
            except urllib3.exceptions.HTTPError:
                time.sleep(0.05)
                continue
            if response.status in (200, 401):
                return
        raise RuntimeError(f"docker-registry did not answer on {self.url} within 15 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.token_server is not None:
            self.token_server.stop()

    def _headers(self, repository: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token_server is not None:
            headers["Authorization"] = "Bearer " + self.token_server.mint(
                "pusher", [{"type": "repository", "name": repository, "actions": ["pull", "push"]}]
            )
        elif self.push_authorization:
            headers["Authorization"] = self.push_authorization
        return headers

    def push_blob(self, repository: str, data: bytes) -> str:
        """Upload a blob monolithically (POST an upload, PUT it with `?digest=`); returns its digest."""
        digest = sha256_digest(data)
        started = self._http.request(
            "POST", f"{self.url}/v2/{repository}/blobs/uploads/", headers=self._headers(repository)
        )
        assert started.status == 202, (started.status, started.data)
        location = urllib.parse.urljoin(self.url + "/", started.headers["Location"])
        separator = "&" if "?" in location else "?"
        finished = self._http.request(
            "PUT",
            f"{location}{separator}digest={urllib.parse.quote(digest)}",
            body=data,
            headers=self._headers(repository, {"Content-Type": "application/octet-stream"}),
        )
        assert finished.status == 201, (finished.status, finished.data)
        return digest

    def push_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        """PUT a manifest (or index) under a tag or digest; returns its digest."""
        response = self._http.request(
            "PUT",
            f"{self.url}/v2/{repository}/manifests/{reference}",
            body=body,
            headers=self._headers(repository, {"Content-Type": media_type}),
        )
        assert response.status == 201, (response.status, response.data)
        assert response.headers["Docker-Content-Digest"] == sha256_digest(body)
        return sha256_digest(body)

    def push_image(
        self, repository: str, tag: str, config: bytes, layers: list[tuple[bytes, str]], *, oci: bool = True
    ) -> Pushed:
        """Push an image: its layer blobs (bytes, media type), its config, then an OCI or Docker schema2 manifest."""
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json"
                if oci
                else "application/vnd.docker.container.image.v1+json",
                "digest": self.push_blob(repository, config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": media_type, "digest": self.push_blob(repository, data), "size": len(data)}
                for data, media_type in layers
            ],
        }
        body = json.dumps(manifest, indent=3).encode()
        media_type = manifest["mediaType"]
        return Pushed(self.push_manifest(repository, tag, body, media_type), len(body), media_type, body)

    def push_index(self, repository: str, tag: str, entries: list[tuple[Pushed, dict]], **extra: object) -> Pushed:
        """Push an OCI image index over already pushed manifests, each with its `platform` object."""
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": pushed.media_type, "digest": pushed.digest, "size": pushed.size, **descriptor}
                for pushed, descriptor in entries
            ],
            **extra,
        }
        body = json.dumps(index).encode()
        return Pushed(self.push_manifest(repository, tag, body, OCI_INDEX), len(body), OCI_INDEX, body)


@dataclass(frozen=True)
class Pushed:
    """A manifest or index as pushed: enough to point at it from an index."""

    digest: str
    size: int
    media_type: str
    body: bytes


class TokenServer:
    """The registry's token endpoint (Docker's token authentication spec), on 127.0.0.1.

    GET /token with optional Basic auth grants what the account may do: `pusher` pulls and pushes, `reader`
    pulls, anonymous callers pull repositories under `public/`, wrong passwords get 401. POST /token answers the
    OAuth2 refresh-token grant for the identity tokens in REFRESH_TOKENS. Requests are recorded in `requests`.
    """

    def __init__(self, directory: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TOKEN_ISSUER)])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        self.certificate_path = directory / "token-signer.pem"
        self.certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        self.requests: list[tuple[str, dict[str, str], str | None]] = []
        """(method, parameters, account) of every token request."""
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def start(self) -> TokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _key_id(self) -> str:
        """libtrust's key id: base32 of the first 240 bits of the SHA-256 of the DER public key, in groups of 4."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
        return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))

    def mint(self, account: str, access: list[dict]) -> str:
        """A JWT for `account` granting `access` (the registry's `access` claim)."""
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "kid": self._key_id()}
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": account,
            "aud": TOKEN_SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def grant(self, account: str | None, scopes: list[str]) -> list[dict]:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":") if scope.count(":") == 2 else ("", "", "")
            if kind != "repository":
                continue
            allowed = {"pusher": {"pull", "push"}, "reader": {"pull"}}.get(account or "", set())
            if account is None and name.startswith("public/"):
                allowed = {"pull"}
            granted = [action for action in actions.split(",") if action in allowed]
            access.append({"type": "repository", "name": name, "actions": granted})
        return access

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                account = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    if BASIC_USERS.get(user) != password:
                        server.requests.append(("GET", {k: v[0] for k, v in query.items()}, user))
                        self._answer(401, {"details": "incorrect username or password"})
                        return
                    account = user
                server.requests.append(("GET", {k: v[0] for k, v in query.items()}, account))
                token = server.mint(account or "", server.grant(account, query.get("scope", [])))
                self._answer(200, {"token": token, "access_token": token, "expires_in": 300})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
                account = REFRESH_TOKENS.get(form.get("refresh_token", ""))
                server.requests.append(("POST", {k: v for k, v in form.items() if k != "refresh_token"}, account))
                if form.get("grant_type") != "refresh_token" or account is None:
                    self._answer(400, {"error": "invalid_grant"})
                    return
                token = server.mint(account, server.grant(account, form.get("scope", "").split()))
                self._answer(200, {"access_token": token, "expires_in": 300, "scope": form.get("scope", "")})

        return Handler


def _base_config(server: RegistryServer) -> dict:
    return {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(server.directory / "storage")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"{server.address}", "secret": secrets.token_hex(16)},
    }


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """An anonymous registry, plain HTTP on 127.0.0.1."""
    directory = tmp_path_factory.mktemp("registry")
    server = RegistryServer("127.0.0.1", free_port("127.0.0.1"), directory)
    try:
        yield server.start(_base_config(server))
    finally:
        server.stop()


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry on HTTPS [::1] with Basic auth for BASIC_USERS; its CA is in `ca_pem`."""
    htpasswd = require_tool("htpasswd")
    directory = tmp_path_factory.mktemp("basic-registry")
    lines = [
        subprocess.run([htpasswd, "-nbB", user, password], check=True, capture_output=True, text=True).stdout.strip()
        for user, password in BASIC_USERS.items()
    ]
    (directory / "htpasswd").write_text("\n".join(lines) + "\n")
    certificate = issue_certificate(("::1", "127.0.0.1", "localhost"))
    (directory / "server.crt").write_bytes(certificate.cert_pem + certificate.ca_pem)
    (directory / "server.key").write_bytes(certificate.key_pem)
    server = RegistryServer("::1", free_port("::1"), directory, scheme="https", ca_pem=certificate.ca_pem)
    user, password = "pusher", BASIC_USERS["pusher"]
    server.push_authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    config = _base_config(server)
    config["http"]["tls"] = {"certificate": str(directory / "server.crt"), "key": str(directory / "server.key")}
    config["auth"] = {"htpasswd": {"realm": "kubeward-test", "path": str(directory / "htpasswd")}}
    try:
        yield server.start(config)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry on plain HTTP 127.0.0.1 with bearer-token auth; its token server is `token_server`."""
    directory = tmp_path_factory.mktemp("token-registry")
    token_server = TokenServer(directory).start()
    server = RegistryServer("127.0.0.1", free_port("127.0.0.1"), directory, token_server=token_server)
    config = _base_config(server)
    config["auth"] = {
        "token": {
            "realm": token_server.realm,
            "service": TOKEN_SERVICE,
            "issuer": TOKEN_ISSUER,
            "rootcertbundle": str(token_server.certificate_path),
        }
    }
    try:
        yield server.start(config)
    finally:
        server.stop()
