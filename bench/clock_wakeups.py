"""The CPU and lateness of the clock's wake-ups in a batch, with and without the spin.

    python bench/clock_wakeups.py [--flows 300] [--sleeps 10]

`--flows` tasks, their starts 1 ms apart, each sleep 50 ms apart `--sleeps` times on
`MonotonicClock`: once with the 2 ms spin a single flow uses (the anchor), once with
none, as a batch's clock does. No requests: only the clock. Prints, for each, the CPU
time per wake-up and how late wake-ups came (p50, p99). Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from ivrflow.engine.clock import SINGLE_FLOW_SPIN, MonotonicClock


async def _flow(clock: MonotonicClock, start: float, sleeps: int, late: list[float]) -> None:
    for k in range(sleeps):
        deadline = start + 0.05 * (k + 1)
        await clock.sleep_until(deadline)
        late.append((time.monotonic() - deadline) * 1000)


async def _measure(spin: float, flows: int, sleeps: int) -> tuple[float, float, float]:
    clock = MonotonicClock(spin=spin)
    late: list[float] = []
    start = time.monotonic() + 0.05
    cpu = time.process_time()
    await asyncio.gather(*(_flow(clock, start + (i % 50) * 0.001, sleeps, late)
                           for i in range(flows)))
    per_wake = (time.process_time() - cpu) / len(late) * 1e6
    late.sort()
    return per_wake, late[len(late) // 2], late[int(len(late) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=300)
    parser.add_argument("--sleeps", type=int, default=10)
    args = parser.parse_args()
    for name, spin in (("spin 2 ms (one flow)", SINGLE_FLOW_SPIN), ("no spin (batch)", 0.0)):
        cpu, p50, p99 = asyncio.run(_measure(spin, args.flows, args.sleeps))
        print(f"{name:<22} {args.flows * args.sleeps} wake-ups: CPU {cpu:.0f} us each, "
              f"late p50 {p50:.3f} ms, p99 {p99:.3f} ms")


if __name__ == "__main__":
    main()
