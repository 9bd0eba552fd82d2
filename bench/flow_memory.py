"""Resident memory per additional concurrent flow, with 1,000 flows all waiting.

    python bench/flow_memory.py [--flows 1000] [--json]

Each case runs in a fresh Python process of its own (this script started again with
`--case`), against a sandbox in another process. It sets everything up first (imports,
one parsed flow, its bindings, one `VobizTransport` with a pool sized to the flows, one
request made), collects garbage and reads its resident set size (RSS, /proc/self/statm):
that is the baseline. Then it starts N `run_flow` tasks, waits until every one of them
is in its long wait, collects garbage again, reads RSS again, cancels them all and
checks each ended "interrupted". Per flow = (RSS with N waiting - baseline) / N.

Cases:
- `idle`: flows `wait: {until: 10m}` then `send: '1'`: the cost of a waiting flow alone;
- `sent`: flows `send: '1'`, then the same wait: every flow has made a request (all at
  the same instant), so the pool has opened connections too, and each flow holds its
  first step's record;
- `sent-library-httpx`: `sent` over VobizTransport's httpx engine (httpx over its own
  transport, httpcore) instead of the default aiohttp engine (transports.py).

Target: <= 64 KiB per waiting flow.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import benchlib

CASES = ("idle", "sent", "sent-library-httpx")
WAIT = "  - wait: {until: 10m}\n"
SEND = "  - send: '1'\n"
TIME_LIMIT = 60.0


def open_fds() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


async def measure(case: str, flows: int, box: benchlib.SandboxProcess) -> dict[str, Any]:
    import transports

    from ivrflow.engine.events import Event
    from ivrflow.engine.interpreter import run_flow
    from ivrflow.language.loader import parse_flow
    from ivrflow.language.variables import resolve

    steps = WAIT + SEND if case == "idle" else SEND + WAIT + SEND
    flow = parse_flow(f"version: 1\nname: bench-memory\ntone: 0\nsteps:\n{steps}",
                      "bench-memory.yaml")
    bindings = resolve(flow, environ={})
    waiting_step = 1 if case == "idle" else 2
    waiting = 0
    all_waiting = asyncio.Event()

    def listener(event: Event) -> None:
        nonlocal waiting
        if event.type == "step_started" and event.step == waiting_step:
            waiting += 1
            if waiting == flows:
                all_waiting.set()

    name = "library-httpx" if case == "sent-library-httpx" else "library"
    async with transports.vobiz(name, box.url, box.auth_id, box.auth_token,
                                flows) as transport:
        await transport.live("memory-warm")
        gc.collect()
        await asyncio.sleep(0.2)
        before, fds_before = benchlib.rss_bytes(), open_fds()
        tasks = [asyncio.create_task(run_flow(flow, bindings, transport, f"m-{n}",
                                              listener=listener)) for n in range(flows)]
        await asyncio.wait_for(all_waiting.wait(), TIME_LIMIT)
        gc.collect()
        await asyncio.sleep(0.2)
        after, fds_after = benchlib.rss_bytes(), open_fds()
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks)
    stopped = sum(1 for r in results if r.outcome == "interrupted")
    if stopped != flows:
        raise RuntimeError(f"only {stopped} of {flows} flows ended interrupted")
    return {"case": case, "flows": flows, "rss_before": before, "rss_after": after,
            "per_flow_bytes": (after - before) / flows,
            "connections_opened": fds_after - fds_before,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def run_case(case: str, flows: int) -> dict[str, Any]:
    with benchlib.SandboxProcess() as box:
        return asyncio.run(measure(case, flows, box))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--case", choices=CASES, help="measure one case in this process")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.flows)))
        return 0
    rows = {}
    for case in CASES:
        done = subprocess.run([sys.executable, __file__, "--case", case, "--flows",
                               str(args.flows)], capture_output=True, text=True,
                              timeout=TIME_LIMIT * 2, check=True)
        rows[case] = json.loads(done.stdout.strip().splitlines()[-1])
    lines = [f"RSS per additional waiting flow, {args.flows} flows, one process per case:"]
    for row in rows.values():
        lines.append(f"  {row['case']:<18} {row['per_flow_bytes'] / 1024:6.1f} KiB/flow "
                     f"(RSS {row['rss_before'] / 2**20:.1f} -> {row['rss_after'] / 2**20:.1f}"
                     f" MiB, {row['connections_opened']} connection(s) opened)")
    benchlib.emit({"flows": args.flows, "rows": rows}, args.json, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
