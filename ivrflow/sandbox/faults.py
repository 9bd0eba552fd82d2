"""Handing out a sandbox's DTMF faults, and what each one means for the digits.

The rule for heard digits follows Vobiz's guidance on unknown outcomes: a 503 or a 429
says the request was not processed, so nothing was played; a 500, 502 or 504 may come
after the tones went out, so the sandbox plays them ("played, then failed"); a dropped
connection after the request was read means the server had the digits.
"""

from __future__ import annotations

from collections.abc import Iterable

from ivrflow.sandbox.config import Drop, DtmfFault, Fail, RateLimit

_PLAYED_THEN_FAILED = frozenset({500, 502, 504})


def fault_name(fault: DtmfFault) -> str:
    """The label a fault carries in records and logs: "drop" or the status, e.g. "503"."""
    if isinstance(fault, Drop):
        return "drop"
    if isinstance(fault, RateLimit):
        return "429"
    return str(fault.status)


def digits_heard(fault: DtmfFault) -> bool:
    """Whether the digits of a request answered with `fault` count as heard."""
    if isinstance(fault, Drop):
        return True
    return isinstance(fault, Fail) and fault.status in _PLAYED_THEN_FAILED


class FaultScript:
    """The DTMF faults still to hand out, in order. Not thread-safe: callers lock."""

    __slots__ = ("_faults", "_index", "_left")

    def __init__(self, faults: Iterable[DtmfFault]) -> None:
        # Counts are kept as numbers, not expanded, so `Fail(503, 10**9)` costs nothing.
        self._faults = [f for f in faults if f.count > 0]
        self._index = 0
        self._left = self._faults[0].count if self._faults else 0

    def take(self) -> DtmfFault | None:
        """The fault for the next request that would have succeeded, or None."""
        if self._index >= len(self._faults):
            return None
        fault = self._faults[self._index]
        self._left -= 1
        if self._left == 0:
            self._index += 1
            if self._index < len(self._faults):
                self._left = self._faults[self._index].count
        return fault


class Countdown:
    """A plain count of faults still to hand out. Not thread-safe: callers lock."""

    __slots__ = ("_left",)

    def __init__(self, count: int) -> None:
        self._left = count

    def take(self) -> bool:
        """True (and one fewer left) if a fault is due."""
        if self._left <= 0:
            return False
        self._left -= 1
        return True

