"""Reporters: how a run's events reach a person (text on stderr) or a program (JSON Lines).

A reporter is a callable taking an `Event`. Reporters never search their text for
secrets: secret digits arrive masked from where events are made, and outside text (an
API's message) arrives already cleaned of secret values and the token, so ivrflow's own
words, names and numbers are shown as they are. Human text goes out through
`ivrflow.output`, which escapes control characters; colours and redraws are written as
controls, apart from the text.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from typing import TextIO

from ivrflow.events import Event, RunResult
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
                 verbosity: int = 0) -> None:
        """`verbosity` -1: only what failed and the summary; 1: each step as it begins."""
        self.stream = stream or sys.stderr
        self.colour = use_colour(self.stream) if colour is None else colour
        self.verbosity = verbosity
        self.total = 0
        self.started: dict[int, float] = {}
        self.legs: dict[int, str] = {}

    def write(self, *segments: Segment) -> None:
        """One line: plain segments as text (escaped), toned ones in colour if on."""
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
        elif event.type == "attempt_failed":
            self.write((f"{'':>9}  attempt {fields['attempt']} failed ({fields['reason']}); "
                        f"retrying in {fields['retry_in']:.2f}s", "warn"))
        elif event.type == "step_finished" and event.step is not None:
            if self.verbosity < 0 and fields.get("outcome") == "ok":
                return
            self.write(*self.step_line(event))
            if fields.get("outcome") != "ok" and fields.get("reason"):
                self.write(f"{'':>9}  {fields['reason']}")
        elif event.type == "flow_finished":
            self.write(self.summary(event))

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
        done = f"{fields['steps_done']}/{fields['steps']} steps in {event.t:.2f}s"
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
