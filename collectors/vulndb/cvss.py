"""CVSS base scores from vector strings: v3.0 / v3.1 by their formulas, v4.0 by its macro-vectors.

v3: https://www.first.org/cvss/v3.1/specification-document section 7 (and 3.0's,
which differs only in its rounding function).

v4.0: https://www.first.org/cvss/v4-0/specification-document section 8. A vector
falls into one of 270 macro-vectors (equivalence classes EQ1–EQ6), each scored
by FIRST's experts (`collectors.vulndb.cvss_v4_data`); the vector's score is the
macro-vector's, lowered by the mean of its proportional severity distances from
the macro-vector's highest-severity vectors towards the next lower macro-vector
in each EQ. Only the base metrics count (CVSS-B): threat, environmental and
supplemental metrics in the vector are accepted and ignored, i.e. scored as if
Not Defined. The arithmetic is exact (fractions), so no floating-point epsilon
is needed before rounding half up to one decimal.

v2 vectors are not scored: `base_score` raises ValueError for them, and the
caller falls back to other ratings.
"""

from __future__ import annotations

import decimal
import fractions
import itertools
import math

from collectors.vulndb.cvss_v4_data import MACRO_VECTOR_SCORES, MAX_SEVERITY_DEPTH, MAX_SEVERITY_VECTORS

_WEIGHTS: dict[str, dict[str, float]] = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
# Privileges Required weighs more when the scope changes.
_PRIVILEGES = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}
_BASE_METRICS = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")


def parse_vector(vector: str) -> tuple[str, dict[str, str]]:
    """The version (`3.0`, `3.1`) and the metrics of a v3 vector; ValueError for anything else."""
    prefix, _, rest = vector.strip().partition("/")
    if prefix not in ("CVSS:3.0", "CVSS:3.1"):
        raise ValueError(f"not a CVSS v3 vector: {vector!r}")
    metrics: dict[str, str] = {}
    for part in rest.split("/"):
        key, sep, value = part.partition(":")
        if not sep or key in metrics:
            raise ValueError(f"malformed CVSS vector {vector!r} at {part!r}")
        metrics[key] = value
    missing = [m for m in _BASE_METRICS if m not in metrics]
    if missing:
        raise ValueError(f"CVSS vector {vector!r} lacks {', '.join(missing)}")
    return prefix.removeprefix("CVSS:"), metrics


def base_score(vector: str) -> float:
    """The base score (0.0–10.0) of a CVSS v3.0/v3.1 or v4.0 vector; other metric groups are ignored.

    ValueError for a malformed vector or another version (v2).
    """
    if vector.strip().startswith("CVSS:4.0/"):
        return v4_base_score(vector)
    version, m = parse_vector(vector)
    try:
        scope = m["S"]
        pr = _PRIVILEGES[scope][m["PR"]]
        av, ac, ui = _WEIGHTS["AV"][m["AV"]], _WEIGHTS["AC"][m["AC"]], _WEIGHTS["UI"][m["UI"]]
        c, i, a = _WEIGHTS["C"][m["C"]], _WEIGHTS["I"][m["I"]], _WEIGHTS["A"][m["A"]]
    except KeyError as error:
        raise ValueError(f"CVSS vector {vector!r} has an unknown value: {error}") from error
    iss = 1 - (1 - c) * (1 - i) * (1 - a)
    impact = 6.42 * iss if scope == "U" else 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    exploitability = 8.22 * av * ac * pr * ui
    if impact <= 0:
        return 0.0
    total = impact + exploitability if scope == "U" else 1.08 * (impact + exploitability)
    roundup = _roundup_31 if version == "3.1" else _roundup_30
    return roundup(min(total, 10.0))


def severity_of(score: float) -> str:
    """The qualitative rating of a score (specification table 14); `none` for 0.0."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    if score > 0.0:
        return "low"
    return "none"


def _roundup_31(value: float) -> float:
    """Appendix A of 3.1: round up to one decimal, ignoring floating-point noise (4.000000000001 gives 4.0)."""
    as_int = round(value * 100_000)
    if as_int % 10_000 == 0:
        return as_int / 100_000.0
    return (math.floor(as_int / 10_000) + 1) / 10.0


def _roundup_30(value: float) -> float:
    """3.0's definition: the smallest number with one decimal that is >= the input."""
    return float(decimal.Decimal(repr(value)).quantize(decimal.Decimal("0.1"), rounding=decimal.ROUND_CEILING))


# --- CVSS v4.0 -----------------------------------------------------------------------------------------------

_V4_BASE_VALUES: dict[str, tuple[str, ...]] = {
    "AV": ("N", "A", "L", "P"), "AC": ("L", "H"), "AT": ("N", "P"), "PR": ("N", "L", "H"), "UI": ("N", "P", "A"),
    "VC": ("H", "L", "N"), "VI": ("H", "L", "N"), "VA": ("H", "L", "N"),
    "SC": ("H", "L", "N"), "SI": ("H", "L", "N"), "SA": ("H", "L", "N"),
}
"""Base metrics in the specification's order, with their values from most to least severe."""
_V4_OTHER_METRICS = frozenset({
    "E", "CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI", "MVC", "MVI", "MVA", "MSC", "MSI", "MSA",
    "S", "AU", "R", "V", "RE", "U",
})
"""Threat, environmental and supplemental metrics: allowed in a vector, not part of the base score."""

# Severity levels in steps of 0.1, as the specification's distance tables give them (0 = most severe).
# SC starts at 1 and SI/SA have a level 0 because the environmental MSI/MSA can be `S` (Safety).
_V4_LEVELS: dict[str, dict[str, int]] = {
    "AV": {"N": 0, "A": 1, "L": 2, "P": 3}, "PR": {"N": 0, "L": 1, "H": 2}, "UI": {"N": 0, "P": 1, "A": 2},
    "AC": {"L": 0, "H": 1}, "AT": {"N": 0, "P": 1},
    "VC": {"H": 0, "L": 1, "N": 2}, "VI": {"H": 0, "L": 1, "N": 2}, "VA": {"H": 0, "L": 1, "N": 2},
    "SC": {"H": 1, "L": 2, "N": 3}, "SI": {"S": 0, "H": 1, "L": 2, "N": 3}, "SA": {"S": 0, "H": 1, "L": 2, "N": 3},
    "CR": {"H": 0, "M": 1, "L": 2}, "IR": {"H": 0, "M": 1, "L": 2}, "AR": {"H": 0, "M": 1, "L": 2},
}
# The metrics whose severity distances add up per equivalence class (EQ5, exploit maturity, has none in base).
_V4_EQ_METRICS = {"eq1": ("AV", "PR", "UI"), "eq2": ("AC", "AT"), "eq3eq6": ("VC", "VI", "VA", "CR", "IR", "AR"),
                  "eq4": ("SC", "SI", "SA")}
_IMPACT_METRICS = ("VC", "VI", "VA", "SC", "SI", "SA")


def parse_v4_vector(vector: str) -> dict[str, str]:
    """The metrics of a CVSS v4.0 vector; ValueError when it is not a well-formed one.

    All eleven base metrics must be present with a defined value; other metrics must be ones v4.0 defines.
    """
    prefix, _, rest = vector.strip().partition("/")
    if prefix != "CVSS:4.0":
        raise ValueError(f"not a CVSS v4.0 vector: {vector!r}")
    metrics: dict[str, str] = {}
    for part in rest.split("/"):
        key, sep, value = part.partition(":")
        if not sep or not value or key in metrics or (key not in _V4_BASE_VALUES and key not in _V4_OTHER_METRICS):
            raise ValueError(f"malformed CVSS vector {vector!r} at {part!r}")
        metrics[key] = value
    missing = [m for m in _V4_BASE_VALUES if m not in metrics]
    if missing:
        raise ValueError(f"CVSS vector {vector!r} lacks {', '.join(missing)}")
    for key, allowed in _V4_BASE_VALUES.items():
        if metrics[key] not in allowed:
            raise ValueError(f"CVSS vector {vector!r} has an unknown value {key}:{metrics[key]}")
    return metrics


def v4_base_score(vector: str) -> float:
    """The CVSS-B score (0.0–10.0) of a v4.0 vector: base metrics only, by the macro-vector method."""
    m = _v4_base_metrics(parse_v4_vector(vector))
    if all(m[k] == "N" for k in _IMPACT_METRICS):
        return 0.0
    eq = v4_macro_vector(m)
    score = MACRO_VECTOR_SCORES[eq]
    lower = _v4_next_lower_scores(eq)
    distance = _v4_severity_distances(m, eq)
    depth = {"eq1": MAX_SEVERITY_DEPTH["eq1"][eq[0]], "eq2": MAX_SEVERITY_DEPTH["eq2"][eq[1]],
             "eq3eq6": MAX_SEVERITY_DEPTH["eq3eq6"][eq[2] + eq[5]], "eq4": MAX_SEVERITY_DEPTH["eq4"][eq[3]]}
    # EQ5 always contributes a proportion of 0, but counts towards the mean when a lower macro-vector exists.
    proportional = [(score - lower[name]) * fractions.Fraction(distance[name], depth[name])
                    for name in _V4_EQ_METRICS if lower[name] is not None]
    existing = len(proportional) + (lower["eq5"] is not None)
    mean = sum(proportional, fractions.Fraction(0)) / existing if existing else fractions.Fraction(0)
    value = min(max(score - mean, fractions.Fraction(0)), fractions.Fraction(10))
    return math.floor(value * 10 + fractions.Fraction(1, 2)) / 10


def v4_macro_vector(m: dict[str, str]) -> str:
    """The six EQ levels (`"001201"`) of v4.0 base metrics, with threat and environmental metrics Not Defined."""
    av, pr, ui = m["AV"], m["PR"], m["UI"]
    if av == "N" and pr == "N" and ui == "N":
        eq1 = 0
    elif (av == "N" or pr == "N" or ui == "N") and av != "P":
        eq1 = 1
    else:
        eq1 = 2
    eq2 = 0 if m["AC"] == "L" and m["AT"] == "N" else 1
    vc, vi, va = m["VC"], m["VI"], m["VA"]
    if vc == "H" and vi == "H":
        eq3 = 0
    elif "H" in (vc, vi, va):
        eq3 = 1
    else:
        eq3 = 2
    # EQ4 level 0 needs Safety (MSI/MSA:S), an environmental value; EQ5 0 is E:X, scored as Attacked.
    eq4 = 1 if "H" in (m["SC"], m["SI"], m["SA"]) else 2
    eq5 = 0
    # EQ6 with CR/IR/AR Not Defined (= High): any high impact on the vulnerable system.
    eq6 = 0 if "H" in (vc, vi, va) else 1
    return f"{eq1}{eq2}{eq3}{eq4}{eq5}{eq6}"


def _v4_base_metrics(metrics: dict[str, str]) -> dict[str, str]:
    """The base metrics plus the Not Defined defaults the method needs: security requirements High."""
    base = {key: metrics[key] for key in _V4_BASE_VALUES}
    base.update(CR="H", IR="H", AR="H")
    return base


def _v4_next_lower_scores(eq: str) -> dict[str, fractions.Fraction | None]:
    """Per EQ, the score of the next lower macro-vector; None where there is none."""

    def score(levels: list[int]) -> fractions.Fraction | None:
        return MACRO_VECTOR_SCORES.get("".join(map(str, levels)))

    def bumped(*positions: int) -> list[int]:
        levels = [int(c) for c in eq]
        for position in positions:
            levels[position] += 1
        return levels

    eq3, eq6 = int(eq[2]), int(eq[5])
    if eq3 == 0 and eq6 == 0:
        # Two ways down (00 → 01 or 10): the higher-scoring one.
        candidates = [s for s in (score(bumped(5)), score(bumped(2))) if s is not None]
        eq3eq6 = max(candidates) if candidates else None
    elif eq3 == 1 and eq6 == 0:
        eq3eq6 = score(bumped(5))
    elif eq3 < 2:
        eq3eq6 = score(bumped(2))  # 01 → 11, 11 → 21
    else:
        eq3eq6 = None  # 21 is the lowest
    return {"eq1": score(bumped(0)), "eq2": score(bumped(1)), "eq3eq6": eq3eq6, "eq4": score(bumped(3)),
            "eq5": score(bumped(4))}


def _v4_severity_distances(m: dict[str, str], eq: str) -> dict[str, int]:
    """Per EQ, the distance (in steps of 0.1) of the metrics from the first of the macro-vector's
    highest-severity vectors that is at least as severe in every metric."""
    groups = (MAX_SEVERITY_VECTORS["eq1"][eq[0]], MAX_SEVERITY_VECTORS["eq2"][eq[1]],
              MAX_SEVERITY_VECTORS["eq3eq6"][eq[2] + eq[5]], MAX_SEVERITY_VECTORS["eq4"][eq[3]])
    distances: dict[str, int] = {}
    for parts in itertools.product(*groups):
        highest = dict(item.split(":") for part in parts for item in part.split("/"))
        distances = {key: _V4_LEVELS[key][m[key]] - _V4_LEVELS[key][value] for key, value in highest.items()}
        if all(d >= 0 for d in distances.values()):
            break
    return {name: sum(distances[key] for key in keys) for name, keys in _V4_EQ_METRICS.items()}
