"""The menu as a state machine on a clock.

Time only moves forward. `advance(t)` plays the menu's own events up to `t` (prompts
ending, input timeouts, repeats, hang-ups); `press(digit, t)` is a key arriving at `t`.
Everything that happens is kept in `trace`, with times since the call began, so a test
can say exactly why a recipe went astray.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivrflow.menu.model import Menu, Node

# The most a call's simulation may produce. A menu of 50 ms announcements in a loop, run for
# an hour, makes 72,000; past the cap the simulation stops, as a hang-up that says why, so
# no model can make `ivrflow test` or the sandbox spin forever.
MAX_HAPPENINGS = 100_000


@dataclass(frozen=True, slots=True)
class Happening:
    t: float  # seconds since the call began
    kind: str  # enter, digit, ignored, unknown_key, timeout, hangup, collected
    node: str
    digit: str | None = None
    detail: str = ""
    secret: bool = False  # the digit came from a secret variable: never show it

    def shown_digit(self) -> str:
        return "a secret digit" if self.secret else f"digit '{self.digit}'"


class MenuSimulator:
    def __init__(self, menu: Menu, start: float) -> None:
        if menu.untimed:
            raise ValueError(f"the menu's nodes {menu.untimed} are timed by their speech: "
                             "load it with load_menu(..., speak=True)")
        self.menu = menu
        self.t0 = start
        self.trace: list[Happening] = []
        self.hung_up_at: float | None = None
        self.runaway = False  # stopped at MAX_HAPPENINGS
        self.repeats = 0
        self.collected = ""
        self._secret = False
        self.node: Node = menu.nodes[menu.start]
        self.prompt_end = self.input_deadline = start
        self._enter(self.node, start, "the call begins")

    # -- state ------------------------------------------------------------------------

    @property
    def hung_up(self) -> bool:
        return self.hung_up_at is not None

    def _note(self, t: float, kind: str, digit: str | None = None, detail: str = "") -> None:
        if self.runaway:
            return
        self.trace.append(Happening(round(t - self.t0, 6), kind, self.node.name, digit, detail,
                                    self._secret and digit is not None))
        if len(self.trace) >= MAX_HAPPENINGS - 1:
            self.runaway = True
            self.hung_up_at = t
            self.trace.append(Happening(round(t - self.t0, 6), "hangup", self.node.name,
                                        detail=f"the simulation stopped after {MAX_HAPPENINGS:,} "
                                        "events (a loop of short announcements?)"))

    def _enter(self, node: Node, t: float, why: str, *, replay: bool = False) -> None:
        if not replay:
            self.repeats = 0
        self.node = node
        self.collected = ""
        self.prompt_end = t + node.prompt
        self.input_deadline = self.prompt_end + node.timeout
        self._note(t, "enter", detail=why)

    # -- time -------------------------------------------------------------------------

    def advance(self, t: float) -> None:
        """Play the menu's own events (timeouts) up to time `t`."""
        # a key that arrives exactly at the deadline is still in time, where keys count
        while not self.hung_up and not self.node.end and (
                self.input_deadline < t
                or (self.input_deadline == t and not self._takes_input(self.node))):
            self._timeout(self.input_deadline)

    @staticmethod
    def _takes_input(node: Node) -> bool:
        return bool(node.options) or node.collects

    def _timeout(self, t: float) -> None:
        node = self.node
        if node.collects and len(self.collected) >= max(node.collect_min, 1):
            self._finish_collect(t, "the input timeout ended collection")
            return
        action = node.on_timeout
        if action == node.name:
            action = "repeat"  # going back to itself is a repeat, and counts as one
        if action not in ("repeat", "hangup") and not self._takes_input(node):
            # an announcement: moving on when it ends is its normal course, not a timeout
            self._enter(self.menu.nodes[action], t, f"after '{node.name}'")
            return
        self._note(t, "timeout", detail=f"no input for {node.timeout:g} s after the prompt")
        if action == "hangup" or (action == "repeat" and self.repeats >= node.max_repeats):
            self.hung_up_at = t
            self._note(t, "hangup", detail="on_timeout: hangup" if action == "hangup"
                       else f"no input after {node.max_repeats} repeat(s)")
        elif action == "repeat":
            self.repeats += 1
            self._enter(node, t, f"repeat {self.repeats} of {node.max_repeats}", replay=True)
        else:
            self._enter(self.menu.nodes[action], t, f"on_timeout from '{node.name}'")

    # -- input ------------------------------------------------------------------------

    def press(self, digit: str, t: float, *, secret: bool = False) -> None:
        """A key reaches the menu at time `t` (`secret`: never show which)."""
        self.advance(t)
        self._secret = secret
        try:
            self._press(digit, t)
        finally:
            self._secret = False

    def _press(self, digit: str, t: float) -> None:
        node = self.node
        if self.hung_up:
            self._note(t, "ignored", digit, "the menu had hung up")
            return
        if node.end:
            self._note(t, "ignored", digit, f"'{node.name}' is a final node")
            return
        if t < self.prompt_end and not node.barge_in:
            self._note(t, "ignored", digit, f"during the prompt of '{node.name}' "
                                            "(barge_in false)")
            return
        if node.collects:
            self._collect(digit, t)
        elif digit in node.options:
            self._note(t, "digit", digit, "an option")
            self._enter(self.menu.nodes[node.options[digit]], t, f"a key in '{node.name}'")
        elif node.options:
            self._invalid(t, digit, f"'{node.name}' has no such option")
        else:
            self._note(t, "ignored", digit, f"'{node.name}' takes no input")

    def _collect(self, digit: str, t: float) -> None:
        node = self.node
        if digit == node.collect_end:
            if len(self.collected) < node.collect_min:
                self._invalid(t, digit, f"the end key after only {len(self.collected)} "
                                        f"digit(s); '{node.name}' needs {node.collect_min}")
                return
            self._finish_collect(t, "the end key")
            return
        self.collected += digit
        self._note(t, "digit", digit, f"collected {len(self.collected)}")
        self.input_deadline = t + node.timeout  # the timeout now runs from the last digit
        if node.collect_max is not None and len(self.collected) >= node.collect_max:
            self._finish_collect(t, f"{node.collect_max} digits collected")

    def _invalid(self, t: float, digit: str, why: str) -> None:
        """An invalid entry replays the prompt; like timeouts, they count toward
        max_repeats, after which the menu hangs up (as real menus do)."""
        node = self.node
        if self.repeats >= node.max_repeats:
            self._note(t, "unknown_key", digit, f"{why}; too many invalid entries")
            self.hung_up_at = t
            self._note(t, "hangup", detail=f"after {node.max_repeats} replay(s)")
            return
        self.repeats += 1
        self._note(t, "unknown_key", digit, f"{why}; the prompt replays")
        self._enter(node, t, "an invalid entry", replay=True)

    def _finish_collect(self, t: float, why: str) -> None:
        node = self.node
        self._note(t, "collected", detail=f"{len(self.collected)} digit(s): {why}")
        assert node.next is not None  # the loader makes sure of it
        self._enter(self.menu.nodes[node.next], t, f"after collecting in '{node.name}'")
