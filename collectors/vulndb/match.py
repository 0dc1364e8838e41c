"""Whether an installed version is affected by an OSV record, and which version fixes it.

Pure functions following the evaluation algorithm of the OSV schema
(https://ossf.github.io/osv-schema/#evaluation): a version is affected when it
is listed in `versions` or lies in any `ECOSYSTEM` or `SEMVER` range. Within a
range the events are evaluated in version order (the schema sorts them; it
only recommends that writers keep them sorted), `introduced: "0"` sorting
first; `fixed` excludes its version, `last_affected` includes it, and a range
with `limit` events only covers versions below one of them (`*` is infinity).
`GIT` ranges name commits, not versions, and are ignored; so are withdrawn
records.

The version order is passed in as `compare(a, b)` (negative, 0, positive):
`functools.partial(collectors.vulndb.versions.compare, ecosystem)` in the
application. It is used for `SEMVER` ranges too, which is right for the
ecosystems that publish them (npm, Go, crates.io use SemVer as their order).
A `ValueError` it raises for a version it cannot order propagates: an
undecidable match is the caller's to report, never a silent "not affected".
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from collectors.vulndb.osv import Affected, Event, OSVRecord, package_key

Compare = Callable[[str, str], int]
EVALUATED_RANGE_TYPES = frozenset({"ECOSYSTEM", "SEMVER"})


def is_affected(affected: Affected, ecosystem: str, version: str, compare: Compare) -> bool:
    """Whether `version` of the entry's package in `ecosystem` (exactly as in OSV, e.g. `Debian:12`) is affected."""
    if affected.package is None or affected.package.ecosystem != ecosystem:
        return False
    if version in affected.versions:
        return True
    return any(_in_range(r.events, version, compare) for r in affected.ranges if r.type in EVALUATED_RANGE_TYPES)


def fixed_version(affected: Affected, ecosystem: str, version: str, compare: Compare) -> str | None:
    """The smallest `fixed` version above `version` that is itself unaffected; None when there is no fix yet.

    None too when `version` is not affected at all.
    """
    if not is_affected(affected, ecosystem, version, compare):
        return None
    candidates = {
        event.fixed
        for r in affected.ranges if r.type in EVALUATED_RANGE_TYPES
        for event in r.events
        if event.fixed is not None and compare(event.fixed, version) > 0
    }
    for candidate in sorted(candidates, key=functools.cmp_to_key(compare)):
        # A fix on one branch can still be inside another range of the same entry.
        if not is_affected(affected, ecosystem, candidate, compare):
            return candidate
    return None


def record_affects(record: OSVRecord, ecosystem: str, name: str, version: str, compare: Compare) -> bool:
    """Whether the record affects `version` of package `name` in `ecosystem`; withdrawn records affect nothing."""
    return any(is_affected(a, ecosystem, version, compare) for a in _entries_for(record, ecosystem, name))


def record_fixed_version(record: OSVRecord, ecosystem: str, name: str, version: str, compare: Compare) -> str | None:
    """The version that leaves every affecting entry of the record behind; None when one of them has no fix yet."""
    fixes = [fixed_version(a, ecosystem, version, compare)
             for a in _entries_for(record, ecosystem, name) if is_affected(a, ecosystem, version, compare)]
    if not fixes or None in fixes:
        return None
    return max(fixes, key=functools.cmp_to_key(compare))  # type: ignore[arg-type]


def _entries_for(record: OSVRecord, ecosystem: str, name: str) -> list[Affected]:
    if record.withdrawn is not None:
        return []
    key = package_key(ecosystem, name)
    return [a for a in record.affected
            if a.package is not None and a.package.ecosystem == ecosystem
            and package_key(ecosystem, a.package.name) == key]


def _in_range(events: tuple[Event, ...], version: str, compare: Compare) -> bool:
    if not _before_limits(events, version, compare):
        return False
    vulnerable = False
    for event in _in_version_order(events, compare):
        if event.introduced is not None:
            if event.introduced == "0" or compare(version, event.introduced) >= 0:
                vulnerable = True
        elif event.fixed is not None:
            if compare(version, event.fixed) >= 0:
                vulnerable = False
        elif event.last_affected is not None and compare(version, event.last_affected) > 0:
            vulnerable = False
    return vulnerable


def _before_limits(events: tuple[Event, ...], version: str, compare: Compare) -> bool:
    limits = [event.limit for event in events if event.limit is not None]
    if not limits:
        return True
    return any("*" in limit or compare(version, limit) < 0 for limit in limits)


def _in_version_order(events: tuple[Event, ...], compare: Compare) -> list[Event]:
    """The introduced/fixed/last_affected events sorted by version, `introduced: "0"` first; stable for ties."""
    timeline = [event for event in events if event.limit is None]

    def by_version(a: Event, b: Event) -> int:
        first, second = _event_version(a), _event_version(b)
        if first is None or second is None:
            return (second is None) - (first is None)
        return compare(first, second)

    return sorted(timeline, key=functools.cmp_to_key(by_version))


def _event_version(event: Event) -> str | None:
    """The event's version; None for `introduced: "0"`, which precedes every version."""
    if event.introduced is not None:
        return None if event.introduced == "0" else event.introduced
    return event.fixed if event.fixed is not None else event.last_affected
