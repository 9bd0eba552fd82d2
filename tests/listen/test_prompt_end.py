"""The prompt-end rule: speech, then D of silence; shorter pauses do not end a prompt."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable

import pytest

from ivrflow.listen import audio, prompt_end, speech
from ivrflow.listen.prompt_end import GUARD, PromptEnd, PromptEnded, PromptEvent, SpeechStarted

from .conftest import stream_frames

FRAME = bytes(320)  # 20 ms at 8 kHz; the scripted classifier ignores its content


def scripted(pattern: str, silence: float = 1.0) -> list[tuple[float, PromptEvent]]:
    """Run the rule over frames whose voice decisions are `pattern` ('1' voiced, '0'
    not, one character per 20 ms frame) and return (frame time, event) pairs."""
    decisions = iter(pattern)
    detector = PromptEnd(silence, 8000, classify=lambda _frame: next(decisions) == "1")
    out: list[tuple[float, PromptEvent]] = []
    for i in range(len(pattern)):
        t = i * 0.02
        out.extend((t, e) for e in detector.feed(FRAME, t))
    return out


def rounded(events: Iterable[PromptEvent]) -> list[PromptEvent]:
    """Events with their times rounded to the millisecond, to compare exactly."""
    return [SpeechStarted(round(e.t, 3)) if isinstance(e, SpeechStarted) else
            PromptEnded(round(e.t, 3), round(e.speech_began, 3), round(e.speech_ended, 3))
            for e in events]


def test_speech_then_silence_ends_the_prompt_at_the_end_of_speech_plus_silence() -> None:
    """1 s of speech from 0.4 s, then silence: speech starts at 0.4 s, stopped at 1.4 s,
    and the prompt ends D + GUARD after that, at a frame boundary."""
    events = scripted("0" * 20 + "1" * 50 + "0" * 100)
    assert rounded(e for _, e in events) == [
        SpeechStarted(0.4), PromptEnded(round(1.4 + 1.0 + GUARD, 3), 0.4, 1.4)]


def test_a_pause_shorter_than_the_silence_does_not_end_the_prompt() -> None:
    """Two sentences 0.9 s apart with D = 1 s: one prompt, ended after the second."""
    events = rounded(e for _, e in scripted("1" * 40 + "0" * 45 + "1" * 40 + "0" * 80))
    assert events == [SpeechStarted(0.0), PromptEnded(round(2.5 + 1.0 + GUARD, 3), 0.0, 2.5)]


def test_a_pause_as_long_as_the_silence_ends_the_prompt_and_a_new_one_begins() -> None:
    events = [e for _, e in scripted("1" * 40 + "0" * 70 + "1" * 40 + "0" * 80)]
    assert [type(e) for e in events] == [SpeechStarted, PromptEnded, SpeechStarted,
                                         PromptEnded]
    assert isinstance(events[1], PromptEnded)
    assert events[1].speech_ended == pytest.approx(0.8)
    assert events[2].t == pytest.approx(2.2)


def test_speech_resuming_just_before_the_silence_is_up_holds_the_end() -> None:
    """Speech resumes 0.96 s into a 1 s silence: the ring needs 14 voiced frames
    (280 ms) to enter speech again, too late, but the onset check holds the decision
    and the prompt goes on to end after the second sentence."""
    events = [e for _, e in scripted("1" * 40 + "0" * 48 + "1" * 40 + "0" * 80)]
    assert [type(e) for e in events] == [SpeechStarted, PromptEnded]
    assert isinstance(events[1], PromptEnded)
    assert events[1].speech_ended == pytest.approx(2.56)


def test_isolated_voiced_frames_are_not_speech() -> None:
    """Clicks in the noise (a voiced frame now and then, and a 200 ms burst) never
    reach 90 % of the window: no speech, no prompt end."""
    pattern = ("0000100000" * 20) + "0" * 10 + "1" * 10 + "0" * 100
    assert scripted(pattern) == []


def test_no_end_without_speech_first() -> None:
    """Silence alone never ends a wait: the rule needs speech since it began."""
    assert scripted("0" * 300) == []


def test_reset_forgets_speech_heard_before_the_wait() -> None:
    decisions = iter("1" * 40 + "0" * 200)
    detector = PromptEnd(1.0, 8000, classify=lambda _f: next(decisions) == "1")
    for i in range(40):
        detector.feed(FRAME, i * 0.02)
    assert detector.in_speech
    detector.reset()
    events = [e for i in range(40, 240) for e in detector.feed(FRAME, i * 0.02)]
    assert events == []
    assert detector.speech_began is None


def test_wrong_frame_size_and_bad_settings_are_refused() -> None:
    detector = PromptEnd(1.0, 16000, classify=lambda _f: False)
    with pytest.raises(ValueError, match="640 bytes"):
        detector.feed(bytes(320), 0.0)
    with pytest.raises(ValueError, match="silence must be positive"):
        PromptEnd(0, 8000, classify=lambda _f: False)
    with pytest.raises(ValueError, match="unsupported sample rate"):
        PromptEnd(1.0, 44100, classify=lambda _f: False)
    with pytest.raises(ValueError, match="aggressiveness"):
        PromptEnd(1.0, 8000, aggressiveness=4)


SENTENCES = ["Welcome to the benefits line.", "For your balance, press one.",
             "For recent transactions, press two."]


@pytest.mark.parametrize("fmt", [audio.AudioFormat(audio.MULAW, 8000),
                                 audio.AudioFormat(audio.L16, 8000),
                                 audio.AudioFormat(audio.L16, 16000)],
                         ids=lambda f: f.content_type)
def test_synthesized_prompt_with_noise_and_inner_pauses(fmt: audio.AudioFormat) -> None:
    """A spoken prompt with inner pauses of 0.6 and 0.95 s under a 1.2 s silence, line
    noise throughout: one SpeechStarted when it begins, one PromptEnded, no end in the
    pauses, detected within silence + 100 ms of the true end of speech."""
    silence = 1.2
    spoken = speech.speak_prompt(SENTENCES, fmt.rate, pauses=[0.6, 0.95], lead=1.0,
                                 tail=2.0, noise_level=0.004, seed=3)
    detector = PromptEnd(silence, fmt.rate)
    events = [e for f in stream_frames(spoken, fmt) for e in detector.feed(f.pcm, f.t)]
    assert [type(e) for e in events] == [SpeechStarted, PromptEnded]
    started, ended = events
    assert isinstance(started, SpeechStarted) and isinstance(ended, PromptEnded)
    assert abs(started.t - spoken.speech[0][0]) <= 0.1
    true_end = spoken.speech_end
    assert true_end + silence <= ended.t <= true_end + silence + 0.1
    assert abs(ended.speech_ended - true_end) <= 0.1


def test_line_noise_alone_is_not_speech() -> None:
    """Ten seconds of a noisy line (-44 dBFS) with webrtcvad: nothing happens."""
    detector = PromptEnd(1.0, 8000)
    pcm = speech.noise(10.0, 8000, level=0.006, seed=11)
    framer = audio.Framer(8000)
    assert [e for i, f in enumerate(framer.push(pcm)) for e in detector.feed(f, i * 0.02)] == []


def test_importing_the_listen_package_loads_no_native_library() -> None:
    """`ivrflow validate` stays light: importing every listen module loads none of
    webrtcvad, pocketsphinx or espeak-ng until a detector or recognizer is created."""
    code = ("import sys, ivrflow.listen, ivrflow.listen.audio, ivrflow.listen.prompt_end, "
            "ivrflow.listen.recognize, ivrflow.listen.speech\n"
            "heavy = [m for m in ('webrtcvad', '_webrtcvad', 'pocketsphinx', "
            "'espeakng_loader') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "ivrflow.listen.prompt_end.PromptEnd(1.0, 8000)\n"
            "assert 'webrtcvad' in sys.modules and 'pocketsphinx' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_documented_defaults_are_the_collectors() -> None:
    """py-webrtcvad's collector: 300 ms ring, 90 % to enter or leave speech."""
    assert (prompt_end.WINDOW, prompt_end.RATIO) == (0.3, 0.9)
