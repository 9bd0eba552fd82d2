"""Synchronized calls: N calls all live at once, run by the real command line, and the
gaps each IVR hears between its DTMF arrivals.

    python bench/burst_timing.py [--calls 300,1000] [--tone 0] [--limit 60] [--repeats 1]
                                 [--no-core-taken] [--no-human] [--json]

For each N, a calls file of N calls (column `acct`, 8 digits each) and the flow

    send "1", wait 1s, send "${acct}#", wait 1s, send "2"      (tone `--tone`)

are run as a user runs them: `python -m ivrflow run FLOW --calls CALLS.csv --json` in a
subprocess, with VOBIZ_AUTH_ID / VOBIZ_AUTH_TOKEN / VOBIZ_API_URL pointing at a fresh
sandbox started as a separate process (`python -m ivrflow.sandbox --port 0 --log FILE`).
Every call is live from its first request, and the batch's default concurrency (1000)
lets all N run at once, so every round of sends falls due together and the batch's
pacing of starts (ivrflow/engine/pacing.py) is what spreads them.

The sandbox logs each request's arrival on the machine's monotonic clock. Per call, the
two gaps between its consecutive DTMF arrivals are compared with the plan's (`python -m
ivrflow plan FLOW --format json`: the wait plus the digits' playback): gap error =
|actual gap - planned gap|, p50 / p99 / max over all 2 N gaps. Also kept: the CLI's own
pacing figures (`batch_finished`: start_spread, start_slot, start_lateness), how far
apart the first sends arrived, the CLI's CPU time, and the machine's other load.

Each N is measured twice: with the machine as it is ("alone": the CLI and the sandbox
each have a core unless other work runs), and with a core taken by a CPU-burning
subprocess (`python -c "while True: pass"`) for the whole measurement. With `--json`
output the CLI writes every event; one more run per N without it (`-q`, the human
summary) shows the summary lines a user reads. `--repeats R` takes every measurement R
times, in turn (the figures of a busy machine vary from run to run). Every run is
bounded by `--limit` seconds: a run past it is killed and reported, never waited for.

Target: p99 gap error <= 10 ms at 300 and at 1,000 calls with a core to itself.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import benchlib

TARGET_P99_MS = 10.0
ACCT_DIGITS = 8
BURNER = [sys.executable, "-c", "while True: pass"]


def flow_text(tone: float) -> str:
    return ("version: 1\nname: bench-burst\n"
            f"tone: {tone:g}\n"
            "vars:\n  acct: {pattern: '^[0-9]{%d}$'}\n"
            "steps:\n"
            "  - send: \"1\"\n  - wait: 1s\n  - send: \"${acct}#\"\n  - wait: 1s\n"
            "  - send: \"2\"\n") % ACCT_DIGITS


def calls_csv(path: Path, n: int, prefix: str) -> list[str]:
    calls = [f"{prefix}-{i:04d}" for i in range(n)]
    lines = ["call,acct"] + [f"{c},{10**(ACCT_DIGITS - 1) + i}" for i, c in enumerate(calls)]
    path.write_text("\n".join(lines) + "\n")
    return calls


def planned_sends(flow: Path) -> list[float]:
    """The send steps' start offsets, from `python -m ivrflow plan FLOW --format json`."""
    done = subprocess.run([sys.executable, "-m", "ivrflow", "plan", str(flow), "--var",
                           f"acct={10 ** (ACCT_DIGITS - 1)}", "--format", "json"],
                          capture_output=True, text=True, timeout=30, check=True,
                          cwd=benchlib.ROOT)
    plan = json.loads(done.stdout)
    return [step["start"] for step in plan["steps"] if step["kind"] == "send"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def core_taken(on: bool) -> Iterator[subprocess.Popen[bytes] | None]:
    """With `on`, a subprocess that burns one core for as long as the block lasts."""
    if not on:
        yield None
        return
    burner = subprocess.Popen(BURNER)
    try:
        time.sleep(0.3)  # let it get going
        yield burner
    finally:
        burner.kill()
        burner.wait(timeout=10)


def one_run(flow: Path, calls_file: Path, calls: list[str], planned: list[float],
            take_core: bool, human: bool, limit: float, workdir: Path,
            tag: str) -> dict[str, Any]:
    log = workdir / f"{tag}.log"
    load = benchlib.Load()
    mine0, kids0 = time.process_time(), children_cpu()
    burner_cpu = sandbox_cpu = 0.0
    timed_out = False
    with benchlib.SandboxProcess("--log", str(log)) as box, core_taken(take_core) as burner:
        env = {**os.environ, "VOBIZ_API_URL": box.url, "VOBIZ_AUTH_ID": box.auth_id,
               "VOBIZ_AUTH_TOKEN": box.auth_token, "NO_COLOR": "1"}
        command = [sys.executable, "-m", "ivrflow", "run", str(flow), "--calls",
                   str(calls_file)] + (["-q"] if human else ["--json"])
        began = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env,
                                  timeout=limit, cwd=benchlib.ROOT)
            code, out, err = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as exc:
            timed_out = True
            code = None
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        wall = time.perf_counter() - began
        cli_cpu = children_cpu() - kids0
        sandbox_cpu = benchlib.proc_cpu(box.proc.pid)
        if burner is not None:
            burner_cpu = benchlib.proc_cpu(burner.pid)
        ours = cli_cpu + sandbox_cpu + burner_cpu + (time.process_time() - mine0)
        machine = load.done(ours)
    row: dict[str, Any] = {
        "calls": len(calls), "core_taken": take_core, "output": "human -q" if human else
        "--json", "exit_code": code, "timed_out": timed_out, "cli_wall_s": wall,
        "cli_cpu_s": cli_cpu, "sandbox_cpu_s": sandbox_cpu, "burner_cpu_s": burner_cpu,
        "load": machine}
    if human:
        lines = err.strip().splitlines()
        tally = next((i for i, line in enumerate(lines) if re.match(r"^\d+ calls: ", line)),
                     max(0, len(lines) - 3))
        row["summary_lines"] = lines[tally:]
    else:
        finished = [json.loads(line) for line in out.splitlines()
                    if '"batch_finished"' in line]
        row["batch_finished"] = finished[-1] if finished else None
    row.update(gaps(log, calls, planned))
    return row


def gaps(log: Path, calls: list[str], planned: list[float]) -> dict[str, Any]:
    """Gap errors per call from the sandbox log's arrival times."""
    arrivals: dict[str, list[float]] = {c: [] for c in calls}
    for record in benchlib.read_log(log) if log.exists() else []:
        call = record.get("call")
        if record["method"] == "POST" and call in arrivals:
            arrivals[call].append(record["monotonic"])
    want = [b - a for a, b in itertools.pairwise(planned)]
    errors: list[float] = []
    by_gap: list[list[float]] = [[] for _ in want]
    complete = 0
    for seen in arrivals.values():
        seen.sort()
        if len(seen) != len(planned):
            continue
        complete += 1
        for k, planned_gap in enumerate(want):
            error = abs((seen[k + 1] - seen[k]) - planned_gap) * 1000
            errors.append(error)
            by_gap[k].append(error)
    firsts = [seen[0] for seen in arrivals.values() if seen]
    return {"complete_calls": complete, "planned_gaps_s": want,
            "gap_error_ms": benchlib.summary(errors) if errors else None,
            "gap_error_ms_by_gap": [benchlib.summary(e) if e else None for e in by_gap],
            "first_send_spread_ms": (max(firsts) - min(firsts)) * 1000 if firsts else None,
            "requests_logged": sum(len(s) for s in arrivals.values())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="300,1000")
    parser.add_argument("--tone", type=float, default=0.0,
                        help="the flow's tone, seconds per digit (default 0)")
    parser.add_argument("--limit", type=float, default=60.0,
                        help="seconds any one run of the CLI may take (default 60)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="take every measurement this many times (default 1)")
    parser.add_argument("--no-core-taken", action="store_true",
                        help="skip the measurement with a core taken")
    parser.add_argument("--no-human", action="store_true",
                        help="skip the runs with the human summary (-q)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        flow = work / "burst.yaml"
        flow.write_text(flow_text(args.tone))
        planned = planned_sends(flow)
        for n in (int(x) for x in args.calls.split(",")):
            calls_file = work / f"calls-{n}.csv"
            calls = calls_csv(calls_file, n, f"b{n}")
            plan: list[tuple[bool, bool]] = [(False, False)]
            if not args.no_core_taken:
                plan.append((True, False))
            if not args.no_human:
                plan.append((False, True))
            for repeat in range(args.repeats):
                for take_core, human in plan:
                    tag = (f"{n}-{'busy' if take_core else 'alone'}-"
                           f"{'human' if human else 'json'}-{repeat}")
                    row = one_run(flow, calls_file, calls, planned, take_core, human,
                                  args.limit, work, tag)
                    row["repeat"] = repeat
                    rows.append(row)

    def ok(row: dict[str, Any]) -> bool:
        return (row["exit_code"] == 0 and row["gap_error_ms"] is not None
                and row["complete_calls"] == row["calls"])

    alone = [r for r in rows if not r["core_taken"]]
    met = all(ok(r) and r["gap_error_ms"]["p99"] <= TARGET_P99_MS for r in alone)
    result = {"flow": flow_text(args.tone), "tone": args.tone, "planned_sends": planned,
              "command": "python -m ivrflow run FLOW --calls CALLS.csv --json",
              "sandbox": "python -m ivrflow.sandbox --port 0 --log FILE",
              "limit_s": args.limit, "repeats": args.repeats, "rows": rows,
              "target_p99_ms": TARGET_P99_MS, "met": met, "cpus": os.cpu_count()}
    lines = [f"burst: N calls all live, flow send 1 / wait 1s / send acct# / wait 1s / send 2 "
             f"(tone {args.tone:g}); planned sends at {planned}"]
    for row in rows:
        head = (f"  {row['calls']:>5} calls, {'core taken' if row['core_taken'] else 'alone':<10}"
                f" {row['output']:<8} run {row['repeat'] + 1}")
        load = row["load"]
        where = (f"[other work {load['other_cores']:.2f} cores, load "
                 f"{load['loadavg_1m_before']:.2f}]")
        if row["gap_error_ms"] is None:
            lines.append(f"{head} no complete call (exit {row['exit_code']}, timed out "
                         f"{row['timed_out']}) {where}")
            continue
        g = row["gap_error_ms"]
        lines.append(f"{head} gap error p50 {g['p50']:.2f} p99 {g['p99']:.2f} max "
                     f"{g['max']:.2f} ms; {row['complete_calls']}/{row['calls']} complete, "
                     f"exit {row['exit_code']}; first sends spread "
                     f"{row['first_send_spread_ms']:.0f} ms; CLI CPU {row['cli_cpu_s']:.2f} s "
                     f"{where}")
        finished = row.get("batch_finished")
        if finished:
            lines.append(f"{'':>8}batch_finished: start_spread {finished.get('start_spread')} "
                         f"start_slot {finished.get('start_slot')} start_lateness "
                         f"{finished.get('start_lateness')}")
        for line in row.get("summary_lines", []):
            lines.append(f"{'':>8}| {line}")
    lines.append(f"target p99 gap error <= {TARGET_P99_MS:g} ms at every N, every run "
                 "without a core taken: "
                 f"{'met' if met else 'MISSED'}")
    benchlib.emit(result, args.json, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
