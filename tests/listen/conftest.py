"""Shared synthesized audio for the listening tests (espeak-ng, cached per process)."""

from __future__ import annotations

from ivrflow.listen import audio, speech


def stream_frames(spoken: speech.Spoken, fmt: audio.AudioFormat) -> list[audio.Frame]:
    """`spoken` as a live call delivers it: encoded in `fmt`, 20 ms payloads, decoded."""
    encoded = audio.encode(spoken.pcm, fmt)
    size = 20 * fmt.rate // 1000 * fmt.bytes_per_sample
    stream = audio.FrameStream(fmt)
    return [f for i in range(0, len(encoded), size) for f in stream.feed(encoded[i:i + size])]
