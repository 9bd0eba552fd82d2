"""Spreading a batch's starts, so that sends due together go out one by one.

A batch of calls that are already live would otherwise start every flow at the same
instant; every send of a round then falls due at once, they queue behind each other in
one event loop, and the gaps each IVR hears are off by the length of the queue. Since a
send's next step is anchored to when it was due (not to when it went out), pacing the
*starts* is enough: call i keeps its offset from call i-1 for the whole flow, and each
send has a slot of its own.

The slot adapts to the machine. It starts at `slot` (1 ms, about what a send costs the
client); whenever a call starts later than its slot by more than a slot (the loop is
behind), the slot grows by half, up to `max_slot`. What happened is kept in `Pacing`
for the batch's summary: the spread the pacing added (the longest a start was held
back) and the worst start lateness.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivrflow.engine.clock import Clock


@dataclass(slots=True)
class Pacing:
    """What the pacer did, for the batch summary."""

    started: int = 0
    spread: float = 0.0  # the longest any call's start was held back for its slot
    slot: float = 0.0  # the slot at the end (it may have grown)
    worst_lateness: float = 0.0  # the latest a start came after its slot, seconds

    @property
    def behind(self) -> bool:
        """Whether the machine could not keep the slots (a start came 5 ms or more late)."""
        return self.worst_lateness >= 0.005


class Pacer:
    """Gives each call of a batch its start time, one slot after the previous one."""

    def __init__(self, clock: Clock, slot: float = 0.001, max_slot: float = 0.02) -> None:
        self.clock = clock
        self.max_slot = max_slot
        self.pacing = Pacing(slot=slot)
        self._next: float | None = None

    async def turn(self) -> None:
        """Wait for this call's slot (the first call starts at once)."""
        now = self.clock.now()
        due = now if self._next is None else max(now, self._next)
        self._next = due + self.pacing.slot
        if due > now:
            await self.clock.sleep_until(due)
        started = self.clock.now()
        late = started - due
        pacing = self.pacing
        pacing.started += 1
        pacing.spread = max(pacing.spread, due - now)
        pacing.worst_lateness = max(pacing.worst_lateness, late)
        if late > pacing.slot and pacing.slot < self.max_slot:
            pacing.slot = min(self.max_slot, pacing.slot * 1.5)
