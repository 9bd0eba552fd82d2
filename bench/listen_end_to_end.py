"""A listening recipe end to end on loopback, in real time: when do its keys arrive?

    python bench/listen_end_to_end.py [--runs 3] [--flow flows/ebt-balance.yaml] [--json]

Runs `ivrflow run FLOW --call bench --sandbox --json` (a separate process, as a user
would) `--runs` times. The sandbox speaks the flow's menu model over the Audio Stream
API, on a real WebSocket on 127.0.0.1, and the run listens. For every key the sandbox
heard, the bench finds the prompt it answered: the node the menu was in when the key
arrived (from the menu's lines on stderr: "-> node" at a time since the call began) and
the true end of that prompt's speech (the node's entry plus the length of its
synthesized `say:`, which is exactly how long the sandbox speaks it).

- After a wait that ends with the prompt (`silence`, or `heard` without `barge`), the
  target: the key arrives after the speech ended and within silence + 150 ms of that
  end. Printed: key arrival minus (speech end + silence), p50 and max.
- After a `barge: true` wait the key goes as soon as the phrase is recognised, during
  the prompt: printed is how far into the prompt's speech it arrived.

The sandbox's times (key arrival) and the menu's (node entry) both count from the call's
first request; they agree to the latency of that request (a millisecond on loopback).
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

from ivrflow.language.loader import load_flow
from ivrflow.language.model import Listen, Send
from ivrflow.listen.speech import synthesize
from ivrflow.menu.loader import load_menu

ROOT = Path(__file__).resolve().parents[1]
ENTER = re.compile(r"^\s+menu\s+(\d+\.\d+)s\s+-> (\S+) ")
HEARD = re.compile(r"^\s+\+\s*(\d+\.\d+)s\s+(\S+)\s+on ")


def one_run(flow_path: Path, card: str) -> tuple[list[tuple[float, str]], list[float], int,
                                                  float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ivrflow", "run", str(flow_path), "--call", "bench",
         "--sandbox", "--json", "--var", f"card={card}"],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    wall = time.perf_counter() - started
    entries = [(float(m[1]), m[2]) for line in done.stderr.splitlines()
               if (m := ENTER.match(line))]
    heard_section = done.stderr.split("the sandbox heard", 1)[-1]
    arrivals = [float(m[1]) for line in heard_section.splitlines() if (m := HEARD.match(line))]
    return entries, arrivals, done.returncode, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--flow", default="flows/ebt-balance.yaml")
    parser.add_argument("--card", default="4000123412341234")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    flow = load_flow(ROOT / args.flow)
    assert flow.expect is not None, "the flow needs an expect block: its menu"
    menu = load_menu(flow.expect.menu, speak=True)
    speech = {name: len(synthesize(node.say, 8000)) / 2 / 8000 if node.say else 0.0
              for name, node in menu.nodes.items()}
    # the listening wait before each send, in order
    waits = []
    for i, step in enumerate(flow.steps):
        if isinstance(step, Send):
            before = flow.steps[i - 1] if i else None
            waits.append(before if isinstance(before, Listen) else None)

    after_end: list[float] = []  # key - (speech end + silence), seconds
    into_prompt: list[float] = []  # barge: key - node entry, as a share of the speech
    early = 0
    codes = []
    walls = []
    load = benchlib.Load()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(args.runs):
        entries, arrivals, code, wall = one_run(ROOT / args.flow, args.card)
        codes.append(code)
        walls.append(wall)
        for wait, arrived in zip(waits, arrivals, strict=False):
            if wait is None:
                continue
            # the node the key was pressed in: a key enters the next node as it arrives,
            # so a node entered within 20 ms of the arrival (the menu prints 10 ms) is
            # the key's own doing
            node, entered = next(((n, t) for t, n in reversed(entries)
                                  if t < arrived - 0.02), ("", 0.0))
            end = entered + speech.get(node, 0.0)
            if wait.barge:
                into_prompt.append(arrived - entered)
                continue
            after_end.append(arrived - (end + wait.silence))
            if arrived < end:
                early += 1
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    result: dict[str, Any] = {
        "machine": benchlib.machine(), "flow": args.flow, "runs": args.runs,
        "exit_codes": codes, "wall_s": [round(w, 1) for w in walls],
        "keys_after_prompt_end": len(after_end), "keys_before_speech_end": early,
        "late_ms_p50": round(statistics.median(after_end) * 1000, 1) if after_end else None,
        "late_ms_max": round(max(after_end) * 1000, 1) if after_end else None,
        "late_ms_min": round(min(after_end) * 1000, 1) if after_end else None,
        "barge_keys": len(into_prompt),
        "barge_s_into_prompt": [round(x, 2) for x in into_prompt],
        "run_cpu_share": round(ours / sum(walls), 3),
        "load": {k: round(v, 2) for k, v in load.done(ours).items()},
    }
    target = bool(after_end) and early == 0 and max(after_end) <= 0.150 \
        and min(after_end) >= -0.001
    result["target_met"] = target
    human = "\n".join([
        f"{args.flow} on the sandbox, {args.runs} run(s), exit codes {codes}, "
        f"{statistics.median(walls):.1f} s each",
        f"keys after a prompt end: {len(after_end)}; arrival - (speech end + silence): "
        f"p50 {result['late_ms_p50']} ms, min {result['late_ms_min']} ms, "
        f"max {result['late_ms_max']} ms (target: 0 to 150 ms) -> "
        f"{'met' if target else 'NOT met'}",
        f"keys before their prompt's speech ended: {early}",
        f"barge keys: {len(into_prompt)}, arrived {result['barge_s_into_prompt']} s into "
        "their prompt",
        f"CPU of the run (ivrflow and its sandbox): {result['run_cpu_share']:.1%} of a core; "
        f"other load: {result['load']['other_cores']:.2f} cores",
    ])
    benchlib.emit(result, args.json, human)
    return 0


if __name__ == "__main__":
    sys.exit(main())
