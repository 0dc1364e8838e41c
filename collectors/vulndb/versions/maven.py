"""Maven version order: a port of Maven's `ComparableVersion` as maven-artifact 3.8.7 has it.

A version is split into items on `.`, on `-` and on every switch between digits and letters; a `-`
or a switch opens a nested list, so `1-1` (a sub-list) and `1.1` (a plain number) differ, and a
qualifier after other items always opens one (`1.0.0.RC1` is `1-rc-1`). Known qualifiers order
`alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp`, unknown ones come
after all of them in lexical order, and trailing null items (`0`, `ga`, empty lists) are dropped, so
`1` = `1.0` = `1.0.0` = `1-ga`. Every string has a place: nothing raises.
"""

from __future__ import annotations

import functools

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
# One-letter qualifiers directly followed by a digit: `a1` is `alpha-1`.
_SHORT_QUALIFIERS = {"a": "alpha", "b": "beta", "m": "milestone"}


def _comparable_qualifier(qualifier: str) -> str:
    """Maven's trick to order qualifiers by plain string comparison: known ones become their index, unknown
    ones `7-name`, which sorts after every index and lexically among themselves."""
    if qualifier in _QUALIFIERS:
        return str(_QUALIFIERS.index(qualifier))
    return f"{len(_QUALIFIERS)}-{qualifier}"


_RELEASE = _comparable_qualifier("")

# Items: an int is a number, a str a qualifier already in comparable form, a list a sub-list.
Item = int | str | list


def _qualifier(text: str, followed_by_digit: bool) -> str:
    if followed_by_digit and text in _SHORT_QUALIFIERS:
        text = _SHORT_QUALIFIERS[text]
    return _comparable_qualifier(_ALIASES.get(text, text))


def _item(text: str, is_digit: bool) -> Item:
    return int(text) if is_digit else _qualifier(text, followed_by_digit=False)


def _is_null(item: Item) -> bool:
    if isinstance(item, int):
        return item == 0
    if isinstance(item, str):
        return item == _RELEASE
    return not item


def _normalize(items: list) -> None:
    """Drop trailing null items, looking through trailing sub-lists as Maven does."""
    for i in range(len(items) - 1, -1, -1):
        if _is_null(items[i]):
            del items[i]
        elif not isinstance(items[i], list):
            break


def parse(version: str) -> list:
    """The item tree Maven builds for a version string."""
    version = version.lower()
    items: list = []
    current = items
    lists = [items]
    is_digit = False
    start = 0
    for i, char in enumerate(version):
        if char in ".-":
            # An empty item (`1..2`, `-1`) counts as 0.
            current.append(_item(version[start:i], is_digit) if i > start else 0)
            start = i + 1
            if char == "-":
                current.append(current := [])
                lists.append(current)
        elif char.isdecimal():
            if not is_digit and i > start:
                if current:
                    # A qualifier after other items gets a list of its own, as 3.8.7 does (older Maven did not).
                    current.append(current := [])
                    lists.append(current)
                current.append(_qualifier(version[start:i], followed_by_digit=True))
                start = i
                current.append(current := [])
                lists.append(current)
            is_digit = True
        else:
            if is_digit and i > start:
                current.append(int(version[start:i]))
                start = i
                current.append(current := [])
                lists.append(current)
            is_digit = False
    if len(version) > start:
        if not is_digit and current:
            current.append(current := [])
            lists.append(current)
        current.append(_item(version[start:], is_digit))
    # Innermost lists first, so an emptied sub-list is itself trimmed from its parent.
    for each in reversed(lists):
        _normalize(each)
    return items


def _compare_items(left: Item, right: Item | None) -> int:
    """Maven's Item.compareTo, where `right` is None when the other version has run out of items."""
    if isinstance(left, int):
        if right is None:
            return int(left != 0)
        if isinstance(right, int):
            return (left > right) - (left < right)
        return 1  # a number beats a qualifier (1.1 > 1-sp) and a sub-list (1.1 > 1-1)
    if isinstance(left, str):
        if right is None:
            return (left > _RELEASE) - (left < _RELEASE)  # 1-rc < 1, 1-sp > 1
        if isinstance(right, str):
            return (left > right) - (left < right)
        return -1  # a qualifier loses to a number and to a sub-list
    if right is None:
        # In 3.8.7 the first item that differs from "nothing" decides, so 1-0.1 > 1 (older Maven read only the first).
        return next((result for item in left if (result := _compare_items(item, None))), 0)
    if isinstance(right, int):
        return -1  # 1-1 < 1.1
    if isinstance(right, str):
        return 1  # 1-1 > 1-sp
    for i in range(max(len(left), len(right))):
        if i >= len(left):
            result = -_compare_items(right[i], None)
        else:
            result = _compare_items(left[i], right[i] if i < len(right) else None)
        if result:
            return result
    return 0


@functools.total_ordering
class MavenVersion:
    """A parsed Maven version that sorts as Maven does; equal versions need not have equal strings."""

    __slots__ = ("_items", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._items = parse(text)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MavenVersion):
            return NotImplemented
        return _compare_items(self._items, other._items) == 0

    def __lt__(self, other: MavenVersion) -> bool:
        return _compare_items(self._items, other._items) < 0

    # Ordering equality is not string equality, so hashing is left out rather than got subtly wrong.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MavenVersion({self.text!r})"


def key(version: str) -> MavenVersion:
    """A sort key for a Maven version."""
    return MavenVersion(version)


def compare(a: str, b: str) -> int:
    """Negative, zero or positive as Maven orders `a` before, equal to or after `b`."""
    return _compare_items(parse(a), parse(b))
