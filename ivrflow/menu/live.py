"""A menu model behind the sandbox, in real time: `ivrflow run --sandbox --menu FILE`.

Each call gets a simulator of the menu, started when its flow starts. Digits the sandbox hears
are pressed into it, one tone apart, as the engine's timing says they play; a watcher
advances it with the clock, prints each node it enters as it happens, and hangs the
sandbox call up when the menu hangs up, so the flow meets a real 404.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from typing import TextIO

from ivrflow.engine.events import Event
from ivrflow.language.digits import DTMF, PAUSES
from ivrflow.menu.model import Menu
from ivrflow.menu.simulator import Happening, MenuSimulator
from ivrflow.sandbox import Heard


class LiveMenus:
    def __init__(self, menu: Menu, calls: Mapping[str, Callable[[str], bool]], tone: float,
                 stream: TextIO | None = None) -> None:
        """`calls` maps each call id to a test of whether a digit string is secret."""
        self.menu = menu
        self.tone = tone
        self.secret = dict(calls)
        self.stream = stream or sys.stderr
        self.simulators: dict[str, MenuSimulator] = {}  # started with each call's flow
        self.shown = dict.fromkeys(calls, 0)
        self.many = len(calls) > 1

    def add_call(self, call: str, is_secret: Callable[[str], bool]) -> None:
        """A call known only once placed and answered (`run --to`)."""
        self.secret[call] = is_secret
        self.shown.setdefault(call, 0)

    def flow_event(self, event: Event) -> None:
        """Start a call's menu when its flow starts, as `ivrflow test` does."""
        if event.type == "flow_started" and event.call in self.secret:
            self.simulators[event.call] = MenuSimulator(self.menu, time.monotonic() - event.t)

    def voice(self, call: str, rate: int) -> Callable[[float, float], bytes]:
        """The call's audio for the sandbox's stream: (monotonic start, seconds) -> 16-bit
        PCM at `rate`; the menu speaks once the call's flow has started, and before that
        the line is quiet."""
        from ivrflow.menu.voice import MenuVoice
        from ivrflow.sandbox.streams import line_noise

        quiet = line_noise(call, rate)
        spoken: list[MenuVoice] = []

        def play(start: float, seconds: float) -> bytes:
            simulator = self.simulators.get(call)
            if simulator is None or start < simulator.t0:
                return quiet(start, seconds)
            if not spoken:
                spoken.append(MenuVoice(simulator, rate))
            return spoken[0].audio(start - simulator.t0, seconds)

        return play

    def heard(self, heard: Heard) -> None:
        """The sandbox's on_heard listener: play the digits into the call's menu."""
        simulator = self.simulators.get(heard.call)
        if simulator is None:
            return
        secret = self.secret[heard.call](heard.digits)
        t = heard.t
        for char in heard.digits:
            if char in DTMF:
                simulator.press(char, t, secret=secret)
                t += self.tone
            else:
                t += PAUSES[char]

    async def watch(self, hangup: Callable[[str], object], every: float = 0.05) -> None:
        """Advance every menu with the clock and print what happens, until cancelled."""
        while True:
            self.step(hangup)
            await asyncio.sleep(every)

    def step(self, hangup: Callable[[str], object]) -> None:
        now = time.monotonic()
        for call, simulator in self.simulators.items():
            simulator.advance(now)
            news = [h for h in simulator.trace[self.shown[call]:] if h.t <= now - simulator.t0]
            self.shown[call] += len(news)
            for happening in news:
                if happening.kind != "digit":  # the path, and what went astray
                    self.stream.write(self.line(call, happening) + "\n")
                if happening.kind == "hangup":
                    hangup(call)
        self.stream.flush()

    async def settle(self, hangup: Callable[[str], object]) -> None:
        """After the flow: let the last digits play into the menus, then print the rest."""
        latest = max((s.t0 + h.t for s in self.simulators.values() for h in s.trace),
                     default=0.0)
        await asyncio.sleep(max(0.0, latest - time.monotonic()))
        self.step(hangup)
        for call, simulator in self.simulators.items():
            who = f" {call}" if self.many else ""
            where = (f"hung up in '{simulator.node.name}'" if simulator.hung_up
                     else f"reached '{simulator.node.name}'")
            self.stream.write(f"  menu{who}: the call {where}\n")
        self.stream.flush()

    def line(self, call: str, h: Happening) -> str:
        who = f" {call}" if self.many else ""
        if h.kind == "enter":
            what = f"-> {h.node} ({h.detail})"
        else:
            digit = f"{h.shown_digit()}, " if h.digit else ""
            what = f"{h.kind.replace('_', ' ')} in {h.node}: {digit}{h.detail}"
        return f"  menu{who} {h.t:7.2f}s  {what}"
