"""Debian version order (Debian Policy §5.6.12), agreeing exactly with `dpkg --compare-versions`.

A version is `[epoch:]upstream[-revision]`. Epochs compare as numbers; upstream and revision are
compared by alternating runs of non-digits (character by character, `~` before everything even the
end, letters before other characters) and runs of digits (as numbers, so `1.01` equals `1.1`).
This follows dpkg's `parseversion` and `verrevcmp` (lib/dpkg/parsehelp.c, lib/dpkg/version.c).
"""

from __future__ import annotations

import functools
import string
from typing import NamedTuple

from collectors.vulndb.versions import VersionError

_DIGITS = frozenset(string.digits)
_LETTERS = frozenset(string.ascii_letters)
_UPSTREAM_CHARS = _DIGITS | _LETTERS | frozenset(".-+~:")
_REVISION_CHARS = _DIGITS | _LETTERS | frozenset(".+~")
_BLANKS = " \t"
# dpkg stores the epoch in an int and refuses larger ones.
_EPOCH_MAX = 2**31 - 1


class DebianVersion(NamedTuple):
    """A parsed Debian version; `revision` is "" when the version has none."""

    epoch: int
    upstream: str
    revision: str


@functools.lru_cache(maxsize=65536)
def parse(version: str) -> DebianVersion:
    """Split a Debian version into epoch, upstream and revision; VersionError where dpkg complains.

    dpkg only warns about some malformed versions (no leading digit, stray characters) and still
    compares them; they never come from a real package, so they are refused here.
    """
    text = version.strip(_BLANKS)
    if not text:
        raise VersionError("Debian version is empty")
    if any(blank in text for blank in _BLANKS):
        raise VersionError(f"Debian version {version!r} has embedded spaces")
    epoch = 0
    epoch_text, colon, rest = text.partition(":")
    if colon:
        epoch = _parse_epoch(version, epoch_text)
        if not rest:
            raise VersionError(f"Debian version {version!r} has nothing after the epoch")
        text = rest
    upstream, hyphen, revision = text.rpartition("-")
    if not hyphen:
        upstream, revision = text, ""
    elif not revision:
        raise VersionError(f"Debian version {version!r} has an empty revision")
    if not upstream:
        raise VersionError(f"Debian version {version!r} has an empty upstream version")
    if upstream[0] not in _DIGITS:
        raise VersionError(f"Debian version {version!r} does not start with a digit")
    if not set(upstream) <= _UPSTREAM_CHARS or not set(revision) <= _REVISION_CHARS:
        raise VersionError(f"Debian version {version!r} has an invalid character")
    return DebianVersion(epoch, upstream, revision)


def _parse_epoch(version: str, epoch_text: str) -> int:
    # dpkg reads the epoch with strtol: an optional sign, then digits up to the colon.
    digits = epoch_text[1:] if epoch_text[:1] in ("+", "-") else epoch_text
    if not digits or not set(digits) <= _DIGITS:
        raise VersionError(f"Debian version {version!r} has an epoch that is not a number")
    epoch = int(epoch_text)
    if epoch < 0:
        raise VersionError(f"Debian version {version!r} has a negative epoch")
    if epoch > _EPOCH_MAX:
        raise VersionError(f"Debian version {version!r} has an epoch that is too big")
    return epoch


def _order(char: str) -> int:
    """The weight of one character in a non-digit run; "" is the end of the string."""
    if not char or char in _DIGITS:
        return 0
    if char in _LETTERS:
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def compare_fragments(a: str, b: str) -> int:
    """dpkg's `verrevcmp`: order two upstream versions or two revisions."""
    i = j = 0
    len_a, len_b = len(a), len(b)
    while i < len_a or j < len_b:
        # A non-digit run, character by character; a digit or the end weighs 0.
        while (i < len_a and a[i] not in _DIGITS) or (j < len_b and b[j] not in _DIGITS):
            weight_a = _order(a[i] if i < len_a else "")
            weight_b = _order(b[j] if j < len_b else "")
            if weight_a != weight_b:
                return weight_a - weight_b
            i += 1
            j += 1
        # A digit run, as a number: leading zeros do not count, the longer run is larger.
        start_a = i
        while i < len_a and a[i] in _DIGITS:
            i += 1
        start_b = j
        while j < len_b and b[j] in _DIGITS:
            j += 1
        number_a = int(a[start_a:i] or "0")
        number_b = int(b[start_b:j] or "0")
        if number_a != number_b:
            return -1 if number_a < number_b else 1
    return 0


def compare(a: str, b: str) -> int:
    """Order two Debian versions as `dpkg --compare-versions` does: negative, 0 or positive."""
    version_a, version_b = parse(a), parse(b)
    if version_a.epoch != version_b.epoch:
        return -1 if version_a.epoch < version_b.epoch else 1
    return compare_fragments(version_a.upstream, version_b.upstream) or compare_fragments(
        version_a.revision, version_b.revision
    )


key = functools.cmp_to_key(compare)
"""A sort key for Debian versions: `sorted(versions, key=dpkg.key)`."""
