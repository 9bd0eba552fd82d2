"""Variable patterns: regular expressions written in recipes, run in linear time.

A pattern comes from a file someone else may have written, and Python's `re` backtracks:
`^(0+)+$` against 36 zeros and an `x` takes minutes, and some patterns it cannot even
compile without an OverflowError or RecursionError. RE2 (google-re2) guarantees time
linear in the value and bounded memory, so checking any recipe ends at once. The price
is RE2's syntax: no lookaround and no backreferences, which digit patterns never need.
This is the only module that imports re2.
"""

from __future__ import annotations

import re
from functools import lru_cache

import re2

MAX_PATTERN = 1000  # characters; a digit pattern is a few dozen

MAX_REPEAT = 1000  # RE2's own limit for {n,m}
_COUNT = re.compile(r"(?<!\\)\{([0-9]+)(?:,([0-9]*))?\}")
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print its own complaint on stderr
_OPTIONS.max_mem = 8 << 20


class BadPattern(ValueError):
    """A pattern RE2 cannot use; `reason` says why, for a located message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> re2._Regexp[str]:
    """The compiled pattern, or `BadPattern`."""
    if len(pattern) > MAX_PATTERN:
        raise BadPattern(f"longer than {MAX_PATTERN} characters")
    for match in _COUNT.finditer(pattern):
        # RE2 reads a count too large for an int as literal text ('a{4294967296}' then
        # matches only itself), where other engines refuse it: refuse it here too
        if any(n and int(n) > MAX_REPEAT for n in match.groups()):
            raise BadPattern(f"a repetition count above {MAX_REPEAT}: {match[0][:24]}")
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        raise BadPattern(_reason(exc)) from None
    except (ValueError, OverflowError, RecursionError, MemoryError, TypeError):
        raise BadPattern("too complex to compile") from None


def fullmatch(pattern: str, value: str) -> bool:
    """Whether the whole of `value` matches `pattern` (which must compile)."""
    return compile_pattern(pattern).fullmatch(value) is not None


def _reason(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    what = text.split(":", 1)[0].strip() or "invalid pattern"
    if "perl operator" in what or "escape sequence" in what:
        what += " (patterns use RE2 syntax: no lookaround, no backreferences)"
    return what
