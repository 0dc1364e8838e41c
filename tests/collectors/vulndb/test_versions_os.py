"""The OS package version orders (dpkg, rpm, apk) and the dispatcher.

dpkg and rpm are compared at test time with the real tools on generated tricky pairs; apk-tools is
not packaged for Debian, so apk gets hand-written cases taken from apk-tools' own rules and tests,
plus order properties over a generated set.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import types

import pytest

from collectors.vulndb import versions
from collectors.vulndb.versions import VersionError, apk, dpkg, rpm
from tests.conftest import IN_CI, require_tool


def sign(number: int) -> int:
    return (number > 0) - (number < 0)


def _mutate(rng: random.Random, base: str, pieces: list[str], tail_length: int) -> str:
    """`base` cut somewhere and given a new random tail: pairs that share prefixes compare deep."""
    cut = rng.randint(0, len(base))
    return base[:cut] + "".join(rng.choice(pieces) for _ in range(rng.randint(0, tail_length)))


# dpkg --------------------------------------------------------------------------------------------

DPKG_UPSTREAM_PIECES = [
    "0",
    "00",
    "01",
    "1",
    "2",
    "9",
    "10",
    "010",
    ".",
    ".",
    "~",
    "~rc",
    "~~",
    "+",
    "+dfsg",
    "+deb12u1",
    "+really",
    "a",
    "b",
    "Z",
    "z",
    "ubuntu",
    "-",
    ":",
]
DPKG_REVISION_PIECES = ["0", "1", "01", "2", "10", ".", "+", "~", "~bpo12", "+deb12u1", "ubuntu", "a", "build"]


def _dpkg_version(rng: random.Random) -> str:
    epoch = rng.choice(["", "", "", "", "0:", "1:", "2:", "10:", "01:"])
    upstream = rng.choice(["0", "1", "2", "10", "01"]) + "".join(
        rng.choice(DPKG_UPSTREAM_PIECES) for _ in range(rng.randint(0, 5))
    )
    revision = ""
    if rng.random() < 0.6:
        revision = (
            "-"
            + rng.choice(["0", "1", "2", "a", "~"])
            + "".join(rng.choice(DPKG_REVISION_PIECES) for _ in range(rng.randint(0, 3)))
        )
    return epoch + upstream + revision


def _valid_dpkg(version: str) -> bool:
    try:
        dpkg.parse(version)
    except VersionError:
        return False
    return True


def _dpkg_pairs(count: int) -> list[tuple[str, str]]:
    rng = random.Random(20240512)
    pairs: list[tuple[str, str]] = []
    while len(pairs) < count:
        a = _dpkg_version(rng)
        b = _dpkg_version(rng) if rng.random() < 0.3 else _mutate(rng, a, DPKG_UPSTREAM_PIECES, 3)
        if rng.random() < 0.05:
            b = a
        if _valid_dpkg(a) and _valid_dpkg(b):
            pairs.append((a, b) if rng.random() < 0.5 else (b, a))
    return pairs


# One bash for all pairs: a dpkg run costs about a millisecond, a bash start far more.
DPKG_ORACLE = """
while read -r a b; do
  if dpkg --compare-versions "$a" lt "$b"; then echo -1
  elif dpkg --compare-versions "$a" eq "$b"; then echo 0
  else echo 1; fi
done
"""


def test_dpkg_agrees_with_dpkg_compare_versions() -> None:
    require_tool("dpkg")
    pairs = _dpkg_pairs(1500)
    assert any(a == b for a, b in pairs) and any(":" in a for a, _ in pairs)
    run = subprocess.run(
        ["bash", "-c", DPKG_ORACLE],
        input="".join(f"{a} {b}\n" for a, b in pairs),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert run.stderr == ""  # every generated version is one dpkg accepts without a warning
    expected = [int(line) for line in run.stdout.split()]
    disagreements = [
        (a, b, ours, theirs)
        for (a, b), theirs in zip(pairs, expected, strict=True)
        if (ours := sign(dpkg.compare(a, b))) != theirs
    ]
    assert disagreements == []


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.01", "1.1", 0),
        ("0:1.0", "1.0", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0~~", "1.0~", -1),
        ("1.0", "1.0+dfsg", -1),
        ("1.0a", "1.0+", -1),  # letters sort before non-letters
        ("2.36-9+deb12u1", "2.36-9+deb12u10", -1),
        ("1:0.1", "9.9", 1),
        ("1.0-1", "1.0-1.0", -1),
        ("1.0", "1.0-0", 0),
    ],
)
def test_dpkg_known_orders(a: str, b: str, expected: int) -> None:
    assert sign(dpkg.compare(a, b)) == expected
    assert sign(dpkg.compare(b, a)) == -expected


DPKG_INVALID = [
    "",
    "   ",
    "a1.0",
    "1.0 2",
    ":1.0",
    "x:1.0",
    "-1:1.0",
    "1:",
    "1.0-",
    "-1",
    "1.0_1",
    "1.0-1:2",
    "1.0-1-",
    "99999999999:1.0",
    "1.0@",
    "~1",
]


@pytest.mark.parametrize("version", DPKG_INVALID)
def test_dpkg_invalid_versions_raise_where_dpkg_complains(version: str) -> None:
    with pytest.raises(VersionError):
        dpkg.compare(version, "1.0")
    if version.strip():
        # dpkg takes a blank version as "none": only non-blank ones are its syntax errors.
        run = subprocess.run(
            # Second, so that dpkg cannot take a leading "-" for an option.
            [require_tool("dpkg"), "--compare-versions", "1.0", "eq", version],
            capture_output=True,
            text=True,
        )
        assert "bad syntax" in run.stderr


# rpm ---------------------------------------------------------------------------------------------

RPM_PIECES = [
    "0",
    "00",
    "01",
    "1",
    "2",
    "10",
    "999",
    ".",
    ".",
    "_",
    "+",
    "~",
    "~",
    "^",
    "^",
    "a",
    "b",
    "rc",
    "beta",
    "el8",
    "el9",
    "Z",
    "git",
    "-",
]


def _rpm_version(rng: random.Random) -> str:
    epoch = rng.choice(["", "", "", "0:", "1:", "2:", "01:", "10:"])
    version = rng.choice(["0", "1", "2", "10", "a"]) + "".join(
        rng.choice(RPM_PIECES[:-1]) for _ in range(rng.randint(0, 5))
    )
    release = ""
    if rng.random() < 0.6:
        release = (
            "-"
            + rng.choice(["1", "2", "0", "1.el8", "a"])
            + "".join(rng.choice(RPM_PIECES[:-1]) for _ in range(rng.randint(0, 3)))
        )
    return epoch + version + release


def _valid_rpm(version: str) -> bool:
    try:
        rpm.parse(version)
    except VersionError:
        return False
    return True


def _rpm_pairs(count: int) -> list[tuple[str, str]]:
    rng = random.Random(4181)
    pairs: list[tuple[str, str]] = []
    while len(pairs) < count:
        a = _rpm_version(rng)
        b = _rpm_version(rng) if rng.random() < 0.3 else _mutate(rng, a, RPM_PIECES, 3)
        if rng.random() < 0.05:
            b = a
        if _valid_rpm(a) and _valid_rpm(b):
            pairs.append((a, b) if rng.random() < 0.5 else (b, a))
    return pairs


# librpm parses each EVR (rpm.ver) and orders the parts (rpm.labelCompare): pairs on stdin, one
# result per line on stdout.
LIBRPM_ORACLE = """
import sys, rpm
for line in sys.stdin:
    a, b = line.rstrip("\\n").split("\\t")
    va, vb = rpm.ver(a), rpm.ver(b)
    print(rpm.labelCompare((va.e, va.v, va.r), (vb.e, vb.v, vb.r)))
"""


def _require_librpm() -> str:
    """The system interpreter with Debian's python3-rpm; missing: a failure under CI, a skip elsewhere."""
    python = require_tool("/usr/bin/python3")
    if subprocess.run([python, "-c", "import rpm"], capture_output=True).returncode != 0:
        message = "python3-rpm is not installed (scripts/test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return python


def test_rpm_agrees_with_librpm_label_compare() -> None:
    python = _require_librpm()
    pairs = _rpm_pairs(3000)
    assert any(a == b for a, b in pairs) and any("^" in a for a, _ in pairs) and any("~" in a for a, _ in pairs)
    run = subprocess.run(
        [python, "-c", LIBRPM_ORACLE],
        input="".join(f"{a}\t{b}\n" for a, b in pairs),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    expected = [int(line) for line in run.stdout.split()]
    disagreements = [
        (a, b, ours, theirs)
        for (a, b), theirs in zip(pairs, expected, strict=True)
        if (ours := sign(rpm.compare(a, b))) != theirs
    ]
    assert disagreements == []


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0~rc1-1", "1.0-1", -1),
        ("1.0^git1", "1.0", 1),
        ("1.0^git1", "1.0.1", -1),
        ("1.01", "1.1", 0),
        ("1.0a", "1.0.1", -1),
        ("1:1.0-1.el8", "2.0-1.el8", 1),
        ("0:1.0-1", "1.0-1", 0),
        ("1.0", "1.0-1", -1),  # labelCompare: no release is older than any release
        ("1.0-1.el8_9", "1.0-1.el8.9", 0),
    ],
)
def test_rpm_known_orders(a: str, b: str, expected: int) -> None:
    assert rpm.compare(a, b) == expected
    assert rpm.compare(b, a) == -expected


@pytest.mark.parametrize("version", ["", "1:", "-1", "1.0-", "1:-1"])
def test_rpm_empty_parts_raise(version: str) -> None:
    with pytest.raises(VersionError):
        rpm.compare(version, "1.0")


# apk ---------------------------------------------------------------------------------------------

# Cases from apk-tools' rules (src/version.c) and its test/version.data, one group per feature.
APK_CASES = [
    # dotted numbers, compared as numbers; the first one always numerically
    ("1.0.1", "<", "1.0.2"),
    ("1.2.10", ">", "1.2.9"),
    ("2.34", ">", "0.1.0_alpha"),
    ("006", ">", "1.0.0"),
    ("6", "=", "006"),
    ("1.2.12.04", "<", "1.2.12.05"),
    ("1.07-r1", "<", "1.07.5"),
    ("0.9.28.1", "<", "087-r1"),
    ("2.10.1", ">", "02.08.01b"),
    ("1.0", "<", "1.0.0"),
    # a later number with a leading zero compares as a string, below any number without one
    ("1.02", "<", "1.1"),
    ("1.0", "<", "1.00"),
    ("1.09", "<", "1.1"),
    # a letter suffix
    ("1.0a", ">", "1.0"),
    ("1.0a", "<", "1.0b"),
    ("1.0a", "<", "1.0.1"),
    ("2.3.0b-r1", "<", "2.3.0b-r2"),
    ("1.7", "<", "1.7b"),
    # pre-release suffixes, in order, each below the release
    ("1.0_alpha", "<", "1.0_beta"),
    ("1.0_beta", "<", "1.0_pre"),
    ("1.0_pre", "<", "1.0_rc"),
    ("1.0_rc", "<", "1.0"),
    ("1.0_rc1", "<", "1.0_rc2"),
    ("1.0_rc", "<", "1.0_rc1"),
    ("1.0_alpha10", ">", "1.0_alpha9"),
    ("0.1.0_alpha_pre2", "<", "0.1.0_alpha"),
    ("1.1", ">", "1.1_alpha1"),
    ("1.0_rc1", ">", "0.9"),
    # post-release suffixes, in order, each above the release and below the next number
    ("1.0", "<", "1.0_cvs"),
    ("1.0_cvs", "<", "1.0_svn"),
    ("1.0_svn", "<", "1.0_git"),
    ("1.0_git", "<", "1.0_hg"),
    ("1.0_hg", "<", "1.0_p"),
    ("1.0_p1", "<", "1.0_p2"),
    ("1.0_p10-r0", ">", "1.0_p9-r0"),
    ("1.0_p1", "<", "1.0a"),
    ("1.0_p99", "<", "1.0.1"),
    ("1.0_rc1", "<", "1.0_p1"),
    ("4.3_p2-r1", "<", "4.3_p2-r5"),
    # -rN revisions
    ("1.0-r0", ">", "1.0"),  # apk counts even an -r0 as a token the other lacks
    ("1.0-r1", ">", "1.0"),
    ("1.0-r10", ">", "1.0-r9"),
    ("1.0-r1", "<", "1.0.1"),
    ("1.0-r9", "<", "1.0_p1"),
    ("1.0_rc1-r9", "<", "1.0"),
    # _git snapshots and ~commit hashes
    ("1.2.3_git20230101", "<", "1.2.3_git20230102"),
    ("1.2.3_git20230101~abcdef", "<", "1.2.3_git20230102~012345"),
    ("1.2.3_git20230101~abcdef", ">", "1.2.3_git20230101"),
    ("1.2.3_git20230101~abcdef", "<", "1.2.3_git20230101~abcdf0"),
    ("1.2.3_git20230101~abcdef", "=", "1.2.3_git20230101~abcdef"),
    ("1.2.3_git20230101~abcdef-r1", ">", "1.2.3_git20230101~abcdef-r0"),
    ("1.2.3_git20230101~abcdef-r5", "<", "1.2.3_git20230101~abcdef1"),
    ("1.2.3~abc", "<", "1.2.3_p1"),
    ("1.2.3~abc", ">", "1.2.3-r7"),
    ("1.2.3_git20230101~ff", "<", "1.2.4_alpha"),
    ("1.0.0_pre20191002222144-r0", "<", "1.0.0_pre20210530193627-r0"),
]

APK_INVALID = [
    "",
    "a1",
    "1.",
    "1..2",
    "1.0A",
    "1.0ab",
    "1.0a1",
    "1.0_foo",
    "1.0_",
    "1.0-1",
    "1.0-r",
    "1.0-ra",
    "1.0~",
    "1.0~xyz",
    "1.0~ABC",
    "1.0-r1_p1",
    "1.0-r1~ab",
    "1.0~ab_p1",
    "1.0_p1.2",
    "1.0 ",
    "v1.0",
    "1.0_git~ab~cd",
]


@pytest.mark.parametrize(("a", "op", "b"), APK_CASES)
def test_apk_hand_written_orders(a: str, op: str, b: str) -> None:
    expected = {"<": -1, "=": 0, ">": 1}[op]
    assert apk.compare(a, b) == expected
    assert apk.compare(b, a) == -expected


@pytest.mark.parametrize("version", APK_INVALID)
def test_apk_invalid_versions_raise(version: str) -> None:
    with pytest.raises(VersionError):
        apk.compare(version, "1.0")


APK_PIECES = [
    ".0",
    ".1",
    ".01",
    ".10",
    ".2",
    "a",
    "b",
    "z",
    "_alpha",
    "_beta",
    "_pre",
    "_rc",
    "_cvs",
    "_svn",
    "_git",
    "_hg",
    "_p",
    "1",
    "2",
    "20230101",
    "~ab",
    "~0f",
    "-r0",
    "-r1",
    "-r10",
]


def _apk_versions(count: int) -> list[str]:
    """Valid apk versions built from the grammar's pieces (invalid combinations dropped)."""
    rng = random.Random(319)
    found: set[str] = set()
    while len(found) < count:
        version = rng.choice(["0", "1", "2", "01", "10"]) + "".join(
            rng.choice(APK_PIECES) for _ in range(rng.randint(0, 5))
        )
        try:
            apk.key(version)
        except VersionError:
            continue
        found.add(version)
    return sorted(found)


def test_apk_order_is_a_total_order() -> None:
    generated = _apk_versions(300)
    for a in generated:
        assert apk.compare(a, a) == 0
    for a, b in itertools.combinations(generated, 2):
        assert apk.compare(a, b) == -apk.compare(b, a)
    ordered = sorted(generated, key=apk.key)
    rng = random.Random(7)
    for _ in range(20000):
        i, j, k = sorted(rng.sample(range(len(ordered)), 3))
        a, b, c = ordered[i], ordered[j], ordered[k]
        assert apk.compare(a, b) <= 0 and apk.compare(b, c) <= 0 and apk.compare(a, c) <= 0


# the dispatcher ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ecosystem", "a", "b", "expected"),
    [
        ("Debian", "1.01", "1.1", 0),
        ("Debian:12", "2.36-9+deb12u1", "2.36-9+deb12u4", -1),
        ("Ubuntu:22.04:LTS", "1.0~ubuntu1", "1.0", -1),
        ("Alpine:v3.19", "1.0_rc1", "1.0", -1),
        ("Wolfi", "1.0-r1", "1.0", 1),
        ("Chainguard", "1.2.3_git20230101~abcdef", "1.2.3", 1),
        ("Red Hat:enterprise_linux:9::appstream", "1:1.0-1.el9", "2.0-1.el9", 1),
        ("Rocky Linux:9", "1.0^git1-1", "1.0.1-1", -1),
        ("AlmaLinux:8", "1.0-1.el8", "1.0-1.el8", 0),
        ("openSUSE:Tumbleweed", "1.0~rc1-1.1", "1.0-1.1", -1),
        ("SUSE:Linux Enterprise Server 15 SP5", "1.10-1", "1.9-1", 1),
    ],
)
def test_dispatcher_uses_the_ecosystem_base(ecosystem: str, a: str, b: str, expected: int) -> None:
    assert sign(versions.compare(ecosystem, a, b)) == expected


@pytest.mark.parametrize("ecosystem", ["Hackage", "", "debian", ":12", "Debian12"])
def test_dispatcher_refuses_unknown_ecosystems(ecosystem: str) -> None:
    with pytest.raises(VersionError):
        versions.compare(ecosystem, "1.0", "1.0")


def test_dispatcher_raises_version_error_for_bad_versions() -> None:
    with pytest.raises(VersionError):
        versions.compare("Debian:12", "not a version", "1.0")
    with pytest.raises(VersionError):
        versions.compare("Alpine:v3.19", "1.0-1", "1.0")
    assert issubclass(VersionError, ValueError)


def test_dispatcher_turns_other_value_errors_into_version_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(a: str, b: str) -> int:
        raise ValueError("library says no")

    monkeypatch.setitem(versions.ORDERING_BY_ECOSYSTEM, "Test", "refusing")
    monkeypatch.setitem(sys.modules, f"{versions.__name__}.refusing", types.SimpleNamespace(compare=refuse))
    with pytest.raises(VersionError, match="library says no"):
        versions.compare("Test:1", "1", "2")
