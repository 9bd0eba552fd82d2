"""Scripted ears on virtual time: an IVR that says given prompts at given offsets."""

from __future__ import annotations

from dataclasses import dataclass

from ivrflow.engine.clock import VirtualClock
from ivrflow.engine.ears import AudioLost, Prompt, Words
from ivrflow.language.loader import normal_phrase


@dataclass(frozen=True)
class Said:
    """The IVR speaks `text` from offset `begin` to `end` (seconds after the flow began)."""

    begin: float
    end: float
    text: str


class ScriptedEars:
    """Hears `script` on `clock`: each listening wait jumps to when its prompt ends (the
    speech since it began, pauses shorter than the silence bridged), to the phrase with
    barge, or to the deadline; `lost_at` (an offset) drops the audio there."""

    def __init__(self, clock: VirtualClock, script: list[Said],
                 lost_at: float | None = None) -> None:
        self.clock = clock
        self.t0 = clock.now()
        self.script = script
        self.lost_at = lost_at
        self.asked: list[tuple[float, float, tuple[str, ...], bool]] = []

    async def prompt(self, *, silence: float, phrases: tuple[str, ...], barge: bool,
                     deadline: float, since: float | None = None) -> Prompt:
        now = self.clock.now() - self.t0
        self.asked.append((now, silence, phrases, barge))
        at, prompt = self._hear(now, silence, phrases, barge, deadline - self.t0)
        if self.lost_at is not None and self.lost_at < at:
            await self.clock.sleep_until(self.t0 + max(now, self.lost_at))
            raise AudioLost("the audio stream dropped")
        await self.clock.sleep_until(self.t0 + at)
        return prompt

    def _hear(self, now: float, silence: float, phrases: tuple[str, ...], barge: bool,
              limit: float) -> tuple[float, Prompt]:
        """(the offset the wait ends at, what it heard)."""
        t0 = self.t0
        began = ended = None
        words: list[Words] = []
        phrase = None
        for said in (s for s in self.script if s.end > now and s.begin < limit):
            if ended is not None and said.begin - ended >= silence:
                break  # the prompt had ended before this one began
            began = max(said.begin, now) if began is None else began
            ended = said.end
            words.append(Words(t0 + said.end, said.text))
            found = [p for p in phrases if p in normal_phrase(said.text)]
            if found and phrase is None:
                phrase = found[0]
                if barge:
                    return said.end, Prompt(False, t0 + began, None, phrase, tuple(words))
        if ended is None or ended + silence > limit:
            return limit, Prompt(False, None if began is None else t0 + began, None, phrase,
                                 tuple(words))
        return ended + silence, Prompt(True, t0 + (began or 0.0), t0 + ended, phrase,
                                       tuple(words))
