"""Alpine (apk) version order, agreeing with apk-tools' `apk version -t`.

An apk version is `digits{.digits}…{letter}{_suffix{digits}}…{~hash}{-rN}`: dot-separated numbers,
one lowercase letter, any number of suffixes (`_alpha`, `_beta`, `_pre`, `_rc` sort before the
release; `_cvs`, `_svn`, `_git`, `_hg`, `_p` after it), a `~` commit hash of lowercase hex digits
and a `-rN` package revision. This follows src/version.c of apk-tools 2.14/3.x: versions compare
token by token; numbers after the first compare as strings when either has a leading zero; where
one version has a token the other lacks, a pre-release suffix is older, otherwise the version with
the earlier kind of token is newer (`1.0.1` > `1.0a` > `1.0_p1` > `1.0~ab` > `1.0-r1` > `1.0`).
"""

from __future__ import annotations

import enum
import functools
import string

from collectors.vulndb.versions import VersionError

_DIGITS = frozenset(string.digits)
_LOWER = frozenset(string.ascii_lowercase)
_HEX = frozenset("0123456789abcdef")
# apk reads numbers into a uint64_t and lets them wrap.
_UINT64 = 2**64


class Token(enum.IntEnum):
    """Kinds of version tokens, in apk's order: they may only appear in this order."""

    INITIAL_DIGIT = 0
    DIGIT = 1
    LETTER = 2
    SUFFIX = 3
    SUFFIX_NO = 4
    COMMIT_HASH = 5
    REVISION_NO = 6
    END = 7


# Suffix weights: below NONE (the plain release) are pre-releases, above it post-releases.
_SUFFIX_NONE = 5
_SUFFIXES = {"alpha": 1, "beta": 2, "pre": 3, "rc": 4, "cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10}
# Rank of a pre-release suffix token where the other version has another kind of token: lowest.
_PRE_RELEASE_RANK = -100

KeyPart = tuple[int, object]


def _span(text: str, start: int, allowed: frozenset[str]) -> int:
    end = start
    while end < len(text) and text[end] in allowed:
        end += 1
    return end


def _tokens(version: str) -> list[tuple[Token, object]]:
    """Split a version into (kind, comparable value) tokens, ending with END; VersionError if invalid."""
    tokens: list[tuple[Token, object]] = []
    position = _span(version, 0, _DIGITS)
    if position == 0:
        raise VersionError(f"Alpine version {version!r} does not start with a digit")
    tokens.append((Token.INITIAL_DIGIT, int(version[:position]) % _UINT64))
    kind = Token.INITIAL_DIGIT
    # Each branch admits a token only after the kinds apk allows before it; a `break` is a token
    # apk would call invalid, and reaching the end without one closes the version.
    while position < len(version):
        char = version[position]
        if char in _LOWER and kind <= Token.DIGIT:
            kind, value, position = Token.LETTER, ord(char), position + 1
        elif (char == "." and kind <= Token.DIGIT) or (char in _DIGITS and kind in (Token.DIGIT, Token.SUFFIX)):
            if char == ".":
                position += 1
            kind = Token.DIGIT if kind <= Token.DIGIT else Token.SUFFIX_NO
            end = _span(version, position, _DIGITS)
            if end == position:
                break
            digits = version[position:end]
            if kind is Token.DIGIT and digits[0] == "0":
                # A leading zero makes apk compare the digits as a string (Gentoo's rule); such a
                # number is older than any number without one.
                value = (0, digits)
            elif kind is Token.DIGIT:
                value = (1, int(digits) % _UINT64)
            else:
                value = int(digits) % _UINT64
            position = end
        elif char == "_" and kind <= Token.SUFFIX_NO:
            end = _span(version, position + 1, _LOWER)
            value = _SUFFIXES.get(version[position + 1 : end])
            if value is None:
                break
            kind, position = Token.SUFFIX, end
        elif char == "~" and kind < Token.COMMIT_HASH:
            end = _span(version, position + 1, _HEX)
            if end == position + 1:
                break
            kind, value, position = Token.COMMIT_HASH, version[position + 1 : end], end
        elif version.startswith("-r", position) and kind < Token.REVISION_NO:
            end = _span(version, position + 2, _DIGITS)
            if end == position + 2:
                break
            kind, value, position = Token.REVISION_NO, int(version[position + 2 : end]) % _UINT64, end
        else:
            break
        tokens.append((kind, value))
    else:
        tokens.append((Token.END, 0))
        return tokens
    raise VersionError(f"Alpine version {version!r} is invalid at {version[position:]!r}")


@functools.lru_cache(maxsize=65536)
def key(version: str) -> tuple[KeyPart, ...]:
    """A sort key: versions compare as their keys do. VersionError for a version apk rejects."""
    parts: list[KeyPart] = []
    for kind, value in _tokens(version):
        # Where kinds differ, a pre-release suffix is older and otherwise the earlier kind is newer.
        rank = _PRE_RELEASE_RANK if kind is Token.SUFFIX and value < _SUFFIX_NONE else -kind
        parts.append((rank, value))
    return tuple(parts)


def compare(a: str, b: str) -> int:
    """Order two Alpine versions as `apk version -t` does: -1, 0 or 1."""
    key_a, key_b = key(a), key(b)
    return (key_a > key_b) - (key_a < key_b)
