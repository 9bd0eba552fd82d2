"""Reporters: how a run's events reach a person (text on stderr) or a program (JSON Lines).

A reporter is a callable taking an `Event`. Every line passes through `redact` on its way
out, the last guard that keeps secret values and the auth token off the screen.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from ivrflow.events import Event, RunResult

Redact = Callable[[str], str]


def redactor(secrets: Iterable[str]) -> Redact:
    """Replace each non-empty secret with ****, longest first (one may contain another)."""
    values = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(text: str) -> str:
        for value in values:
            text = text.replace(value, "****")
        return text

    return redact


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


class JsonReporter:
    """One JSON object per line on stdout, flushed as it happens."""

    def __init__(self, redact: Redact, stream: TextIO | None = None) -> None:
        self.redact = redact
        self.stream = stream or sys.stdout

    def __call__(self, event: Event) -> None:
        self.emit_line(event.to_json())

    def emit_line(self, record: dict[str, object]) -> None:
        # redact the values before encoding: JSON escaping could hide a secret's text
        clean = {k: self.redact(v) if isinstance(v, str) else v for k, v in record.items()}
        line = json.dumps(clean, separators=(",", ":"))
        self.stream.write(self.redact(line) + "\n")
        self.stream.flush()


_COLOURS = {"ok": "32", "warn": "33", "bad": "31", "dim": "2"}


class HumanReporter:
    """One line per step as it finishes, retries indented beneath, a summary at the end."""

    def __init__(self, redact: Redact, stream: TextIO | None = None,
                 colour: bool | None = None) -> None:
        self.redact = redact
        self.stream = stream or sys.stderr
        self.colour = use_colour(self.stream) if colour is None else colour
        self.total = 0
        self.started: dict[int, float] = {}
        self.legs: dict[int, str] = {}

    def paint(self, text: str, tone: str) -> str:
        return f"\033[{_COLOURS[tone]}m{text}\033[0m" if self.colour else text

    def write(self, text: str) -> None:
        self.stream.write(self.redact(text) + "\n")
        self.stream.flush()

    def __call__(self, event: Event) -> None:
        fields = event.fields
        if event.type == "flow_started":
            self.total = int(fields["steps"])
            self.write(f"ivrflow: {fields['flow']} on call {event.call}, "
                       f"{self.total} steps")
        elif event.type == "step_started" and event.step is not None:
            self.started[event.step] = event.t
            self.legs[event.step] = str(fields.get("leg") or "")
        elif event.type == "attempt_failed":
            self.write(self.paint(
                f"{'':>9}  attempt {fields['attempt']} failed ({fields['reason']}); "
                f"retrying in {fields['retry_in']:.2f}s", "warn"))
        elif event.type == "step_finished" and event.step is not None:
            self.write(self.step_line(event))
        elif event.type == "flow_finished":
            self.write(self.summary(event))

    def step_line(self, event: Event) -> str:
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
        line = (f"{start:>8.3f}s  {event.step}/{self.total}  {label:<34} "
                f"{self.paint(result, 'ok' if ok else 'bad')}  {'  '.join(extras)}").rstrip()
        if not ok and fields.get("reason"):
            line += f"\n{'':>9}  {fields['reason']}"
        return line

    def summary(self, event: Event) -> str:
        fields = event.fields
        code = fields["exit_code"]
        done = f"{fields['steps_done']}/{fields['steps']} steps in {event.t:.2f}s"
        if code == 0:
            return self.paint(f"ok: {done}", "ok")
        return self.paint(f"{fields['outcome']} (exit {code}): {fields['reason']}; {done}",
                          "bad")



class BatchProgress:
    """A batch in human mode: a live counts line on a terminal, a line per failed call."""

    def __init__(self, total: int, redact: Redact, stream: TextIO | None = None,
                 live: bool | None = None) -> None:
        self.total = total
        self.redact = redact
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
                self.stream.write(self.redact(
                    f"{result.call}: {result.outcome} (exit {result.exit_code}): "
                    f"{result.reason}") + "\n")
        self.refresh()

    def line(self) -> str:
        running = self.started - self.ok - self.failed
        return (f"running {running}, ok {self.ok}, failed {self.failed}, "
                f"waiting {self.total - self.started} (of {self.total})")

    def refresh(self) -> None:
        if self.live:
            text = self.line()
            if text != self.shown:
                self.stream.write("\r\033[K" + text)
                self.stream.flush()
                self.shown = text

    def clear(self) -> None:
        if self.live and self.shown:
            self.stream.write("\r\033[K")
            self.shown = ""


def batch_table(results: Iterable[RunResult], total_steps: int) -> str:
    """The final table of a batch: where each call ended, then the tally."""
    rows = [("call", "outcome", "steps", "duration", "reason")]
    tally: dict[str, int] = {}
    for r in results:
        tally[r.outcome] = tally.get(r.outcome, 0) + 1
        rows.append((r.call, r.outcome, f"{r.steps_done}/{total_steps}", f"{r.duration:.2f}s",
                     "" if r.ok else r.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  "
             f"{row[3]:>{widths[3]}}  {row[4]}".rstrip() for row in rows]
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(tally.items(),
                                                                key=lambda kv: -kv[1]))
    lines.append(f"{len(rows) - 1} calls: {counts}")
    return "\n".join(lines)
