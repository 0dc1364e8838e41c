"""Per-image vulnerability summaries: counts, fixable, and where the fix comes from."""

from __future__ import annotations

from audit.vulns import VulnMatch, summarise_images


def match(image: str, vuln: str, severity: str, layer: int, fixed: str | None) -> VulnMatch:
    return VulnMatch(image=image, package="p", version="1", ecosystem="Debian:12", layer=layer, vuln_id=vuln,
                     aliases=(vuln.removeprefix("DEBIAN-"),), severity=severity, fixed_version=fixed)


def test_summaries_count_distinct_vulnerabilities_and_split_fixes() -> None:
    matches = [
        match("a", "DEBIAN-CVE-1", "critical", 0, "2"),
        match("a", "CVE-1", "critical", 0, "2"),          # the same CVE under another id: counted once
        match("a", "DEBIAN-CVE-2", "high", 3, "5"),
        match("a", "DEBIAN-CVE-3", "low", 0, None),
        match("b", "DEBIAN-CVE-4", "medium", 0, "1.1"),
        match("c", "DEBIAN-CVE-5", "weird", 0, None),
    ]
    summaries = {s.image: s for s in summarise_images(matches, {"a": 2, "b": 1})}
    a = summaries["a"]
    assert a.counts == {"critical": 1, "high": 1, "medium": 0, "low": 1, "unknown": 0}
    assert (a.fixable, a.fixable_in_base, a.fixable_in_own_layers) == (2, 1, 1)
    assert a.remedy == "rebuild on a newer base and upgrade own layers"
    assert summaries["b"].remedy == "rebuild on a newer base image"
    assert summaries["c"].counts["unknown"] == 1 and summaries["c"].remedy == "no fix yet"
    assert [s.image for s in summarise_images(matches, {})] == ["a", "b", "c"]  # worst first
