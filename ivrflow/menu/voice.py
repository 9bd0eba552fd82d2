"""A menu that speaks: the audio of a simulated call, as the IVR would play it.

Each node's `say:` text is synthesized (ivrflow.listen.speech: espeak-ng, 8 kHz) and
played from the moment the node is entered, the way an IVR starts a prompt: again on
every repeat or replay, and cut off when a key moves the call on. Quiet line noise runs
under and between the prompts, because a real line is never digital zero. A node
without `say:` plays only the noise.

The prompt's length (what `barge_in` and the input timeout count from):
- `say:` alone: exactly as long as its speech, measured when the menu is loaded to play
  (`time_by_speech`);
- `prompt:` alone: that long, silent but for the noise;
- both: `prompt:`; the speech plays from the node's start and is cut at `prompt:` if
  longer, and the noise fills the rest if shorter.

The audio is a function of the simulator's trace (which node was entered when), so the
same call always sounds the same: `ivrflow test` generates it frame by frame on virtual
time, the sandbox in real time for its audio stream.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right

from ivrflow.errors import FlowInvalid, Problem
from ivrflow.listen.audio import FRAME_SECONDS as FRAME
from ivrflow.menu.model import Menu, Node
from ivrflow.menu.simulator import MenuSimulator

RATE = 8000
NOISE_SECONDS = 2.0  # the line noise is a loop this long


def time_by_speech(menu: Menu) -> Menu:
    """`menu` with every node that has `say:` and no `prompt:` lasting as long as its
    speech; FlowInvalid, located at the first such node, when speech is unavailable."""
    from ivrflow.listen.speech import SpeechError, synthesize

    nodes = dict(menu.nodes)
    for name in menu.untimed:
        node = nodes[name]
        assert node.say is not None  # the loader marks only nodes with say: untimed
        try:
            pcm = synthesize(node.say, RATE)
        except SpeechError as exc:
            raise FlowInvalid([Problem(menu.path, node.line, node.column, (
                f"nodes.{name}: its prompt lasts as long as its say: text, which needs the "
                f"speech synthesizer ({exc}); give it a prompt: length, or install it: "
                'pip install "ivrflow[listen]"'))]) from None
        nodes[name] = dataclasses.replace(node, prompt=max(FRAME, len(pcm) / 2 / RATE))
    return dataclasses.replace(menu, nodes=nodes)


class MenuVoice:
    """The audio of one simulated call, as 16-bit little-endian PCM at `rate` Hz."""

    def __init__(self, simulator: MenuSimulator, rate: int = RATE, seed: int = 0) -> None:
        from ivrflow.listen.speech import noise

        self.simulator = simulator
        self.rate = rate
        self._noise = noise(NOISE_SECONDS, rate, seed=seed)
        self._clips: dict[str, bytes] = {}
        self._read = 0  # happenings of the trace already looked at
        self._times: list[float] = []
        self._nodes: list[Node] = []

    def clip(self, node: Node) -> bytes:
        """What `node` says, mixed with the line's noise and cut at its prompt's end."""
        clip = self._clips.get(node.name)
        if clip is None:
            from ivrflow.listen.speech import mix, synthesize

            speech = synthesize(node.say, self.rate) if node.say else b""
            speech = speech[:2 * round(node.prompt * self.rate)]
            clip = mix(speech, self._noise_at(0, len(speech) // 2))
            self._clips[node.name] = clip
        return clip

    def _noise_at(self, sample: int, count: int) -> bytes:
        loop = len(self._noise) // 2
        out = bytearray()
        while count > 0:
            at = sample % loop
            take = min(count, loop - at)
            out += self._noise[2 * at:2 * (at + take)]
            sample += take
            count -= take
        return bytes(out)

    def entries(self) -> tuple[list[float], list[Node]]:
        """When each node was entered (seconds since the call began) and which. The
        trace only grows, so only its new part is read (this runs for every frame)."""
        trace = self.simulator.trace
        nodes = self.simulator.menu.nodes
        for happening in trace[self._read:]:
            if happening.kind == "enter":
                self._times.append(happening.t)
                self._nodes.append(nodes[happening.node])
        self._read = len(trace)
        return self._times, self._nodes

    def audio(self, start: float, seconds: float) -> bytes:
        """`seconds` of the call's audio from `start` (seconds since the call began)."""
        self.simulator.advance(self.simulator.t0 + start + seconds)
        times, nodes = self.entries()
        first = round(start * self.rate)
        count = round(seconds * self.rate)
        out = bytearray()
        sample = first
        end = first + count
        while sample < end:
            i = bisect_right(times, sample / self.rate) - 1
            upto = end if i + 1 >= len(times) else min(end, round(times[i + 1] * self.rate))
            upto = max(upto, sample + 1)
            if i < 0:
                out += self._noise_at(sample, upto - sample)
            else:
                entered = round(times[i] * self.rate)
                clip = self.clip(nodes[i])
                into = sample - entered
                spoken = max(0, min(upto - sample, len(clip) // 2 - into))
                out += clip[2 * into:2 * (into + spoken)]
                out += self._noise_at(sample + spoken, upto - sample - spoken)
            sample = upto
        return bytes(out)

    def saying(self, t: float) -> str:
        """What the IVR was saying at `t` (seconds since the call began), in words."""
        times, nodes = self.entries()
        i = bisect_right(times, t) - 1
        if i < 0:
            return "the call had not begun"
        node, into = nodes[i], t - times[i]
        spoken = len(self.clip(node)) / 2 / self.rate
        if node.say and into < spoken:
            return (f"{into:.1f} s into the {spoken:.1f} s prompt of '{node.name}', about "
                    f"at \"{_around(node.say, into / spoken)}\"")
        if node.say:
            return f"'{node.name}' had finished its prompt {into - spoken:.1f} s before"
        return f"'{node.name}' has no say: text, so only line noise was playing"


def _around(text: str, fraction: float, width: int = 3) -> str:
    """The words of `text` near `fraction` of the way through it (speech runs at a near
    steady pace), with an ellipsis where words are left out."""
    words = text.split()
    at = min(len(words) - 1, int(fraction * len(words)))
    first, last = max(0, at - width), min(len(words), at + width + 1)
    return ("..." if first else "") + " ".join(words[first:last]) + (
        "..." if last < len(words) else "")
