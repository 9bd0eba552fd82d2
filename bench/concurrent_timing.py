"""Arrival-gap error of pinned sends with 1, 100 and 1,000 flows running at once.

    python bench/concurrent_timing.py [--flows 1,100,1000] [--sends 10] [--rate 400]
                                      [--transport library|library-httpx] [--gc-freeze]
                                      [--grace 30] [--json]

For each N in `--flows`, N flows run at once with the library: `run_flow` tasks under
`asyncio.gather`, over ONE shared `VobizTransport` whose pool holds N connections. All
run the same flow: `--sends` sends of "1", each pinned with `wait: {until: T}`,

    send k:  T = 1 s + k * I,   with I = max(0.1 s, N / rate),

and flow j starts j * I / N after the first, so each flow's sends are I apart and the N
flows are staggered evenly across I: all together they plan `--rate` sends per second
(400 by default, under a twentieth of the ~9,000 requests/s the sandbox answers; a
single flow sends every 0.1 s). The sandbox (`python -m ivrflow.sandbox --port 0 --log
FILE`, a separate process) logs each request's arrival on the machine's monotonic
clock, the clock ivrflow times flows with; arrivals are matched to flows by call id.
Reported, over all N * (sends - 1) gaps:

- gap error: |actual gap between a flow's consecutive arrivals - planned gap|;
- lateness: arrival - planned instant (the flow's start + T), which adds the request's
  own latency.

One live-call request is made first, so the pool has a connection open (as a flow that
starts with `confirm_live` has). `--transport` picks the variant from `transports.py`
(default `library`: VobizTransport's default engine, aiohttp; `library-httpx`: its httpx
engine). `--gc-freeze` calls `gc.collect(); gc.freeze()` once the flows are set up, as
the batch runner (`ivrflow run --calls`) does.

Every N is bounded in time (the plan's length plus `--grace` seconds): flows still
running then are cancelled, and the row says how many finished; gaps are measured over
the flows that did (a client that falls behind the planned rate shows as unfinished
flows rather than a hang).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
import transports

from ivrflow.engine.events import Event, RunResult
from ivrflow.engine.interpreter import run_flow
from ivrflow.language.loader import parse_flow
from ivrflow.language.variables import resolve

START = 1.0
MIN_INTERVAL = 0.1


def plan(flows: int, sends: int, rate: float) -> tuple[float, list[float]]:
    """The interval I and the flows' pinned send offsets (the same for every flow)."""
    interval = max(MIN_INTERVAL, flows / rate)
    return interval, [START + k * interval for k in range(sends)]


async def run(box: benchlib.SandboxProcess, transport_name: str, flows: int,
              interval: float, offsets: list[float], prefix: str,
              freeze: bool = False, grace: float = 30.0,
              ) -> tuple[dict[str, float], int, list[str]]:
    """Run the flows; return each call's start on the monotonic clock, how many
    connections the pool held at the end (open sockets now, less before the client),
    and the calls that finished ok within the time limit."""
    flow = parse_flow(benchlib.pinned_flow_text(offsets), "bench-pinned.yaml")
    bindings = resolve(flow, environ={})
    starts: dict[str, float] = {}

    def listener(event: Event) -> None:
        if event.type == "flow_started":
            starts[event.call] = time.monotonic() - event.t

    async def one(j: int) -> RunResult:
        await asyncio.sleep(j * interval / flows)  # the stagger
        return await run_flow(flow, bindings, transport, f"{prefix}-{j}", listener=listener)

    fds = open_fds()
    async with transports.vobiz(transport_name, box.url, box.auth_id, box.auth_token,
                                flows) as transport:
        await transport.live(f"{prefix}-warm")
        if freeze:
            gc.collect()
            gc.freeze()  # what is alive now is never scanned by a collection again
        tasks = [asyncio.create_task(one(j)) for j in range(flows)]
        try:
            await asyncio.wait(tasks, timeout=interval + offsets[-1] + grace)  # never hang
        finally:
            if freeze:
                gc.unfreeze()
        connections = open_fds() - fds
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    done = [r.call for r in results if isinstance(r, RunResult) and r.ok]
    failed = [r for r in results if isinstance(r, RunResult) and not r.ok
              and r.outcome != "interrupted"]
    if failed:
        raise RuntimeError(f"{len(failed)} flow(s) failed: {failed[0].reason}")
    return starts, connections, done


def open_fds() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


def measure(log: Path, prefix: str, done: list[str], planned: list[float],
            starts: dict[str, float]) -> dict[str, Any]:
    arrivals: dict[str, list[float]] = {}
    for record in benchlib.read_log(log):
        call = record.get("call") or ""
        if record["method"] == "POST" and call.startswith(prefix + "-"):
            arrivals.setdefault(call, []).append(record["monotonic"])
    gaps: list[float] = []
    late: list[float] = []
    for call in done:
        seen = sorted(arrivals.get(call, []))
        if len(seen) != len(planned):
            raise RuntimeError(f"{call}: {len(seen)} arrivals logged, {len(planned)} planned")
        for (a, pa), (b, pb) in itertools.pairwise(zip(seen, planned, strict=True)):
            gaps.append(abs((b - a) - (pb - pa)) * 1000)
        late.extend((a - (starts[call] + p)) * 1000 for a, p in zip(seen, planned,
                                                                     strict=True))
    if not gaps:
        return {"gap_error_ms": None, "lateness_ms": None}
    return {"gap_error_ms": benchlib.summary(gaps), "lateness_ms": benchlib.summary(late)}


class GcPauses:
    """Collections of the cyclic garbage collector, and how long each stopped the loop."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.pauses.append((info["generation"], (time.perf_counter() - self._began) * 1000))

    def report(self) -> dict[str, Any]:
        full = [ms for gen, ms in self.pauses if gen == 2]
        return {"collections": len(self.pauses), "full_collections": len(full),
                "longest_ms": max((ms for _, ms in self.pauses), default=0.0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", default="1,100,1000")
    parser.add_argument("--sends", type=int, default=10)
    parser.add_argument("--rate", type=float, default=400.0,
                        help="sends per second planned across all flows (default 400)")
    parser.add_argument("--transport", default="library", choices=transports.VARIANTS)
    parser.add_argument("--grace", type=float, default=30.0,
                        help="seconds past the plan's end before the flows left are "
                             "cancelled (default 30)")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() once the flows are set up, as `ivrflow run "
                             "--calls` does; default: Python's collector as it is")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "sandbox.log"
        with benchlib.SandboxProcess("--log", str(log)) as box:
            sandbox_command = box.command.replace(str(log), "FILE")
            runs: list[tuple[int, list[float], dict[str, float], list[str]]] = []
            for flows in (int(n) for n in args.flows.split(",")):
                interval, offsets = plan(flows, args.sends, args.rate)
                pauses = GcPauses()
                gc.callbacks.append(pauses)
                began = time.perf_counter()
                try:
                    starts, connections, done = asyncio.run(run(
                        box, args.transport, flows, interval, offsets, f"t{flows}",
                        args.gc_freeze, args.grace))
                finally:
                    gc.callbacks.remove(pauses)
                runs.append((flows, offsets, starts, done))
                rows[str(flows)] = {"flows": flows, "finished": len(done),
                                    "interval_s": interval,
                                    "planned_rate": flows / interval,
                                    "wall_s": time.perf_counter() - began,
                                    "connections": connections,
                                    "gc": pauses.report()}
        for flows, offsets, starts, done in runs:
            rows[str(flows)].update(measure(log, f"t{flows}", done, offsets, starts))

    result = {"library": transports.describe(args.transport), "sends_per_flow": args.sends,
              "rate": args.rate, "transport": args.transport, "gc_freeze": args.gc_freeze,
              "sandbox": sandbox_command, "rows": rows}
    lines = [f"{args.sends} pinned sends per flow, transport {args.transport}"
             f"{', gc.freeze()' if args.gc_freeze else ''}, sandbox in another process:"]
    for row in rows.values():
        g, late = row["gap_error_ms"], row["lateness_ms"]
        if g is None:
            lines.append(f"  {row['flows']:>5} flows: none finished within the time limit")
            continue
        unfinished = (f"; only {row['finished']} finished in time"
                      if row["finished"] < row["flows"] else "")
        lines.append(
            f"  {row['flows']:>5} flows, {row['interval_s'] * 1000:.0f} ms apart "
            f"({row['planned_rate']:.0f} sends/s): gap error p50 {g['p50']:.3f} "
            f"p99 {g['p99']:.3f} max {g['max']:.3f} ms; lateness p50 {late['p50']:.3f} "
            f"p99 {late['p99']:.3f} max {late['max']:.3f} ms; longest GC pause "
            f"{row['gc']['longest_ms']:.1f} ms; {row['connections']} connection(s)"
            + unfinished)
    benchlib.emit(result, args.json, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
