"""OSV records (https://ossf.github.io/osv-schema/), reduced to what matching and display need.

Only the fields kubeward reads are declared; msgspec skips the rest (`details`,
`references`, `credits`, …) while decoding, which keeps the import fast and the
stored records small. Timestamps stay strings as the database wrote them: they
are shown, and `modified` is compared only after `normalized_timestamp`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec


class Severity(msgspec.Struct, frozen=True):
    """One severity rating: `type` is `CVSS_V2`, `CVSS_V3`, `CVSS_V4` or `Ubuntu`; `score` its vector or priority."""

    type: str
    score: str


class Package(msgspec.Struct, frozen=True):
    """The affected package: ecosystem with its release (`Debian:12`), name within it, optional purl."""

    ecosystem: str = ""
    name: str = ""
    purl: str | None = None


class Event(msgspec.Struct, frozen=True, omit_defaults=True):
    """One change on a range's timeline; exactly one of the four fields is set."""

    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    limit: str | None = None


class Range(msgspec.Struct, frozen=True, omit_defaults=True):
    """A range of versions under one ordering: `ECOSYSTEM`, `SEMVER` or `GIT`."""

    type: str
    events: tuple[Event, ...] = ()


class Affected(msgspec.Struct, frozen=True, omit_defaults=True):
    """The versions of one package that a record affects."""

    package: Package | None = None
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    severity: tuple[Severity, ...] = ()
    ecosystem_specific: dict[str, Any] | None = None
    database_specific: dict[str, Any] | None = None


class OSVRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """One OSV vulnerability record, lean."""

    id: str
    modified: str
    published: str | None = None
    withdrawn: str | None = None
    aliases: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    summary: str | None = None
    severity: tuple[Severity, ...] = ()
    affected: tuple[Affected, ...] = ()
    database_specific: dict[str, Any] | None = None

    @property
    def related_ids(self) -> tuple[str, ...]:
        """Aliases and upstream ids (CVE ids; Alpine and Debian records carry them in `upstream`), for display."""
        return tuple(dict.fromkeys(self.aliases + self.upstream))


_JSON_DECODER = msgspec.json.Decoder(OSVRecord)


def decode_record(data: bytes) -> OSVRecord:
    """An OSV record from its JSON text; raises `msgspec.DecodeError` (or `ValueError`) when it is not one."""
    record = _JSON_DECODER.decode(data)
    if not record.id:
        raise ValueError("record has an empty id")
    normalized_timestamp(record.modified)
    return record


def normalized_timestamp(value: str) -> str:
    """An RFC 3339 timestamp as fixed-width UTC text, so timestamps order correctly as strings.

    Raw OSV timestamps do not: `…00Z` sorts after `…00.123Z`.
    """
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def package_key(ecosystem: str, name: str) -> str:
    """A package name as compared: PyPI names after PEP 503 normalisation (`Foo_Bar` is `foo-bar`), others as is."""
    if ecosystem.partition(":")[0] == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name
