"""Ears on a simulated call, on virtual time: `ivrflow test` of recipes that listen.

The menu's audio (ivrflow.menu.voice) is generated 20 ms frame by frame, as fast as the
machine can, and judged by the same `Hearing` a live call's stream goes through. Each
frame is taken at the virtual moment its last sample arrives, so the recipe acts when it
would on a call whose audio came without delay. A menu that hangs up ends the audio, as
a call's stream ends when the call does.
"""

from __future__ import annotations

import math

from ivrflow.engine.clock import VirtualClock
from ivrflow.engine.ears import AudioLost, Prompt
from ivrflow.engine.hearing import Hearing, SpotterFactory
from ivrflow.listen.audio import FRAME_SECONDS as FRAME
from ivrflow.menu.voice import MenuVoice


class MenuEars:
    def __init__(self, voice: MenuVoice, clock: VirtualClock,
                 spotter: SpotterFactory | None = None) -> None:
        self.voice = voice
        self._clock = clock
        self._spotter = spotter
        self.frames = 0  # frames judged, for the curious

    async def prompt(self, *, silence: float, phrases: tuple[str, ...], barge: bool,
                     deadline: float, since: float | None = None) -> Prompt:
        simulator = self.voice.simulator
        t0 = simulator.t0
        hearing = Hearing(silence=silence, phrases=phrases, barge=barge,
                          rate=self.voice.rate, spotter=self._spotter)
        # the first whole frame from `since`: earlier audio is not this wait's prompt
        began = self._clock.now() if since is None else since
        n = math.ceil(round((began - t0) / FRAME, 9))
        while True:
            start = t0 + n * FRAME
            if start + FRAME > deadline:
                await self._clock.sleep_until(deadline)
                return hearing.result()
            simulator.advance(start)
            if simulator.hung_up:
                await self._clock.sleep_until(start)
                at = (simulator.hung_up_at or start) - t0
                raise AudioLost(f"the call's audio ended: the menu hung up at {at:.2f} s")
            heard = hearing.feed(self.voice.audio(n * FRAME, FRAME), start)
            self.frames += 1
            n += 1
            if heard is not None:
                await self._clock.sleep_until(start + FRAME)
                return heard
