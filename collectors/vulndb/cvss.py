"""CVSS v3.0 / v3.1 base scores from vector strings, by the specification's formulas.

https://www.first.org/cvss/v3.1/specification-document section 7 (and 3.0's, which
differs only in its rounding function). v2 and v4 vectors are not scored here:
`base_score` raises ValueError for them, and the caller falls back to other ratings.
"""

from __future__ import annotations

import decimal
import math

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
    """The base score (0.0–10.0) of a CVSS v3.0/v3.1 vector; temporal/environmental metrics are ignored."""
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
