"""Paced starts: a batch's calls start one slot apart, in order, the slot grows when the
machine falls behind, and each call keeps its own gaps."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from ivrflow.engine.batch import Job, run_batch
from ivrflow.engine.clock import VirtualClock
from ivrflow.engine.pacing import Pacer, Pacing, SendMeter
from ivrflow.language.loader import parse_flow
from ivrflow.language.variables import resolve
from ivrflow.transport.base import Accepted
from tests.engine.conftest import FAST, Run, Start
from tests.engine.virtualtime import LoopClock, VirtualTimeLoop, run_virtual, spend


def test_starts_are_one_slot_apart_in_order() -> None:
    """No send's cost known (nothing sent): the first four calls 5 ms apart, then 1 ms."""
    clock = VirtualClock(0.0)
    pacer = Pacer(clock, slot=0.001)
    starts: list[tuple[int, float]] = []

    async def main() -> None:  # VirtualClock serves one task at a time: one call after another
        for i in range(5):
            await pacer.turn()
            starts.append((i, round(clock.now(), 6)))

    asyncio.run(main())
    assert starts == [(0, 0.0), (1, 0.005), (2, 0.01), (3, 0.015), (4, 0.016)]
    # one after another, each is held back one slot after the previous start
    assert round(pacer.pacing.spread, 6) == 0.005 and not pacer.pacing.behind


class _LateClock(VirtualClock):
    """Every sleep ends 6 ms late, as on a machine that cannot keep up."""

    async def sleep_until(self, deadline: float) -> None:
        await super().sleep_until(deadline + 0.006)


def test_the_slot_grows_when_starts_come_late_and_it_is_reported() -> None:
    clock = _LateClock(0.0)
    pacer = Pacer(clock, slot=0.001, max_slot=0.02)

    async def main() -> None:
        for _ in range(12):
            await pacer.turn()

    asyncio.run(main())
    pacing = pacer.pacing
    assert 0.001 < pacing.slot <= 0.02
    assert pacing.behind and round(pacing.worst_lateness, 6) == 0.006


def test_each_call_keeps_its_gaps_in_a_paced_batch(sandbox: Start, run_cli: Run,
                                                   tmp_path: Path) -> None:
    """100 live calls at once: each call's two sends arrive 250 ms (the first's playback)
    + 300 ms apart at the server (loosely: the sandbox shares this process), and the
    summary says starts were paced."""
    box = sandbox()
    calls = [f"c-{i}" for i in range(100)]
    for call in calls:
        box.mark_live(call)
    path = tmp_path / "calls.csv"
    path.write_text("call\n" + "\n".join(calls) + "\n")
    flow = FAST.replace("tone: 0", "tone: 250ms") + (
        "steps:\n  - send: '1'\n  - wait: 300ms\n  - send: '2'\n")
    result = run_cli(box, flow, "--calls", str(path), call=None)
    assert result.code == 0, result.err
    assert "starts paced" in result.err
    arrivals: dict[str, list[float]] = {}
    for record in box.requests():
        if record.digits is not None and record.call is not None:
            arrivals.setdefault(record.call, []).append(record.t)
    gaps = [times[1] - times[0] for times in arrivals.values()]
    assert len(gaps) == 100
    # A first send late in the burst (connections still opening) shortens its call's gap,
    # since the second is timed from when the first was due; it never lengthens it, as
    # timing from the answer would (0.55 s plus the latency)
    # (loose bounds: the whole suite runs on two workers beside this test)
    assert all(0.25 < gap < 0.75 for gap in gaps), (sorted(gaps)[:3], sorted(gaps)[-3:])
    assert sorted(gaps)[50] < 0.58


# -- many calls on virtual time: the pacing as the IVRs hear it ------------------------

BURST = parse_flow("version: 1\nname: burst\ntone: 100ms\nsteps:\n  - send: '1'\n"
                   "  - wait: 1s\n  - send: '${acct}#'\n  - wait: 1s\n  - send: '2'\n"
                   "vars:\n  acct: {pattern: '[0-9]{4}'}\n")
PLANNED_GAPS = (1.1, 1.5)  # each wait plus the playback of the digits before it (100 ms each)


class CostlyTransport:
    """Accepts every send, each costing the event loop `cost` seconds of CPU (virtual
    time passing while nothing else runs); records when each request went out."""

    def __init__(self, cost: float) -> None:
        self.cost = cost
        self.sent: list[tuple[str, str, float]] = []

    async def send_digits(self, call: str, digits: str, leg: str) -> Accepted:
        self.sent.append((call, digits, asyncio.get_running_loop().time()))
        spend(self.cost)
        await asyncio.sleep(0)
        return Accepted(202)

    async def live(self, call: str) -> Accepted:
        return Accepted(200)


def burst(calls: int, cost: float) -> tuple[CostlyTransport, Pacing, list[str]]:
    """`calls` calls all live at once, run as a paced batch on virtual time."""
    transport = CostlyTransport(cost)
    jobs = [Job(f"c-{i:04d}", resolve(BURST, row={"acct": f"{i:04d}"})) for i in range(calls)]

    async def main() -> Pacing:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        clock = LoopClock()
        pacer = Pacer(clock, meter=SendMeter(cpu=lambda: loop.spent))
        results = await run_batch(BURST, jobs, transport, clock=clock, pacer=pacer)
        assert all(r.ok for r in results)
        return pacer.pacing

    return transport, run_virtual(main()), [job.call for job in jobs]


def per_call(transport: CostlyTransport) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for call, _, t in transport.sent:
        times.setdefault(call, []).append(t)
    return times


def test_a_paced_burst_keeps_every_calls_gaps_exact_and_its_order() -> None:
    """300 calls at once, a send costing 0.4 ms: every call's gaps are the plan's to the
    microsecond, each round goes out in the calls' order, and the spread is reported."""
    transport, pacing, calls = burst(300, cost=0.0004)
    times = per_call(transport)
    assert len(times) == 300 and all(len(t) == 3 for t in times.values())
    errors = [abs((t[k + 1] - t[k]) - PLANNED_GAPS[k]) for t in times.values() for k in (0, 1)]
    assert max(errors) < 1e-6
    for k in range(3):  # the order of every round is the order of the calls
        assert sorted(calls, key=lambda c: times[c][k]) == calls
    firsts = [times[c][0] for c in calls]
    # the first four 5 ms apart (the cost not known yet), then 1 ms
    assert [round(b - a, 6) for a, b in itertools.pairwise(firsts)] == [0.005] * 3 + [0.001] * 296
    assert pacing.slot == 0.001 and round(pacing.spread, 6) == round(firsts[-1] - firsts[0], 6)
    assert not pacing.behind and abs(pacing.send_cost - 0.0004) < 1e-9


def test_the_slot_follows_the_measured_cost_of_a_send() -> None:
    """A send costing 1.5 ms (more than the 1 ms slot): once four sends are in, the slot
    becomes 1.5 times the measured cost, so every call hears its gaps exactly and
    nobody's order changes."""
    transport, pacing, calls = burst(100, cost=0.0015)
    assert abs(pacing.send_cost - 0.0015) < 1e-9
    assert abs(pacing.slot - 0.00225) < 1e-9
    times = per_call(transport)
    errors = {c: max(abs((times[c][k + 1] - times[c][k]) - PLANNED_GAPS[k]) for k in (0, 1))
              for c in calls}
    assert max(errors.values()) < 1e-6 and not pacing.behind
    for k in range(3):
        assert sorted(calls, key=lambda c: times[c][k]) == calls


def test_unpaced_a_burst_queues_and_the_queue_is_what_the_ivr_hears() -> None:
    """The same burst without a pacer: every first send is due at once, so the 300th
    goes out 300 sends later than planned (the loop is busy with the others); the
    interpreter anchors to the due time, so the queue shows up as lateness, not drift."""
    transport = CostlyTransport(0.0004)
    jobs = [Job(f"c-{i:04d}", resolve(BURST, row={"acct": f"{i:04d}"})) for i in range(300)]

    async def main() -> None:
        await run_batch(BURST, jobs, transport, clock=LoopClock())

    run_virtual(main())
    firsts = sorted(t for call, digits, t in transport.sent if digits == "1")
    assert round(firsts[-1] - firsts[0], 6) == round(299 * 0.0004, 6)
