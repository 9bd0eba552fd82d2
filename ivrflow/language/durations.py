"""Durations as recipes write them: `4`, `0.5`, `"500ms"`, `"4s"`, `"2m"`."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0}
# as the schemas' duration pattern: at most 9 digits before the point and 6 after, so
# every duration the pattern admits is a finite number
_DURATION = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,6})?)(ms|s|m)")


def seconds(value: float | int | str) -> float:
    """Seconds in a duration the schema has already accepted."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise ValueError(f"not a duration: {value!r}")
        return float(match[1]) * _UNITS[match[2]]
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"not a finite duration: {value!r}")
    return result


def format_seconds(value: float) -> str:
    """A short human form: 250ms, 4s, 1.5s, 2m30s."""
    if value < 1 and value != 0:
        return f"{value * 1000:.0f}ms"
    if value < 60:
        return f"{value:.3f}".rstrip("0").rstrip(".") + "s"
    minutes, rest = divmod(value, 60)
    text = f"{int(minutes)}m"
    return text + format_seconds(rest) if rest else text
