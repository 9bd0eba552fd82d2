"""A sandbox's memory: its calls, every request it answered, and the digits it heard.

The server's event loop writes and a test's thread reads at the same time, so every
access goes through one lock and readers get copies. Times are `time.monotonic()`
values passed in by the caller, which keeps the call lifecycle a pure function of them.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from ivrflow.sandbox.config import Drop, DtmfFault, Fail, RateLimit, SandboxConfig
from ivrflow.sandbox.faults import Countdown, FaultScript, digits_heard, fault_name


@dataclass(frozen=True, slots=True)
class Heard:
    """Digits the sandbox played on a call.

    `t` is `time.monotonic()` when the request arrived, `offset` the seconds since the
    call's first request, `fault` None for a clean 202 or the fault that answered
    instead ("500", "502", "504" or "drop").
    """

    call: str
    leg: str
    digits: str
    t: float
    offset: float
    fault: str | None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the sandbox answered (or dropped: `status` None).

    `t` is `time.monotonic()` and `wall` is `time.time()` at receipt; `path` is the raw
    path with its query string; `call`, `digits` and `leg` are what the request named,
    None where it named nothing usable.
    """

    t: float
    wall: float
    method: str
    path: str
    call: str | None
    digits: str | None
    leg: str | None
    status: int | None
    fault: str | None

    def to_json(self, *, digits: bool = True) -> dict[str, object]:
        """The record as one line of the `--log` file; without `digits`, the digits are
        left out (null) and only their count kept."""
        shown: dict[str, object] = {"digits": self.digits}
        if not digits:
            shown = {"digits": None,
                     "digits_omitted": None if self.digits is None else len(self.digits)}
        return {
            "time": datetime.fromtimestamp(self.wall, timezone.utc).isoformat(
                timespec="milliseconds"),
            "method": self.method,
            "path": self.path,
            "call": self.call,
            **shown,
            "leg": self.leg,
            "status": self.status,
            "fault": self.fault,
            "monotonic": round(self.t, 6),
        }


RequestListener = Callable[[RequestRecord], None]
"""Called, in the server's event loop, with each request record as it is made."""

HeardListener = Callable[[Heard], None]
"""Called, in the server's event loop, with each digit string the sandbox heard."""


@dataclass(frozen=True, slots=True)
class LiveCall:
    """What the live-call GET reports about a call in progress."""

    call_uuid: str
    request_uuid: str
    session_start: str


@dataclass(frozen=True, slots=True)
class DtmfOutcome:
    """How to answer a well-formed, authorized DTMF request.

    `status` None means drop the connection; `heard` is what was played, if anything.
    """

    status: int | None
    fault: DtmfFault | None
    heard: Heard | None


class _Call:
    __slots__ = ("ends_at", "first_seen", "first_seen_wall", "live_from", "request_uuid")

    def __init__(self, now: float, wall: float, config: SandboxConfig) -> None:
        self.first_seen = now
        self.first_seen_wall = wall
        self.live_from: float | None = None if config.never_live else now + config.live_after
        self.ends_at: float | None = (
            None if config.hangup_after is None else now + config.hangup_after)
        self.request_uuid = str(uuid.uuid4())

    def is_live(self, now: float) -> bool:
        return (self.live_from is not None and now >= self.live_from
                and (self.ends_at is None or now < self.ends_at))


class SandboxState:
    """The calls, records and fault budgets of one sandbox; safe to share across threads."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}
        self._records: deque[RequestRecord] = deque(maxlen=config.max_records)
        self._heard: deque[Heard] = deque(maxlen=config.max_records)
        self._dtmf_total = 0
        self._dtmf_by_call: Counter[str] = Counter()
        self._dtmf_faults = FaultScript(config.dtmf_faults)
        self._live_faults = Countdown(config.live_fail)

    # The server's side.

    def dtmf(self, call: str, leg: str, digits: str, now: float, wall: float) -> DtmfOutcome:
        """Decide the answer to a valid DTMF request and remember what was heard."""
        with self._lock:
            state = self._touch(call, now, wall)
            if not state.is_live(now):
                return DtmfOutcome(404, None, None)
            fault = self._dtmf_faults.take()
            heard = None
            if fault is None or digits_heard(fault):
                heard = Heard(call, leg, digits, now, now - state.first_seen,
                              None if fault is None else fault_name(fault))
                self._heard.append(heard)
        return DtmfOutcome(_status(fault), fault, heard)

    def live_call(self, call: str, now: float, wall: float) -> tuple[int, LiveCall | None]:
        """The status of a live-call GET (200, 404 or the live fault's) and the call."""
        with self._lock:
            state = self._touch(call, now, wall)
            if not state.is_live(now):
                return 404, None
            if self._live_faults.take():
                return self._config.live_fail_status, None
            assert state.live_from is not None
            start = state.first_seen_wall + (state.live_from - state.first_seen)
            return 200, LiveCall(call, state.request_uuid, _iso(start))

    def live_calls(self, now: float) -> list[str]:
        """The ids of the calls live at `now`, oldest first."""
        with self._lock:
            return [call for call, state in self._calls.items() if state.is_live(now)]

    def hang_up(self, call: str, now: float, wall: float) -> bool:
        """End a call; True if it was live.

        A call that no request has named yet was not live; it is created already
        ended, so it never goes live.
        """
        with self._lock:
            was_live = call in self._calls and self._calls[call].is_live(now)
            state = self._touch(call, now, wall)
            if state.ends_at is None or state.ends_at > now:
                state.ends_at = now
            return was_live

    def mark_live(self, call: str, now: float, wall: float) -> None:
        """Make a call live from `now` until it is hung up or its `hangup_after` runs out."""
        with self._lock:
            state = self._touch(call, now, wall)
            if state.live_from is None or state.live_from > now:
                state.live_from = now
            if state.ends_at is not None and state.ends_at <= now:
                state.ends_at = None

    def is_live(self, call: str, now: float) -> bool:
        """Whether a call is live at `now`; a call never named is not."""
        with self._lock:
            state = self._calls.get(call)
            return state is not None and state.is_live(now)

    def touch(self, call: str, now: float, wall: float) -> None:
        """Note that a request named `call`, starting its clock if it is new."""
        with self._lock:
            self._touch(call, now, wall)

    def record(self, record: RequestRecord, dtmf_post: bool) -> None:
        """Keep a request record; `dtmf_post` counts it as a DTMF request."""
        with self._lock:
            self._records.append(record)
            if dtmf_post:
                self._dtmf_total += 1
                if record.call is not None:
                    self._dtmf_by_call[record.call] += 1

    def _touch(self, call: str, now: float, wall: float) -> _Call:
        state = self._calls.get(call)
        if state is None:
            state = self._calls[call] = _Call(now, wall, self._config)
        return state

    # The reader's side.

    def heard(self) -> list[Heard]:
        """A copy of everything heard, oldest first."""
        with self._lock:
            return list(self._heard)

    def requests(self) -> list[RequestRecord]:
        """A copy of every request record, oldest first."""
        with self._lock:
            return list(self._records)

    def dtmf_requests(self, call: str | None = None) -> int:
        """How many DTMF POSTs arrived (for one call), whatever they were answered."""
        with self._lock:
            return self._dtmf_total if call is None else self._dtmf_by_call[call]


def _status(fault: DtmfFault | None) -> int | None:
    if fault is None:
        return 202
    if isinstance(fault, Drop):
        return None
    if isinstance(fault, RateLimit):
        return 429
    assert isinstance(fault, Fail)
    return fault.status


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="seconds")
