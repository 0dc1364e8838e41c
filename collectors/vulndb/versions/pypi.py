"""PyPI version order: PEP 440, as implemented by the `packaging` library that pip itself uses."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version


def key(version: str) -> Version:
    """A sort key for a PEP 440 version; raises VersionError for a string PEP 440 cannot parse.

    OSV PyPI records still list some legacy releases (`2004d`, `0.9-final-r1`) that no PEP 440
    ordering can place; refusing them is better than guessing."""
    try:
        return Version(version)
    except InvalidVersion as error:
        # Imported here: the dispatcher package imports this module, so a top-level import would be circular.
        from collectors.vulndb.versions import VersionError

        raise VersionError(f"not a PEP 440 version: {version!r}") from error


def compare(a: str, b: str) -> int:
    """Negative, zero or positive as PEP 440 orders `a` before, equal to or after `b`."""
    left, right = key(a), key(b)
    return (left > right) - (left < right)
