"""Stream payloads to PCM frames: both encodings, both rates, malformed input, bounds."""

from __future__ import annotations

import math
import struct

import pytest

from ivrflow.listen import audio
from ivrflow.listen.audio import L16, MULAW, AudioFormat, Framer, FrameStream, Upsampler


def tone(rate: int, seconds: float, amplitude: int = 8000, hz: float = 440.0) -> list[int]:
    return [round(amplitude * math.sin(2 * math.pi * hz * i / rate))
            for i in range(round(rate * seconds))]


def le(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_l16_big_endian_payload_decodes_to_little_endian(rate: int) -> None:
    """L16 arrives big-endian; the detectors read little-endian, sample for sample."""
    values = tone(rate, 0.02)
    payload = struct.pack(f">{len(values)}h", *values)
    assert audio.decode(payload, AudioFormat(L16, rate)) == le(values)


def test_l16_extremes_survive_the_byte_swap() -> None:
    values = [-32768, -1, 0, 1, 32767, 256, -256]
    payload = struct.pack(f">{len(values)}h", *values)
    assert audio.decode(payload, AudioFormat(L16, 8000)) == le(values)


def test_mulaw_known_codes() -> None:
    """G.711: 0xFF and 0x7F are silence, 0x80 and 0x00 the loudest of each sign."""
    pcm = audio.decode(bytes([0xFF, 0x7F, 0x80, 0x00, 0xF0]), AudioFormat(MULAW, 8000))
    assert struct.unpack("<5h", pcm) == (0, 0, 32124, -32124, 120)


def test_mulaw_silence_frame_is_silence_not_an_end() -> None:
    """An all-0xFF frame (Vobiz's silence) decodes to one frame of zeros."""
    frames = FrameStream(AudioFormat(MULAW, 8000)).feed(b"\xff" * 160)
    assert len(frames) == 1
    assert frames[0].pcm == bytes(320)


def test_mulaw_round_trip_is_within_its_quantisation() -> None:
    """encode then decode keeps every sample within mu-law's step at its level."""
    values = tone(8000, 0.05, amplitude=20000)
    fmt = AudioFormat(MULAW, 8000)
    back = struct.unpack(f"<{len(values)}h", audio.decode(audio.encode(le(values), fmt), fmt))
    for original, decoded in zip(values, back, strict=True):
        assert abs(original - decoded) <= max(8, abs(original) // 16)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_l16_round_trip_is_exact(rate: int) -> None:
    fmt = AudioFormat(L16, rate)
    pcm = le(tone(rate, 0.1))
    assert audio.decode(audio.encode(pcm, fmt), fmt) == pcm


def test_odd_l16_payload_is_refused() -> None:
    with pytest.raises(ValueError, match="odd number of bytes"):
        audio.decode(b"\x00\x01\x02", AudioFormat(L16, 8000))


def test_oversized_payload_is_refused() -> None:
    """More than MAX_PAYLOAD_SECONDS in one message is not a stream: refused, not kept."""
    fmt = AudioFormat(L16, 8000)
    limit = int(audio.MAX_PAYLOAD_SECONDS * 8000) * 2
    assert len(audio.decode(bytes(limit), fmt)) == limit
    with pytest.raises(ValueError, match="longer than"):
        audio.decode(bytes(limit + 2), fmt)


@pytest.mark.parametrize(("content_type", "expected"), [
    ("audio/x-l16;rate=8000", AudioFormat(L16, 8000)),
    ("audio/x-l16; rate=16000", AudioFormat(L16, 16000)),
    ("audio/x-mulaw;rate=8000", AudioFormat(MULAW, 8000)),
    ("AUDIO/X-MULAW", AudioFormat(MULAW, 8000)),
])
def test_content_types_parse(content_type: str, expected: AudioFormat) -> None:
    assert AudioFormat.parse(content_type) == expected


@pytest.mark.parametrize(("content_type", "message"), [
    ("audio/x-l16;rate=24000", "unsupported sample rate 24000"),
    ("audio/x-l16;rate=44100", "unsupported sample rate"),
    ("audio/x-mulaw;rate=16000", "8000 Hz only"),
    ("audio/opus;rate=8000", "unsupported audio encoding 'audio/opus'"),
    ("audio/x-l16;rate=fast", "not a number"),
    ("audio/x-l16;channels=2", "unsupported parameter"),
])
def test_unsupported_formats_are_refused(content_type: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AudioFormat.parse(content_type)


@pytest.mark.parametrize(("fmt", "payload_bytes"), [
    (AudioFormat(MULAW, 8000), 160), (AudioFormat(L16, 8000), 320),
    (AudioFormat(L16, 16000), 640)])
def test_one_vobiz_frame_is_one_20_ms_frame(fmt: AudioFormat, payload_bytes: int) -> None:
    """Vobiz's 20 ms payload sizes, per the Stream API, give exactly one frame each."""
    stream = FrameStream(fmt)
    frames = [f for _ in range(3) for f in stream.feed(bytes(payload_bytes))]
    assert [f.t for f in frames] == pytest.approx([0.0, 0.02, 0.04])
    assert all(len(f.pcm) == fmt.frame_bytes for f in frames)


def test_framer_carries_the_remainder_across_payloads() -> None:
    """Odd-sized payloads still come out as whole frames, in order, nothing lost."""
    framer = Framer(8000)
    data = le(list(range(-500, 500)))  # 1000 samples = 6.25 frames
    frames = framer.push(data[:333 * 2]) + framer.push(data[333 * 2:777 * 2])
    frames += framer.push(data[777 * 2:])
    assert [len(f) for f in frames] == [320] * 6
    assert b"".join(frames) == data[:6 * 320]
    assert framer.pending == len(data) - 6 * 320 < 320


def test_framer_never_holds_a_frame() -> None:
    framer = Framer(16000)
    for size in (1, 639, 640, 641, 6400, 3):
        framer.push(bytes(size))
        assert framer.pending < 640


def test_upsampler_interpolates_and_streams_seamlessly() -> None:
    """8 -> 16 kHz doubles the samples with midpoints between, the same whether fed at
    once or in pieces (one sample of state crosses the boundary)."""
    values = [0, 100, 300, -300, 1000, 32767, -32768, 5]
    whole = Upsampler().process(le(values))
    assert struct.unpack("<16h", whole) == (
        0, 0, 50, 100, 200, 300, 0, -300, 350, 1000, 16883, 32767, -1, -32768, -16382, 5)
    pieces = Upsampler()
    assert pieces.process(le(values[:3])) + pieces.process(le(values[3:])) == whole


def test_resample_keeps_duration_and_a_low_tone() -> None:
    """22050 -> 8000 Hz: the length scales and a 300 Hz tone keeps its level; a tone
    above the new Nyquist frequency (5 kHz) is filtered out instead of folding back."""
    for hz, kept in ((300.0, True), (5000.0, False)):
        pcm = le(tone(22050, 0.5, amplitude=10000, hz=hz))
        out = audio.samples(audio.resample(pcm, 22050, 8000))
        assert abs(len(out) - 4000) <= 1
        rms = math.sqrt(sum(v * v for v in out[400:]) / len(out[400:]))
        assert (rms > 6000) if kept else (rms < 1000), (hz, rms)
