"""When each step may start and how long a send plays: the rules the planner and the
interpreter share, so a plan and a run agree to the millisecond."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ivrflow.language.digits import playback
from ivrflow.language.model import Flow, Listen, Send, Step, Wait

__all__ = ["earliest_start", "playback", "timeline", "wait_end"]


def earliest_start(flow: Flow, step: Step, previous_end: float,
                   last_action_end: float | None) -> float:
    """Offset at which `step` may start.

    A step starts when the previous one completed. `gap` is a floor on the silence between
    two actions (send or confirm_live): it is not added to explicit waits, which are
    silence already; it only lengthens the pause when the waits in between are shorter.
    """
    if isinstance(step, (Wait, Listen)) or last_action_end is None:
        return previous_end
    return max(previous_end, last_action_end + flow.gap)


def wait_end(step: Wait | Listen, start: float) -> float:
    """Offset at which a wait that began at `start` is over; for a listening wait, the
    earliest: after its silence (the IVR must have been quiet that long), or at once for
    one that barges in on a phrase."""
    if isinstance(step, Listen):
        return start if step.barge else start + step.silence
    if step.until is not None:
        return max(start, step.until)
    return start + (step.seconds or 0.0)


def timeline(flow: Flow, digits_of: Callable[[Send], str]
             ) -> Iterator[tuple[Step, float, float]]:
    """(step, start, end) for every step, with instant API answers and a call live at once,
    and listening waits as short as they can be (so every offset after one is the earliest).

    `digits_of` gives what a send plays (resolved digits for a plan, the literal part for
    a lower bound before variables are known).
    """
    previous_end = 0.0
    last_action_end: float | None = None
    for step in flow.steps:
        start = earliest_start(flow, step, previous_end, last_action_end)
        if isinstance(step, (Wait, Listen)):
            end = wait_end(step, start)
        else:
            end = start
            if isinstance(step, Send):
                end += playback(digits_of(step), flow.tone)
            last_action_end = end
        yield step, start, end
        previous_end = end
