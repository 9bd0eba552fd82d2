"""One listening wait's decision, frame by frame: shared by every kind of ears.

`Hearing` takes 16-bit PCM frames with their audio times and says when the wait is
over: the prompt ended (`PromptEnd`: speech, then the silence), or, with `barge`, one of
the phrases was recognised. The live call's audio stream (ivrflow.engine.stream_ears)
and the offline menu that speaks (ivrflow.menu.ears) both decide through it, so a recipe
proven offline was judged by exactly the code that will judge it on a call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ivrflow.engine.ears import Prompt, Words


class Spotter(Protocol):
    """Finds expected phrases in 16-bit PCM frames (ivrflow.listen's recognizers)."""

    def feed(self, pcm: bytes, t: float) -> str | None:
        """Take one frame (audio time `t`); the expected phrase heard, if one now is."""
        ...

    def transcript(self) -> list[tuple[float, str]]:
        """What was recognised so far: (audio time, words)."""
        ...


SpotterFactory = Callable[[tuple[str, ...], int], Spotter]


class Hearing:
    """The detection of one wait over audio at `rate` Hz; times are audio times."""

    def __init__(self, *, silence: float, phrases: tuple[str, ...], barge: bool, rate: int,
                 spotter: SpotterFactory | None) -> None:
        from ivrflow.listen.prompt_end import PromptEnd  # the [listen] extra, loaded on use

        self._detector = PromptEnd(silence, rate)
        self._spotter = spotter(phrases, rate) if phrases and spotter is not None else None
        self._barge = barge
        self.began: float | None = None
        self.phrase: str | None = None

    def feed(self, pcm: bytes, t: float) -> Prompt | None:
        """One frame at audio time `t`; what was heard once the wait is over, else None."""
        from ivrflow.listen.prompt_end import PromptEnded, SpeechStarted

        if self._spotter is not None and self.phrase is None:
            self.phrase = self._spotter.feed(pcm, t)
            if self.phrase is not None and self._barge:
                return self.result()
        for event in self._detector.feed(pcm, t):
            if isinstance(event, SpeechStarted):
                self.began = event.t
            elif isinstance(event, PromptEnded):
                return self.result(event.speech_began, event.speech_ended)
        return None

    def result(self, began: float | None = None, ended: float | None = None) -> Prompt:
        """What was heard: a prompt that ended (given its speech's times), or as things
        stand (a barge, or the deadline)."""
        words = () if self._spotter is None else tuple(
            Words(t, text) for t, text in self._spotter.transcript())
        if ended is None:
            return Prompt(False, self.began, None, self.phrase, words)
        return Prompt(True, began, ended, self.phrase, words)


class RecognizerSpotter:
    """A `Spotter` over one of ivrflow.listen's recognizers, kept for the whole run (a
    pocketsphinx decoder takes a while to load) and restarted for each wait's phrases;
    8 kHz audio is upsampled to the recognizer's 16 kHz."""

    def __init__(self, engine: str = "pocketsphinx") -> None:
        from ivrflow.listen.recognize import create_recognizer

        self._recognizer = create_recognizer(engine)
        self._upsample: Callable[[bytes], bytes] | None = None

    def __call__(self, phrases: tuple[str, ...], rate: int) -> Spotter:
        from ivrflow.listen.audio import Upsampler

        self._recognizer.start(phrases)
        self._upsample = Upsampler().process if rate == 8000 else None
        return self

    def unknown_words(self, phrases: list[str]) -> list[str]:
        probe = getattr(self._recognizer, "unknown_words", None)
        return list(probe(phrases)) if probe is not None else []

    def feed(self, pcm: bytes, t: float) -> str | None:
        hits = self._recognizer.feed(self._upsample(pcm) if self._upsample else pcm, t)
        return hits[0].phrase if hits else None

    def transcript(self) -> list[tuple[float, str]]:
        return [(hit.end, hit.phrase) for hit in self._recognizer.transcript()]
