"""DTMF digit strings: references to variables, checks, and playback estimates."""

from __future__ import annotations

import re
from collections.abc import Iterator

DTMF = frozenset("0123456789*#")
PAUSES = {"w": 0.5, "W": 1.0}  # seconds, as the Vobiz API defines them
VALID = re.compile(r"[0-9*#wW]+")
REFERENCE = re.compile(r"\$\{([^}]*)\}")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def references(template: str) -> Iterator[str]:
    """The variable names a digit template refers to, in order."""
    for match in REFERENCE.finditer(template):
        yield match[1]


def explain_bad_digits(template: str) -> str:
    """Why a digit template is invalid, pointing at the first offending character."""
    if template == "":
        return 'digits are empty; write the digits to send, quoted: send: "1"'
    for match in REFERENCE.finditer(template):
        if not NAME.fullmatch(match[1]):
            return (f"'${{{match[1]}}}' is not a valid variable reference; names are letters, "
                    "digits and underscores")
    literal = REFERENCE.sub("", template)
    if "${" in literal:
        return "a `${` is not closed; write variable references as ${name}"
    if "$" in literal:
        return "a `$` must start a variable reference such as ${name}"
    for char in literal:
        if char not in DTMF and char not in PAUSES:
            shown = repr(char) if char.isprintable() else f"U+{ord(char):04X}"
            tip = " (A-D are not supported by the API)" if char in "ABCDabcd" else ""
            return (f"{shown} is not a DTMF digit{tip}: use 0-9, * and #, "
                    "with w (0.5 s) and W (1 s) for pauses")
    return "invalid digits"


def playback(digits: str, tone: float) -> float:
    """Estimated seconds the API takes to play `digits` (resolved, no references)."""
    return sum(PAUSES.get(c, tone) for c in digits)


def last_key_at(digits: str, tone: float) -> float:
    """Seconds from the start of playing `digits` to the start of its last key's tone."""
    keys = [i for i, c in enumerate(digits) if c not in PAUSES]
    return playback(digits[:keys[-1]], tone) if keys else playback(digits, tone)


def mask(template: str, secret: set[str], values: dict[str, str] | None = None) -> str:
    """The digits as shown to people: secret references as ****, others resolved if known."""

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name in secret:
            return "****"
        if values is not None and name in values:
            return values[name]
        return match[0]

    return REFERENCE.sub(replace, template)
