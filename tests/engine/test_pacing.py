"""Paced starts: a batch's calls start one slot apart, in order, the slot grows when the
machine falls behind, and each call keeps its own gaps."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ivrflow.engine.clock import VirtualClock
from ivrflow.engine.pacing import Pacer
from tests.engine.conftest import FAST, Run, Start


def test_starts_are_one_slot_apart_in_order() -> None:
    clock = VirtualClock(0.0)
    pacer = Pacer(clock, slot=0.001)
    starts: list[tuple[int, float]] = []

    async def main() -> None:  # VirtualClock serves one task at a time: one call after another
        for i in range(5):
            await pacer.turn()
            starts.append((i, round(clock.now(), 6)))

    asyncio.run(main())
    assert starts == [(0, 0.0), (1, 0.001), (2, 0.002), (3, 0.003), (4, 0.004)]
    # one after another, each is held back one slot after the previous start
    assert round(pacer.pacing.spread, 6) == 0.001 and not pacer.pacing.behind


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
