"""A transport that plays digits into a menu simulator instead of a phone call.

Digits reach the menu when the API would play them: one after another from the moment
the send is accepted, `tone` apart, with w (0.5 s) and W (1 s) pauses in between. A menu
that has hung up answers like the API for an ended call: 404.
"""

from __future__ import annotations

from collections.abc import Callable

from ivrflow.engine.clock import Clock
from ivrflow.language.digits import DTMF, PAUSES
from ivrflow.language.model import Leg
from ivrflow.menu.model import Menu
from ivrflow.menu.simulator import MenuSimulator
from ivrflow.transport.base import Accepted, CallGone, LiveOutcome, SendOutcome


class MenuTransport:
    def __init__(self, menu: Menu, clock: Clock, tone: float,
                 is_secret: Callable[[str], bool] = lambda digits: False) -> None:
        self.clock = clock
        self.tone = tone
        self.is_secret = is_secret
        self.simulator = MenuSimulator(menu, clock.now())
        # every send asked for: (when its first key reaches the menu, digits shown)
        self.sends: list[tuple[float, str]] = []

    def _gone(self) -> CallGone:
        at = (self.simulator.hung_up_at or 0.0) - self.simulator.t0
        return CallGone(404, f"the menu hung up at {at:.2f} s")

    async def send_digits(self, call: str, digits: str, leg: Leg) -> SendOutcome:
        now = self.clock.now()
        secret = self.is_secret(digits)
        lead = sum(PAUSES[c] for c in digits[: len(digits) - len(digits.lstrip("wW"))])
        self.sends.append((now + lead - self.simulator.t0, "****" if secret else digits))
        self.simulator.advance(now)
        if self.simulator.hung_up:
            return self._gone()
        t = now
        for char in digits:
            if char in DTMF:
                self.simulator.press(char, t, secret=secret)
                t += self.tone
            else:
                t += PAUSES[char]
        return Accepted(202)

    async def live(self, call: str) -> LiveOutcome:
        self.simulator.advance(self.clock.now())
        return self._gone() if self.simulator.hung_up else Accepted(200)
