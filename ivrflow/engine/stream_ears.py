"""Ears on a live call: the audio stream's frames, voice activity, and phrases.

Frames come from the run's `AudioStreamServer` (ivrflow.transport.audio_stream) with the
time each payload arrived; `ivrflow.listen` decodes them into 20 ms PCM frames and
applies the prompt-end rule (`PromptEnd`). A `heard` wait also feeds the frames to a
phrase spotter, only while it waits (recognition costs ten times what voice activity
does).

Times: the detector counts audio time in samples since the stream's first payload (so
it never drifts from the audio); each payload's arrival ties that count to the flow's
clock, so a prompt's end is reported at the clock time its audio arrived, network delay
included, which is when ivrflow could act on it.

The stream is the run's: only audio that arrived after a wait began counts for it, and
a stream that is not connected when a wait needs it has `connect_within` seconds to
connect (AudioLost otherwise); a stream that closes during a wait is AudioLost too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from ivrflow.engine.clock import Clock
from ivrflow.engine.ears import AudioLost, Prompt, Words
from ivrflow.transport.audio_stream import AudioStreamServer, Media

CONNECT_WITHIN = 5.0


class Spotter(Protocol):
    """Finds expected phrases in 16-bit PCM frames (ivrflow.listen's recognizers)."""

    def feed(self, pcm: bytes, t: float) -> str | None:
        """Take one frame (audio time `t`); the expected phrase heard, if one now is."""
        ...

    def transcript(self) -> list[tuple[float, str]]:
        """What was recognised so far: (audio time, words)."""
        ...


SpotterFactory = Callable[[tuple[str, ...], int], Spotter]


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


class StreamEars:
    def __init__(self, server: AudioStreamServer, clock: Clock, *,
                 spotter: SpotterFactory | None = None,
                 connect_within: float = CONNECT_WITHIN,
                 record: Callable[[bytes, int], None] | None = None) -> None:
        from ivrflow.listen.audio import FrameStream  # the [listen] extra, loaded on use

        self._server = server
        self._clock = clock
        self._spotter = spotter
        self._connect_within = connect_within
        self._frames: FrameStream | None = None
        self._offset = 0.0  # clock time minus audio time, as of the last payload
        self._record = record  # takes every decoded frame (16-bit PCM, its rate)

    async def prompt(self, *, silence: float, phrases: tuple[str, ...], barge: bool,
                     deadline: float) -> Prompt:
        from ivrflow.listen.prompt_end import PromptEnd, PromptEnded, SpeechStarted

        began_waiting = self._clock.now()
        await self._connected(deadline)
        detector: PromptEnd | None = None
        spotter: Spotter | None = None
        began: float | None = None
        phrase: str | None = None
        while True:
            media = await self._next(deadline)
            if media is None:
                return self._prompt(False, began, None, phrase, spotter)
            frames = self._feed(media)
            if media.at < began_waiting:
                continue  # said before this wait began: not its prompt
            if detector is None and self._frames is not None:
                rate = self._frames.format.rate
                detector = PromptEnd(silence, rate)
                if phrases and self._spotter is not None:
                    spotter = self._spotter(phrases, rate)
            assert detector is not None
            for pcm, t in frames:
                if spotter is not None and phrase is None:
                    phrase = spotter.feed(pcm, t)
                    if phrase is not None and barge:
                        return self._prompt(False, began, None, phrase, spotter)
                for event in detector.feed(pcm, t):
                    if isinstance(event, SpeechStarted):
                        began = event.t + self._offset
                    elif isinstance(event, PromptEnded):
                        return self._prompt(True, event.speech_began + self._offset,
                                            event.speech_ended + self._offset, phrase, spotter)

    def _prompt(self, ended: bool, began: float | None, stopped: float | None,
                phrase: str | None, spotter: Spotter | None) -> Prompt:
        words = () if spotter is None else tuple(
            Words(t + self._offset, text) for t, text in spotter.transcript())
        return Prompt(ended, began, stopped, phrase, words)

    async def _connected(self, deadline: float) -> None:
        server = self._server
        if server.connected.is_set():
            return
        within = max(0.0, min(self._connect_within, deadline - self._clock.now()))
        try:
            await asyncio.wait_for(server.connected.wait(), within)
        except asyncio.TimeoutError:
            why = f"; {server.problems[-1]}" if server.problems else ""
            raise AudioLost(f"the call's audio stream did not connect within "
                            f"{within:g}s{why}") from None

    async def _next(self, deadline: float) -> Media | None:
        """The next payload, or None at the deadline; AudioLost when the stream ends."""
        left = deadline - self._clock.now()
        if left <= 0:
            return None
        try:
            media = await asyncio.wait_for(self._server.frames.get(), left)
        except asyncio.TimeoutError:
            return None
        if media is None:
            why = self._server.problems[-1] if self._server.problems else "it closed"
            raise AudioLost(f"the call's audio stream ended ({why})")
        return media

    def _feed(self, media: Media) -> list[tuple[bytes, float]]:
        """Decode one payload into (PCM frame, audio time) pairs; re-tie audio time to
        the clock at its arrival."""
        from ivrflow.listen.audio import L16, MULAW, AudioFormat, FrameStream

        start = self._server.start
        assert start is not None  # no media is accepted before the start message
        if self._frames is None:
            self._frames = FrameStream(AudioFormat(L16 if start.encoding == "l16" else MULAW,
                                                   start.rate))
        try:
            frames = self._frames.feed(media.payload)
        except ValueError as bad:
            raise AudioLost(f"the call's audio could not be decoded ({bad})") from None
        self._offset = media.at - self._frames.time
        if self._record is not None:
            for frame in frames:
                self._record(frame.pcm, start.rate)
        return [(frame.pcm, frame.t) for frame in frames]

    def drain(self) -> None:
        """Take (and record) the audio that came after the last wait."""
        while not self._server.frames.empty():
            media = self._server.frames.get_nowait()
            if media is None:
                return
            with contextlib.suppress(AudioLost):
                self._feed(media)
