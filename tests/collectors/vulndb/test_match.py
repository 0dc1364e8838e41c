"""OSV range evaluation: the schema's semantics with a plain dotted-number order, then Debian with the real order."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest

from collectors.vulndb.match import fixed_version, is_affected, record_affects, record_fixed_version
from collectors.vulndb.osv import Affected, Event, OSVRecord, Package, Range, decode_record
from tests.conftest import require_tool

FIXTURES = Path(__file__).parent / "fixtures" / "osv"


def dotted(a: str, b: str) -> int:
    """Dotted integers (`1.10` after `1.9`); enough to exercise the evaluation, not any real ecosystem."""
    left, right = (tuple(int(part) for part in v.split(".")) for v in (a, b))
    return (left > right) - (left < right)


def entry(*events: dict[str, str], kind: str = "ECOSYSTEM", versions: tuple[str, ...] = (),
          ecosystem: str = "Test") -> Affected:
    return Affected(package=Package(ecosystem=ecosystem, name="pkg"),
                    ranges=(Range(type=kind, events=tuple(Event(**e) for e in events)),), versions=versions)


def affected_among(affected: Affected, candidates: str) -> list[str]:
    return [v for v in candidates.split() if is_affected(affected, "Test", v, dotted)]


ALL = "0.1 1.0 1.5 1.9 2.0 2.1 3.0 3.5 4.0"


def test_introduced_zero_to_fixed_excludes_the_fix() -> None:
    assert affected_among(entry({"introduced": "0"}, {"fixed": "2.0"}), ALL) == ["0.1", "1.0", "1.5", "1.9"]


def test_introduced_includes_its_version() -> None:
    assert affected_among(entry({"introduced": "1.5"}, {"fixed": "2.0"}), ALL) == ["1.5", "1.9"]


def test_last_affected_includes_its_version() -> None:
    assert affected_among(entry({"introduced": "1.0"}, {"last_affected": "2.0"}), ALL) == ["1.0", "1.5", "1.9", "2.0"]


def test_no_upper_event_means_everything_after() -> None:
    assert affected_among(entry({"introduced": "2.1"}), ALL) == ["2.1", "3.0", "3.5", "4.0"]


def test_several_intervals_in_one_range() -> None:
    affected = entry({"introduced": "1.0"}, {"fixed": "1.9"}, {"introduced": "3.0"}, {"fixed": "3.5"})
    assert affected_among(affected, ALL) == ["1.0", "1.5", "3.0"]


def test_events_are_evaluated_in_version_order_not_as_written() -> None:
    # The schema's pseudocode sorts the events; writers are only asked to keep them sorted.
    affected = entry({"introduced": "3.0"}, {"fixed": "3.5"}, {"fixed": "1.9"}, {"introduced": "0"})
    assert affected_among(affected, ALL) == ["0.1", "1.0", "1.5", "3.0"]


def test_limit_caps_the_range() -> None:
    assert affected_among(entry({"introduced": "1.0"}, {"limit": "2.0"}), ALL) == ["1.0", "1.5", "1.9"]


def test_any_of_several_limits_lets_a_version_in() -> None:
    affected = entry({"introduced": "0"}, {"limit": "1.0"}, {"limit": "3.0"})
    assert affected_among(affected, ALL) == ["0.1", "1.0", "1.5", "1.9", "2.0", "2.1"]


def test_star_limit_is_infinity() -> None:
    assert affected_among(entry({"introduced": "3.0"}, {"limit": "*"}), ALL) == ["3.0", "3.5", "4.0"]


def test_explicit_versions_match_exactly() -> None:
    affected = entry({"introduced": "3.0"}, {"fixed": "3.5"}, versions=("1.5", "2.0"))
    assert affected_among(affected, ALL) == ["1.5", "2.0", "3.0"]


def test_versions_alone_without_ranges() -> None:
    affected = Affected(package=Package(ecosystem="Test", name="pkg"), versions=("1.0",))
    assert affected_among(affected, ALL) == ["1.0"]


def test_semver_ranges_are_evaluated() -> None:
    assert affected_among(entry({"introduced": "0"}, {"fixed": "1.5"}, kind="SEMVER"), ALL) == ["0.1", "1.0"]


def test_git_ranges_are_ignored() -> None:
    affected = entry({"introduced": "0"}, {"fixed": "a1b2c3d"}, kind="GIT")
    assert affected_among(affected, ALL) == []


def test_other_ecosystem_or_release_does_not_match() -> None:
    affected = entry({"introduced": "0"}, ecosystem="Debian:11")
    assert not is_affected(affected, "Debian:12", "1.0", dotted)
    assert is_affected(affected, "Debian:11", "1.0", dotted)


def test_an_unorderable_version_is_an_error_not_a_miss() -> None:
    with pytest.raises(ValueError):
        is_affected(entry({"introduced": "1.0"}, {"fixed": "2.0"}), "Test", "1.0-weird", dotted)


@pytest.mark.parametrize(("installed", "fix"), [
    ("0.1", "1.9"), ("1.9", None), ("3.0", "3.5"), ("4.0", None),
])
def test_fixed_version_is_the_smallest_fix_above_the_installed_version(installed: str, fix: str | None) -> None:
    affected = entry({"introduced": "0"}, {"fixed": "1.9"}, {"introduced": "3.0"}, {"fixed": "3.5"})
    assert fixed_version(affected, "Test", installed, dotted) == fix


def test_last_affected_has_no_fix_yet() -> None:
    assert fixed_version(entry({"introduced": "0"}, {"last_affected": "2.0"}), "Test", "1.0", dotted) is None


def test_a_fix_inside_another_range_is_skipped() -> None:
    affected = Affected(package=Package(ecosystem="Test", name="pkg"), ranges=(
        Range(type="ECOSYSTEM", events=(Event(introduced="1.0"), Event(fixed="2.0"))),
        Range(type="ECOSYSTEM", events=(Event(introduced="1.9"), Event(fixed="3.0"))),
    ))
    assert fixed_version(affected, "Test", "1.5", dotted) == "3.0"


def record(*affected: Affected, withdrawn: str | None = None) -> OSVRecord:
    return OSVRecord(id="TEST-1", modified="2024-01-01T00:00:00Z", withdrawn=withdrawn, affected=affected)


def test_withdrawn_records_affect_nothing() -> None:
    affected = entry({"introduced": "0"})
    assert record_affects(record(affected), "Test", "pkg", "1.0", dotted)
    assert not record_affects(record(affected, withdrawn="2024-02-01T00:00:00Z"), "Test", "pkg", "1.0", dotted)


def test_record_level_matching_uses_the_package_name() -> None:
    other = Affected(package=Package(ecosystem="Test", name="other"),
                     ranges=(Range(type="ECOSYSTEM", events=(Event(introduced="0"),)),))
    assert not record_affects(record(other), "Test", "pkg", "1.0", dotted)


def test_pypi_names_compare_normalised() -> None:
    affected = Affected(package=Package(ecosystem="PyPI", name="Foo_Bar"),
                        ranges=(Range(type="ECOSYSTEM", events=(Event(introduced="0"),)),))
    assert record_affects(record(affected), "PyPI", "foo.bar", "1.0", dotted)


def test_record_fix_must_leave_every_affecting_entry_behind() -> None:
    first = entry({"introduced": "0"}, {"fixed": "2.0"})
    second = entry({"introduced": "1.0"}, {"fixed": "3.0"})
    assert record_fixed_version(record(first, second), "Test", "pkg", "1.5", dotted) == "3.0"
    unfixed = entry({"introduced": "1.0"})
    assert record_fixed_version(record(first, unfixed), "Test", "pkg", "1.5", dotted) is None


def load(name: str) -> OSVRecord:
    return decode_record((FIXTURES / name).read_bytes())


def dpkg_compare(a: str, b: str) -> int:
    """The oracle: dpkg itself."""
    def holds(op: str) -> bool:
        return subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0
    return 0 if holds("eq") else (-1 if holds("lt") else 1)


# Installed source versions of bookworm packages before and after their security updates.
DEBIAN_CASES = [
    ("DEBIAN-CVE-2023-5363.json", "openssl", "3.0.11-1~deb12u1"),
    ("DEBIAN-CVE-2023-5363.json", "openssl", "3.0.11-1~deb12u2"),
    ("DEBIAN-CVE-2023-5363.json", "openssl", "3.0.9-1"),
    ("DEBIAN-CVE-2023-5363.json", "openssl", "3.0.15-1~deb12u1"),
    ("DEBIAN-CVE-2023-38545.json", "curl", "7.88.1-10+deb12u3"),
    ("DEBIAN-CVE-2023-38545.json", "curl", "7.88.1-10+deb12u4"),
    ("DEBIAN-CVE-2023-38545.json", "curl", "7.88.1-10"),
    ("DEBIAN-CVE-2023-4911.json", "glibc", "2.36-9+deb12u2"),
    ("DEBIAN-CVE-2023-4911.json", "glibc", "2.36-9+deb12u3"),
    ("DEBIAN-CVE-2023-4911.json", "glibc", "2.36-9+deb12u10"),
    ("DEBIAN-CVE-2010-4756.json", "glibc", "2.36-9+deb12u10"),
]


def test_debian_records_with_the_real_dpkg_order() -> None:
    """Needs collectors.vulndb.versions.compare (written separately); judged against dpkg as the oracle."""
    require_tool("dpkg")
    from collectors.vulndb.versions import compare

    ours = functools.partial(compare, "Debian:12")
    for name, package, installed in DEBIAN_CASES:
        osv = load(name)
        expected = (record_affects(osv, "Debian:12", package, installed, dpkg_compare),
                    record_fixed_version(osv, "Debian:12", package, installed, dpkg_compare))
        got = (record_affects(osv, "Debian:12", package, installed, ours),
               record_fixed_version(osv, "Debian:12", package, installed, ours))
        assert got == expected, (name, installed)
    # And the oracle's own answers are the advisories' (guards against a fixture typo).
    openssl = load("DEBIAN-CVE-2023-5363.json")
    assert record_fixed_version(openssl, "Debian:12", "openssl", "3.0.11-1~deb12u1", dpkg_compare) == "3.0.11-1~deb12u2"
    assert not record_affects(openssl, "Debian:12", "openssl", "3.0.11-1~deb12u2", dpkg_compare)
    unfixed = load("DEBIAN-CVE-2010-4756.json")
    assert record_affects(unfixed, "Debian:12", "glibc", "2.36-9+deb12u10", dpkg_compare)
    assert record_fixed_version(unfixed, "Debian:12", "glibc", "2.36-9+deb12u10", dpkg_compare) is None
