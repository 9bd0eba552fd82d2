"""Phrase spotting on synthesized prompts: expected phrases heard, others not, and no
CPU spent while the recognizer is stopped."""

from __future__ import annotations

import time

import pytest

from ivrflow.listen import audio, speech
from ivrflow.listen.recognize import (
    RECOGNIZERS,
    Hit,
    PocketsphinxRecognizer,
    ScriptedRecognizer,
    create_recognizer,
    number_words,
    words,
)

from .conftest import stream_frames

MENU = ["Thank you for calling the benefits line.", "For your account balance, press one.",
        "To report a lost or stolen card, press two.", "To speak to an agent, press zero."]
ELSEWHERE = ["for technical support press five", "for prescription refills press three",
             "enter your date of birth"]


@pytest.fixture(scope="module")
def recognizer() -> PocketsphinxRecognizer:
    return PocketsphinxRecognizer()


def listen(recognizer: PocketsphinxRecognizer, spoken: speech.Spoken,
           fmt: audio.AudioFormat, phrases: list[str]) -> list[Hit]:
    """Feed `spoken` through the live path (stream format, frames, 16 kHz) while
    listening for `phrases`."""
    recognizer.start(phrases)
    upsample = audio.Upsampler() if fmt.rate == 8000 else None
    hits = []
    for frame in stream_frames(spoken, fmt):
        pcm = upsample.process(frame.pcm) if upsample else frame.pcm
        hits.extend(recognizer.feed(pcm, frame.t))
    recognizer.reset()
    return hits


@pytest.mark.parametrize("fmt", [audio.AudioFormat(audio.MULAW, 8000),
                                 audio.AudioFormat(audio.L16, 16000)],
                         ids=lambda f: f.content_type)
def test_expected_phrases_are_heard_where_they_are_said_and_others_are_not(
        recognizer: PocketsphinxRecognizer, fmt: audio.AudioFormat) -> None:
    """Over telephone mu-law and 16 kHz L16 with line noise: each expected phrase is
    heard once, inside the sentence that says it; phrases of other menus are not."""
    spoken = speech.speak_prompt(MENU, fmt.rate, pauses=0.7, lead=1.0, tail=1.0,
                                 noise_level=0.003, seed=5)
    expected = {"for your account balance press 1": 1, "lost or stolen card": 2,
                "speak to an agent": 3}
    hits = listen(recognizer, spoken, fmt, [*expected, *ELSEWHERE])
    assert sorted(h.phrase for h in hits) == sorted(expected)
    for hit in hits:
        start, end = spoken.speech[expected[hit.phrase]]
        assert start - 0.2 <= hit.start < hit.end <= end + 0.2, (hit, start, end)


def test_nothing_is_heard_when_the_prompt_says_something_else(
        recognizer: PocketsphinxRecognizer) -> None:
    """Another menu's prompt, on the narrowband path: none of this menu's phrases."""
    other = speech.speak_prompt(
        ["Welcome to the pharmacy.", "For prescription refills, press three.",
         "For store hours and locations, press four."], 8000, pauses=0.6, lead=1.0,
        tail=1.0, seed=6)
    phrases = ["for your account balance press 1", "lost or stolen card",
               "speak to an agent", "for technical support press five"]
    assert listen(recognizer, other, audio.AudioFormat(audio.L16, 8000), phrases) == []


def test_a_stopped_recognizer_ignores_audio_and_costs_no_cpu(
        recognizer: PocketsphinxRecognizer) -> None:
    """Only a started recognizer decodes: 30 s of audio fed while stopped costs less
    than a hundredth of what the same audio costs while listening."""
    pcm = speech.noise(30.0, 16000, seed=2)
    chunks = [pcm[i:i + 640] for i in range(0, len(pcm), 640)]

    def cpu(active: bool) -> float:
        if active:
            recognizer.start(["speak to an agent"])
        began = time.process_time()
        hits = [h for i, c in enumerate(chunks) for h in recognizer.feed(c, i * 0.02)]
        spent = time.process_time() - began
        recognizer.reset()
        assert hits == []
        return spent

    assert not recognizer.active
    stopped, started = cpu(False), cpu(True)
    assert started > 0.05
    assert stopped < started / 100


def test_start_switches_phrases_cheaply(recognizer: PocketsphinxRecognizer) -> None:
    """A new wait installs its phrases without reloading the model."""
    began = time.perf_counter()
    for _ in range(20):
        recognizer.start(["for your balance press one", "enter your card number"])
        recognizer.reset()
    assert (time.perf_counter() - began) / 20 < 0.02


def test_unknown_or_empty_phrases_are_refused(recognizer: PocketsphinxRecognizer) -> None:
    with pytest.raises(ValueError, match="does not know 'zzqxv'"):
        recognizer.start(["press zzqxv now"])
    with pytest.raises(ValueError, match="no words"):
        recognizer.start(["..."])
    with pytest.raises(ValueError, match="no phrases"):
        recognizer.start([])
    assert recognizer.unknown_words(["for your balance", "qqzx balance"]) == ["qqzx"]


@pytest.mark.parametrize(("text", "spoken"), [
    ("For your balance, press 1.", "for your balance press one"),
    ("Enter your 16 digit card number and #", "enter your sixteen digit card number and pound"),
    ("Press * to repeat", "press star to repeat"),
    ("Call 0800", "call zero eight zero zero"),
    ("Branch 012", "branch zero one two"),
    ("Option 105 or 2024", "option one hundred five or two zero two four"),
    ("We're OPEN 24 hours", "we're open twenty four hours"),
])
def test_phrases_are_spoken_as_words(text: str, spoken: str) -> None:
    assert " ".join(words(text)) == spoken


def test_number_words() -> None:
    assert number_words(0) == ["zero"]
    assert number_words(40) == ["forty"]
    assert number_words(999) == ["nine", "hundred", "ninety", "nine"]


def test_registry_creates_engines_by_name() -> None:
    assert set(RECOGNIZERS) >= {"pocketsphinx", "scripted"}
    assert isinstance(create_recognizer("scripted"), ScriptedRecognizer)
    with pytest.raises(ValueError, match="known are pocketsphinx, scripted"):
        create_recognizer("whisper")


def test_scripted_recognizer_hears_its_script_only_while_started() -> None:
    """The reference engine: a phrase is heard at the scripted time, while started."""
    rec = ScriptedRecognizer([(1.0, "For your balance, press 1."), (3.0, "Goodbye")])
    assert rec.feed(bytes(32000), 0.0) == []  # stopped: nothing, and the script waits
    rec.start(["for your balance press one", "goodbye"])
    assert rec.feed(bytes(32000), 0.0) == [Hit("for your balance press one", 1.0, 1.0)]
    assert rec.feed(bytes(32000), 1.0) == []
    assert rec.feed(bytes(64000), 2.0) == [Hit("goodbye", 3.0, 3.0)]
    assert [h.phrase for h in rec.transcript()] == ["for your balance press one", "goodbye"]
    rec.reset()
    assert not rec.active and rec.transcript() == []
