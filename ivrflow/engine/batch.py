"""One flow on many calls at once: bounded concurrency, isolation, one shared budget.

Each call runs its own interpreter over the shared transport. A call that fails (its
steps rejected, its call ended, an unknown outcome) affects no other call. An auth
refusal stops every call at once, since all of them share the credentials. Cancelling
the batch (Ctrl-C) stops every call at once, and each result says where it stood.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ivrflow.engine.clock import Clock, MonotonicClock
from ivrflow.engine.events import Event, Listener, RunResult, chain
from ivrflow.engine.interpreter import StopReason, refuse_listening, run_flow
from ivrflow.engine.pacing import Pacer
from ivrflow.errors import ExitCode
from ivrflow.language.model import Flow
from ivrflow.language.variables import Bindings
from ivrflow.transport.base import Transport

# Which failure decides a batch's exit code: the first class present, in this order.
SEVERITY = (ExitCode.INTERRUPTED, ExitCode.AUTH_REFUSED, ExitCode.INVALID_INPUT,
            ExitCode.CALL_NOT_LIVE, ExitCode.WRONG_ANSWERER, ExitCode.NOT_HEARD,
            ExitCode.STEP_FAILED)


@dataclass(frozen=True, slots=True)
class Job:
    call: str  # for a call to place: its number, until the answer names the call
    bindings: Bindings
    to: str | None = None  # the number to dial: the batch places this call


def batch_exit_code(results: Sequence[RunResult], interrupted: bool = False) -> int:
    """0 only if every call succeeded; else the worst class present."""
    if interrupted:
        return int(ExitCode.INTERRUPTED)
    codes = {r.exit_code for r in results}
    for code in SEVERITY[1:]:
        if int(code) in codes:
            return int(code)
    return int(ExitCode.OK) if codes <= {0} else int(ExitCode.STEP_FAILED)


RunOne = Callable[[Job, StopReason], Awaitable[RunResult]]


async def run_batch(flow: Flow, jobs: Sequence[Job], transport: Transport, *,
                    concurrency: int = 1000, clock: Clock | None = None,
                    listener: Listener | None = None,
                    on_result: Callable[[RunResult], None] | None = None,
                    pacer: Pacer | None = None,
                    run_one: RunOne | None = None) -> list[RunResult]:
    """Run `flow` on every job's call, at most `concurrency` at a time; results in job order.

    With a `pacer`, calls start one slot apart (ivrflow.engine.pacing), in job order, and
    the pacer measures what each send costs. `run_one(job, stop_reason)` runs one job
    instead of `run_flow` on its call (a batch that places its calls: see
    ivrflow.engine.execute); it must return the job's RunResult, and emit its events.

    Never raises for call or API trouble. If the task running this is cancelled, every
    call stops at once and the results say where each stood.
    """
    refuse_listening(flow)
    clock = clock or MonotonicClock()
    if pacer is not None:
        listener = chain(pacer.hear, listener)
    slots = asyncio.Semaphore(concurrency)
    results: dict[str, RunResult] = {}
    stopped_by: list[RunResult] = []
    tasks: dict[str, asyncio.Task[None]] = {}

    def why_stopped() -> tuple[str, int, str] | None:
        if not stopped_by:
            return None  # Ctrl-C: the interpreter's own "interrupted"
        return ("stopped", int(ExitCode.AUTH_REFUSED),
                f"stopped: the API refused the credentials on call {stopped_by[0].call}")

    async def one(job: Job) -> None:
        try:
            async with slots:
                if pacer is not None:
                    await pacer.turn()
                if run_one is not None:
                    result = await run_one(job, why_stopped)
                else:
                    result = await run_flow(flow, job.bindings, transport, job.call,
                                            clock=clock, listener=listener,
                                            stop_reason=why_stopped)
        except asyncio.CancelledError:  # stopped while waiting for a slot
            code = ExitCode.AUTH_REFUSED if stopped_by else ExitCode.INTERRUPTED
            reason = ("not started: the API refused the credentials" if stopped_by
                      else "not started: the batch was stopped")
            result = RunResult(job.call, flow.name, "not_started", int(code), reason, (), 0.0)
            if listener is not None:  # every call's story ends with a flow_finished
                listener(Event("flow_finished", job.call, 0.0, fields={
                    "outcome": "not_started", "exit_code": int(code), "reason": reason,
                    "steps_done": 0, "steps": len(flow.steps)}))
        results[job.call] = result
        if on_result is not None:
            on_result(result)
        if result.exit_code == ExitCode.AUTH_REFUSED and not stopped_by:
            stopped_by.append(result)
            for call, task in tasks.items():
                if call != job.call:
                    task.cancel()

    for job in jobs:
        tasks[job.call] = asyncio.create_task(one(job))
    try:
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    except asyncio.CancelledError:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    return [results[job.call] for job in jobs]
