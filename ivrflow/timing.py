"""When each step may start and how long a send plays: the rules the planner and the
interpreter share, so a plan and a run agree to the millisecond."""

from __future__ import annotations

from ivrflow.digits import playback
from ivrflow.model import Flow, Step, Wait

__all__ = ["earliest_start", "playback", "wait_end"]


def earliest_start(flow: Flow, step: Step, previous_end: float,
                   last_action_end: float | None) -> float:
    """Offset at which `step` may start.

    A step starts when the previous one completed. `gap` is a floor on the silence between
    two actions (send or confirm_live): it is not added to explicit waits, which are
    silence already; it only lengthens the pause when the waits in between are shorter.
    """
    if isinstance(step, Wait) or last_action_end is None:
        return previous_end
    return max(previous_end, last_action_end + flow.gap)


def wait_end(step: Wait, start: float) -> float:
    """Offset at which a wait that began at `start` is over."""
    if step.until is not None:
        return max(start, step.until)
    return start + (step.seconds or 0.0)
