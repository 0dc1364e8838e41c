"""The tables of the CVSS v4.0 scoring method, as FIRST publishes them with the specification.

Source: the specification (https://www.first.org/cvss/v4-0/specification-document,
section 8) and FIRST's reference calculator, which carries the same tables
(`cvss_lookup.js`, `max_composed.js`, `max_severity.js`). These are data, not
code: the scores were set by the CVSS SIG's experts, one per macro-vector.
"""

from __future__ import annotations

from fractions import Fraction

# One row per (EQ1, EQ2, EQ3): scores in the order EQ4 0–2 × EQ5 0–2 × EQ6 0–1 (EQ3 = 2 only exists with EQ6 = 1,
# so those rows list EQ4 0–2 × EQ5 0–2).
_ROWS = {
    "000": "10 9.9 9.8 9.5 9.5 9.2 10 9.6 9.3 8.7 9.1 8.1 9.3 9 8.9 8 8.1 6.8",
    "001": "9.8 9.5 9.5 9.2 9 8.4 9.3 9.2 8.9 8.1 8.1 6.5 8.8 8 7.8 7 6.9 4.8",
    "002": "9.2 8.2 7.2 7.9 6.9 5 6.9 5.5 2.7",
    "010": "9.9 9.7 9.5 9.2 9.2 8.5 9.5 9.1 9 8.3 8.4 7.1 9.2 8.1 8.2 7.1 7.2 5.3",
    "011": "9.5 9.3 9.2 8.5 8.5 7.3 9.2 8.2 8 7.2 7 5.9 8.4 7 7.1 5.2 5 3",
    "012": "8.6 7.5 5.2 7.1 5.2 2.9 6.3 2.9 1.7",
    "100": "9.8 9.5 9.4 8.7 9.1 8.1 9.4 8.9 8.6 7.4 7.7 6.4 8.7 7.5 7.4 6.3 6.3 4.9",
    "101": "9.4 8.9 8.8 7.7 7.6 6.7 8.6 7.6 7.4 5.8 5.9 5 7.2 5.7 5.7 5.2 5.2 2.5",
    "102": "8.3 7 5.4 6.5 5.8 2.6 5.3 2.1 1.3",
    "110": "9.5 9 8.8 7.6 7.6 7 9 7.7 7.5 6.2 6.1 5.3 7.7 6.6 6.8 5.9 5.2 3",
    "111": "8.9 7.8 7.6 6.7 6.2 5.8 7.4 5.9 5.7 5.7 4.7 2.3 6.1 5.2 5.7 2.9 2.4 1.6",
    "112": "7.1 5.9 3 5.8 2.6 1.5 2.3 1.3 0.6",
    "200": "9.3 8.7 8.6 7.2 7.5 5.8 8.6 7.4 7.4 6.1 5.6 3.4 7 5.4 5.2 4 4 2.2",
    "201": "8.5 7.5 7.4 5.5 6.2 5.1 7.2 5.7 5.5 4.1 4.6 1.9 5.3 3.6 3.4 1.9 1.9 0.8",
    "202": "6.4 5.1 2 4.7 2.1 1.1 2.4 0.9 0.4",
    "210": "8.8 7.5 7.3 5.3 6 5 7.3 5.5 5.9 4 4.1 2 5.4 4.3 4.5 2.2 2 1.1",
    "211": "7.5 5.5 5.8 4.5 4 2.1 6.1 5.1 4.8 1.8 2 0.9 4.6 1.8 1.7 0.7 0.8 0.2",
    "212": "5.3 2.4 1.4 2.4 1.2 0.5 1 0.3 0.1",
}


def _expand() -> dict[str, Fraction]:
    table: dict[str, Fraction] = {}
    for prefix, row in _ROWS.items():
        scores = row.split()
        eq6_values = (1,) if prefix[2] == "2" else (0, 1)
        keys = [f"{prefix}{eq4}{eq5}{eq6}" for eq4 in range(3) for eq5 in range(3) for eq6 in eq6_values]
        if len(keys) != len(scores):
            raise AssertionError(f"CVSS v4 table row {prefix} has {len(scores)} scores, not {len(keys)}")
        table.update(zip(keys, map(Fraction, scores), strict=True))
    return table


MACRO_VECTOR_SCORES: dict[str, Fraction] = _expand()
"""Macro-vector (`"001201"`: EQ1–EQ6 levels) → the score of its highest-severity vectors; 270 entries."""

MAX_SEVERITY_VECTORS: dict[str, dict[str, tuple[str, ...]]] = {
    "eq1": {"0": ("AV:N/PR:N/UI:N",), "1": ("AV:A/PR:N/UI:N", "AV:N/PR:L/UI:N", "AV:N/PR:N/UI:P"),
            "2": ("AV:P/PR:N/UI:N", "AV:A/PR:L/UI:P")},
    "eq2": {"0": ("AC:L/AT:N",), "1": ("AC:H/AT:N", "AC:L/AT:P")},
    # Keyed by the EQ3 and EQ6 levels together.
    "eq3eq6": {
        "00": ("VC:H/VI:H/VA:H/CR:H/IR:H/AR:H",),
        "01": ("VC:H/VI:H/VA:L/CR:M/IR:M/AR:H", "VC:H/VI:H/VA:H/CR:M/IR:M/AR:M"),
        "10": ("VC:L/VI:H/VA:H/CR:H/IR:H/AR:H", "VC:H/VI:L/VA:H/CR:H/IR:H/AR:H"),
        "11": ("VC:L/VI:H/VA:L/CR:H/IR:M/AR:H", "VC:L/VI:H/VA:H/CR:H/IR:M/AR:M", "VC:H/VI:L/VA:H/CR:M/IR:H/AR:M",
               "VC:H/VI:L/VA:L/CR:M/IR:H/AR:H", "VC:L/VI:L/VA:H/CR:H/IR:H/AR:M"),
        "21": ("VC:L/VI:L/VA:L/CR:H/IR:H/AR:H",),
    },
    "eq4": {"0": ("SC:H/SI:S/SA:S",), "1": ("SC:H/SI:H/SA:H",), "2": ("SC:L/SI:L/SA:L",)},
}
"""Per EQ level, the highest-severity vectors of a macro-vector (the metrics that EQ covers)."""

MAX_SEVERITY_DEPTH: dict[str, dict[str, int]] = {
    "eq1": {"0": 1, "1": 4, "2": 5},
    "eq2": {"0": 1, "1": 2},
    "eq3eq6": {"00": 7, "01": 6, "10": 8, "11": 8, "21": 10},
    "eq4": {"0": 6, "1": 5, "2": 4},
}
"""Per EQ level, the greatest severity distance within a macro-vector plus one, in steps of 0.1."""
