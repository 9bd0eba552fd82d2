"""Phrase spotting: did the IVR say one of the phrases the recipe expects?

A `wait: {heard: ...}` step knows the few phrases it expects, so recognition is spotting,
not transcription: pocketsphinx's keyphrase search (`kws`) compares each expected
phrase, as a chain of its pronunciation's phones, against a free loop of all phones, and
reports the phrase when the phrase explains the audio nearly as well as the best free
phone sequence. That works on synthetic and on narrowband telephone speech, where
pocketsphinx's general language model does not (on espeak-ng audio at 8 kHz it gets most
words wrong), and it costs a few percent of a core.

The match threshold (`THRESHOLD_PER_PHONE`) is per phone of the phrase, so a long
phrase and a short one are held to the same standard: a phrase of n phones is heard when
its likelihood is at least `THRESHOLD_PER_PHONE ** n` times that of the best free phone
sequence over the same audio. 5e-7 is the balance measured on synthesized 8 and 16 kHz
menus (bench/listen_detection.py, three seeds of 60 prompts): 1e-7 misfires on other
menus' prompts, 1e-6 misses more narrowband phrases. A miss fails the step safely
(exit 5); a false hit would act on the wrong prompt, so when in doubt raise it.

What spotting cannot do: tell phrases apart by their last short word. "for billing
press 3" is also heard when the menu says "for billing press 4" (the search reports a
phrase as soon as its chain completes, and one short word weighs little against the
rest). A recipe that must notice a renumbered menu should expect the words around the
key as well ("press 3 for billing") or the key alone as its own phrase's middle.

Engines sit behind `Recognizer` and the `RECOGNIZERS` registry (name to factory), so
another engine (vosk or whisper with a user-supplied model) is one more entry. The
recognizer runs only between `start` and `reset`: a stopped recognizer ignores audio at
no cost, and pocketsphinx is loaded when the first one is created, not at import.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ivrflow.listen.audio import RECOGNIZER_RATE

THRESHOLD_PER_PHONE = 5e-7
"""The match threshold of `PocketsphinxRecognizer` (see the module docstring)."""
_SMALLEST_THRESHOLD = 1e-300  # a double below this underflows; phrases over ~40 phones
_BEAM = 1e-200
"""pocketsphinx's default beams (1e-48) prune a long phrase's path on narrowband audio
long before its end, so no threshold can hear it; this wide beam costs little with the
keyphrase search's small network."""
_TOPN = 8
"""Gaussians scored per frame (pocketsphinx's default is 4): twice as many cost a fifth
more CPU and, on narrowband audio, hear the last few percent of phrases that 4 miss."""
_CMN_INIT = "55,3,-1"
"""Where live cepstral mean normalization starts. pocketsphinx's default (40) suits a
quieter signal than a phone prompt; starting far off makes the first seconds of a call
misfire until the mean has adapted (55 is what it adapts to on prompts)."""
_FRAME_RATE = 100  # pocketsphinx's frames per second


@dataclass(frozen=True, slots=True)
class Hit:
    """An expected phrase, as the recipe wrote it, heard from `start` to `end` (audio
    times, seconds)."""

    phrase: str
    start: float
    end: float


class Recognizer(Protocol):
    """A phrase spotter over 16 kHz 16-bit little-endian PCM.

    `start(phrases)` begins listening for them (it may be called again to listen for
    others); `feed(pcm, t)` takes audio whose first sample is at audio time `t` and
    returns the expected phrases recognized in it; `transcript()` is what was heard
    since `start`; `reset()` stops listening and forgets. While stopped, `feed` ignores
    audio and costs nothing.
    """

    @property
    def active(self) -> bool: ...

    def start(self, phrases: Sequence[str]) -> None: ...

    def feed(self, pcm16k: bytes, t: float) -> list[Hit]: ...

    def transcript(self) -> list[Hit]: ...

    def reset(self) -> None: ...


_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
            "seventeen", "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SYMBOLS = {"#": "pound", "*": "star", "&": "and", "%": "percent", "+": "plus"}


def number_words(n: int) -> list[str]:
    """0 to 999 as spoken ("sixteen", "two hundred five"); longer numbers digit by
    digit, as IVRs read account and card numbers."""
    if n < 20:
        return [_NUMBERS[n]]
    if n < 100:
        tens, ones = divmod(n, 10)
        return [_TENS[tens - 2], *([_NUMBERS[ones]] if ones else [])]
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return [_NUMBERS[hundreds], "hundred", *(number_words(rest) if rest else [])]
    return [_NUMBERS[int(d)] for d in str(n)]


def words(text: str) -> list[str]:
    """A phrase as the words a recognizer spots: lower case, numbers and key symbols
    spelled out ("press 1 or #" -> press one or pound), other punctuation dropped."""
    out: list[str] = []
    for token in re.findall(r"[0-9]+|[a-z']+|[#*&%+]", text.lower()):
        if token.isdigit():
            leading_zero = len(token) > 1 and token[0] == "0"  # "012": read digit by digit
            out.extend([_NUMBERS[int(d)] for d in token] if leading_zero
                       else number_words(int(token)))
        elif token in _SYMBOLS:
            out.append(_SYMBOLS[token])
        elif token.strip("'"):
            out.append(token.strip("'"))
    return out


class PocketsphinxRecognizer:
    """Keyphrase spotting with pocketsphinx and the English model inside its wheel.

    One decoder (the acoustic model and dictionary, about 0.1-0.4 s to load) is created
    with the recognizer and reused by every `start`; switching phrases only installs a
    new keyphrase list. `threshold` is per phone (see `THRESHOLD_PER_PHONE`).
    """

    def __init__(self, threshold: float = THRESHOLD_PER_PHONE) -> None:
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be between 0 and 1, not {threshold}")
        self.threshold = threshold
        self._decoder: Any = _new_decoder()
        self._phrases: dict[str, str] = {}  # spoken words -> the phrase as written
        self._active = False
        self._heard: list[Hit] = []
        self._utt_t: float | None = None  # audio time of the current utterance's frame 0
        self._reported = 0  # detections of the utterance already returned
        self._last_end: dict[str, float] = {}  # phrase -> end of its last hit

    @property
    def active(self) -> bool:
        return self._active

    def unknown_words(self, phrases: Sequence[str]) -> list[str]:
        """The words of `phrases` that the pronunciation dictionary lacks."""
        missing: list[str] = []
        for phrase in phrases:
            for word in words(phrase):
                if self._decoder.lookup_word(word) is None and word not in missing:
                    missing.append(word)
        return missing

    def start(self, phrases: Sequence[str]) -> None:
        """Listen for `phrases` (ValueError if one has no words or unknown words)."""
        if not phrases:
            raise ValueError("no phrases to listen for")
        table: dict[str, str] = {}
        for phrase in phrases:
            spoken = words(phrase)
            if not spoken:
                raise ValueError(f"the phrase {phrase!r} has no words to listen for")
            table.setdefault(" ".join(spoken), phrase)
        missing = self.unknown_words(list(table))
        if missing:
            raise ValueError("the recognizer's dictionary does not know "
                             + ", ".join(repr(w) for w in missing)
                             + ": spell the phrase as it is spoken")
        self._stop_utterance()
        lines = []
        for key in table:
            phones = sum(len(self._decoder.lookup_word(w).split()) for w in key.split())
            limit = max(_SMALLEST_THRESHOLD, self.threshold ** phones)
            lines.append(f"{key} /{limit:.3e}/\n")
        fd, path = tempfile.mkstemp(prefix="ivrflow-kws-", suffix=".txt")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.writelines(lines)
            self._decoder.add_kws("phrases", path)  # reads the file now
        finally:
            os.unlink(path)
        self._decoder.activate_search("phrases")
        self._phrases = table
        self._heard = []
        self._last_end = {}
        self._active = True

    def feed(self, pcm16k: bytes, t: float) -> list[Hit]:
        """Spot the phrases in `pcm16k` (its first sample at audio time `t`)."""
        if not self._active or not pcm16k:
            return []
        if self._utt_t is None:
            self._decoder.start_utt()
            self._utt_t = t
            self._reported = 0
        self._decoder.process_raw(pcm16k)
        if self._decoder.hyp() is None:
            return []
        # the search lists every detection of the utterance: report the new ones
        segments = list(self._decoder.seg())
        hits: list[Hit] = []
        for seg in segments[self._reported:]:
            phrase = self._phrases.get(seg.word.strip())
            if phrase is None:
                continue
            start = self._utt_t + seg.start_frame / _FRAME_RATE
            end = self._utt_t + (seg.end_frame + 1) / _FRAME_RATE
            if start < self._last_end.get(phrase, -1.0):
                continue  # the same utterance of the phrase, detected again a bit later
            self._last_end[phrase] = end
            hits.append(Hit(phrase, start, end))
        self._reported = len(segments)
        self._heard.extend(hits)
        return hits

    def transcript(self) -> list[Hit]:
        """The phrases heard since `start`, in order (keyphrase spotting hears nothing
        else; an engine that transcribes freely returns every word here)."""
        return list(self._heard)

    def reset(self) -> None:
        """Stop listening: `feed` ignores audio until the next `start`."""
        self._stop_utterance()
        self._active = False
        self._heard = []

    def _stop_utterance(self) -> None:
        if self._utt_t is not None:
            self._decoder.end_utt()
            self._utt_t = None


def _new_decoder() -> Any:
    try:
        import pocketsphinx
    except ImportError as exc:
        raise ImportError('phrase recognition needs pocketsphinx: pip install '
                          '"ivrflow[listen]"') from exc
    return pocketsphinx.Decoder(samprate=RECOGNIZER_RATE, loglevel="ERROR",
                                keyphrase="press", beam=_BEAM, pbeam=_BEAM, wbeam=_BEAM,
                                cmninit=_CMN_INIT, topn=_TOPN)


class ScriptedRecognizer:
    """The reference recognizer: "hears" the phrases of a script at given audio times.

    For tests of whatever drives a recognizer (the engine, `ivrflow test`): `script`
    maps an audio time to the text said ending then; an expected phrase is a hit when
    a scripted text contains its words.
    """

    def __init__(self, script: Sequence[tuple[float, str]] = ()) -> None:
        self.script = sorted(script)
        self._phrases: list[str] = []
        self._active = False
        self._heard: list[Hit] = []
        self._next = 0

    @property
    def active(self) -> bool:
        return self._active

    def start(self, phrases: Sequence[str]) -> None:
        self._phrases = list(phrases)
        self._active = True
        self._heard = []

    def feed(self, pcm16k: bytes, t: float) -> list[Hit]:
        if not self._active:
            return []
        end = t + len(pcm16k) / 2 / RECOGNIZER_RATE
        hits = []
        while self._next < len(self.script) and self.script[self._next][0] <= end:
            at, text = self.script[self._next]
            self._next += 1
            said = f" {' '.join(words(text))} "
            for phrase in self._phrases:
                if f" {' '.join(words(phrase))} " in said:
                    hits.append(Hit(phrase, at, at))
        self._heard.extend(hits)
        return hits

    def transcript(self) -> list[Hit]:
        return list(self._heard)

    def reset(self) -> None:
        self._active = False
        self._heard = []


RECOGNIZERS: dict[str, Callable[[], Recognizer]] = {
    "pocketsphinx": PocketsphinxRecognizer,
    "scripted": ScriptedRecognizer,
}
"""Recognition engines by name; add one by adding its factory."""


def create_recognizer(name: str = "pocketsphinx") -> Recognizer:
    """A new recognizer of engine `name` (ValueError naming the known ones)."""
    try:
        factory = RECOGNIZERS[name]
    except KeyError:
        raise ValueError(f"unknown recognizer {name!r}: known are "
                         + ", ".join(sorted(RECOGNIZERS))) from None
    return factory()

