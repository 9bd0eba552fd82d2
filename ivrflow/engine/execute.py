"""`ivrflow run`: from checked input to finished flows on live calls.

Everything that can be refused is refused before the first request: the flow, every
call's variables, the call ids, the API URL and the credentials. Then one transport is
opened (shared by every call of a batch), SIGINT/SIGTERM are wired to stop at once, and
the reporters print as it goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from ivrflow.engine.batch import Job, batch_exit_code, run_batch
from ivrflow.engine.clock import SINGLE_FLOW_SPIN, MonotonicClock
from ivrflow.engine.collector import collector_off
from ivrflow.engine.dialing import (
    CallRefused,
    Dialing,
    answered_words,
    check_dialing,
    ended_words,
    placed_call,
    stop_at_hangup,
    stream_base,
)
from ivrflow.engine.events import Event, Listener, RunResult, chain
from ivrflow.engine.interpreter import StopReason, run_flow
from ivrflow.engine.listening import (
    DEFAULT_LISTEN,
    Listening,
    StreamRefused,
    call_audio,
    check_listening,
    open_listener,
    parse_listen,
    url_host,
)
from ivrflow.engine.pacing import Pacer
from ivrflow.engine.ratelimit import GatedTransport, RateGate
from ivrflow.engine.report import (
    BatchProgress,
    HumanReporter,
    JsonReporter,
    batch_table,
    pacing_lines,
)
from ivrflow.errors import ExitCode, InvalidInput
from ivrflow.language.model import Flow, Send
from ivrflow.signals import until_signal
from ivrflow.transport.checks import DEFAULT_API_URL, check_api_url, check_credentials
from ivrflow.transport.vobiz import Engine, VobizTransport

if TYPE_CHECKING:
    from ivrflow.menu.live import LiveMenus
    from ivrflow.menu.model import Menu
    from ivrflow.sandbox import Heard
    from ivrflow.transport.audio_stream import AudioStreamServer
    from ivrflow.transport.base import Transport
    from ivrflow.transport.callbacks import CallbackReceiver, CallbackRouter

T = TypeVar("T")
MAX_POOL = 1000  # connections; more concurrent flows than this share them
_SPARE_FILES = 64  # descriptors kept free for files, the event loop, DNS, a crash log


@dataclass(frozen=True, slots=True)
class Target:
    """Where and as whom to run: checked before anything is sent."""

    api_url: str
    auth_id: str
    auth_token: str


@dataclass(frozen=True, slots=True)
class Options:
    json: bool = False
    batch: bool = False  # a table at the end instead of per-step lines
    concurrency: int = 1000
    rate: float | None = None
    menu: Menu | None = None  # with the sandbox: a menu model that answers in real time
    colour: bool | None = None  # None: decide from the terminal and the environment
    verbosity: int = 0  # -1 quiet (only failures), 0 normal, 1 verbose
    engine: Engine = "aiohttp"  # the HTTP engine (ivrflow.transport.vobiz)
    listen: str = DEFAULT_LISTEN  # where the audio stream's listener runs
    stream_url: str | None = None  # the public address at which Vobiz reaches it
    record_audio: str | None = None  # a directory for each call's audio (WAV)
    to: str | None = None  # place the call: the number to dial
    caller: str | None = None  # its caller id (--from, else $VOBIZ_FROM)
    public_url: str | None = None  # where Vobiz reaches the listener with callbacks
    keep_call: bool = False  # leave a placed call up at the end
    machine_detection: bool = False  # ask who answered a placed call


def target_from_environment(api_url: str | None, environ: Mapping[str, str]) -> Target:
    """The API URL and credentials from options and the environment; exit 2 when missing."""
    auth_id = environ.get("VOBIZ_AUTH_ID", "").strip()
    auth_token = environ.get("VOBIZ_AUTH_TOKEN", "").strip()
    missing = [n for n, v in (("VOBIZ_AUTH_ID", auth_id), ("VOBIZ_AUTH_TOKEN", auth_token))
               if not v]
    if missing:
        raise InvalidInput(f"set {' and '.join(missing)} to your Vobiz credentials (or use "
                           "--sandbox to try the flow on the built-in sandbox)")
    check_credentials(auth_id, auth_token)
    if api_url is not None:
        url, origin = api_url, "--api-url"
    elif "VOBIZ_API_URL" in environ:
        url, origin = environ["VOBIZ_API_URL"], "VOBIZ_API_URL"
    else:
        url, origin = DEFAULT_API_URL, ""
    if not url.strip():
        # an empty setting is a mistake (an unset shell variable), never a way to say
        # "the default": that default is production
        raise InvalidInput(f"{origin} is empty: give the API's base URL, or leave it out "
                           f"for {DEFAULT_API_URL}")
    return Target(check_api_url(url), auth_id, auth_token)


def run_command(flow: Flow, jobs: Sequence[Job], options: Options, *, api_url: str | None,
                sandbox: bool, environ: Mapping[str, str] | None = None) -> int:
    """Run `flow` on every job's call from the command line; return the exit code."""
    if options.to is not None and options.public_url and options.stream_url is None:
        # a placed call's audio comes to the same listener as its callbacks
        options = dataclasses.replace(options, stream_url=stream_base(options.public_url))
    listening = check_listening(flow, calls=len(jobs), sandbox=sandbox,
                                stream_url=options.stream_url, listen=options.listen,
                                record=options.record_audio)
    environ = os.environ if environ is None else environ
    placing = [job.to for job in jobs if job.to]
    if placing and options.keep_call:
        raise InvalidInput("--keep-call leaves one placed call up: not for a batch")
    dialing = check_dialing(to=options.to or (placing[0] if placing else None),
                            caller=options.caller, public_url=options.public_url,
                            sandbox=sandbox, keep_call=options.keep_call,
                            calls=1 if placing else len(jobs), environ=environ,
                            machine_detection=options.machine_detection,
                            answered_by=flow.answered_by, flow_path=flow.path)
    if sandbox and options.menu is None and (
            listening is not None or (dialing is not None and flow.expect is not None)):
        # the sandbox speaks to a flow that listens, and a placed call reaches a virtual
        # callee: the flow's own menu model
        options = dataclasses.replace(options, menu=_speaking_menu(flow))
    target = None if sandbox else target_from_environment(api_url, environ)
    return asyncio.run(_main(flow, jobs, options, target, listening, dialing))


async def _main(flow: Flow, jobs: Sequence[Job], options: Options,
                target: Target | None, listening: Listening | None = None,
                dialing: Dialing | None = None) -> int:
    if target is not None:
        return await _run(flow, jobs, options, target, listening=listening,
                          dialing=dialing)
    from ivrflow.sandbox import Sandbox, SandboxConfig

    menus = None
    if options.menu is not None:
        from ivrflow.menu.live import LiveMenus

        menus = LiveMenus(options.menu, {job.call: _secret_test(flow, job) for job in jobs},
                          flow.tone)
    async with Sandbox.serve(SandboxConfig(),
                             on_heard=None if menus is None else menus.heard,
                             voices=None if menus is None else menus.voice) as box:
        print(f"ivrflow: sandbox listening on {box.url} (nothing leaves this machine)",
              file=sys.stderr)
        watcher = None if menus is None else asyncio.create_task(menus.watch(box.hangup))
        try:
            code = await _run(flow, jobs, options,
                              Target(box.url, box.auth_id, box.auth_token),
                              also=None if menus is None else menus.flow_event,
                              in_process=True, listening=listening, dialing=dialing,
                              menus=menus)
        finally:
            if watcher is not None and menus is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
                await menus.settle(box.hangup)
        _print_heard(flow, jobs, box.heard())
    return code


async def _dialled(flow: Flow, job: Job, options: Options, target: Target,
                   transport: VobizTransport, used: Transport, clock: MonotonicClock,
                   listener: Listener | None, dialing: Dialing,
                   listening: Listening | None, menus: LiveMenus | None) -> int:
    """Place the call, run the flow on it once answered, stop at its hangup, hang up."""
    router, server = await _callback_listener(flow, options, target, dialing)
    receiver = router.new()
    try:
        async with placed_call(transport, dialing, receiver) as call:
            machine = receiver.answer.machine if receiver.answer else None
            print(f"ivrflow: the call to {dialing.to} was answered"
                  f"{answered_words(dialing, machine)}: {call}", file=sys.stderr)
            if menus is not None:
                menus.add_call(call, _secret_test(flow, job))
            audio = contextlib.nullcontext() if listening is None else call_audio(
                transport, call, flow, listening, clock, server=server)
            async with audio as ears:
                result = await until_signal(_until_ended(run_flow(
                    flow, job.bindings, used, call, clock=clock, listener=listener,
                    stop_reason=stop_at_hangup(receiver), ears=ears), receiver))
        if receiver.ended.is_set():
            print(f"ivrflow: {ended_words(receiver)}", file=sys.stderr)
        elif dialing.keep_call:
            print(f"ivrflow: the call is left up (--keep-call): {call}", file=sys.stderr)
            print(call)  # for the next tool
        return result.exit_code
    except (CallRefused, StreamRefused) as refused:
        print(f"ivrflow: {refused.reason}", file=sys.stderr)
        return int(refused.exit_code)
    finally:
        await _close_callback_listener(router, server)


async def _callback_listener(flow: Flow, options: Options, target: Target, dialing: Dialing
                             ) -> tuple[CallbackRouter, AudioStreamServer]:
    """The run's listener, serving the callbacks of the calls it places (and their audio
    streams): on --listen, or any free loopback port with the sandbox."""
    from ivrflow.transport.audio_stream import AudioStreamServer
    from ivrflow.transport.callbacks import CallbackRouter

    router = CallbackRouter(target.auth_token, keep_open=flow.timeout + 60)
    host, port = parse_listen(options.listen)
    if not dialing.public and options.listen == DEFAULT_LISTEN:
        port = 0  # the sandbox: nothing outside needs to know it
    server = await open_listener(AudioStreamServer(host, port, callbacks=router))
    router.public_base = dialing.public or f"http://{url_host(host)}:{server.port}"
    return router, server


async def _close_callback_listener(router: CallbackRouter, server: AudioStreamServer) -> None:
    """Say what the listener refused, then stop it."""
    for problem in dict.fromkeys(router.problems + [
            p for receiver in router.receivers for p in receiver.problems]):
        print(f"ivrflow: refused: {problem}", file=sys.stderr)
    await server.__aexit__(None, None, None)


class _Placing:
    """A batch that places its calls: one listener for all their callbacks, and a job
    runner that places each call (through the --rate gate), runs the flow on it once
    answered, and hangs it up."""

    def __init__(self, flow: Flow, transport: VobizTransport, gated: GatedTransport,
                 clock: MonotonicClock, listener: Listener | None, dialing: Dialing,
                 menus: LiveMenus | None, router: CallbackRouter,
                 server: AudioStreamServer) -> None:
        self.flow, self.transport, self.gated, self.clock = flow, transport, gated, clock
        self.listener, self.dialing, self.menus = listener, dialing, menus
        self.router, self.server = router, server

    @classmethod
    async def start(cls, flow: Flow, options: Options, target: Target,
                    transport: VobizTransport, gated: GatedTransport, clock: MonotonicClock,
                    listener: Listener | None, dialing: Dialing,
                    menus: LiveMenus | None) -> _Placing:
        router, server = await _callback_listener(flow, options, target, dialing)
        return cls(flow, transport, gated, clock, listener, dialing, menus, router, server)

    async def close(self) -> None:
        await _close_callback_listener(self.router, self.server)

    async def run_one(self, job: Job, stop_reason: StopReason) -> RunResult:
        assert job.to is not None
        receiver = self.router.new()
        dialing = dataclasses.replace(self.dialing, to=job.to)

        try:
            async with placed_call(self.transport, dialing, receiver,
                                   admit=self.gated.admit, observe=self.gated.observe,
                                   interruptible=False) as call:
                if self.menus is not None:
                    self.menus.add_call(call, _secret_test(self.flow, job))
                return await _until_ended(run_flow(
                    self.flow, job.bindings, self.gated, call, clock=self.clock,
                    listener=self.listener,
                    stop_reason=stop_at_hangup(receiver, stop_reason)), receiver)
        except CallRefused as refused:
            return self._not_run(job, refused.exit_code, refused.reason)
        except asyncio.CancelledError:
            given = stop_reason()
            code = ExitCode(given[1]) if given else ExitCode.INTERRUPTED
            return self._not_run(job, code, "stopped while the call rang; nothing was sent")

    def _not_run(self, job: Job, code: ExitCode, reason: str) -> RunResult:
        outcome = "not_started"  # the flow never began: the reason and code say why
        if self.listener is not None:  # every call's story ends with a flow_finished
            self.listener(Event("flow_finished", job.call, 0.0, fields={
                "outcome": outcome, "exit_code": int(code), "reason": reason,
                "steps_done": 0, "steps": len(self.flow.steps)}))
        return RunResult(job.call, self.flow.name, outcome, int(code), reason, (), 0.0)


async def _until_ended(work: Awaitable[T], receiver: CallbackReceiver) -> T:
    """Run `work`, cancelling it the moment the hangup callback comes (it then reports
    why, from its stop reason)."""
    task = asyncio.ensure_future(work)
    ended = asyncio.ensure_future(receiver.ended.wait())
    try:
        await asyncio.wait({task, ended}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # a stop signal: the flow reports it and returns
        task.cancel()
        return await task
    finally:
        ended.cancel()
    if not task.done():
        task.cancel()
    return await task


def _speaking_menu(flow: Flow) -> Menu:
    """The menu the sandbox speaks to a flow that listens: its `expect` block's."""
    if flow.expect is None:
        raise InvalidInput(f"{flow.path}: this flow listens, and the sandbox speaks a menu "
                           "model's prompts: pass --menu FILE (a *.menu.yaml with say: "
                           "text), or give the flow an expect block")
    from ivrflow.menu.loader import load_menu

    return load_menu(flow.expect.menu, speak=True)


def _secret_test(flow: Flow, job: Job) -> Callable[[str], bool]:
    """Whether a digit string sent on this job's call may carry a secret: any string a
    secret-bearing step sends, even when a plain step happens to send the same digits."""
    return job.bindings.secret_digits(flow.steps).__contains__


def _print_heard(flow: Flow, jobs: Sequence[Job], heard: Sequence[Heard]) -> None:
    """What the sandbox heard, shown as the flow's steps show it: secrets as ****.

    The sandbox knows only digits, not which step sent them, so a string that any
    secret-bearing step sends is shown masked, whichever step it came from.
    """
    shown: dict[tuple[str, str], str] = {}
    for job in jobs:
        is_secret = _secret_test(flow, job)
        for step in flow.steps:
            if isinstance(step, Send):
                digits = job.bindings.digits(step)
                shown[job.call, digits] = "****" if is_secret(digits) else digits
    many = len(jobs) > 1
    print(f"ivrflow: the sandbox heard {len(heard)} send(s):", file=sys.stderr)
    for h in heard:
        fault = f" ({h.fault})" if h.fault else ""
        # one job: its call may have been placed under an id known only at its answer
        call = jobs[0].call if len(jobs) == 1 else h.call
        masked = shown.get((call, h.digits)) or "****"
        who = f"{h.call}  " if many else ""
        print(f"  {who}+{h.offset:7.3f}s  {masked:<20} on {h.leg}{fault}", file=sys.stderr)


def connection_budget(in_process: bool) -> int:
    """How many connections the client may open without running out of descriptors.

    Past the open-file limit, connects fail and a sandbox in this process cannot accept;
    more flows than connections simply share them. A sandbox in the same process needs
    a second descriptor for its end of every connection.
    """
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not a POSIX system
        return MAX_POOL
    if soft == resource.RLIM_INFINITY:
        return MAX_POOL
    per_connection = 2 if in_process else 1
    return max(1, min(MAX_POOL, (soft - _SPARE_FILES) // per_connection))


async def _run(flow: Flow, jobs: Sequence[Job], options: Options, target: Target,
               also: Listener | None = None, in_process: bool = False,
               listening: Listening | None = None, dialing: Dialing | None = None,
               menus: LiveMenus | None = None) -> int:
    """Run every job; `also` hears every event too (the live menus do); `in_process`:
    the API is a sandbox in this process."""
    # Secret digits are masked where events are made, and outside text is cleaned of
    # secret values and the token where it enters (the adapter, the interpreter).
    pool = max(1, min(options.concurrency, len(jobs), connection_budget(in_process)))
    async with VobizTransport(auth_id=target.auth_id, auth_token=target.auth_token,
                              api_url=target.api_url, max_connections=pool,
                              engine=options.engine) as transport:
        # one flow alone can afford to spin for its last 2 ms; a batch's flows cannot
        clock = MonotonicClock(spin=SINGLE_FLOW_SPIN if not options.batch else 0.0)
        gated = GatedTransport(transport, RateGate(clock, options.rate))
        if not options.batch:
            # a live menu prints its own lines as they happen: no redrawn line then
            listener = JsonReporter() if options.json else HumanReporter(
                colour=options.colour, verbosity=options.verbosity,
                live=False if options.menu is not None else None)
            job = jobs[0]
            # one call: its own retry policy handles a 429; the gate only enforces --rate
            used = gated if options.rate else transport
            if dialing is not None:
                return await _dialled(flow, job, options, target, transport, used, clock,
                                      chain(also, listener), dialing, listening, menus)
            if listening is None:
                result = await until_signal(run_flow(
                    flow, job.bindings, used, job.call, clock=clock,
                    listener=chain(also, listener)))
                return result.exit_code
            try:
                async with call_audio(transport, job.call, flow, listening, clock) as ears:
                    result = await until_signal(run_flow(
                        flow, job.bindings, used, job.call, clock=clock,
                        listener=chain(also, listener), ears=ears))
            except StreamRefused as refused:
                print(f"ivrflow: {refused.reason}", file=sys.stderr)
                return int(refused.exit_code)
            return result.exit_code

        progress = BatchProgress(len(jobs))
        batch_listener = JsonReporter() if options.json else progress
        on_result = None if options.json else progress.finished
        pacer = Pacer(clock)
        placing = None
        if dialing is not None:
            placing = await _Placing.start(flow, options, target, transport, gated, clock,
                                           chain(also, pacer.hear, batch_listener), dialing,
                                           menus)
        try:
            with collector_off():  # no collector pause between the sends
                results = await until_signal(run_batch(
                    flow, jobs, gated, concurrency=options.concurrency, clock=clock,
                    listener=chain(also, batch_listener), on_result=on_result,
                    pacer=pacer, run_one=None if placing is None else placing.run_one))
        finally:
            if placing is not None:
                await placing.close()
        pacing = pacer.pacing
        interrupted = any(r.outcome in ("interrupted", "not_started") and r.exit_code == 130
                          for r in results)
        code = batch_exit_code(results, interrupted)
        if options.json:
            ok = sum(1 for r in results if r.ok)
            JsonReporter().emit_line({"event": "batch_finished", "calls": len(results),
                                            "ok": ok, "failed": len(results) - ok,
                                            "exit_code": code,
                                            "start_spread": round(pacing.spread, 3),
                                            "start_slot": round(pacing.slot, 4),
                                            "start_lateness": round(pacing.worst_lateness, 3),
                                            "send_cost": round(pacing.send_cost, 6)})
        else:
            progress.clear()
            print(batch_table(results, len(flow.steps), only_failed=options.verbosity < 0),
                  file=sys.stderr)
            for line in pacing_lines(pacing):
                print(line, file=sys.stderr)
        return code
