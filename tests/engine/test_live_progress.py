"""Live progress: the step in progress on a terminal, retry lines under their step, and
one meaning of duration for the plan and the run."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

from ivrflow.engine.events import Event
from ivrflow.engine.report import HumanReporter
from tests.engine.conftest import FAST, Run, Start

FLOW = FAST + "steps:\n  - send: '1'\n  - wait: 1.5s\n  - send: '2'\n"


def test_a_long_wait_counts_down_on_a_terminal(tmp_path: Path) -> None:
    """On a pseudo-terminal, a 1.5 s wait shows 'waiting: N.Ns left', redrawn in place
    and cleared before the step's own line; nothing of it without a terminal."""
    flow = tmp_path / "f.yaml"
    flow.write_text(FLOW)
    command = [sys.executable, "-m", "ivrflow", "run", str(flow), "--call", "c-1",
               "--sandbox"]
    leader, follower = pty.openpty()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=follower)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(10)
    os.close(leader)
    text = seen.decode()
    assert proc.returncode == 0, text
    lefts = re.findall(r"2/3  waiting: (\d+\.\d)s left", text)
    assert len(lefts) >= 5 and float(lefts[0]) >= float(lefts[-1])
    assert "\r\x1b[K" in text
    # the countdown is gone when the wait's own line is printed
    assert re.search(r"\r\x1b\[K +\d+\.\d+s  2/3  wait 1.5s", text)
    plain = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert plain.returncode == 0 and "left" not in plain.stderr and "\x1b" not in plain.stderr


def test_retry_lines_name_their_own_step() -> None:
    """An attempt that failed is shown with its step's number, before that step's line."""
    out = _Capture()
    report = HumanReporter(out, colour=False, live=False)
    report(Event("flow_started", "c", 0.0, None, None, None, {"flow": "f", "steps": 2}))
    report(Event("step_started", "c", 0.0, 1, "send", None, {"digits": "1", "leg": "aleg"}))
    report(Event("step_finished", "c", 0.01, 1, "send", None, {"outcome": "ok",
                                                                "detail": "1"}))
    report(Event("step_started", "c", 0.02, 2, "send", None, {"digits": "2", "leg": "aleg"}))
    report(Event("attempt_failed", "c", 0.03, 2, "send", None,
                 {"attempt": 1, "reason": "HTTP 503", "retry_in": 0.5}))
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("   0.030s  2/2  send attempt 1 failed (HTTP 503)")


def test_plan_total_and_run_duration_agree(sandbox: Start, run_cli: Run,
                                           tmp_path: Path) -> None:
    """The run's summary counts the last digits' playback, as the plan's total does."""
    flow = ("version: 1\nname: t\ntone: 200ms\nsteps:\n  - send: '12'\n  - wait: 300ms\n"
            "  - send: '345'\n")
    done = run_cli(sandbox(), flow, "--json")
    finished = [json.loads(line) for line in done.out.splitlines()][-1]
    path = tmp_path / "flow.yaml"
    plan = subprocess.run([sys.executable, "-m", "ivrflow", "plan", str(path), "--format",
                           "json"], capture_output=True, text=True, timeout=30)
    total = json.loads(plan.stdout)["total"]
    assert total == 1.3  # 0.4 s + 0.3 s + 0.6 s of playback and waiting
    assert total <= finished["duration"] < total + 0.3  # plus the API's latency


class _Capture:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def getvalue(self) -> str:
        return "".join(self.parts)
