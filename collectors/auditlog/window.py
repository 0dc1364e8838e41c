"""The stretch of time an audit log is read for: `--since 30d` back from now."""

from __future__ import annotations

import re
from datetime import timedelta

DEFAULT_WINDOW = timedelta(days=30)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|s)\s*$")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `2w`, `45s` → a timedelta. Raises ValueError with a one-line reason."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"--since {text!r}: not a duration (a number and a unit: 30d, 12h, 90m, 2w, 45s)")
    amount, unit = float(match.group(1)), match.group(2)
    duration = timedelta(**{_UNITS[unit]: amount})
    if duration <= timedelta(0):
        raise ValueError(f"--since {text!r}: must be longer than nothing")
    return duration
