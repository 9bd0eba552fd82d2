"""Stream payloads to 16-bit PCM, 20 ms frames and the recognizer's 16 kHz.

Vobiz forks a call's audio as base64 payloads in one of three formats (`audio/x-l16` at
8 or 16 kHz, 16-bit *big-endian*; `audio/x-mulaw` at 8 kHz). The detectors below this
module read one thing only: 16-bit signed little-endian PCM in 20 ms frames (the frame
size webrtcvad accepts and the stream's own frame size), at the stream's rate for voice
activity and at 16 kHz for the recognizer, whose acoustic model is wideband.

Everything here is the standard library at C speed where it matters (byte slicing and
`bytes.translate` instead of per-sample loops), because it runs on every frame of every
listening call. Nothing buffers: a payload longer than `MAX_PAYLOAD_SECONDS` is refused,
and `Framer` keeps less than one frame between payloads.

Output bytes are little-endian, which is what webrtcvad and pocketsphinx read on every
platform ivrflow supports (x86-64 and ARM64 are little-endian).
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass
from functools import cache
from itertools import chain

L16 = "audio/x-l16"
MULAW = "audio/x-mulaw"
ENCODINGS = (L16, MULAW)
RATES = (8000, 16000)
RECOGNIZER_RATE = 16000
FRAME_SECONDS = 0.02
MAX_PAYLOAD_SECONDS = 2.0
"""The longest payload accepted: Vobiz sends 20 ms; anything near this is not a stream."""


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """An encoding (`audio/x-l16` or `audio/x-mulaw`) at a sample rate (8000 or 16000)."""

    encoding: str
    rate: int

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f"unsupported audio encoding {self.encoding!r}: "
                             f"expected {L16} or {MULAW}")
        if self.rate not in RATES:
            raise ValueError(f"unsupported sample rate {self.rate!r}: expected 8000 or 16000")
        if self.encoding == MULAW and self.rate != 8000:
            raise ValueError(f"{MULAW} is defined at 8000 Hz only, not {self.rate}")

    @classmethod
    def parse(cls, content_type: str) -> AudioFormat:
        """`audio/x-l16;rate=8000` (the Stream API's `content_type`) to a format.

        A missing rate means 8000, the API's default.
        """
        encoding, *params = (part.strip() for part in content_type.split(";"))
        rate = 8000
        for param in params:
            key, sep, value = param.partition("=")
            if not sep or key.strip().lower() != "rate":
                raise ValueError(f"unsupported parameter {param!r} in {content_type!r}")
            try:
                rate = int(value.strip())
            except ValueError:
                raise ValueError(f"the rate in {content_type!r} is not a number") from None
        return cls(encoding.lower(), rate)

    @property
    def content_type(self) -> str:
        return f"{self.encoding};rate={self.rate}"

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding == L16 else 1

    @property
    def frame_bytes(self) -> int:
        """Bytes of one 20 ms frame once decoded to 16-bit PCM."""
        return pcm_frame_bytes(self.rate)


def pcm_frame_bytes(rate: int) -> int:
    """Bytes of one 20 ms frame of 16-bit PCM at `rate`."""
    return round(rate * FRAME_SECONDS) * 2


def decode(payload: bytes, fmt: AudioFormat) -> bytes:
    """One stream payload to 16-bit signed little-endian PCM at the format's rate.

    Raises ValueError on an odd byte count for L16 or a payload over
    `MAX_PAYLOAD_SECONDS`.
    """
    limit = int(MAX_PAYLOAD_SECONDS * fmt.rate) * fmt.bytes_per_sample
    if len(payload) > limit:
        raise ValueError(f"audio payload of {len(payload)} bytes is longer than "
                         f"{MAX_PAYLOAD_SECONDS:g} s of {fmt.content_type}")
    if fmt.encoding == MULAW:
        out = bytearray(2 * len(payload))
        low, high = _mulaw_tables()
        out[0::2] = payload.translate(low)
        out[1::2] = payload.translate(high)
        return bytes(out)
    if len(payload) % 2:
        raise ValueError(f"L16 audio payload has an odd number of bytes ({len(payload)}): "
                         "16-bit samples come in pairs")
    swapped = bytearray(len(payload))
    swapped[0::2] = payload[1::2]
    swapped[1::2] = payload[0::2]
    return bytes(swapped)


def encode(pcm: bytes, fmt: AudioFormat) -> bytes:
    """16-bit little-endian PCM at the format's rate to a stream payload (the sandbox's
    side of `decode`)."""
    if len(pcm) % 2:
        raise ValueError(f"PCM has an odd number of bytes ({len(pcm)})")
    if fmt.encoding == L16:
        swapped = bytearray(len(pcm))
        swapped[0::2] = pcm[1::2]
        swapped[1::2] = pcm[0::2]
        return bytes(swapped)
    table = _mulaw_encode_table()
    return bytes(table[s & 0xFFFF] for s in samples(pcm))


def samples(pcm: bytes) -> array[int]:
    """16-bit little-endian PCM as an array of ints."""
    values = array("h")
    values.frombytes(pcm)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def to_bytes(values: array[int]) -> bytes:
    """An array of 16-bit ints as little-endian PCM."""
    if sys.byteorder == "big":
        values = array("h", values)
        values.byteswap()
    return values.tobytes()


class Framer:
    """Cuts PCM into 20 ms frames, carrying the remainder across payloads.

    Holds less than one frame between calls, whatever it is fed.
    """

    def __init__(self, rate: int) -> None:
        self.frame_bytes = pcm_frame_bytes(rate)
        self._rest = b""

    def push(self, pcm: bytes) -> list[bytes]:
        data = self._rest + pcm if self._rest else pcm
        n = self.frame_bytes
        whole = len(data) - len(data) % n
        self._rest = data[whole:]
        return [data[i:i + n] for i in range(0, whole, n)]

    @property
    def pending(self) -> int:
        """Bytes held back until the next payload completes a frame."""
        return len(self._rest)


@dataclass(frozen=True, slots=True)
class Frame:
    """20 ms of 16-bit PCM; `t` is the audio time of its first sample, in seconds since
    the stream's first payload (counted in samples, so it never drifts from the audio)."""

    pcm: bytes
    t: float


class FrameStream:
    """Payloads of one stream in, timed 20 ms PCM frames out: `decode`, then `Framer`."""

    def __init__(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self._framer = Framer(fmt.rate)
        self._frames = 0

    def feed(self, payload: bytes) -> list[Frame]:
        """Decode one payload (ValueError if malformed) and return the frames it completed."""
        out = []
        for pcm in self._framer.push(decode(payload, self.format)):
            out.append(Frame(pcm, self._frames * FRAME_SECONDS))
            self._frames += 1
        return out

    @property
    def time(self) -> float:
        """Audio time at the end of the last whole frame returned."""
        return self._frames * FRAME_SECONDS


class Upsampler:
    """8 kHz to 16 kHz by linear interpolation, streaming.

    Each input sample yields the midpoint from the previous sample and then itself, so
    the output lags by half an input sample (62.5 us) and needs one sample of state.
    Linear interpolation is a weak low-pass, which is enough here: telephone audio has
    nothing above 3.4 kHz to image, and the recognizer is trained on 16 kHz speech.
    """

    def __init__(self) -> None:
        self._last = 0

    def process(self, pcm: bytes) -> bytes:
        values = samples(pcm)
        if not values:
            return b""
        mids = array("h", [(a + b) >> 1 for a, b in zip(chain((self._last,), values),
                                                        values, strict=False)])
        out = array("h", bytes(4 * len(values)))
        out[0::2] = mids
        out[1::2] = values
        self._last = values[-1]
        return to_bytes(out)

    def reset(self) -> None:
        self._last = 0


def resample(pcm: bytes, source: int, target: int) -> bytes:
    """One-shot resampling of 16-bit little-endian PCM from `source` Hz to `target` Hz.

    For whole clips (synthesized prompts), not streams: libsoxr's high-quality
    converter (the `soxr` wheel), whose anti-aliasing filter keeps speech energy above
    the new Nyquist frequency from folding back as noise. A Python filter took 0.5 s per
    sentence, the larger part of playing a menu offline; soxr takes about a millisecond.
    """
    if source == target or not pcm:
        return pcm
    import numpy
    import soxr

    values = numpy.frombuffer(pcm, dtype="<i2")
    out = soxr.resample(values, source, target, quality="HQ")
    return bytes(numpy.clip(numpy.rint(out), -32768, 32767).astype("<i2").tobytes())


def _mulaw_to_linear(code: int) -> int:
    """G.711 mu-law code to a 16-bit sample (0xFF and 0x7F are silence)."""
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + 0x84) << ((code >> 4) & 0x07)
    return 0x84 - magnitude if code & 0x80 else magnitude - 0x84


def _linear_to_mulaw(sample: int) -> int:
    """A 16-bit sample to its G.711 mu-law code."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, 32635) + 0x84
    exponent = max(0, min(7, magnitude.bit_length() - 8))
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


@cache
def _mulaw_tables() -> tuple[bytes, bytes]:
    """`bytes.translate` tables: mu-law code to the low and to the high byte of its
    little-endian sample."""
    linear = [_mulaw_to_linear(code) & 0xFFFF for code in range(256)]
    return bytes(v & 0xFF for v in linear), bytes(v >> 8 for v in linear)


@cache
def _mulaw_encode_table() -> bytes:
    """Every 16-bit sample (as unsigned) to its mu-law code."""
    return bytes(_linear_to_mulaw(v - 65536 if v > 32767 else v) for v in range(65536))
