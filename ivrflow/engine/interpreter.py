"""Walk a flow on one call: timing by deadlines, retries by policy, digits at most once.

Rules that keep a live call safe:
- a send whose outcome is unknown is never repeated unless its policy says `unknown: true`,
  and once any attempt's outcome was unknown, every later report of the step says the
  digits may have played;
- before any retry of a send, the call is confirmed live; if it is not, or cannot be
  confirmed, nothing more is sent;
- after the API says the call is gone (404), nothing more is sent;
- nothing is sent after the flow's deadline; a request still in flight then is abandoned
  and reported as of unknown outcome.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ivrflow.engine.clock import SINGLE_FLOW_SPIN, Clock, MonotonicClock
from ivrflow.engine.ears import AudioLost, Ears, Prompt
from ivrflow.engine.events import Event, Listener, RunResult, StepRecord
from ivrflow.engine.retrying import DeadlineReached, RetryHook, TryAgain, with_retries
from ivrflow.errors import ExitCode, InvalidInput
from ivrflow.language.digits import last_key_at
from ivrflow.language.durations import format_seconds
from ivrflow.language.model import ConfirmLive, Flow, Listen, Send, Step, Wait
from ivrflow.language.plan import listen_detail
from ivrflow.language.timing import earliest_start, playback, wait_end
from ivrflow.language.variables import Bindings
from ivrflow.transport.base import (
    Accepted,
    AuthDenied,
    CallGone,
    Rejected,
    Transient,
    Transport,
    Unknown,
)

T = TypeVar("T")
MAX_REASON = 300  # characters kept in a reason
MAX_DETAIL = 200  # characters of an API's own explanation kept in a reason
MAYBE = "the digits may or may not have been played"


@dataclass(frozen=True, slots=True)
class _Stop(Exception):
    """Ends the flow: `outcome` names why, `exit_code` is the process's."""

    outcome: str
    exit_code: ExitCode
    reason: str


class _NoAnswer(Exception):
    """A request was abandoned at its deadline (or never made: no time was left)."""

    def __init__(self, started: bool) -> None:
        super().__init__()
        self.started = started


def _transcript(prompt: Prompt) -> str:
    """What was heard, for a message: the words with their times, or that there were none."""
    if not prompt.transcript:
        return "no words recognised" if prompt.speech_began is not None else "no speech"
    words = "; ".join(f"'{w.text}'" for w in prompt.transcript[-5:])
    return f"hearing {words}"


class _Late(Exception):
    """An awaited piece of work was abandoned at its deadline."""


StopReason = Callable[[], "tuple[str, int, str] | None"]


async def run_flow(flow: Flow, bindings: Bindings, transport: Transport, call: str, *,
                   clock: Clock | None = None, listener: Listener | None = None,
                   stop_reason: StopReason | None = None, ears: Ears | None = None
                   ) -> RunResult:
    """Run `flow` on `call` and return how it went; never raises for API or call trouble.

    `ears` hear the IVR for the listening waits (ivrflow.engine.ears); a flow that has
    such waits and no ears is refused (InvalidInput) before anything is sent.

    Cancelling the task that awaits this stops the flow at once: nothing more is sent, and
    the result says "interrupted" (a send that was in flight is of unknown outcome), or
    what `stop_reason()` says when it gives (outcome, exit code, reason).
    """
    if ears is None:
        refuse_listening(flow)
    run = _Run(flow, bindings, transport, call,
               clock or MonotonicClock(spin=SINGLE_FLOW_SPIN), listener)
    run.stop_reason = stop_reason
    run.ears = ears
    return await run.run()


def refuse_listening(flow: Flow) -> None:
    """A flow with listening waits needs the call's audio, which this command cannot
    hear yet: refused before anything is sent (InvalidInput, exit 2), at the first one."""
    for step in flow.steps:
        if isinstance(step, Listen):
            raise InvalidInput(
                f"{flow.path}:{step.line}:{step.column}: step {step.number}: this version of "
                "ivrflow checks and plans listening waits (wait: {silence: ...} or wait: "
                "{heard: ...}) but cannot run them yet: they need the call's audio stream. "
                "Use a fixed wait (wait: 4s) for now")


class _Run:
    def __init__(self, flow: Flow, bindings: Bindings, transport: Transport, call: str,
                 clock: Clock, listener: Listener | None) -> None:
        self.flow = flow
        self.bindings = bindings
        self.transport = transport
        self.call = call
        self.clock = clock
        self.listener = listener
        self.t0 = 0.0
        self.records: list[StepRecord] = []
        self.maybe_played = False  # an attempt of the current send had an unknown outcome
        self.stop_reason: StopReason | None = None
        self.sending = False  # a request has begun and not yet been answered or abandoned
        self.ears: Ears | None = None
        self.last_key: float | None = None  # offset at which the last send's last key began

    # -- time ---------------------------------------------------------------------------

    def offset(self) -> float:
        return self.clock.now() - self.t0

    @property
    def deadline(self) -> float:
        return self.t0 + self.flow.timeout

    async def sleep_to(self, offset: float, step: Step) -> None:
        if offset > self.flow.timeout:
            raise _Stop("deadline", ExitCode.STEP_FAILED,
                        f"step {step.number} would run until {format_seconds(offset)}, past the "
                        f"flow's timeout of {format_seconds(self.flow.timeout)}; stopped "
                        "without sending anything more")
        await self.clock.sleep_until(self.t0 + offset)

    async def request(self, make: Callable[[], Awaitable[T]], until: float | None = None) -> T:
        """Make an API request, abandoning it at `until` (default: the flow's deadline).

        A transport with an `admit()` (a shared rate gate) is waited for first: a request
        held there never left ivrflow, so running out of time (or being stopped) there
        means nothing was sent, never "unknown". `self.sending` says whether the request
        itself has begun.

        Not `asyncio.wait_for`: before Python 3.12 it swallows a cancellation that arrives
        as the request completes, and a stopped flow would then carry on.
        """
        end = min(until or self.deadline, self.deadline)
        self.sending = False
        admit = getattr(self.transport, "admit", None)
        try:
            if admit is not None:
                await self._until(admit(), end)
        except _Late:
            raise _NoAnswer(started=False) from None
        if end <= self.clock.now():
            raise _NoAnswer(started=False)
        self.sending = True  # stays set if this is cancelled: the request had begun
        try:
            return await self._until(make(), end)
        except _Late:
            raise _NoAnswer(started=True) from None

    async def _until(self, work: Awaitable[T], end: float) -> T:
        """Await `work`, abandoning (cancelling) it at clock time `end` with `_Late`."""
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, end - self.clock.now()))
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            task.cancel()
            raise _Late
        return task.result()

    # -- events -------------------------------------------------------------------------

    def emit(self, type_: str, step: Step | None = None, **fields: object) -> None:
        if self.listener is None:
            return
        for key, value in fields.items():
            # ivrflow's own words are never searched for secrets: digits are masked where
            # they are made and outside text is cleaned in `said`; reasons are shortened
            if key == "reason" and isinstance(value, str):
                fields[key] = _shorten(value)
        event = Event(type_, self.call, self.offset(), step.number if step else None,
                      step.kind if step else None, step.name if step else None, dict(fields))
        try:
            self.listener(event)
        except OSError:  # the reader went away (a closed pipe): the call matters more
            self.listener = None

    def said(self, outcome: object) -> str:
        """An outcome in words: ivrflow's own, then the API's explanation (outside text)
        cleaned of the flow's secret values and shortened."""
        message = str(getattr(outcome, "message", ""))
        detail = str(getattr(outcome, "detail", "") or "")
        if not detail:
            return message
        return f"{message}: {_shorten(self.bindings.redact(detail), MAX_DETAIL)}"

    # -- the walk -----------------------------------------------------------------------

    async def run(self) -> RunResult:
        self.t0 = self.clock.now()
        self.emit("flow_started", flow=self.flow.name, file=self.flow.path,
                  steps=len(self.flow.steps))
        outcome, code, reason = "ok", ExitCode.OK, "all steps done"
        try:
            await self.walk()
        except _Stop as stop:
            outcome, code, reason = stop.outcome, stop.exit_code, stop.reason
        except asyncio.CancelledError:
            given = self.stop_reason() if self.stop_reason is not None else None
            outcome, number, why = given or ("interrupted", ExitCode.INTERRUPTED, "interrupted")
            code = ExitCode(number)
            reason = f"{why}; nothing more was sent"
            current = self.records[-1] if self.records else None
            if current is not None and current.outcome in ("pending", "unknown"):
                step = self.flow.steps[current.number - 1]
                if current.outcome == "unknown" or self.maybe_played:
                    reason = (f"{why} during step {current.number} while its digits were "
                              f"being sent: {MAYBE}; nothing more was sent")
                    self.fail(step, current, _Stop("unknown", code, reason))
                else:
                    reason = f"{why} during step {current.number}; nothing more was sent"
                    self.fail(step, current, _Stop(outcome, code, reason))
            if sys.version_info >= (3, 11):
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
        reason = _shorten(reason)
        # One meaning of duration, the plan's: the flow lasts until its last step ends,
        # a send's digits still playing after the API accepted them included.
        ends = [r.end for r in self.records if r.end is not None]
        duration = max([self.offset(), *ends])
        result = RunResult(self.call, self.flow.name, outcome, int(code), reason,
                           tuple(self.records), duration)
        self.emit("flow_finished", outcome=outcome, exit_code=int(code), reason=reason,
                  steps_done=result.steps_done, steps=len(self.flow.steps),
                  duration=round(duration, 3))
        return result

    async def walk(self) -> None:
        previous_end = 0.0
        last_action_end: float | None = None
        for step in self.flow.steps:
            start = earliest_start(self.flow, step, previous_end, last_action_end)
            await self.sleep_to(start, step)
            record = StepRecord(step.number, step.kind, step.name, self.offset())
            self.records.append(record)
            try:
                end = await self.step(step, record, start)
            except _Stop as stop:
                raise self.fail(step, record, stop) from None
            if not isinstance(step, Wait):
                last_action_end = end
            record.end = end  # a send ends when its digits have played
            record.outcome = "ok"
            self.emit("step_finished", step, outcome="ok", attempts=record.attempts,
                      status=record.status, latency=_ms(record.latency),
                      detail=record.detail, end=round(end, 3))
            previous_end = end

    async def step(self, step: Step, record: StepRecord, start: float) -> float:
        """Carry out one step that began at offset `start`; return the offset it ends at."""
        if isinstance(step, Wait):
            end = wait_end(step, start)
            record.detail = (f"until {format_seconds(step.until)}" if step.until is not None
                             else format_seconds(step.seconds or 0.0))
            self.emit("step_started", step, wait=end - start)
            await self.sleep_to(end, step)
            return end
        if isinstance(step, Listen):
            return await self.listen(step, record, start)
        if isinstance(step, Send):
            record.detail = self.bindings.shown(step)
            self.emit("step_started", step, digits=record.detail, leg=step.leg)
            digits = self.bindings.digits(step)
            # Timed from when the send was due, not from when its answer came: the API's
            # latency (and a burst's queueing) never shifts the steps after it. Never
            # earlier than the answer, though: nothing goes on before the send is settled.
            anchor, answered = await self.send(step, record, digits, due=start)
            self.last_key = anchor + last_key_at(digits, self.flow.tone)
            return max(anchor + playback(digits, self.flow.tone), answered)
        assert isinstance(step, ConfirmLive)
        record.detail = f"up to {format_seconds(step.timeout)}"
        self.emit("step_started", step, timeout=step.timeout, interval=step.interval)
        await self.confirm_live(step, record)
        return self.offset()

    async def listen(self, step: Listen, record: StepRecord, start: float) -> float:
        """Wait for the IVR's prompt (and phrase); return the offset at which it ended."""
        assert self.ears is not None
        record.detail = listen_detail(step)
        self.emit("step_started", step, wait=step.max, silence=step.silence,
                  heard=list(step.heard), barge=step.barge)
        deadline = min(self.t0 + start + step.max, self.deadline)
        # Right after a send, the IVR may answer its last key at once: the first syllables
        # of that answer play while the key does, and the wait hears them.
        previous = self.flow.steps[step.number - 2] if step.number > 1 else None
        since = None
        if isinstance(previous, Send) and self.last_key is not None:
            since = self.t0 + min(start, self.last_key)
        try:
            prompt = await self.ears.prompt(silence=step.silence, phrases=step.heard,
                                            barge=step.barge, deadline=deadline, since=since)
        except AudioLost as lost:
            # a call's audio ends when the call does: ask, so that a hang-up is told as one
            gone = await self.call_gone()
            if gone is not None:
                raise _Stop("not_live", ExitCode.CALL_NOT_LIVE,
                            f"the call ended during the listening wait ({gone}); nothing "
                            "more was sent") from None
            raise _Stop("failed", ExitCode.STEP_FAILED,
                        f"the IVR could not be heard: {lost.reason}; nothing more was "
                        "sent") from None
        if prompt.speech_began is not None:
            self.emit("speech_started", step, at=self._at(prompt.speech_began))
        if prompt.transcript or prompt.phrase:
            self.emit("heard", step, phrase=prompt.phrase,
                      transcript=[{"t": self._at(w.t), "text": w.text}
                                  for w in prompt.transcript])
        if prompt.ended:
            self.emit("prompt_ended", step, speech_ended=self._at(prompt.speech_ended))
        outcome = self._judge(step, prompt, min(step.max, self.flow.timeout - start))
        if outcome is not None:
            raise _Stop("not_heard", ExitCode.NOT_HEARD, outcome)
        return self.offset()

    def _at(self, clock_time: float | None) -> float | None:
        return None if clock_time is None else round(max(0.0, clock_time - self.t0), 3)

    def _judge(self, step: Listen, prompt: Prompt, allowed: float) -> str | None:
        """Why what was heard does not do for the step (None: it does); `allowed`: how
        long the wait could last."""
        longest = format_seconds(allowed)
        if step.heard and prompt.phrase is None:
            said = _transcript(prompt)
            expected = " or ".join(f"'{p}'" for p in step.heard)
            if prompt.ended:
                return (f"the IVR did not say {expected}: its prompt ended after {said}; "
                        "nothing more was sent")
            return (f"the IVR did not say {expected} within {longest} ({said}); nothing "
                    "more was sent")
        if step.heard and (prompt.ended or step.barge):
            return None
        if prompt.ended:
            return None
        if prompt.speech_began is None:
            return f"the IVR said nothing within {longest}; nothing more was sent"
        return (f"the IVR's prompt had not ended after {longest} (no "
                f"{format_seconds(step.silence)} of silence); nothing more was sent")

    def fail(self, step: Step, record: StepRecord, stop: _Stop) -> _Stop:
        if isinstance(step, Send) and self.maybe_played and MAYBE not in stop.reason:
            stop = _Stop(stop.outcome, stop.exit_code,
                         f"{stop.reason} (an earlier attempt's outcome was unknown: {MAYBE})")
        record.outcome = stop.outcome
        record.end = self.offset()
        self.emit("step_finished", step, outcome=stop.outcome, attempts=record.attempts,
                  status=record.status, latency=_ms(record.latency), reason=stop.reason,
                  detail=record.detail)
        return stop

    def on_retry(self, step: Step) -> RetryHook:
        def hook(attempt: int, failure: TryAgain, pause: float) -> None:
            self.emit("attempt_failed", step, attempt=attempt, status=failure.status,
                      reason=failure.reason, retry_in=round(pause, 3))
        return hook

    # -- send ---------------------------------------------------------------------------

    async def send(self, step: Send, record: StepRecord, digits: str, due: float
                   ) -> tuple[float, float]:
        """Send the digits; return (the anchor of what follows: `due` if the first try was
        accepted, else when the accepted try began; the offset of the API's answer)."""
        self.maybe_played = False

        async def attempt(number: int) -> tuple[float, float]:
            if number > 1:
                await self.confirm_still_live(step)
            record.attempts = number
            began = due if number == 1 else self.offset()
            started = self.clock.now()
            try:
                outcome = await self.request(
                    lambda: self.transport.send_digits(self.call, digits, step.leg))
            except _NoAnswer as none:
                if not none.started:
                    raise _Stop("deadline", ExitCode.STEP_FAILED,
                                "the flow's timeout was reached before the digits could be "
                                "sent; nothing was sent") from None
                raise _Stop("unknown", ExitCode.STEP_FAILED,
                            f"the flow's timeout of {format_seconds(self.flow.timeout)} passed "
                            f"while the digits were being sent: {MAYBE}") from None
            except asyncio.CancelledError:
                if self.sending:  # stopped mid-request: the server may have it
                    record.outcome = "unknown"
                raise
            record.latency = self.clock.now() - started
            record.status = outcome.status
            if isinstance(outcome, Accepted):
                return began, self.offset()
            if isinstance(outcome, Transient):
                raise TryAgain(self.said(outcome), status=outcome.status,
                               retry_after=outcome.retry_after, outcome=outcome)
            if isinstance(outcome, Unknown):
                self.maybe_played = True
                if step.retry.unknown:
                    raise TryAgain(self.said(outcome), status=outcome.status, outcome=outcome)
                raise _Stop("unknown", ExitCode.STEP_FAILED,
                            f"outcome unknown ({self.said(outcome)}): {MAYBE}, so they were not "
                            "sent again (set retry.unknown: true to allow that)")
            raise self.refusal(outcome, "the digits")

        try:
            return await with_retries(attempt, step.retry, self.clock, deadline=self.deadline,
                                      on_retry=self.on_retry(step))
        except TryAgain as last:
            raise _Stop("failed", ExitCode.STEP_FAILED,
                        f"gave up after {record.attempts} attempt(s): {last.reason}") from None
        except DeadlineReached as reached:
            raise _Stop("deadline", ExitCode.STEP_FAILED,
                        "the flow's timeout would pass before the next attempt; last error: "
                        f"{reached.last.reason}") from None

    async def call_gone(self) -> str | None:
        """One live-call check, bounded by the flow's deadline: why the call is gone, or
        None when it is live or the check could not tell."""
        try:
            outcome = await self.request(lambda: self.transport.live(self.call),
                                         until=self.clock.now() + 5.0)
        except _NoAnswer:
            return None
        return self.said(outcome) if isinstance(outcome, CallGone) else None

    async def confirm_still_live(self, step: Send) -> None:
        """Before retrying a send: go on only if the API confirms the call is live."""

        async def check(number: int) -> None:
            try:
                outcome = await self.request(lambda: self.transport.live(self.call))
            except _NoAnswer:
                raise _Stop("deadline", ExitCode.STEP_FAILED, "the flow's timeout passed while "
                            "confirming the call before a retry; not retrying") from None
            if isinstance(outcome, Accepted):
                return
            if isinstance(outcome, CallGone):
                raise _Stop("not_live", ExitCode.CALL_NOT_LIVE,
                            f"the call is no longer live ({self.said(outcome)}); not retrying")
            if isinstance(outcome, (Transient, Unknown)):
                retry_after = outcome.retry_after if isinstance(outcome, Transient) else None
                raise TryAgain(f"live check: {self.said(outcome)}", status=outcome.status,
                               retry_after=retry_after)
            raise self.refusal(outcome, "the live-call check")

        try:
            await with_retries(check, step.retry, self.clock, deadline=self.deadline,
                               on_retry=self.on_retry(step))
        except (TryAgain, DeadlineReached) as exc:
            last = exc if isinstance(exc, TryAgain) else exc.last
            raise _Stop("failed", ExitCode.STEP_FAILED,
                        f"could not confirm the call is live before retrying "
                        f"({last.reason}); not retrying") from None

    def refusal(self, outcome: Rejected | AuthDenied | CallGone, what: str) -> _Stop:
        if isinstance(outcome, AuthDenied):
            return _Stop("auth_refused", ExitCode.AUTH_REFUSED,
                         f"the API refused the credentials ({self.said(outcome)}); check "
                         "VOBIZ_AUTH_ID and VOBIZ_AUTH_TOKEN")
        if isinstance(outcome, CallGone):
            return _Stop("not_live", ExitCode.CALL_NOT_LIVE,
                         f"the call is not live ({self.said(outcome)}); nothing more is sent")
        return _Stop("rejected", ExitCode.STEP_FAILED,
                     f"the API rejected {what} ({self.said(outcome)})")

    # -- confirm_live -------------------------------------------------------------------

    async def confirm_live(self, step: ConfirmLive, record: StepRecord) -> None:
        """Poll at start, start + interval, ... and at the step's end, until live.

        Polls stop at the step's timeout or the flow's deadline, whichever comes first; a
        poll still unanswered an interval later is abandoned.
        """
        began = self.clock.now()
        step_end = began + step.timeout
        give_up = min(step_end, self.deadline)
        said_not_live = ""

        async def poll(number: int) -> bool:
            nonlocal said_not_live
            record.attempts += 1
            started = self.clock.now()
            # a poll may take one interval past the step's end (the last poll is at its end)
            outcome = await self.request(lambda: self.transport.live(self.call),
                                         until=give_up + step.interval)
            record.latency = self.clock.now() - started
            record.status = outcome.status
            if isinstance(outcome, Accepted):
                return True
            if isinstance(outcome, CallGone):
                said_not_live = self.said(outcome)
                return False
            if isinstance(outcome, (Transient, Unknown)):
                retry_after = outcome.retry_after if isinstance(outcome, Transient) else None
                raise TryAgain(self.said(outcome), status=outcome.status, retry_after=retry_after,
                               outcome=outcome)
            raise self.refusal(outcome, "the live-call check")

        polls = 0
        try:
            while True:
                polled_at = self.clock.now()
                if await with_retries(poll, step.retry, self.clock, deadline=give_up,
                                      on_retry=self.on_retry(step)):
                    return
                if polled_at >= give_up or self.clock.now() >= give_up:
                    break
                polls += 1
                await self.clock.sleep_until(min(began + polls * step.interval, give_up))
        except _NoAnswer:
            pass  # the last poll was still unanswered when time ran out
        except (TryAgain, DeadlineReached) as exc:
            last = exc if isinstance(exc, TryAgain) else exc.last
            if not said_not_live:
                raise _Stop("failed", ExitCode.STEP_FAILED,
                            f"could not check whether the call is live: {last.reason}") from None
        if give_up < step_end:
            raise _Stop("deadline", ExitCode.STEP_FAILED,
                        f"the flow's timeout of {format_seconds(self.flow.timeout)} passed while "
                        "waiting for the call to be live")
        if said_not_live:
            raise _Stop("not_live", ExitCode.CALL_NOT_LIVE,
                        f"the call was not live within {format_seconds(step.timeout)} "
                        f"({said_not_live})")
        raise _Stop("failed", ExitCode.STEP_FAILED,
                    f"could not confirm the call is live within {format_seconds(step.timeout)}: "
                    "the live-call check got no answer")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _shorten(text: str, limit: int = MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
