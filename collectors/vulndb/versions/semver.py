"""SemVer 2.0.0 order, shared by npm, Go modules and crates.io.

Go versions carry a leading `v` and may be written short (`v1.2` means `v1.2.0`), as
`golang.org/x/mod/semver` allows; npm accepts the `v` too. Go pseudo-versions
(`v0.0.0-20210101000000-abcdef123456`) are ordinary pre-releases, and `+incompatible` is build
metadata, which never takes part in ordering.
"""

from __future__ import annotations

import re

# Numbers without leading zeros; identifiers of [0-9A-Za-z-]; a short form only without pre-release or build,
# exactly the language golang.org/x/mod/semver accepts (npm's strict parser is the same minus the short forms).
_NUMBER = r"0|[1-9][0-9]*"
_PRERELEASE_IDENTIFIER = rf"(?:{_NUMBER}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_PATTERN = re.compile(
    rf"""v?(?P<major>{_NUMBER})
    (?:
        \.(?P<minor>{_NUMBER})
        (?:
            \.(?P<patch>{_NUMBER})
            (?:-(?P<prerelease>{_PRERELEASE_IDENTIFIER}(?:\.{_PRERELEASE_IDENTIFIER})*))?
            (?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?
        )?
    )?""",
    re.VERBOSE | re.ASCII,
)

# A release sorts after every pre-release of the same major.minor.patch.
_PRERELEASE, _RELEASE = 0, 1
# Numeric identifiers sort before alphanumeric ones.
_NUMERIC, _ALPHANUMERIC = 0, 1

Key = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


def key(version: str) -> Key:
    """A sort key for a SemVer version; raises VersionError for a string that is not one."""
    match = _PATTERN.fullmatch(version)
    if match is None:
        # Imported here: the dispatcher package imports this module, so a top-level import would be circular.
        from collectors.vulndb.versions import VersionError

        raise VersionError(f"not a SemVer version: {version!r}")
    major, minor, patch, prerelease = match.group("major", "minor", "patch", "prerelease")
    core = (int(major), int(minor or 0), int(patch or 0))
    if prerelease is None:
        return (*core, _RELEASE, ())
    # Tuples compare element by element and a shorter tuple first on an equal prefix, as SemVer §11 asks.
    identifiers = tuple(
        (_NUMERIC, int(part), "") if part.isdigit() else (_ALPHANUMERIC, 0, part) for part in prerelease.split(".")
    )
    return (*core, _PRERELEASE, identifiers)


def compare(a: str, b: str) -> int:
    """Negative, zero or positive as SemVer orders `a` before, equal to or after `b`."""
    left, right = key(a), key(b)
    return (left > right) - (left < right)
