"""Each ecosystem's own version order, behind one entry point: `compare(ecosystem, a, b)`.

OSV names an ecosystem with an optional release after a colon (`Debian:12`, `Alpine:v3.19`,
`Ubuntu:22.04:LTS`); only the part before the first colon chooses the ordering. Every ordering
lives in a module of this package named for it, exposing `compare(a, b) -> int` (and `key` where
one is cheap); the modules are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class VersionError(ValueError):
    """A version string that its ecosystem's ordering cannot place, or an ecosystem we cannot order."""


# OSV ecosystem base name → module of this package that orders its versions.
ORDERING_BY_ECOSYSTEM: dict[str, str] = {
    "Debian": "dpkg",
    "Ubuntu": "dpkg",
    "Alpine": "apk",
    "Wolfi": "apk",
    "Chainguard": "apk",
    "Red Hat": "rpm",
    "Rocky Linux": "rpm",
    "AlmaLinux": "rpm",
    "openSUSE": "rpm",
    "SUSE": "rpm",
    "PyPI": "pypi",
    "npm": "semver",
    "Go": "semver",
    "crates.io": "semver",
    "Maven": "maven",
}


def ecosystem_base(ecosystem: str) -> str:
    """The ecosystem name without its release: `Ubuntu:22.04:LTS` → `Ubuntu`."""
    return ecosystem.split(":", 1)[0]


def ordering_for(ecosystem: str) -> ModuleType:
    """The module that orders versions of `ecosystem`; VersionError for an ecosystem we cannot order."""
    name = ORDERING_BY_ECOSYSTEM.get(ecosystem_base(ecosystem))
    if name is None:
        raise VersionError(f"no version ordering for ecosystem {ecosystem!r}")
    return importlib.import_module(f"{__name__}.{name}")


def compare(ecosystem: str, a: str, b: str) -> int:
    """Order two versions of one ecosystem: negative if a < b, 0 if equal, positive if a > b.

    Raises VersionError for an unknown ecosystem or a version string the ecosystem cannot order.
    """
    ordering = ordering_for(ecosystem)
    try:
        return ordering.compare(a, b)
    except VersionError:
        raise
    except ValueError as error:
        # Orderings built on libraries (packaging's InvalidVersion, …) raise their own ValueErrors:
        # callers catch one type whatever the ecosystem.
        raise VersionError(f"{ecosystem}: cannot order {a!r} and {b!r}: {error}") from error
