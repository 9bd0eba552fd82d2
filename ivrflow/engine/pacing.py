"""Spreading a batch's starts, so that sends due together go out one by one.

A batch of calls that are already live would otherwise start every flow at the same
instant; every send of a round then falls due at once, they queue behind each other in
one event loop, and the gaps each IVR hears are off by the length of the queue. Since a
send's next step is anchored to when it was due (not to when it went out), pacing the
*starts* is enough: call i keeps its offset from call i-1 for the whole flow, and each
send has a slot of its own, in the same order in every round.

The slot adapts to the machine (the starts stay in order whatever it does):

- it starts at `slot` (1 ms), but the first few calls are spaced `WARMUP_SLOT` (5 ms),
  enough for a send on a slow machine, until what a send costs here is known;
- `SendMeter` measures what a send costs the event loop's thread (its CPU time over the
  sends accepted so far); once a few sends are in, the slot is at least `MARGIN` times
  that cost, so the sends of one round never queue;
- whenever three calls in a row start later than their slots by more than a slot (the
  loop is behind for another reason), the slot grows by half; a single stall (another
  process took the core) does not count, and the calls it held up still start one slot
  apart, from when the stall ended, rather than all at once;

up to `max_slot`. What happened is kept in `Pacing` for the batch's summary: the spread
the pacing added (the longest a start was held back), the slot, the measured cost and the
worst start lateness.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from ivrflow.engine.clock import Clock
from ivrflow.engine.events import Event

MARGIN = 1.5  # the slot over the measured cost of a send: room for the rest of the loop
MEASURED_AFTER = 4  # sends accepted before their cost is trusted
WARMUP_SLOT = 0.005  # the first calls' slot, while no send's cost is known yet
BEHIND_AFTER = 3  # starts late by more than a slot, one after another, before it grows


@dataclass(slots=True)
class Pacing:
    """What the pacer did, for the batch summary."""

    started: int = 0
    spread: float = 0.0  # the longest any call's start was held back for its slot
    slot: float = 0.0  # the slot at the end (it may have grown)
    worst_lateness: float = 0.0  # the latest a start came after its slot, seconds
    send_cost: float = 0.0  # CPU seconds of the event loop per accepted send (0: unmeasured)

    @property
    def behind(self) -> bool:
        """Whether the machine could not keep the slots (a start came 5 ms or more late)."""
        return self.worst_lateness >= 0.005


class SendMeter:
    """The event loop thread's CPU time per accepted send, over the whole batch so far.

    `cpu` is the thread's CPU clock (time.thread_time: the loop's own work, not a
    sandbox's thread or another process); tests pass a virtual one.
    """

    def __init__(self, cpu: Callable[[], float] = time.thread_time) -> None:
        self._cpu = cpu
        self._began: float | None = None
        self.sends = 0

    def begin(self) -> None:
        """Start the CPU clock (when the first call starts; again: no effect)."""
        if self._began is None:
            self._began = self._cpu()

    def sent(self) -> None:
        self.sends += 1

    @property
    def cost(self) -> float:
        """Seconds per send; 0 until `MEASURED_AFTER` sends are in."""
        if self.sends < MEASURED_AFTER or self._began is None:
            return 0.0
        return (self._cpu() - self._began) / self.sends


class Pacer:
    """Gives each call of a batch its start time, one slot after the previous one."""

    def __init__(self, clock: Clock, slot: float = 0.001, max_slot: float = 0.02,
                 meter: SendMeter | None = None) -> None:
        self.clock = clock
        self.max_slot = max_slot
        self.meter = meter if meter is not None else SendMeter()
        self.pacing = Pacing(slot=slot)
        self._slot = slot  # the slot before the measured cost: grows when starts come late
        self._late_in_a_row = 0
        self._next: float | None = None
        self._turn = asyncio.Lock()  # fair: turns are given in the order they are asked

    def hear(self, event: Event) -> None:
        """Count a send the API accepted (a batch's listener passes every event here)."""
        if event.type == "step_finished" and event.kind == "send" \
                and event.fields.get("outcome") == "ok":
            self.meter.sent()

    async def turn(self) -> None:
        """Wait for this call's slot (the first call starts at once). Calls take their
        turns in the order they ask, each one's slot set only once the previous call has
        started, so what the meter learnt meanwhile already spaces it."""
        asked = self.clock.now()
        self.meter.begin()
        async with self._turn:
            now = self.clock.now()
            due = now if self._next is None else max(now, self._next)
            if due > now:
                await self.clock.sleep_until(due)
            started = self.clock.now()
            late = started - due
            pacing = self.pacing
            pacing.started += 1
            pacing.spread = max(pacing.spread, due - asked)
            pacing.worst_lateness = max(pacing.worst_lateness, late)
            self._late_in_a_row = self._late_in_a_row + 1 if late > self._slot else 0
            if self._late_in_a_row >= BEHIND_AFTER:
                self._slot = min(self.max_slot, self._slot * 1.5)
                self._late_in_a_row = 0
            slot = self._slot
            cost = self.meter.cost
            if cost:
                pacing.send_cost = cost
                slot = max(slot, MARGIN * cost)
            elif pacing.started < MEASURED_AFTER:
                slot = max(slot, WARMUP_SLOT)  # until a send's cost is known
            pacing.slot = min(self.max_slot, slot)
            # from when this call really started: after a stall, the calls held up
            # meanwhile still go one slot apart, not all at once to catch up
            self._next = max(due, started) + pacing.slot
