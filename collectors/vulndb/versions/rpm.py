"""RPM version order, agreeing exactly with librpm's `rpmvercmp` and `rpm.labelCompare`.

A version is `[epoch:]version[-release]`. Each part is compared by `rpmvercmp`: runs of ASCII
letters or digits, everything else a separator; digits beat letters, numbers compare without
leading zeros, `~` sorts before everything (even the end: `1.0~rc1` < `1.0`) and `^` after the
end but before anything else (`1.0` < `1.0^git1` < `1.0.1`). A missing epoch is 0; a missing
release sorts before any release, as in labelCompare. This follows rpmio/rpmvercmp.c, the
EVR split of rpmds.c/rpmver.c and labelCompare in python/header-py.c (rpm 4.18).
"""

from __future__ import annotations

import functools
import string
from typing import NamedTuple

from collectors.vulndb.versions import VersionError

_DIGITS = frozenset(string.digits)
_LETTERS = frozenset(string.ascii_letters)
_ALNUM = _DIGITS | _LETTERS
_SEGMENT_MARKS = _ALNUM | frozenset("~^")


class RpmVersion(NamedTuple):
    """A parsed EVR; `release` is None when the string has none."""

    epoch: int
    version: str
    release: str | None


@functools.lru_cache(maxsize=65536)
def parse(evr: str) -> RpmVersion:
    """Split `[epoch:]version[-release]` as rpm does; VersionError for an empty string or part."""
    if not evr or "\0" in evr:
        raise VersionError(f"RPM version {evr!r} is empty or not a string rpm can hold")
    # rpm's parseEVR: the epoch is the leading digits when a colon follows them, and the release
    # starts after the last hyphen found after those digits.
    digits_end = len(evr) - len(evr.lstrip(string.digits))
    epoch = 0
    rest = evr
    if evr[digits_end : digits_end + 1] == ":":
        epoch = int(evr[:digits_end] or "0")
        rest = evr[digits_end + 1 :]
    version, hyphen, release = rest.rpartition("-")
    if not hyphen:
        version, release = rest, None
    if not version or release == "":
        raise VersionError(f"RPM version {evr!r} has an empty version or release")
    return RpmVersion(epoch, version, release)


def rpmvercmp(a: str, b: str) -> int:
    """librpm's `rpmvercmp`: order two version (or release) strings, returning -1, 0 or 1."""
    if a == b:
        return 0
    i = j = 0
    len_a, len_b = len(a), len(b)
    while i < len_a or j < len_b:
        while i < len_a and a[i] not in _SEGMENT_MARKS:
            i += 1
        while j < len_b and b[j] not in _SEGMENT_MARKS:
            j += 1
        char_a = a[i] if i < len_a else ""
        char_b = b[j] if j < len_b else ""
        # `~` sorts before everything, even the end of the string.
        if char_a == "~" or char_b == "~":
            if char_a != "~":
                return 1
            if char_b != "~":
                return -1
            i += 1
            j += 1
            continue
        # `^` sorts after the end of the string but before any other segment.
        if char_a == "^" or char_b == "^":
            if not char_a:
                return -1
            if not char_b:
                return 1
            if char_a != "^":
                return 1
            if char_b != "^":
                return -1
            i += 1
            j += 1
            continue
        if not (char_a and char_b):
            break
        # One segment: all digits or all letters, its kind chosen by a's first character.
        kind = _DIGITS if char_a in _DIGITS else _LETTERS
        start_a = i
        while i < len_a and a[i] in kind:
            i += 1
        start_b = j
        while j < len_b and b[j] in kind:
            j += 1
        segment_a, segment_b = a[start_a:i], b[start_b:j]
        if not segment_b:
            # The segments are of different kinds: a number is newer than letters.
            return 1 if kind is _DIGITS else -1
        if kind is _DIGITS:
            segment_a, segment_b = segment_a.lstrip("0"), segment_b.lstrip("0")
            if len(segment_a) != len(segment_b):
                return 1 if len(segment_a) > len(segment_b) else -1
        if segment_a != segment_b:
            return 1 if segment_a > segment_b else -1
    # Segments all equal: whichever string has characters left is newer.
    if i >= len_a and j >= len_b:
        return 0
    return -1 if i >= len_a else 1


def compare(a: str, b: str) -> int:
    """Order two `[epoch:]version[-release]` strings as `rpm.labelCompare` does: -1, 0 or 1."""
    evr_a, evr_b = parse(a), parse(b)
    if evr_a.epoch != evr_b.epoch:
        return -1 if evr_a.epoch < evr_b.epoch else 1
    result = rpmvercmp(evr_a.version, evr_b.version)
    if result:
        return result
    if evr_a.release is None or evr_b.release is None:
        # labelCompare: a missing release is older than any release.
        return (evr_a.release is not None) - (evr_b.release is not None)
    return rpmvercmp(evr_a.release, evr_b.release)


key = functools.cmp_to_key(compare)
"""A sort key for RPM versions: `sorted(versions, key=rpm.key)`."""
