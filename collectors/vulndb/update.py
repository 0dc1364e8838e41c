"""Download the OSV dumps of the ecosystems in use and import them: `kubeward db update`.

Each ecosystem's top-level `all.zip` is fetched, never a per-release folder
(`Debian:12/all.zip`): those stopped updating in 2024, while the top-level dump
holds every release and the matcher filters on each record's own affected
ecosystem. All dumps are downloaded first, into a private temporary directory,
and imported together only when every one arrived, so a failed download leaves
the previous database exactly as it was; the downloads are deleted either way.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit

import msgspec
import urllib3

from audit.images import ImageInventory
from collectors.vulndb.database import ImportProgress, ImportResult, VulnDBError, import_osv
from collectors.vulndb.scan import OS_FAMILIES, os_family

OSV_BASE_URL = "https://osv-vulnerabilities.storage.googleapis.com"
OSV_ECOSYSTEMS = ("Debian", "Ubuntu", "Alpine", "Red Hat", "Rocky Linux", "AlmaLinux", "SUSE", "openSUSE",
                  "PyPI", "npm", "Go", "Maven")
"""The top-level OSV ecosystems kubeward matches, in the order they are downloaded and listed.

Each is a folder of the OSV bucket (`Red Hat/all.zip`, `Rocky Linux/all.zip`), spelled as the osv-schema
ecosystem list spells it; the records inside carry the release (`Rocky Linux:9`, `openSUSE:Leap 15.6`)."""
MAX_DOWNLOAD_BYTES = 2 * 1024**3
"""A dump larger than this is refused: the largest (Debian) is a few hundred MB."""
CHUNK_BYTES = 1024 * 1024

# Connection failures and gateway errors are worth another try; a 404, a 403 or a bad certificate is not.
_RETRIES = urllib3.Retry(total=3, connect=3, read=2, status=3, other=0, redirect=0, backoff_factor=0.5,
                         status_forcelist=(429, 500, 502, 503, 504), allowed_methods=("GET",),
                         raise_on_status=False, raise_on_redirect=False, respect_retry_after_header=False)

# Package kind (as the image scan names it) → OSV ecosystem, for kinds whose ecosystem does not depend on the OS.
_KIND_ECOSYSTEMS = {"apk": "Alpine", "pypi": "PyPI", "npm": "npm", "golang": "Go", "maven": "Maven"}


def ecosystems_in_use(images: Sequence[ImageInventory]) -> list[str]:
    """The top-level OSV ecosystems whose dumps the images' packages need, in `OSV_ECOSYSTEMS` order.

    `deb` and `rpm` packages go by the image's os-release id; a package of an OS kubeward cannot map
    (no os-release, Amazon Linux …) needs nothing, since the matcher could not use the data either.
    """
    needed: set[str] = set()
    for image in images:
        family = os_family(image.os_release) if image.os_release is not None else ""
        os_kind, os_ecosystem = OS_FAMILIES.get(family, ("", ""))
        for attributed in image.packages:
            kind = attributed.package.ecosystem
            ecosystem = _KIND_ECOSYSTEMS.get(kind) or (os_ecosystem if kind == os_kind else None)
            if ecosystem is not None:
                needed.add(ecosystem)
    return [e for e in OSV_ECOSYSTEMS if e in needed]


def dump_url(base_url: str, ecosystem: str) -> str:
    """The URL of an ecosystem's top-level `all.zip` (`Red Hat` → `…/Red%20Hat/all.zip`)."""
    return f"{base_url.rstrip('/')}/{quote(ecosystem, safe='')}/all.zip"


def update_database(
    db_path: Path,
    ecosystems: Iterable[str],
    *,
    base_url: str = OSV_BASE_URL,
    timeout: float = 120.0,
    workdir: Path | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
) -> ImportResult:
    """Download each ecosystem's OSV `all.zip` from `base_url` and rebuild the database at `db_path` from them.

    `timeout` bounds connecting and each wait for data (a stalled server), in seconds. Downloads go to a
    temporary directory inside `workdir` (default: beside `db_path`) and are deleted afterwards. Raises
    `VulnDBError` naming the ecosystem and the cause when a download fails; nothing is imported then.
    A problem record in the result names the dump's URL as its source. `progress` is passed to `import_osv`.
    """
    wanted = list(dict.fromkeys(ecosystems))
    if not wanted:
        raise VulnDBError("no ecosystem to download")
    scheme = urlsplit(base_url).scheme
    if scheme not in ("https", "http"):
        raise VulnDBError(f"the OSV base URL must be https:// (or http:// for a local mirror): {base_url}")
    db_path = Path(db_path)
    parent = Path(workdir) if workdir is not None else db_path.parent
    parent.mkdir(parents=True, exist_ok=True)
    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", retries=_RETRIES,
                               timeout=urllib3.Timeout(connect=timeout, read=timeout),
                               headers={"User-Agent": "kubeward"})
    with http, tempfile.TemporaryDirectory(dir=parent, prefix=f".{db_path.name}.download-") as temp:
        downloads: dict[str, str] = {}
        for index, ecosystem in enumerate(wanted):
            url = dump_url(base_url, ecosystem)
            target = Path(temp) / f"{index:02d}.zip"
            _download(http, ecosystem, url, target)
            downloads[str(target)] = url
        result = import_osv(list(downloads), db_path, progress=progress)
    # The temporary paths are gone; the URL says where a skipped record came from.
    problems = tuple(msgspec.structs.replace(p, source=downloads.get(p.source, p.source)) for p in result.problems)
    return msgspec.structs.replace(result, problems=problems)


def _download(http: urllib3.PoolManager, ecosystem: str, url: str, target: Path) -> None:
    """Stream `url` into `target`, or raise a one-line `VulnDBError` naming the ecosystem and the cause."""
    try:
        response = http.request("GET", url, preload_content=False, redirect=False)
    except urllib3.exceptions.MaxRetryError as error:
        raise VulnDBError(f"{ecosystem}: cannot download {url}: {_cause(error.reason or error)}") from error
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise VulnDBError(f"{ecosystem}: cannot download {url}: {_cause(error)}") from error
    try:
        if response.status != 200:
            raise VulnDBError(f"{ecosystem}: cannot download {url}: HTTP {response.status} {response.reason or ''}"
                              .rstrip())
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > MAX_DOWNLOAD_BYTES:
            raise VulnDBError(f"{ecosystem}: {url} is {length} bytes, over the {MAX_DOWNLOAD_BYTES}-byte limit")
        received = 0
        with open(target, "wb") as out:
            for chunk in response.stream(CHUNK_BYTES):
                received += len(chunk)
                if received > MAX_DOWNLOAD_BYTES:
                    raise VulnDBError(f"{ecosystem}: {url} exceeds the {MAX_DOWNLOAD_BYTES}-byte limit")
                out.write(chunk)
    except (urllib3.exceptions.HTTPError, OSError) as error:
        # A stall or a dropped connection mid-body: urllib3 does not retry once the body is streaming.
        raise VulnDBError(f"{ecosystem}: download of {url} failed: {_cause(error)}") from error
    except BaseException:
        # Not drained: a stalled server would make us wait once more. The pool is discarded after the update.
        response.close()
        raise
    response.release_conn()
    if not zipfile.is_zipfile(target):
        raise VulnDBError(f"{ecosystem}: {url} did not return a zip archive")


def _cause(error: BaseException) -> str:
    """A short, single-line reason for a network error."""
    if isinstance(error, urllib3.exceptions.NameResolutionError):
        return "cannot resolve the host name"
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        # A subclass of the connect timeout, and its text starts with the connection object's repr.
        return "cannot connect: " + str(error).rsplit(": ", 1)[-1]
    if isinstance(error, urllib3.exceptions.SSLError):
        return "TLS failed: " + " ".join(str(error).split())
    if isinstance(error, urllib3.exceptions.TimeoutError):
        return "timed out"
    if isinstance(error, urllib3.exceptions.ResponseError):
        # Retries exhausted on 5xx: urllib3 says "too many 503 error responses".
        return str(error)
    text = " ".join(str(error).split())
    return text or type(error).__name__
