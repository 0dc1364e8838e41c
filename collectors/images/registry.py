"""Read images from an OCI/Docker registry over the distribution API.

`RegistryClient.read_image` resolves a reference the way Docker does, fetches
the manifest (following an image index / manifest list to the platform of the
node that runs the pod), checks every digest it can, reads the image config,
and streams each layer blob straight into the layer scanner without touching
the disk.

Transport, as Docker does it:

- HTTPS with the system CA store (plus an optional CA file). A registry named in
  `insecure` (as `host[:port]` or a CIDR), or on 127.0.0.0/8 or named
  `localhost` (Docker's default insecure range; Docker resolves names, this
  client only treats the literal `localhost` so), is tried over HTTPS without
  certificate checks first and over plain HTTP after that. `[::1]` is not in
  Docker's default range, so it stays secure.
- Auth: anonymous first; a 401 with a `Bearer` challenge → a token from the
  realm (with Basic credentials when there are some, or the OAuth2
  refresh-token grant for an `identitytoken`); a `Basic` challenge → Basic.
  Credentials come from `~/.docker/config.json`: `credHelpers`, `credsStore`
  (both by running `docker-credential-<helper> get`), then `auths`.
- Explicit connect/read timeouts and a few retries (connection errors, 429 and
  5xx) with a short back-off; `Retry-After` is not honoured, so a read stays
  bounded in time.

Every failure becomes an `ImageSourceError` whose reason is one line that says
what went wrong: unauthorized, not found, TLS failure, timeout, registry down,
digest mismatch, unsupported media type.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import ipaddress
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    InsecureRequestWarning,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import Retry

from audit.images import LayerInventory
from collectors.images.manifest import (
    BASE_DIGEST,
    BASE_NAME,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    IMAGE_CONFIG_TYPES,
    INDEX_TYPES,
    JSON_LIMIT,
    MANIFEST_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    ImageSourceError,
    ManifestError,
    Platform,
    ReadImage,
    align_history,
    looks_like_index,
    one_line,
    parse_config,
    parse_index,
    parse_manifest,
    select_manifest,
    trailing_steps,
)

SCHEMA1_MANIFESTS = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    }
)
FOREIGN_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
"""Layers that live outside the registry (Windows base layers): not fetched, noted."""
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_CREDENTIALS_KEY = "https://index.docker.io/v1/"
"""The key Docker stores Docker Hub credentials under, in `auths` and for credential helpers."""

TOKEN_LIMIT = 1 << 20
ERROR_BODY_LIMIT = 64 << 10
VERIFY_DRAIN_LIMIT = 1 << 20
"""When the scanner stops before the end of a layer, up to this many remaining bytes are read to check its digest."""
USER_AGENT = "kubeward"

NodePlatform = tuple[str, str, str | None]
"""(os, architecture, variant or None), as Kubernetes reports a node: `("linux", "arm64", None)`."""


class LayerCacheLookup(Protocol):
    """What the client asks of the layer cache: is this layer's inventory known already?"""

    def has(self, digest: str) -> bool: ...


LayerScan = Callable[..., LayerInventory]
"""`scan(stream, *, digest=...)`: the layer scanner with its limits bound."""


class _Failure(Exception):
    """A reason the image cannot be read; `read_image` turns it into ImageSourceError for the reference."""


# --- references -------------------------------------------------------------------------------------------------

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_HEX_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
_NAME_LIMIT = 255


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A normalised image reference: `docker.io/library/nginx:latest`."""

    registry: str
    """`docker.io`, `quay.io`, `registry:5000`, `[::1]:5000`."""
    repository: str
    """`library/nginx`."""
    tag: str | None = None
    digest: str | None = None
    """When set it wins over the tag: that is what is pulled."""

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def manifest_reference(self) -> str:
        """What goes after `/manifests/`: the digest if there is one, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(reference: str) -> ImageReference:
    """Parse and normalise an image reference exactly as Docker does (`ParseNormalizedNamed`).

    `nginx` → docker.io/library/nginx:latest; the first path component is a registry only when it has a `.` or
    a `:`, is `localhost`, or has upper-case letters; `index.docker.io` is `docker.io`. Raises ValueError.
    """
    if _HEX_IDENTIFIER.fullmatch(reference):
        raise ValueError(f"invalid reference {reference!r}: a 64-character hex string is an image ID, not a name")
    slash = reference.find("/")
    first = reference[:slash]
    if slash == -1 or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        registry, remainder = DOCKER_HUB, reference
    else:
        registry, remainder = first, reference[slash + 1 :]
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    repository_part = remainder.split(":", 1)[0]
    if repository_part.lower() != repository_part:
        raise ValueError(f"invalid reference {reference!r}: repository name must be lowercase")
    match = _REFERENCE.fullmatch(f"{registry}/{remainder}")
    if match is None:
        raise ValueError(f"invalid reference format: {reference!r}")
    if len(match["name"]) > _NAME_LIMIT:
        raise ValueError(f"invalid reference {reference!r}: repository name longer than {_NAME_LIMIT} characters")
    repository = match["name"][len(registry) + 1 :]
    tag, digest = match["tag"], match["digest"]
    return ImageReference(registry, repository, tag if tag or digest else "latest", digest)


# --- platforms --------------------------------------------------------------------------------------------------


def wanted_platform(platform: NodePlatform | None) -> Platform:
    """The node's (os, architecture, variant) as a manifest Platform; linux/amd64 when unknown."""
    if platform is None:
        return Platform("linux", "amd64")
    system, architecture, variant = platform
    return Platform(system, architecture, variant or "")


def choose_manifest(entries: list[Descriptor], platform: NodePlatform | None) -> Descriptor:
    """The index entry that runs on the node. With no variant asked for, an entry without one (or with the
    architecture's default, arm/v7) goes first, as containerd prefers it. Raises _Failure."""
    want = wanted_platform(platform)
    default_variant = {"arm": "v7", "arm64": "v8"}.get(want.architecture, "")
    preferred = sorted(
        entries, key=lambda entry: entry.platform is not None and entry.platform.variant not in ("", default_variant)
    )
    chosen = select_manifest(preferred, want)
    if chosen is None:
        offered = sorted({str(e.platform) for e in entries if e.platform is not None and not e.is_attestation})
        raise _Failure(f"no {want} image in the index (it has {', '.join(offered) or 'no platforms'})")
    return chosen


# --- credentials ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    """A login for one registry: a user and password, or an OAuth2 refresh token (`identitytoken`)."""

    username: str = ""
    password: str = ""
    identity_token: str = ""

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def _hostname_of_key(key: str) -> str:
    """Docker's ConvertToHostname: `https://host:5000/v1/` → `host:5000`."""
    for scheme in ("http://", "https://"):
        if key.startswith(scheme):
            key = key[len(scheme) :]
    return key.split("/", 1)[0]


def default_docker_config() -> Path:
    """Where the Docker CLI keeps its config: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`."""
    directory = os.environ.get("DOCKER_CONFIG")
    return Path(directory) / "config.json" if directory else Path.home() / ".docker" / "config.json"


class DockerCredentialStore:
    """Credentials from a Docker client config file, read once when first needed."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._config: dict | None = None
        self._found: dict[str, Credentials | None] = {}
        self._lock = threading.Lock()

    def _load(self) -> dict:
        with self._lock:
            if self._config is None:
                try:
                    loaded = json.loads(self.path.read_text())
                except FileNotFoundError:
                    loaded = {}
                except (OSError, ValueError) as exc:
                    raise _Failure(f"cannot read {self.path}: {one_line(exc)}") from None
                self._config = loaded if isinstance(loaded, dict) else {}
            return self._config

    def lookup(self, registry: str) -> Credentials | None:
        """The login for `registry` (as in a reference: `docker.io`, `host:5000`), or None for anonymous.
        Remembered per registry, so a credential helper runs once."""
        with self._lock:
            if registry in self._found:
                return self._found[registry]
        found = self._find(registry)
        with self._lock:
            self._found[registry] = found
        return found

    def _find(self, registry: str) -> Credentials | None:
        config = self._load()
        key = DOCKER_HUB_CREDENTIALS_KEY if registry == DOCKER_HUB else registry
        helpers = config.get("credHelpers") or {}
        helper = helpers.get(key) or helpers.get(registry) or config.get("credsStore")
        if helper:
            return self._from_helper(str(helper), key)
        aliases = {registry} | ({"docker.io", "index.docker.io", DOCKER_HUB_API} if registry == DOCKER_HUB else set())
        for entry_key, entry in (config.get("auths") or {}).items():
            if (entry_key == key or _hostname_of_key(entry_key) in aliases) and isinstance(entry, dict):
                return self._from_entry(entry_key, entry)
        return None

    def _from_entry(self, key: str, entry: dict) -> Credentials | None:
        username, password = entry.get("username") or "", entry.get("password") or ""
        if entry.get("auth"):
            try:
                username, separator, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, TypeError):
                separator = ""
            if not separator:
                raise _Failure(f"malformed credentials for {key} in {self.path}: `auth` is not base64 of user:password")
        token = entry.get("identitytoken") or ""
        if not (username or password or token):
            return None
        return Credentials(username, password, token)

    def _from_helper(self, helper: str, server: str) -> Credentials | None:
        program = f"docker-credential-{helper}"
        path = shutil.which(program)
        if path is None:
            raise _Failure(f"credential helper {program} (named in {self.path}) is not installed")
        try:
            done = subprocess.run(
                [path, "get"], input=server, capture_output=True, text=True, timeout=self.timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise _Failure(f"credential helper {program} did not answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise _Failure(f"credential helper {program} could not run: {one_line(exc)}") from None
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()
            if "credentials not found" in output.lower():
                return None
            raise _Failure(f"credential helper {program} failed: {one_line(output) or f'exit {done.returncode}'}")
        try:
            answer = json.loads(done.stdout)
            username, secret = str(answer.get("Username") or ""), str(answer.get("Secret") or "")
        except (ValueError, AttributeError):
            raise _Failure(f"credential helper {program} printed something that is not its JSON answer") from None
        if username == "<token>":
            return Credentials(identity_token=secret)
        return Credentials(username, secret)


# --- transport --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    """A `WWW-Authenticate` challenge: `Bearer realm=…,service=…,scope=…` or `Basic realm=…`."""

    scheme: str
    """Lower case: `bearer` or `basic`."""
    parameters: dict[str, str]


_CHALLENGE_PARAMETER = re.compile(r'([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def parse_challenge(header: str | None) -> Challenge | None:
    """The first challenge of a `WWW-Authenticate` header (registries send one)."""
    if not header or not header.strip():
        return None
    scheme, _, rest = header.strip().partition(" ")
    parameters = {}
    for match in _CHALLENGE_PARAMETER.finditer(rest):
        name, quoted, bare = match.groups()
        parameters[name.lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return Challenge(scheme.lower(), parameters)


@dataclass
class _Endpoint:
    """How one registry is reached: its base URL, the pool to use, and how it challenges."""

    base_url: str
    pool: urllib3.PoolManager
    challenge: Challenge | None


def _host_of(registry: str) -> str:
    """`[::1]:5000` → `::1`; `registry:5000` → `registry`."""
    if registry.startswith("["):
        return registry[1 : registry.index("]")]
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def describe_transport_error(error: BaseException, host: str, timeout: float) -> str:
    """One line for a urllib3 failure: registry down, timeout, TLS failure, broken connection."""
    reason = error.reason if isinstance(error, MaxRetryError) and error.reason is not None else error
    if isinstance(reason, NameResolutionError):
        return f"registry down: cannot resolve {host}"
    if isinstance(reason, NewConnectionError):
        detail = "connection refused" if "refused" in str(reason).lower() else one_line(reason, 120)
        return f"registry down: cannot connect to {host} ({detail})"
    if isinstance(reason, ConnectTimeoutError):
        return f"timeout: no connection to {host} within {timeout:g} s"
    if isinstance(reason, ReadTimeoutError):
        return f"timeout: {host} sent nothing for {timeout:g} s"
    if isinstance(reason, SSLError):
        detail = str(reason.args[0]) if reason.args else str(reason)
        return f"TLS failure talking to {host}: {one_line(detail, 160)}"
    if isinstance(reason, ProtocolError):
        return f"connection to {host} broke: {one_line(reason, 160)}"
    return f"cannot talk to {host}: {one_line(reason, 160)}"


def _registry_error(response: urllib3.BaseHTTPResponse) -> str:
    """The first `errors[]` entry of a registry error body, as `CODE: message`, or ''."""
    try:
        body = json.loads(response.read(ERROR_BODY_LIMIT) or b"{}")
        first = (body.get("errors") or [{}])[0]
        return one_line(": ".join(str(part) for part in (first.get("code"), first.get("message")) if part), 160)
    except (ValueError, AttributeError, TypeError, IndexError, HTTPError):
        return ""
    finally:
        response.release_conn()


# --- digests ----------------------------------------------------------------------------------------------------

_DIGEST_ALGORITHMS = {"sha256": 64, "sha512": 128}


def _hasher(digest: str) -> Any:
    algorithm, _, encoded = digest.partition(":")
    if _DIGEST_ALGORITHMS.get(algorithm) != len(encoded) or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise _Failure(f"unsupported or malformed digest {one_line(digest, 100)}")
    return hashlib.new(algorithm)


def _digest_of(data: bytes, like: str = "sha256:") -> str:
    """The digest of `data` with the algorithm of `like` (a digest already checked by `_hasher`)."""
    algorithm = like.partition(":")[0]
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def _is_digest(text: str | None) -> bool:
    try:
        _hasher(text or "")
    except _Failure:
        return False
    return True


class VerifyingStream(io.RawIOBase):
    """A layer blob's HTTP body, hashed as it is read and cut at the size the manifest declares.

    A transport error is kept in `failure` (and re-raised to the reader), so a scanner that records read errors
    instead of raising cannot hide a broken download.
    """

    def __init__(self, response: urllib3.BaseHTTPResponse, digest: str, size: int) -> None:
        super().__init__()
        self._response = response
        self._hash = _hasher(digest)
        self._remaining = size
        self.read_bytes = 0
        self.at_end = False
        """The body ended (or the declared size was reached)."""
        self.failure: HTTPError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._remaining <= 0:
            self.at_end = True
            return 0
        view = memoryview(buffer).cast("B")[: self._remaining]
        try:
            chunk = self._response.read(len(view))
        except HTTPError as exc:
            self.failure = exc
            raise
        count = len(chunk)
        if count == 0:
            self.at_end = True
            return 0
        view[:count] = chunk
        self._hash.update(chunk)
        self._remaining -= count
        self.read_bytes += count
        return count

    def drain(self, limit: int) -> bool:
        """Read what is left if it is at most `limit` bytes; True when the whole blob has been read."""
        if self._remaining > limit:
            return self.at_end
        while not self.at_end:
            self.readinto(bytearray(min(max(self._remaining, 1), 1 << 16)))
        return True

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


# --- the client -------------------------------------------------------------------------------------------------


class RegistryClient:
    """Reads images from OCI/Docker registries. Thread-safe: one client serves every image source worker."""

    def __init__(
        self,
        *,
        insecure: Iterable[str] = frozenset(),
        docker_config: Path | None = None,
        timeout: float = 30.0,
        ca_file: Path | None = None,
        retries: int = 2,
    ) -> None:
        self.insecure = frozenset(insecure)
        """Registries (`host[:port]`) or networks (CIDR) that may be reached over plain HTTP or unverified TLS."""
        self.timeout = timeout
        self.credentials = DockerCredentialStore(
            docker_config or default_docker_config(), timeout=timeout
        )
        self._retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            redirect=5,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET", "HEAD", "POST"}),
            backoff_factor=0.2,
            backoff_max=2.0,
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        self._http_timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._verified = urllib3.PoolManager(
            num_pools=32,
            maxsize=8,
            retries=self._retry,
            timeout=self._http_timeout,
            cert_reqs="CERT_REQUIRED",
            ca_certs=str(ca_file) if ca_file else None,
        )
        self._unverified: urllib3.PoolManager | None = None
        self._endpoints: dict[str, _Endpoint] = {}
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._verified.clear()
        if self._unverified is not None:
            self._unverified.clear()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- public ---------------------------------------------------------------------------------------------------

    def read_image(
        self,
        reference: str,
        *,
        platform: NodePlatform | None = None,
        scan: LayerScan,
        cache: LayerCacheLookup | None = None,
    ) -> ReadImage:
        """Read `reference` for `platform` (the node's; default linux/amd64) and scan every layer that `cache`
        does not already have. Raises ImageSourceError with a one-line reason."""
        try:
            image = parse_reference(reference)
        except ValueError as exc:
            raise ImageSourceError(reference, str(exc)) from None
        host = _host_of(self._api_registry(image.registry))
        try:
            return self._read(reference, image, platform, scan, cache)
        except _Failure as failure:
            raise ImageSourceError(reference, str(failure)) from None
        except HTTPError as error:
            raise ImageSourceError(reference, describe_transport_error(error, host, self.timeout)) from None

    def allows_plain_http(self, registry: str) -> bool:
        """Whether `registry` may be reached without verified TLS: named in `insecure` (exactly, or inside a CIDR
        there), on 127.0.0.0/8, or `localhost` — Docker's rules for insecure registries."""
        if registry in self.insecure:
            return True
        host = _host_of(registry)
        if host == "localhost":
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if address in ipaddress.ip_network("127.0.0.0/8"):
            return True
        for entry in self.insecure:
            with contextlib.suppress(ValueError):
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
        return False

    # -- reading --------------------------------------------------------------------------------------------------

    def _read(
        self,
        reference: str,
        image: ImageReference,
        platform: NodePlatform | None,
        scan: LayerScan,
        cache: LayerCacheLookup | None,
    ) -> ReadImage:
        top_digest, raw, is_index = self._fetch_manifest(image, image.manifest_reference, image.digest)
        manifest_digest = top_digest
        chosen_annotations: dict[str, str] = {}
        for _depth in range(4):  # an index may point at an index; deeper nesting is no real image
            if not is_index:
                break
            chosen = choose_manifest(_parsed(parse_index, raw, f"index {manifest_digest}"), platform)
            chosen_annotations = chosen.annotations
            manifest_digest, raw, is_index = self._fetch_manifest(image, chosen.digest, chosen.digest)
        else:
            raise _Failure("unsupported media type: indexes nested more than four deep")
        manifest = _parsed(parse_manifest, raw, f"manifest {manifest_digest}")
        if manifest.config.media_type and manifest.config.media_type not in IMAGE_CONFIG_TYPES:
            raise _Failure(f"unsupported media type: not a container image (config is {manifest.config.media_type})")
        config_raw = self._fetch_small_blob(image, manifest.config, "config")
        parsed = _parsed(parse_config, config_raw, f"config {manifest.config.digest}")

        digests = [layer.digest for layer in manifest.layers]
        layers, errors = align_history(parsed.history, digests)
        diff_ids = parsed.diff_ids if len(parsed.diff_ids) == len(digests) else ()
        if parsed.diff_ids and not diff_ids:
            errors.append(f"manifest lists {len(digests)} layers but the config has {len(parsed.diff_ids)} diff ids")
        inventories: list[LayerInventory | None] = []
        for layer in manifest.layers:
            inventory = None
            if layer.media_type in FOREIGN_LAYERS:
                errors.append(f"layer {layer.digest} not read: a foreign layer, kept outside the registry")
            elif cache is None or not cache.has(layer.digest):
                inventory, note = self._scan_layer(image, layer, scan)
                if note:
                    errors.append(note)
            inventories.append(inventory)
        base_digest = base_name = ""
        # the base image, as buildx and others annotate it; a label is the older habit
        for source in (manifest.annotations, chosen_annotations, parsed.config.labels):
            base_digest = base_digest or source.get(BASE_DIGEST, "")
            base_name = base_name or source.get(BASE_NAME, "")
        return ReadImage(
            digest=image.digest or top_digest,
            references=(reference,),
            config=parsed.config,
            layers=layers,
            layer_inventories=inventories,
            base_digest=base_digest,
            base_name=base_name,
            errors=errors,
            config_digest=manifest.config.digest,
            diff_ids=diff_ids,
            trailing_steps=trailing_steps(parsed.history),
        )

    def _fetch_manifest(self, image: ImageReference, reference: str, expected: str | None) -> tuple[str, bytes, bool]:
        """(digest, bytes, whether it is an index) of a manifest or index, its digest checked: against the digest
        asked for, else against the `Docker-Content-Digest` the registry announces."""
        if expected is not None:
            _hasher(expected)
        what = f"manifest {image.name}{'@' if ':' in reference else ':'}{reference}"
        response = self._get(image, f"/manifests/{reference}", accept=MANIFEST_ACCEPT)
        if response.status != 200:
            raise _Failure(self._status_reason(image, response, what))
        raw = _read_limited(response, JSON_LIMIT, what)
        announced = response.headers.get("Docker-Content-Digest")
        announced = announced if _is_digest(announced) else None
        reference_digest = expected or announced
        if reference_digest is not None:
            digest = _digest_of(raw, reference_digest)
            if digest != reference_digest:
                source = "asked for" if expected else "registry announced"
                raise _Failure(f"digest mismatch: {what} is {digest}, {source} {reference_digest}")
        else:
            digest = _digest_of(raw)
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type in SCHEMA1_MANIFESTS or re.search(rb'"schemaVersion"\s*:\s*1\b', raw[:4096]):
            raise _Failure(
                "unsupported media type: Docker schema 1 manifest (deprecated; push the image again with Docker 1.10+)"
            )
        if content_type in INDEX_TYPES or content_type in MANIFEST_TYPES:
            return digest, raw, content_type in INDEX_TYPES
        if looks_like_index(raw):
            return digest, raw, True
        try:
            parse_manifest(raw)
        except ManifestError:
            raise _Failure(f"unsupported media type: {one_line(content_type or 'none', 100)} for {what}") from None
        return digest, raw, False

    def _fetch_small_blob(self, image: ImageReference, descriptor: Descriptor, what: str) -> bytes:
        """A blob read whole (the config), its digest checked."""
        digest = descriptor.digest
        if descriptor.size > JSON_LIMIT:
            raise _Failure(f"{what} {digest} is {descriptor.size} bytes, more than the {JSON_LIMIT} read at most")
        response = self._get(image, f"/blobs/{digest}")
        if response.status != 200:
            raise _Failure(self._status_reason(image, response, f"{what} blob {digest}"))
        data = _read_limited(response, JSON_LIMIT, f"{what} blob {digest}")
        if _digest_of(data, digest) != digest:
            raise _Failure(f"digest mismatch: {what} blob {digest} has content {_digest_of(data, digest)}")
        return data

    def _scan_layer(self, image: ImageReference, layer: Descriptor, scan: LayerScan) -> tuple[LayerInventory, str]:
        """Stream one layer blob into `scan`, checking its digest; (inventory, a note when it could not be)."""
        digest = layer.digest
        response = self._get(image, f"/blobs/{digest}")
        if response.status != 200:
            raise _Failure(self._status_reason(image, response, f"layer blob {digest}"))
        stream = VerifyingStream(response, digest, layer.size)
        complete = False
        try:
            # buffered: scanners read small pieces and may peek at the compression magic
            buffered = io.BufferedReader(stream, buffer_size=1 << 16)
            inventory = scan(buffered, digest=digest)
            if stream.failure is not None:
                raise stream.failure
            complete = stream.drain(VERIFY_DRAIN_LIMIT)
        finally:
            if complete:
                response.release_conn()
            else:
                response.close()  # unread data on the connection: never hand it back to the pool
        if not complete:
            left = layer.size - stream.read_bytes
            return inventory, f"layer {digest} not verified: the scanner stopped {left} bytes before its end"
        if stream.read_bytes != layer.size:
            raise _Failure(f"layer blob {digest} truncated: got {stream.read_bytes} of {layer.size} bytes")
        if stream.hexdigest() != digest.partition(":")[2]:
            raise _Failure(f"digest mismatch: layer blob {digest} has other content")
        return inventory, ""

    # -- HTTP -----------------------------------------------------------------------------------------------------

    def _api_registry(self, registry: str) -> str:
        return DOCKER_HUB_API if registry == DOCKER_HUB else registry

    def _pool(self, verified: bool) -> urllib3.PoolManager:
        if verified:
            return self._verified
        with self._lock:
            if self._unverified is None:
                # the user named this registry insecure; the warning would only scribble over the TUI
                warnings.filterwarnings("ignore", category=InsecureRequestWarning)
                self._unverified = urllib3.PoolManager(
                    num_pools=32,
                    maxsize=8,
                    retries=self._retry,
                    timeout=self._http_timeout,
                    cert_reqs="CERT_NONE",
                    assert_hostname=False,
                )
            return self._unverified

    def _endpoint(self, registry: str) -> _Endpoint:
        """Find how to reach a registry (Docker's ping of `/v2/`) once per client."""
        with self._lock:
            known = self._endpoints.get(registry)
        if known is not None:
            return known
        api = self._api_registry(registry)
        if not self.allows_plain_http(registry):
            endpoint = self._ping(f"https://{api}", self._verified, retries=None)
        else:
            try:
                endpoint = self._ping(f"https://{api}", self._pool(verified=False), retries=False)
            except HTTPError:
                endpoint = self._ping(f"http://{api}", self._verified, retries=None)
        with self._lock:
            self._endpoints.setdefault(registry, endpoint)
            return self._endpoints[registry]

    def _ping(self, base_url: str, pool: urllib3.PoolManager, retries: bool | None) -> _Endpoint:
        response = pool.request(
            "GET", f"{base_url}/v2/", headers={"User-Agent": USER_AGENT}, retries=retries, preload_content=False
        )
        response.drain_conn()
        response.release_conn()
        if response.status >= 500:
            raise _Failure(f"registry error: {base_url} answered HTTP {response.status} to /v2/")
        challenge = parse_challenge(response.headers.get("WWW-Authenticate")) if response.status == 401 else None
        return _Endpoint(base_url, pool, challenge)

    def _get(self, image: ImageReference, path: str, *, accept: str | None = None) -> urllib3.BaseHTTPResponse:
        """GET `/v2/<repository><path>`, authenticating as the registry asks; the response is unread."""
        endpoint = self._endpoint(image.registry)
        url = f"{endpoint.base_url}/v2/{image.repository}{path}"
        scope = f"repository:{image.repository}:pull"
        response: urllib3.BaseHTTPResponse | None = None
        for attempt in range(2):
            headers = {"User-Agent": USER_AGENT}
            if accept:
                headers["Accept"] = accept
            authorization = self._authorization(image.registry, endpoint, scope, renew=attempt > 0)
            if authorization:
                headers["Authorization"] = authorization
            response = endpoint.pool.request("GET", url, headers=headers, preload_content=False, decode_content=False)
            if response.status != 401 or attempt == 1:
                return response
            challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
            if challenge is None or (authorization and challenge == endpoint.challenge and challenge.scheme == "basic"):
                return response  # nothing new to try
            response.drain_conn()
            response.release_conn()
            endpoint.challenge = challenge
            scope = challenge.parameters.get("scope") or scope
        assert response is not None
        return response

    def _authorization(self, registry: str, endpoint: _Endpoint, scope: str, *, renew: bool) -> str | None:
        challenge = endpoint.challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            credentials = self.credentials.lookup(registry)
            return credentials.basic() if credentials and not credentials.identity_token else None
        if challenge.scheme != "bearer":
            raise _Failure(f"unsupported authentication scheme {one_line(challenge.scheme, 40)} from {registry}")
        key = (registry, scope)
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and not renew and cached[1] > time.monotonic():
            return f"Bearer {cached[0]}"
        try:
            token, lifetime = self._fetch_token(registry, challenge, scope)
        except HTTPError as error:
            realm_host = urllib.parse.urlsplit(challenge.parameters.get("realm", "")).hostname or "?"
            reason = describe_transport_error(error, realm_host, self.timeout)
            raise _Failure(f"token service of {registry}: {reason}") from None
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + max(lifetime - 10, 1))
        return f"Bearer {token}"

    def _fetch_token(self, registry: str, challenge: Challenge, scope: str) -> tuple[str, float]:
        """A bearer token for `scope` from the challenge's realm (Docker's token auth, or OAuth2 refresh)."""
        realm = challenge.parameters.get("realm", "")
        parsed = urllib.parse.urlsplit(realm)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise _Failure(f"registry {registry} names a token realm that is not a URL: {one_line(realm, 100)}")
        plain_ok = self.allows_plain_http(parsed.netloc)
        if parsed.scheme == "http" and not plain_ok:
            raise _Failure(f"registry {registry} sends tokens over plain HTTP ({parsed.netloc}); name it insecure")
        pool = self._pool(verified=not plain_ok or parsed.scheme == "http")
        credentials = self.credentials.lookup(registry)
        service = challenge.parameters.get("service", "")
        user = "anonymous access" if credentials is None else f"the credentials of {credentials.username or 'token'}"
        headers = {"User-Agent": USER_AGENT}
        if credentials is not None and credentials.identity_token:
            fields = {
                "grant_type": "refresh_token",
                "refresh_token": credentials.identity_token,
                "service": service,
                "scope": scope,
                "client_id": USER_AGENT,
            }
            response = pool.request(
                "POST", realm, fields=fields, encode_multipart=False, headers=headers, preload_content=False
            )
        else:
            query = urllib.parse.urlencode({"service": service, "scope": scope} if service else {"scope": scope})
            if credentials is not None:
                headers["Authorization"] = credentials.basic()
            url = f"{realm}{'&' if parsed.query else '?'}{query}"
            response = pool.request("GET", url, headers=headers, preload_content=False)
        if response.status in (400, 401, 403):
            detail = _registry_error(response)
            suffix = f" ({detail})" if detail else ""
            raise _Failure(f"unauthorized: the token service of {registry} refused {user}{suffix}")
        if response.status != 200:
            response.drain_conn()
            response.release_conn()
            raise _Failure(f"registry error: the token service of {registry} answered HTTP {response.status}")
        try:
            answer = json.loads(_read_limited(response, TOKEN_LIMIT, "token response"))
            token = answer.get("token") or answer.get("access_token")
            lifetime = float(answer.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            token = None
        if not token or not isinstance(token, str):
            raise _Failure(f"the token service of {registry} answered without a token")
        return token, lifetime

    def _status_reason(self, image: ImageReference, response: urllib3.BaseHTTPResponse, what: str) -> str:
        """One line for a registry's non-200 answer to a GET."""
        status = response.status
        detail = _registry_error(response)
        suffix = f" ({detail})" if detail else ""
        if status in (401, 403):
            credentials = self.credentials.lookup(image.registry)
            who = "anonymous access" if credentials is None else f"user {credentials.username or '(identity token)'}"
            return f"unauthorized: {image.registry} refused {who} to {image.repository}{suffix}"
        if status == 404:
            return f"not found: {what}{suffix}"
        if status == 429:
            return f"rate limited: {image.registry} answered 429 Too Many Requests{suffix}"
        if status >= 500:
            return f"registry error: {image.registry} answered HTTP {status} for {what}{suffix}"
        return f"unexpected HTTP {status} from {image.registry} for {what}{suffix}"


def _read_limited(response: urllib3.BaseHTTPResponse, limit: int, what: str) -> bytes:
    data = response.read(limit + 1)
    if len(data) > limit:
        response.close()
        raise _Failure(f"{what} is larger than {limit} bytes")
    response.release_conn()
    return data


def _parsed(parse: Callable[[bytes, str], Any], raw: bytes, what: str) -> Any:
    """A manifest.py parser's result, its ManifestError as the reason the image cannot be read."""
    try:
        return parse(raw, what)
    except ManifestError as error:
        raise _Failure(f"malformed {error}") from None
