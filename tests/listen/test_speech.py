"""Offline synthesis with espeak-ng: timing known, repeatable, safe from many threads."""

from __future__ import annotations

import math
import threading

import pytest

from ivrflow.listen import audio, speech


def rms(pcm: bytes) -> float:
    values = audio.samples(pcm)
    return math.sqrt(sum(v * v for v in values) / max(1, len(values)))


@pytest.mark.parametrize("rate", [8000, 16000])
def test_synthesis_gives_trimmed_speech_at_the_requested_rate(rate: int) -> None:
    """A short sentence lasts about a second and a half at either rate, starts and ends
    with sound (silence trimmed), and is loud enough to be speech."""
    pcm = speech.synthesize("For your balance, press one.", rate)
    seconds = len(pcm) / 2 / rate
    assert 1.0 < seconds < 2.5
    values = audio.samples(pcm)
    edge = rate // 200  # 5 ms
    assert max(abs(v) for v in values[:edge]) >= speech.TRIM_LEVEL // 2
    assert max(abs(v) for v in values[-edge:]) >= speech.TRIM_LEVEL // 2
    assert rms(pcm) > 1000


def test_the_two_rates_last_the_same() -> None:
    text = "Please enter your card number, followed by the pound key."
    a, b = speech.synthesize(text, 8000), speech.synthesize(text, 16000)
    assert abs(len(a) / 2 / 8000 - len(b) / 2 / 16000) < 0.01


def test_longer_text_takes_longer() -> None:
    short = speech.synthesize("Press one.", 8000)
    longer = speech.synthesize("Press one. For recent transactions, press two.", 8000)
    assert len(longer) > 2 * len(short)


def test_synthesis_is_safe_and_repeatable_from_many_threads() -> None:
    """Eight threads synthesizing at once get exactly what one thread gets."""
    texts = [f"Option {n}, press {n}." for n in range(8)]
    expected = {t: speech.synthesize.__wrapped__(t, 8000) for t in texts}
    results: dict[str, bytes] = {}

    def work(text: str) -> None:
        results[text] = speech.synthesize.__wrapped__(text, 8000)

    threads = [threading.Thread(target=work, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == expected


def test_noise_is_low_seeded_and_never_digital_zero() -> None:
    a = speech.noise(1.0, 8000, level=0.003, seed=1)
    assert len(a) == 16000
    assert a == speech.noise(1.0, 8000, level=0.003, seed=1)
    assert a != speech.noise(1.0, 8000, level=0.003, seed=2)
    assert 0.0025 * 32767 < rms(a) < 0.0035 * 32767
    assert sum(1 for v in audio.samples(a) if v == 0) < 800


def test_speak_prompt_knows_when_each_sentence_is_spoken() -> None:
    """Spans follow the lead and the pauses; the clip ends `tail` after the speech."""
    spoken = speech.speak_prompt(["Hello.", "Press one."], 8000, pauses=[0.5], lead=1.0,
                                 tail=2.0, seed=4)
    (s1, e1), (s2, _) = spoken.speech
    assert s1 == pytest.approx(1.0)
    assert s2 - e1 == pytest.approx(0.5, abs=1e-3)
    assert spoken.duration - spoken.speech_end == pytest.approx(2.0, abs=1e-3)
    assert rms(spoken.pcm[:8000]) > 10  # the lead is line noise, not zeros
    with pytest.raises(ValueError, match="need 1 pauses"):
        speech.speak_prompt(["a", "b"], 8000, pauses=[0.1, 0.2])
