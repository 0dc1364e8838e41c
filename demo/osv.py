"""OSV records for the demo images' packages, written one JSON file per record.

`write_demo_osv(directory)` writes a small offline vulnerability database
source for `kubeward db import`: real CVE identifiers with the affected
ranges and fixed versions their Debian, Alpine, PyPI and npm records give,
in the OSV schema 1.6 shape. Debian and Alpine records are keyed by source
package (openssl, glibc, curl, zlib), as the real feeds are. The summaries
are our own words.

Fixed versions were checked against the Debian security tracker's entries
(bookworm: CVE-2023-5363 3.0.11-1~deb12u2, CVE-2024-5535 3.0.15-1~deb12u1,
CVE-2024-2398 7.88.1-10+deb12u6) and published scanner output for the same
packages; zlib's CVE-2023-45853 is left unfixed in bookworm (minizip is not built).

Against the demo images (`demo.images`) they make a realistic picture: the
Debian 12 openssl 3.0.11-1~deb12u1 is vulnerable to CVE-2023-5363, while its
glibc 2.36-9+deb12u3 already carries the fix for CVE-2023-4911 and its curl
7.88.1-10+deb12u4 the fix for CVE-2023-38545.
"""

from __future__ import annotations

import json
from pathlib import Path

_MODIFIED = "2026-03-02T09:14:00Z"
"""When the demo data claims to have been modified: fixed, so the files are the same on every run."""


def _cvss(vector: str) -> list[dict]:
    return [{"type": "CVSS_V3", "score": vector}]


def _debian(
    cve: str,
    source: str,
    fixes: dict[str, str | None],
    *,
    summary: str,
    published: str,
    vector: str = "",
    urgency: str = "not yet assigned",
) -> dict:
    """A `DEBIAN-CVE-…` record as the Debian security tracker's OSV export writes it: one entry per
    release (`fixes`: release → fixed version, None while there is no fix)."""
    affected = []
    for release, fixed in fixes.items():
        events: list[dict] = [{"introduced": "0"}]
        if fixed:
            events.append({"fixed": fixed})
        affected.append(
            {
                "package": {
                    "ecosystem": f"Debian:{release}",
                    "name": source,
                    "purl": f"pkg:deb/debian/{source}?arch=source",
                },
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                "database_specific": {"urgency": urgency},
            }
        )
    return {
        "schema_version": "1.6.0",
        "id": f"DEBIAN-{cve}",
        "modified": _MODIFIED,
        "published": published,
        "upstream": [cve],
        "summary": summary,
        **({"severity": _cvss(vector)} if vector else {}),
        "affected": affected,
        "references": [{"type": "ADVISORY", "url": f"https://security-tracker.debian.org/tracker/{cve}"}],
    }


def _alpine(cve: str, source: str, fixed: str, *, summary: str, published: str, vector: str) -> dict:
    """An `ALPINE-CVE-…` record for Alpine 3.19, keyed by the origin package."""
    return {
        "schema_version": "1.6.0",
        "id": f"ALPINE-{cve}",
        "modified": _MODIFIED,
        "published": published,
        "upstream": [cve],
        "summary": summary,
        "severity": _cvss(vector),
        "affected": [
            {
                "package": {
                    "ecosystem": "Alpine:v3.19",
                    "name": source,
                    "purl": f"pkg:apk/alpine/{source}?arch=source",
                },
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
        "references": [{"type": "ADVISORY", "url": f"https://security.alpinelinux.org/vuln/{cve}"}],
    }


_OPENSSL_5363 = "Incorrect cipher key and IV length processing in OpenSSL 3.0 and 3.1 can truncate or overread keys"
_GLIBC_2961 = "Out-of-bounds write in glibc iconv when converting to the ISO-2022-CN-EXT character set"

_RECORDS: list[dict] = [
    # Debian 12 (bookworm)
    _debian(
        "CVE-2023-5363",
        "openssl",
        {"12": "3.0.11-1~deb12u2"},
        summary=_OPENSSL_5363,
        published="2023-10-25T18:17:43Z",
        vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
    ),
    _debian(
        "CVE-2024-5535",
        "openssl",
        # Not 3.0.14: upstream fixed it after that release; bookworm got it with 3.0.15 (security tracker).
        {"12": "3.0.15-1~deb12u1"},
        summary="SSL_select_next_proto in OpenSSL can read past its buffer when given an empty client protocol list",
        published="2024-06-27T11:15:24Z",
        vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:H",
        urgency="low",
    ),
    _debian(
        "CVE-2023-4911",
        "glibc",
        {"12": "2.36-9+deb12u3"},
        summary="Buffer overflow in the glibc dynamic loader's GLIBC_TUNABLES handling (Looney Tunables) "
        "lets a local user gain root through setuid programs",
        published="2023-10-03T18:15:10Z",
        vector="CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
    ),
    _debian(
        "CVE-2024-2961",
        "glibc",
        {"10": "2.28-10+deb10u3", "12": "2.36-9+deb12u7"},
        summary=_GLIBC_2961,
        published="2024-04-17T18:15:15Z",
    ),
    _debian(
        "CVE-2023-38545",
        "curl",
        {"12": "7.88.1-10+deb12u4"},
        summary="Heap buffer overflow in curl's SOCKS5 proxy handshake when the host name is too long "
        "to be resolved locally",
        published="2023-10-18T04:15:11Z",
        vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    ),
    _debian(
        "CVE-2024-2398",
        "curl",
        {"12": "7.88.1-10+deb12u6"},
        summary="Memory leak in libcurl when an HTTP/2 server push carries too many headers",
        published="2024-03-27T08:15:41Z",
    ),
    _debian(
        "CVE-2023-45853",
        "zlib",
        {"12": None},
        summary="Integer overflow and heap overflow in zlib's minizip zipOpenNewFileInZip4_64 "
        "with a long file name, comment or extra field",
        published="2023-10-14T02:15:09Z",
        vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        urgency="unimportant",
    ),
    # Debian 10 (buster, end of life)
    _debian(
        "CVE-2023-0286",
        "openssl",
        {"10": "1.1.1n-0+deb10u4"},
        summary="Type confusion in OpenSSL's X.400 address processing inside an X.509 GeneralName",
        published="2023-02-08T20:15:23Z",
        vector="CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:H",
    ),
    _debian(
        "CVE-2022-37434",
        "zlib",
        {"10": "1:1.2.11.dfsg-1+deb10u2"},
        summary="Heap buffer over-read or overflow in zlib's inflate when reading a large gzip header extra field",
        published="2022-08-05T07:15:07Z",
        vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    ),
    # Alpine 3.19
    _alpine(
        "CVE-2023-5678",
        "openssl",
        "3.1.4-r1",
        summary="Generating or checking excessively long X9.42 DH keys or parameters in OpenSSL can be very slow",
        published="2023-11-06T16:15:42Z",
        vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L",
    ),
    _alpine(
        "CVE-2024-0727",
        "openssl",
        "3.1.4-r5",
        summary="A malformed PKCS12 file can make OpenSSL dereference a null pointer and crash",
        published="2024-01-26T09:15:07Z",
        vector="CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H",
    ),
    # language packages
    {
        "schema_version": "1.6.0",
        "id": "GHSA-j8r2-6x86-q33q",
        "modified": _MODIFIED,
        "published": "2023-05-22T20:36:32Z",
        "aliases": ["CVE-2023-32681", "PYSEC-2023-74"],
        "summary": "Requests forwards a Proxy-Authorization header to the destination server on HTTPS redirects",
        "severity": _cvss("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"),
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "requests", "purl": "pkg:pypi/requests"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}],
            }
        ],
        "references": [
            {"type": "ADVISORY", "url": "https://github.com/psf/requests/security/advisories/GHSA-j8r2-6x86-q33q"},
            {"type": "PACKAGE", "url": "https://github.com/psf/requests"},
        ],
        "database_specific": {"severity": "MODERATE", "cwe_ids": ["CWE-200"], "github_reviewed": True},
    },
    {
        "schema_version": "1.6.0",
        "id": "GHSA-c2qf-rxjj-qqgw",
        "modified": _MODIFIED,
        "published": "2023-06-21T06:30:28Z",
        "aliases": ["CVE-2022-25883"],
        "summary": "Regular expression denial of service in semver's range parsing of untrusted input",
        "severity": _cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"),
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "semver", "purl": "pkg:npm/semver"},
                "ranges": [
                    {"type": "SEMVER", "events": [{"introduced": "7.0.0"}, {"fixed": "7.5.2"}]},
                    {"type": "SEMVER", "events": [{"introduced": "6.0.0"}, {"fixed": "6.3.1"}]},
                    {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "5.7.2"}]},
                ],
            }
        ],
        "references": [
            {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2022-25883"},
            {"type": "PACKAGE", "url": "https://github.com/npm/node-semver"},
        ],
        "database_specific": {"severity": "MODERATE", "cwe_ids": ["CWE-1333"], "github_reviewed": True},
    },
]


def demo_osv_records() -> list[dict]:
    """The demo's OSV records, as dicts (copies: the caller may change them)."""
    return json.loads(json.dumps(_RECORDS))


def write_demo_osv(directory: Path) -> Path:
    """Write one `<ecosystem>/<id>.json` file per record under `directory`; returns `directory`."""
    for record in _RECORDS:
        ecosystem = record["affected"][0]["package"]["ecosystem"].split(":")[0].lower()
        target = directory / ecosystem / f"{record['id']}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return directory
