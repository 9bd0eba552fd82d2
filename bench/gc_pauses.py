"""Garbage-collector pauses during a 1,000-call batch, and the memory the policy costs.

    python bench/gc_pauses.py [--calls 1000] [--json]

Runs `ivrflow run FLOW --calls CALLS --json` in this process (stdout to /dev/null)
against the sandbox in another process, once per collector policy, each in a fresh
subprocess so that none inherits another's heap:

- `default`     the collector as Python sets it (no freeze, full collections on);
- `freeze`      `gc.collect(); gc.freeze()` before the batch (what ivrflow did before);
- `postponed`   freeze, and no full collection until the batch ends (the young
                generations still collect);
- `off`         ivrflow's policy (ivrflow/engine/collector.py): freeze, and the cyclic
                collector off until the batch ends.

Every collection during the batch (from when the policy takes effect, after the calls
file was read) is timed through `gc.callbacks`. Reported per policy:
the longest pause and the p99 per generation, the number of full (generation 2)
collections, the peak RSS of the process, and what a full collection right after the
batch found unreachable (the cycles the policy left waiting) and how long it took.

The flow: send "1", wait 1 s, send "${acct}#", wait 1 s, send "2" (tone 100 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import benchlib

FLOW = """\
version: 1
name: gc-bench
tone: 100ms
vars:
  acct: {pattern: '[0-9]{4}'}
steps:
  - send: '1'
  - wait: 1s
  - send: '${acct}#'
  - wait: 1s
  - send: '2'
"""
POLICIES = ("default", "freeze", "postponed", "off")
TIME_LIMIT = 120.0


def measure(policy: str, calls: int) -> dict[str, Any]:
    """In this process: one batch under `policy`; the pauses and memory."""
    from ivrflow import cli
    from ivrflow.engine import execute

    @contextlib.contextmanager
    def default() -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def freeze() -> Iterator[None]:
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()

    @contextlib.contextmanager
    def postponed() -> Iterator[None]:
        young, middle, old = gc.get_threshold()
        gc.collect()
        gc.freeze()
        gc.set_threshold(young, middle, 2**31 - 1)
        try:
            yield
        finally:
            gc.set_threshold(young, middle, old)
            gc.unfreeze()

    policies = {"default": default, "freeze": freeze, "postponed": postponed,
                "off": execute.collector_off}
    entered: list[float] = []  # when the batch began: the policy's block was entered

    @contextlib.contextmanager
    def timed() -> Iterator[None]:
        with policies[policy]():
            entered.append(time.perf_counter())
            try:
                yield
            finally:
                gc.callbacks.remove(timer)  # the batch is over

    execute.collector_off = timed  # type: ignore[assignment]

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    began: list[float] = []
    longest: list[tuple[float, int, float]] = []  # (pause, generation, when)

    def timer(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began.append(time.perf_counter())
        elif began:
            at = began.pop()
            if not entered:  # before the batch: not between sends
                return
            pause = time.perf_counter() - at
            pauses[info["generation"]].append(pause)
            longest.append((pause, info["generation"], at - entered[0]))

    with tempfile.TemporaryDirectory() as tmp:
        flow = Path(tmp, "flow.yaml")
        flow.write_text(FLOW)
        table = Path(tmp, "calls.csv")
        table.write_text("call,acct\n" + "".join(f"c-{i:04d},{i % 10000:04d}\n"
                                                 for i in range(calls)))
        gc.callbacks.append(timer)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            code = cli.main(["run", str(flow), "--calls", str(table), "--json"])
    started = time.perf_counter()
    waiting = gc.collect()
    last = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"the batch exited {code}")
    return {
        "policy": policy,
        "pauses_ms": {str(g): {"count": len(p),
                               "p99": round(benchlib.percentile(p, 99) * 1000, 3) if p else 0,
                               "max": round(max(p) * 1000, 3) if p else 0}
                      for g, p in pauses.items()},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "left_unreachable": waiting,
        "collection_after_ms": round(last * 1000, 1),
        "longest": [{"ms": round(p * 1000, 2), "generation": g, "at_s": round(t, 3)}
                    for p, g, t in sorted(longest, reverse=True)[:5]],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--policy", choices=POLICIES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.policy:  # the child: one measurement, as JSON on stdout
        os.environ.update(json.loads(os.environ.pop("GC_BENCH_ENV")))
        print(json.dumps(measure(args.policy, args.calls)))
        return 0
    results = []
    with benchlib.SandboxProcess() as box:
        env = {"VOBIZ_API_URL": box.url, "VOBIZ_AUTH_ID": box.auth_id,
               "VOBIZ_AUTH_TOKEN": box.auth_token}
        for policy in POLICIES:
            done = subprocess.run(
                [sys.executable, __file__, "--policy", policy, "--calls", str(args.calls)],
                env={**os.environ, "GC_BENCH_ENV": json.dumps(env)}, capture_output=True,
                text=True, timeout=TIME_LIMIT, cwd=benchlib.ROOT)
            if done.returncode != 0:
                raise RuntimeError(f"{policy}: {done.stderr.strip()[-500:]}")
            results.append(json.loads(done.stdout.splitlines()[-1]))
    lines = [f"collector pauses during a {args.calls}-call batch (ms; count, p99, max per "
             "generation):"]
    for r in results:
        p = r["pauses_ms"]
        gens = "  ".join(f"gen{g} {p[g]['count']}x p99 {p[g]['p99']} max {p[g]['max']}"
                         for g in ("0", "1", "2"))
        lines.append(f"  {r['policy']:<10} {gens}  peak RSS {r['peak_rss_mib']} MiB, "
                     f"{r['left_unreachable']} unreachable after "
                     f"({r['collection_after_ms']} ms to collect)")
    benchlib.emit({"calls": args.calls, "policies": results}, args.json, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
