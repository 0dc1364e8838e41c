"""CVSS v3 and v4.0 base scores against published scores and, for v4.0, FIRST's reference implementation."""

from __future__ import annotations

import random

import pytest
from cvss import CVSS4  # the reference implementation by the CVSS v4.0 calculator's authors (dev extra)

from collectors.vulndb.cvss import base_score, parse_v4_vector, severity_of, v4_macro_vector

# (vector, NVD base score): each is the NVD score of a real CVE with this vector.
NVD = [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),  # network, no privileges, full impact
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),  # reflected XSS
    ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),  # local privilege escalation
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),  # CVE-2021-44228 (Log4Shell)
    ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N", 6.1),  # CVE-2023-32681 (requests)
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),  # CVE-2022-25883 (semver ReDoS)
    ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5),
    ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
    ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
]


@pytest.mark.parametrize(("vector", "score"), NVD)
def test_base_score_agrees_with_nvd(vector: str, score: float) -> None:
    assert base_score(vector) == score


def test_temporal_metrics_do_not_change_the_base_score() -> None:
    assert base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:C") == 9.8


@pytest.mark.parametrize("vector", [
    "AV:N/AC:L/Au:N/C:P/I:P/A:P",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
    "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
])
def test_other_vectors_are_refused(vector: str) -> None:
    with pytest.raises(ValueError):
        base_score(vector)


@pytest.mark.parametrize(("score", "severity"), [
    (10.0, "critical"), (9.0, "critical"), (8.9, "high"), (7.0, "high"), (6.9, "medium"), (4.0, "medium"),
    (3.9, "low"), (0.1, "low"), (0.0, "none"),
])
def test_severity_ratings(score: float, severity: str) -> None:
    assert severity_of(score) == severity


V4_BASE = "AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"

# (vector, published CVSS-B score), one or more per severity band.
V4_PUBLISHED = [
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 10.0),  # the maximum
    (f"CVSS:4.0/{V4_BASE}", 9.3),  # NVD's most frequent v4 vector (unauthenticated remote, full impact)
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:H/SI:N/SA:N", 9.2),  # NVD, CVE-2025-68428 (jsPDF)
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.7),  # NVD, authenticated RCE
    ("CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.5),  # FIRST examples, CVE-2022-41741
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N", 6.9),  # FIRST calculator
    ("CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:N/VI:L/VA:N/SC:N/SI:N/SA:N", 4.8),  # FIRST calculator
    ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", 1.0),  # FIRST calculator
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0),  # no impact at all
]


@pytest.mark.parametrize(("vector", "score"), V4_PUBLISHED)
def test_v4_base_score_agrees_with_published_scores(vector: str, score: float) -> None:
    assert base_score(vector) == score


def test_v4_published_scores_cover_every_severity_band() -> None:
    assert {severity_of(score) for _, score in V4_PUBLISHED} == {"critical", "high", "medium", "low", "none"}


@pytest.mark.parametrize("extra", [
    "E:U",  # threat: unreported exploit maturity would lower CVSS-BT, not CVSS-B
    "E:P/CR:L/IR:L/AR:L",
    "MAV:P/MAC:H/MAT:P/MPR:H/MUI:A/MVC:N/MVI:N/MVA:N/MSC:N/MSI:S/MSA:S",
    "S:P/AU:Y/R:U/V:C/RE:H/U:Red",  # supplemental metrics never change a score
])
def test_v4_threat_environmental_and_supplemental_metrics_are_ignored(extra: str) -> None:
    assert base_score(f"CVSS:4.0/{V4_BASE}/{extra}") == 9.3


def test_v4_agrees_with_the_reference_implementation_on_random_vectors() -> None:
    values = {"AV": "NALP", "AC": "LH", "AT": "NP", "PR": "NLH", "UI": "NPA", "VC": "HLN", "VI": "HLN",
              "VA": "HLN", "SC": "HLN", "SI": "HLN", "SA": "HLN"}
    rng = random.Random(4)
    vectors = {"CVSS:4.0/" + "/".join(f"{k}:{rng.choice(v)}" for k, v in values.items()) for _ in range(4000)}
    disagreements = [(v, base_score(v), CVSS4(v).base_score) for v in sorted(vectors)
                     if base_score(v) != CVSS4(v).base_score]
    assert disagreements == []
    # Base metrics alone reach 36 macro-vectors (EQ4 0 and EQ5 1–2 need other metrics): all are exercised.
    assert len({v4_macro_vector(parse_v4_vector(v)) for v in vectors}) == 36


@pytest.mark.parametrize("vector", [
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",  # SA missing
    "CVSS:4.0/AV:X/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",  # base metrics cannot be Not Defined
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:S/SA:N",  # Safety is environmental only
    f"CVSS:4.0/{V4_BASE}/AV:N",  # duplicate
    f"CVSS:4.0/{V4_BASE}/ZZ:Q",  # unknown metric
    f"CVSS:4.1/{V4_BASE}",
])
def test_malformed_v4_vectors_are_refused(vector: str) -> None:
    with pytest.raises(ValueError):
        base_score(vector)
