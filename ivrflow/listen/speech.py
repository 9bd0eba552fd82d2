"""Offline speech synthesis (espeak-ng) and background noise: menus that speak.

The sandbox streams a menu's prompts as a call's audio, and the detection tests and
benchmarks need speech whose words and timing are known. Both must work without a
network, a system package or a model download: the `espeakng-loader` wheel ships
libespeak-ng and its data, which this module drives through ctypes.

espeak-ng keeps global state in the process (one voice, one output callback), so one
engine is initialised on first use and every call is serialised by a lock; calling
`synthesize` many times, from any thread, is safe. Results are cached by their arguments
(a menu says the same prompts again and again).

`synthesize` trims the leading and trailing silence espeak adds, so the clip's length is
the speech's length: whoever plays it knows exactly when the prompt's speech ends.
"""

from __future__ import annotations

import ctypes
import random
import threading
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ivrflow.listen.audio import resample, to_bytes

VOICE = "en-us+klatt6"
"""American English with espeak-ng's Klatt formant variant 6. Of the variants tried it is
the most intelligible to a general recognizer: pocketsphinx's full language model gets
14 % of its words wrong at 16 kHz, against 61 % for plain "en-us"."""
WORDS_PER_MINUTE = 160
NOISE_LEVEL = 0.003
TRIM_LEVEL = 64
"""Samples quieter than this (about -54 dBFS) at either end of a clip are trimmed."""

# espeak-ng's speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_RATE, _VOLUME, _PITCH = 1, 2, 3
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.c_void_p)


class SpeechError(RuntimeError):
    """espeak-ng could not be loaded or refused to speak."""


class _Espeak:
    """The process's one espeak-ng engine. Use only while holding `_LOCK`."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise SpeechError("speech synthesis needs espeakng-loader: "
                              'pip install "ivrflow[listen]"') from exc
        try:
            lib: Any = ctypes.CDLL(espeakng_loader.get_library_path())
            data = espeakng_loader.get_data_path()
        except (OSError, RuntimeError) as exc:
            raise SpeechError(f"cannot load libespeak-ng: {exc}") from exc
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        self.rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(),
                                          _INITIALIZE_DONT_EXIT)
        if self.rate <= 0:
            raise SpeechError(f"espeak_Initialize failed with data at {data}")
        self.lib = lib
        self._chunks: list[bytes] = []
        # ctypes must keep the callback object alive as long as the library may call it
        self._callback = _SYNTH_CALLBACK(self._collect)
        lib.espeak_SetSynthCallback(self._callback)
        self._voice = ""

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if wav and count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        return 0  # 0: continue synthesis

    def speak(self, text: str, voice: str, words_per_minute: int, pitch: int) -> bytes:
        if voice != self._voice:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise SpeechError(f"espeak-ng has no voice {voice!r}")
            self._voice = voice
        self.lib.espeak_SetParameter(_RATE, words_per_minute, 0)
        self.lib.espeak_SetParameter(_PITCH, pitch, 0)
        self._chunks = []
        encoded = text.encode("utf-8")
        status = self.lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0,
                                       _CHARS_UTF8, None, None)
        if status != 0:
            raise SpeechError(f"espeak_Synth failed ({status}) on {text!r}")
        pcm, self._chunks = b"".join(self._chunks), []
        return pcm


_LOCK = threading.Lock()
_engine: _Espeak | None = None


def native_rate() -> int:
    """espeak-ng's own output rate (22050 Hz for its voices)."""
    with _LOCK:
        return int(_get_engine().rate)


def _get_engine() -> _Espeak:
    global _engine
    if _engine is None:
        _engine = _Espeak()
    return _engine


@lru_cache(maxsize=256)
def synthesize(text: str, rate: int = 8000, *, voice: str = VOICE,
               words_per_minute: int = WORDS_PER_MINUTE, pitch: int = 50) -> bytes:
    """`text` spoken by espeak-ng, as 16-bit little-endian PCM at `rate` Hz.

    Leading and trailing silence is trimmed (see `TRIM_LEVEL`), so
    `len(result) / 2 / rate` is how long the speech lasts. Raises SpeechError if
    espeak-ng is missing or fails.
    """
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, not {rate}")
    with _LOCK:
        engine = _get_engine()
        native = engine.speak(text, voice, words_per_minute, pitch)
        source = engine.rate
    return resample(trim(native), source, rate)


def trim(pcm: bytes, level: int = TRIM_LEVEL) -> bytes:
    """`pcm` without its leading and trailing samples quieter than `level`."""
    import numpy

    values = numpy.frombuffer(pcm[:len(pcm) - len(pcm) % 2], dtype="<i2").astype(numpy.int32)
    loud = numpy.flatnonzero(numpy.abs(values) >= level)
    if not len(loud):
        return b""
    return pcm[2 * int(loud[0]):2 * (int(loud[-1]) + 1)]


def noise(seconds: float, rate: int, level: float = NOISE_LEVEL, seed: int = 0) -> bytes:
    """`seconds` of Gaussian noise at `rate` Hz, RMS `level` of full scale.

    The default (about -50 dBFS) is a quiet line: real calls are never digital zero,
    and a detector must treat such a line as silence. The same seed gives the same
    noise.
    """
    generator = random.Random(seed)
    sigma = level * 32767
    gauss = generator.gauss
    values = array("h", (max(-32768, min(32767, round(gauss(0.0, sigma))))
                         for _ in range(round(seconds * rate))))
    return to_bytes(values)


def mix(speech: bytes, background: bytes) -> bytes:
    """`speech` with `background` added sample by sample (clipped), as long as the
    longer of the two."""
    import numpy

    a = numpy.frombuffer(speech, dtype="<i2").astype(numpy.int32)
    b = numpy.frombuffer(background, dtype="<i2").astype(numpy.int32)
    if len(a) < len(b):
        a, b = b, a
    out = a.copy()
    out[:len(b)] += b
    return bytes(numpy.clip(out, -32768, 32767).astype("<i2").tobytes())


@dataclass(frozen=True, slots=True)
class Spoken:
    """A synthesized prompt: `pcm` (16-bit little-endian at `rate`) and, for each
    sentence, when its speech starts and ends (seconds from the clip's start)."""

    pcm: bytes
    rate: int
    speech: tuple[tuple[float, float], ...]

    @property
    def duration(self) -> float:
        return len(self.pcm) / 2 / self.rate

    @property
    def speech_end(self) -> float:
        """When the last sentence's speech ends: the true end of the prompt."""
        return self.speech[-1][1] if self.speech else 0.0


def speak_prompt(sentences: Sequence[str], rate: int = 8000, *,
                 pauses: Sequence[float] | float = 0.5, lead: float = 0.0, tail: float = 0.0,
                 noise_level: float = NOISE_LEVEL, seed: int = 0, voice: str = VOICE,
                 words_per_minute: int = WORDS_PER_MINUTE, pitch: int = 50) -> Spoken:
    """`sentences` spoken one after another, `pauses` (one for all, or one per gap)
    of line noise between them, `lead` and `tail` seconds of noise around them, with the
    noise (`noise_level`, 0 for none) under the speech too, as on a phone line."""
    gaps = ([float(pauses)] * max(0, len(sentences) - 1) if isinstance(pauses, (int, float))
            else [float(p) for p in pauses])
    if len(gaps) != max(0, len(sentences) - 1):
        raise ValueError(f"{len(sentences)} sentences need {len(sentences) - 1} pauses, "
                         f"not {len(gaps)}")
    parts = [bytes(2 * round(lead * rate))]
    spans = []
    at = len(parts[0]) // 2
    for i, sentence in enumerate(sentences):
        pcm = synthesize(sentence, rate, voice=voice, words_per_minute=words_per_minute,
                         pitch=pitch)
        spans.append((at / rate, (at + len(pcm) // 2) / rate))
        parts.append(pcm)
        at += len(pcm) // 2
        gap = bytes(2 * round((gaps[i] if i < len(gaps) else tail) * rate))
        parts.append(gap)
        at += len(gap) // 2
    clip = b"".join(parts)
    if noise_level > 0:
        clip = mix(clip, noise(len(clip) / 2 / rate, rate, noise_level, seed))
    return Spoken(clip, rate, tuple(spans))
