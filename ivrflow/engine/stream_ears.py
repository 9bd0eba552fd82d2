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
import dataclasses
from collections.abc import Callable

from ivrflow.engine.clock import Clock
from ivrflow.engine.ears import AudioLost, Prompt, Words
from ivrflow.engine.hearing import Hearing, SpotterFactory
from ivrflow.transport.audio_stream import AudioStreamServer, Media

CONNECT_WITHIN = 5.0


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
                     deadline: float, since: float | None = None) -> Prompt:
        began_waiting = self._clock.now() if since is None else since
        await self._connected(deadline)
        hearing: Hearing | None = None
        while True:
            media = await self._next(deadline)
            if media is None:
                return self._on_clock(hearing.result() if hearing else Prompt(False))
            frames = self._feed(media)
            if media.at < began_waiting:
                continue  # said before this wait began: not its prompt
            if hearing is None and self._frames is not None:
                hearing = Hearing(silence=silence, phrases=phrases, barge=barge,
                                  rate=self._frames.format.rate, spotter=self._spotter)
            assert hearing is not None
            for pcm, t in frames:
                heard = hearing.feed(pcm, t)
                if heard is not None:
                    return self._on_clock(heard)

    def _on_clock(self, prompt: Prompt) -> Prompt:
        """`prompt` with its audio times moved onto the flow's clock."""
        offset = self._offset

        def moved(t: float | None) -> float | None:
            return None if t is None else t + offset

        return dataclasses.replace(
            prompt, speech_began=moved(prompt.speech_began),
            speech_ended=moved(prompt.speech_ended),
            transcript=tuple(Words(w.t + offset, w.text) for w in prompt.transcript))

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
