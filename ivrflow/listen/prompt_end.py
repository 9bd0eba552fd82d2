"""When has the IVR finished its prompt? Voice activity plus a trailing-silence rule.

`wait: {silence: D}` ends when speech has been heard since the wait began and then `D`
seconds of silence followed; a pause shorter than `D` inside a prompt does not end it.
That is the rule voice-agent platforms use (Pipecat 2.0 s, Vapi 1.5 s, Retell 1 s).

Frames are classified by webrtcvad (a C library with no model to download), and its
per-frame decisions are smoothed as py-webrtcvad's reference collector does: a ring
buffer over the last `window` seconds of frames, entering speech when more than `ratio`
of them are voiced and leaving it when more than `ratio` are unvoiced. The smoothing is
what keeps a click or a burst of line noise from counting as speech, and a short dip in
the middle of a word from counting as silence.

The silence is counted from when the speech stopped, not from when the ring noticed:
the end of the last voiced frame that was also louder than the line's noise (the
noise level is tracked on unvoiced frames). The loudness check undoes webrtcvad's own
hangover, which would otherwise make every end 100-140 ms late. So
`PromptEnded.speech_ended` is when the speech stopped, to a frame or two, and
`PromptEnded.t` is when the rule fired: `speech_ended + silence + GUARD`, rounded up to
the next frame boundary. Leaving speech needs most of a window of unvoiced frames, so a
silence shorter than `window` fires when the window has emptied instead; and when the
silence is up while speech seems to be starting again (see `_onset`), the decision
waits for the window to settle.

After a prompt ends the detector is ready for the next one: more speech starts a new
prompt with a new `SpeechStarted`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from operator import mul

from ivrflow.listen.audio import FRAME_SECONDS, RATES, pcm_frame_bytes, samples

AGGRESSIVENESS = 2
"""webrtcvad's mode, 0 (least) to 3 (most eager to call a frame unvoiced). 2 ignores
the low noise of a quiet line and still keeps the soft ends of words."""
WINDOW = 0.3
"""Seconds of frames the decision is smoothed over (py-webrtcvad's collector: 300 ms)."""
RATIO = 0.9
"""Share of the window that must agree to enter or leave speech (the collector's 90 %)."""
HANGOVER = 0.2
"""How far back from the last voiced frame the end of speech is looked for. webrtcvad
keeps calling frames voiced for up to 7 frames (140 ms at 20 ms, mode 2) after a burst
of speech (its "overhang"); those frames carry only the line's noise."""
GUARD = 0.06
"""Seconds the decision waits beyond the silence. The first frames of a sentence that
resumes after a pause can be too weak for the VAD (a soft "f" or "h" at 8 kHz, about
60 ms), and the end of speech is placed at the last frame clearly above the noise, so
a pause just shorter than the silence would otherwise end the prompt."""
ONSET_FRAMES = 5
"""The frames looked at for a possible restart of speech when the silence is up."""
LOUDER = 1.41
"""A frame is louder than the line when its RMS exceeds the line's noise RMS by this
factor (3 dB: a 20 ms frame of steady noise is never that far above its mean)."""


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Speech began at audio time `t` (the first voiced frame of the window that
    entered speech), the first speech since the wait or the previous prompt's end."""

    t: float


@dataclass(frozen=True, slots=True)
class PromptEnded:
    """The prompt that began at `speech_began` stopped speaking at `speech_ended`, and
    `t` (>= `speech_ended` + silence + `GUARD`) is the audio time at which that was
    decided: the earliest moment anything may act on it."""

    t: float
    speech_began: float
    speech_ended: float


PromptEvent = SpeechStarted | PromptEnded


def webrtc_classifier(rate: int, aggressiveness: int = AGGRESSIVENESS) -> Callable[[bytes],
                                                                                   bool]:
    """webrtcvad's speech/non-speech decision on one 20 ms frame at `rate`."""
    if not 0 <= aggressiveness <= 3:
        raise ValueError(f"aggressiveness must be 0 to 3, not {aggressiveness}")
    try:
        import webrtcvad
    except ImportError as exc:
        raise ImportError('voice activity detection needs webrtcvad: pip install '
                          '"ivrflow[listen]"') from exc
    vad = webrtcvad.Vad(aggressiveness)

    def is_speech(frame: bytes) -> bool:
        return bool(vad.is_speech(frame, rate))

    return is_speech


class PromptEnd:
    """The prompt-end rule over a stream of 20 ms frames of 16-bit PCM at `rate`.

    `feed(frame, t)` takes each frame with `t`, the audio time of its first sample,
    and returns the events it caused. `classify` replaces webrtcvad (tests script the
    voice decisions with it); otherwise webrtcvad is loaded here, not at import.
    """

    def __init__(self, silence: float, rate: int, aggressiveness: int = AGGRESSIVENESS, *,
                 window: float = WINDOW, ratio: float = RATIO,
                 classify: Callable[[bytes], bool] | None = None) -> None:
        if silence <= 0:
            raise ValueError(f"silence must be positive, not {silence}")
        if rate not in RATES:
            raise ValueError(f"unsupported sample rate {rate}: expected 8000 or 16000")
        if not 0.5 <= ratio < 1:
            raise ValueError(f"ratio must be in [0.5, 1), not {ratio}")
        self.silence = silence
        self.rate = rate
        self.frame_bytes = pcm_frame_bytes(rate)
        self._classify = classify or webrtc_classifier(rate, aggressiveness)
        self._size = max(1, round(window / FRAME_SECONDS))
        self._threshold = ratio * self._size
        self._ring: deque[tuple[float, bool]] = deque(maxlen=self._size)
        self._voiced = 0
        self._recent: deque[tuple[float, bool]] = deque(maxlen=round(HANGOVER / FRAME_SECONDS))
        self._noise = 0.0  # mean square of unvoiced frames: the line's noise
        self.reset()

    def reset(self) -> None:
        """Forget everything heard: a new wait begins."""
        self._ring.clear()
        self._voiced = 0
        self._in_speech = False
        self._began: float | None = None  # speech heard since the reset (or last end)
        self._last_voiced_end = 0.0
        self._ended: float | None = None  # end of speech of the pause being timed

    @property
    def in_speech(self) -> bool:
        """Whether the smoothed decision is "speech" now."""
        return self._in_speech

    @property
    def speech_began(self) -> float | None:
        """When the prompt being heard began, or None before any speech."""
        return self._began

    def feed(self, frame: bytes, t: float) -> list[PromptEvent]:
        """Classify one frame (audio time `t` at its start) and apply the rule."""
        if len(frame) != self.frame_bytes:
            raise ValueError(f"a frame at {self.rate} Hz is {self.frame_bytes} bytes, "
                             f"not {len(frame)}")
        voiced = self._classify(frame)
        end = t + FRAME_SECONDS
        power = _power(frame)
        if not voiced:
            # a slow average: the noise of the line, not of one frame
            self._noise = power if not self._noise else self._noise * 0.95 + power * 0.05
        if len(self._ring) == self._size and self._ring[0][1]:
            self._voiced -= 1
        self._ring.append((t, voiced))
        self._voiced += voiced
        events: list[PromptEvent] = []
        if self._in_speech:
            if voiced:
                self._last_voiced_end = end
                self._recent.append((end, power > self._noise * LOUDER * LOUDER))
            if len(self._ring) - self._voiced > self._threshold:
                self._in_speech = False
                self._ended = next((e for e, loud in reversed(self._recent) if loud),
                                   self._last_voiced_end)
                self._clear_ring()
        elif self._voiced > self._threshold:
            self._in_speech = True
            start = next(ft for ft, v in self._ring if v)
            self._last_voiced_end = end
            self._recent.clear()
            self._recent.append((end, True))
            self._ended = None  # a pause shorter than the silence: the prompt goes on
            if self._began is None:
                self._began = start
                events.append(SpeechStarted(start))
            self._clear_ring()
        if (self._ended is not None and self._began is not None
                and end >= self._ended + self.silence + GUARD - 1e-9 and not self._onset()):
            events.append(PromptEnded(end, self._began, self._ended))
            self._began = None
            self._ended = None
        return events

    def _onset(self) -> bool:
        """Whether speech may be starting again: at least 2 of the last 5 frames voiced.

        Entering speech takes most of a window of voiced frames, so speech that resumes
        just before the silence is up would otherwise end the prompt in its first
        syllables. A lone voiced frame in the noise does not hold the end back.
        """
        ring = self._ring
        return sum(ring[-i][1] for i in range(1, min(ONSET_FRAMES, len(ring)) + 1)) >= 2

    def _clear_ring(self) -> None:
        self._ring.clear()
        self._voiced = 0


def _power(frame: bytes) -> float:
    """Mean square of a frame's samples."""
    values = samples(frame)
    return float(sum(map(mul, values, values))) / max(1, len(values))
