"""Reporters: how a run's events reach a person (text on stderr) or a program (JSON Lines).

A reporter is a callable taking an `Event`. Reporters never search their text for
secrets: secret digits arrive masked from where events are made, and outside text (an
API's message) arrives already cleaned of secret values and the token, so ivrflow's own
words, names and numbers are shown as they are. Human text goes out through
`ivrflow.output`, which escapes control characters; colours and redraws are written as
controls, apart from the text.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import TextIO

from ivrflow.engine.events import Event, RunResult
from ivrflow.engine.pacing import Pacing
from ivrflow.output import control, escape_controls

Segment = str | tuple[str, str]  # plain text, or (text, tone)


def use_colour(stream: TextIO) -> bool:
    return colour_choice("auto", stream)


def colour_choice(option: str, stream: TextIO, environ: Mapping[str, str] | None = None
                  ) -> bool:
    """`--color`: always, never, or auto. Auto follows no-color.org and force-color.org:
    a non-empty NO_COLOR turns colour off, a non-empty FORCE_COLOR on, else colour on a
    terminal that is not `TERM=dumb`."""
    env = os.environ if environ is None else environ
    if option in ("always", "never"):
        return option == "always"
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    return stream.isatty() and env.get("TERM") != "dumb"


class JsonReporter:
    """One JSON object per line on stdout, flushed as it happens."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: Event) -> None:
        self.emit_line(event.to_json())

    def emit_line(self, record: dict[str, object]) -> None:
        # ASCII JSON: every control character and non-ASCII character is \u-escaped
        self.stream.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.stream.flush()


_COLOURS = {"ok": "32", "warn": "33", "bad": "31", "dim": "2"}


class HumanReporter:
    """One line per step as it finishes, retries indented beneath, a summary at the end."""

    def __init__(self, stream: TextIO | None = None, colour: bool | None = None,
                 verbosity: int = 0, live: bool | None = None) -> None:
        """`verbosity` -1: only what failed and the summary; 1: each step as it begins.
        `live` (default: on a terminal): the step in progress, redrawn in place."""
        self.stream = stream or sys.stderr
        self.colour = use_colour(self.stream) if colour is None else colour
        self.verbosity = verbosity
        self.live = self.stream.isatty() if live is None else live
        self._countdown: asyncio.Task[None] | None = None
        self.total = 0
        self.started: dict[int, float] = {}
        self.legs: dict[int, str] = {}

    def write(self, *segments: Segment) -> None:
        """One line: plain segments as text (escaped), toned ones in colour if on."""
        self._stop_countdown()
        for segment in segments:
            if isinstance(segment, str):
                self._text(segment)
            elif self.colour:
                control(self.stream, f"\033[{_COLOURS[segment[1]]}m")
                self._text(segment[0])
                control(self.stream, "\033[0m")
            else:
                self._text(segment[0])
        self.stream.write("\n")
        self.stream.flush()

    def _text(self, text: str) -> None:
        # escaped here, newlines too, so a plain stream (a library user's) is as safe as a
        # SafeStream and no field can forge a line
        self.stream.write(escape_controls(text, newlines=True))

    def __call__(self, event: Event) -> None:
        fields = event.fields
        if event.type == "flow_started":
            self.total = int(fields["steps"])
            self.write(f"ivrflow: {fields['flow']} on call {event.call}, {self.total} steps")
        elif event.type == "step_started" and event.step is not None:
            self.started[event.step] = event.t
            self.legs[event.step] = str(fields.get("leg") or "")
            if self.verbosity > 0:
                self.write((f"{event.t:>8.3f}s  {event.step}/{self.total}  begins: "
                            f"{event.kind}{' ' + event.name if event.name else ''}", "dim"))
            self._start_countdown(event)
        elif event.type == "attempt_failed":
            # the step's line comes when it ends: say here which step is retrying
            self.write((f"{event.t:>8.3f}s  {event.step}/{self.total}  {event.kind} "
                        f"attempt {fields['attempt']} failed ({fields['reason']}); "
                        f"retrying in {fields['retry_in']:.2f}s", "warn"))
        elif event.type == "step_finished" and event.step is not None:
            if self.verbosity < 0 and fields.get("outcome") == "ok":
                return
            self.write(*self.step_line(event))
            if fields.get("outcome") != "ok" and fields.get("reason"):
                self.write(f"{'':>9}  {fields['reason']}")
        elif event.type == "heard" and self.verbosity >= 0:
            words = "; ".join(f"+{w['t'] or 0:.1f}s '{w['text']}'" for w in fields["transcript"])
            self.write((f"{event.t:>8.3f}s  {event.step}/{self.total}  heard {words}", "dim"))
        elif event.type == "flow_finished":
            self.write(self.summary(event))

    # -- the step in progress, on a terminal ----------------------------------------------

    def _start_countdown(self, event: Event) -> None:
        """A wait or a confirm_live that takes a while shows what it waits for and the
        time left, redrawn in place until the step's line replaces it."""
        if not self.live or event.step is None:
            return
        fields = event.fields
        if event.kind == "wait":
            what, seconds = "waiting", float(fields.get("wait") or 0)
        elif event.kind == "confirm_live":
            what, seconds = "confirming the call is live", float(fields.get("timeout") or 0)
        else:
            return
        if seconds < 1:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        label = f"{event.step}/{self.total}  {what}"
        if event.name:
            label += f" ({event.name})"
        self._countdown = loop.create_task(self._count_down(label, time.monotonic() + seconds))

    async def _count_down(self, label: str, end: float) -> None:
        try:
            while True:
                left = max(0.0, end - time.monotonic())
                control(self.stream, "\r\033[K")
                self._text(f"{'':>9}  {label}: {left:.1f}s left")
                self.stream.flush()
                await asyncio.sleep(min(0.1, left) if left > 0 else 0.1)
        except asyncio.CancelledError:
            pass

    def _stop_countdown(self) -> None:
        if self._countdown is not None:
            self._countdown.cancel()
            self._countdown = None
            control(self.stream, "\r\033[K")

    def step_line(self, event: Event) -> list[Segment]:
        fields = event.fields
        start = self.started.get(event.step or 0, event.t)
        what = event.kind or ""
        if event.kind in ("send", "wait"):
            what += f" {fields.get('detail', '')}"
        if event.kind == "send":
            what += f" on {self.legs.get(event.step or 0, '')}"
        label = f"{what} ({event.name})" if event.name else what
        ok = fields.get("outcome") == "ok"
        result = "ok" if ok else str(fields.get("outcome"))
        if fields.get("status"):
            result += f" {fields['status']}"
        extras = []
        if fields.get("latency") is not None:
            extras.append(f"{fields['latency']:.0f}ms")
        attempts = fields.get("attempts") or 0
        if attempts:
            extras.append(f"{attempts} attempt" + ("s" if attempts != 1 else ""))
        line: list[Segment] = [f"{start:>8.3f}s  {event.step}/{self.total}  {label:<34} ",
                               (result, "ok" if ok else "bad")]
        tail = "  ".join(extras)
        if tail:
            line.append(f"  {tail}")
        return line

    def summary(self, event: Event) -> Segment:
        fields = event.fields
        code = fields["exit_code"]
        duration = float(fields.get("duration", event.t))
        done = f"{fields['steps_done']}/{fields['steps']} steps in {duration:.2f}s"
        if code == 0:
            return (f"ok: {done}", "ok")
        return (f"{fields['outcome']} (exit {code}): {fields['reason']}; {done}", "bad")


class BatchProgress:
    """A batch in human mode: a live counts line on a terminal, a line per failed call."""

    def __init__(self, total: int, stream: TextIO | None = None,
                 live: bool | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.started = self.ok = self.failed = 0
        self.shown = ""

    def __call__(self, event: Event) -> None:
        if event.type == "flow_started":
            self.started += 1
            self.refresh()

    def finished(self, result: RunResult) -> None:
        if result.outcome == "not_started":
            self.started += 1  # it never will: count it as out of the waiting line
        if result.ok:
            self.ok += 1
        else:
            self.failed += 1
            if result.outcome not in ("interrupted", "not_started", "stopped"):
                self.clear()
                self.stream.write(escape_controls(
                    f"{result.call}: {result.outcome} (exit {result.exit_code}): "
                    f"{result.reason}", newlines=True) + "\n")
        self.refresh()

    def line(self) -> str:
        running = self.started - self.ok - self.failed
        return (f"running {running}, ok {self.ok}, failed {self.failed}, "
                f"waiting {self.total - self.started} (of {self.total})")

    def refresh(self) -> None:
        if self.live:
            text = self.line()
            if text != self.shown:
                control(self.stream, "\r\033[K")
                self.stream.write(text)
                self.stream.flush()
                self.shown = text

    def clear(self) -> None:
        if self.live and self.shown:
            control(self.stream, "\r\033[K")
            self.shown = ""


def batch_table(results: Iterable[RunResult], total_steps: int,
                only_failed: bool = False) -> str:
    """The final table of a batch: where each call ended (`only_failed`: the calls that
    did not end ok), then the tally of all."""
    rows = [("call", "outcome", "steps", "duration", "reason")]
    tally: dict[str, int] = {}
    for r in results:
        tally[r.outcome] = tally.get(r.outcome, 0) + 1
        if only_failed and r.ok:
            continue
        rows.append((r.call, r.outcome, f"{r.steps_done}/{total_steps}", f"{r.duration:.2f}s",
                     "" if r.ok else r.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  "
             f"{row[3]:>{widths[3]}}  {row[4]}".rstrip() for row in rows]
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(tally.items(),
                                                                key=lambda kv: -kv[1]))
    lines.append(f"{sum(tally.values())} calls: {counts}")
    return "\n".join(lines)


def pacing_lines(pacing: Pacing) -> list[str]:
    """What the pacing of a batch's starts did, under its table: nothing when no start
    was held back."""
    lines = []
    if pacing.spread > 0:
        cost = (f"; a send costs {pacing.send_cost * 1000:.2f} ms of CPU here"
                if pacing.send_cost else "")
        lines.append(f"starts paced {pacing.slot * 1000:.1f} ms apart (the last held back "
                     f"{pacing.spread * 1000:.0f} ms{cost}), so that sends due together go "
                     "out one by one")
    if pacing.behind:
        lines.append(f"ivrflow: warning: the machine could not keep up: a call started "
                     f"{pacing.worst_lateness * 1000:.0f} ms after its slot; the gaps the "
                     "IVRs hear may be off by as much (fewer calls, or --concurrency)")
    return lines
