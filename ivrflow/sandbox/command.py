"""The `ivrflow sandbox` subcommand: a sandbox in the foreground that says what it hears.

`add_parser` registers the options; `run` checks them, serves until SIGINT or SIGTERM,
and returns the exit code (0 when stopped, 2 for a bad option or a port in use).
Options are parsed as strings and checked here, so a bad value costs one clear line on
stderr rather than argparse's usage dump.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from ivrflow.output import escape_controls
from ivrflow.sandbox.config import (
    DEMO_AUTH_ID,
    DEMO_AUTH_TOKEN,
    DIAL_OUTCOMES,
    HOST,
    Drop,
    DtmfFault,
    Fail,
    RateLimit,
    SandboxConfig,
)
from ivrflow.sandbox.state import Heard, RequestRecord

if TYPE_CHECKING:
    from ivrflow.sandbox.runner import Sandbox

DEFAULT_PORT = 8765
# A foreground sandbox may run for days; the listeners print and log everything, so
# the in-memory history only needs to be recent.
_CLI_MAX_RECORDS = 10_000
_EXIT_OK = 0
_EXIT_USAGE = 2


class UsageError(ValueError):
    """An option value the sandbox cannot use; the message says which and why."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
               ) -> argparse.ArgumentParser:
    """Register the `sandbox` subcommand on `subparsers` and return its parser.

    Its `command` default is `run`, as `ivrflow.cli` dispatches. Registering it does not
    import aiohttp: that waits until `run` starts a sandbox.
    """
    parser = subparsers.add_parser(
        "sandbox", help="serve a Vobiz-compatible API on 127.0.0.1 to try flows against",
        description="Serve a Vobiz-compatible API on 127.0.0.1, print the digits it "
                    "hears, and misbehave on request. DTMF faults (--fail, "
                    "--rate-limit, --drop) are used up in the order given.")
    configure(parser)
    parser.set_defaults(command=run, parser=parser, interrupt_code=_EXIT_OK)
    return parser


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's options to `parser` (their dests all start `sandbox_`)."""
    # Dests are prefixed so they cannot collide with the main parser's options.
    add = parser.add_argument
    add("--port", dest="sandbox_port", default=str(DEFAULT_PORT), metavar="N",
        help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)")
    add("--host", dest="sandbox_host", default=HOST, metavar=HOST,
        help="always 127.0.0.1: the sandbox never listens beyond this machine")
    add("--log", dest="sandbox_log", metavar="FILE",
        help="append every request to FILE as one JSON line")
    add("--log-digits", dest="sandbox_log_digits", default="keep", metavar="keep|omit",
        help="keep (default) or omit the digits heard, in the log and on stdout; omit "
             "keeps their count only")
    add("--live-after", dest="sandbox_live_after", metavar="S",
        help="calls go live S seconds after their first request (default 0)")
    add("--never-live", dest="sandbox_never_live", action="store_true",
        help="no call is ever live (every call is answered 404)")
    add("--hangup-after", dest="sandbox_hangup_after", metavar="S",
        help="calls hang up S seconds after their first request")
    add("--fail", dest="sandbox_faults", action=_AppendFault, metavar="STATUS[:N]",
        help="answer the next N (default 1) DTMF requests with STATUS; repeatable")
    add("--rate-limit", dest="sandbox_faults", action=_AppendFault,
        metavar="N[:RETRY_AFTER]",
        help="answer the next N DTMF requests 429 with Retry-After RETRY_AFTER seconds "
             "(default 1; 'none' leaves the header out)")
    add("--drop", dest="sandbox_faults", action=_AppendFault, metavar="N",
        help="read the next N DTMF requests, then drop the connection unanswered")
    add("--latency", dest="sandbox_latency", metavar="S",
        help="wait S seconds before every answer")
    add("--live-fail", dest="sandbox_live_fail", metavar="N[:STATUS]",
        help="answer N live-call GETs with STATUS (default 503)")
    add("--dial", dest="sandbox_dial", default="answer", choices=DIAL_OUTCOMES,
        help="what a call placed through Make Call meets (default answer)")
    add("--bad-signature", dest="sandbox_bad_signature", action="store_true",
        help="sign the callbacks of placed calls with the wrong token")
    add("--auth-id", dest="sandbox_auth_id", default=DEMO_AUTH_ID, metavar="ID",
        help=f"account id to accept (default {DEMO_AUTH_ID})")
    add("--auth-token", dest="sandbox_auth_token", default=DEMO_AUTH_TOKEN,
        metavar="TOKEN", help=f"auth token to accept (default {DEMO_AUTH_TOKEN})")


class _AppendFault(argparse.Action):
    """Collects --fail, --rate-limit and --drop into one list, in command-line order."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None,
                 option_string: str | None = None) -> None:
        faults = list(getattr(namespace, self.dest, None) or [])
        faults.append((option_string, values))
        setattr(namespace, self.dest, faults)


def run(args: argparse.Namespace) -> int:
    """Serve in the foreground until SIGINT or SIGTERM; return the exit code."""
    try:
        options = _options(args)
    except UsageError as exc:
        print(f"ivrflow sandbox: {exc}", file=sys.stderr)
        return _EXIT_USAGE
    try:
        import asyncio  # here, not at the top: `ivrflow validate` loads this module

        return asyncio.run(_serve(options))
    except KeyboardInterrupt:  # a ^C that came before the signal handlers were set
        return _EXIT_OK


@dataclass(frozen=True, slots=True)
class _Options:
    config: SandboxConfig
    port: int
    log: str | None
    digits: bool  # show and log the digits heard (--log-digits keep)


def _options(args: argparse.Namespace) -> _Options:
    port = _whole("--port", args.sandbox_port)
    if port > 65535:
        raise UsageError(f"--port: expected 0-65535, got {args.sandbox_port!r}")
    if args.sandbox_host != HOST:
        raise UsageError(f"--host: the sandbox only listens on {HOST}, "
                         f"not {args.sandbox_host!r}")
    faults: list[DtmfFault] = []
    for option, value in getattr(args, "sandbox_faults", None) or []:
        faults.append(_fault(option, value))
    live_fail, live_fail_status = 0, 503
    if args.sandbox_live_fail is not None:
        count, _, status = args.sandbox_live_fail.partition(":")
        live_fail = _whole("--live-fail", count, "N[:STATUS] like 2:503")
        if status:
            live_fail_status = _status("--live-fail", status)
    if args.sandbox_log_digits not in ("keep", "omit"):
        raise UsageError(f"--log-digits: expected keep or omit, got "
                         f"{args.sandbox_log_digits!r}")
    if args.sandbox_never_live and args.sandbox_live_after is not None:
        raise UsageError("--never-live and --live-after contradict each other: pick one")
    try:
        config = SandboxConfig(
            auth_id=args.sandbox_auth_id,
            auth_token=args.sandbox_auth_token,
            live_after=_seconds("--live-after", args.sandbox_live_after) or 0.0,
            never_live=args.sandbox_never_live,
            hangup_after=_seconds("--hangup-after", args.sandbox_hangup_after),
            dtmf_faults=tuple(faults),
            latency=_seconds("--latency", args.sandbox_latency) or 0.0,
            live_fail=live_fail,
            live_fail_status=live_fail_status,
            max_records=_CLI_MAX_RECORDS,
            dial=args.sandbox_dial,
            bad_signature=args.sandbox_bad_signature,
        )
    except ValueError as exc:
        raise UsageError(str(exc).replace("auth_id", "--auth-id").replace(
            "auth_token", "--auth-token")) from None
    return _Options(config, port, args.sandbox_log, args.sandbox_log_digits == "keep")


def _fault(option: str, value: str) -> DtmfFault:
    if option == "--fail":
        status, _, count = value.partition(":")
        return Fail(_status(option, status),
                    _whole(option, count, "STATUS[:N] like 503:2") if count else 1)
    if option == "--rate-limit":
        count, _, retry_after = value.partition(":")
        n = _whole(option, count, "N[:RETRY_AFTER] like 2:5")
        if not retry_after:
            return RateLimit(n)
        if retry_after.lower() == "none":
            return RateLimit(n, None)
        return RateLimit(n, _whole(option, retry_after, "N[:RETRY_AFTER] like 2:5"))
    return Drop(_whole(option, value))


def _whole(option: str, text: str, shape: str = "a whole number, 0 or more") -> int:
    if not text.isascii() or not text.isdigit():
        raise UsageError(f"{option}: expected {shape}, got {text!r}")
    return int(text)


def _status(option: str, text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 400 <= int(text) <= 599:
        raise UsageError(f"{option}: expected an HTTP status 400-599, got {text!r}")
    return int(text)


def _seconds(option: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{option}: expected seconds like 0.5, got {text!r}")
    return value


async def _serve(options: _Options) -> int:
    import asyncio

    # Imported here so that registering the subcommand never loads aiohttp.
    from ivrflow.sandbox.runner import Sandbox
    from ivrflow.signals import STOP_SIGNALS, ignore_from_now
    from ivrflow.startup import take_pending

    async with contextlib.AsyncExitStack() as stack:
        log: TextIO | None = None
        if options.log is not None:
            try:
                # The exit stack closes it.
                log = stack.enter_context(open(options.log, "a", encoding="utf-8"))  # noqa: SIM115
            except OSError as exc:
                print(f"ivrflow sandbox: --log: cannot open {options.log}: "
                      f"{exc.strerror}", file=sys.stderr)
                return _EXIT_USAGE
        reporter = _Reporter(sys.stdout, log, digits=options.digits)
        # After the sandbox has closed (requests in flight finished), signals are ignored.
        stack.callback(ignore_from_now)
        try:
            sandbox = await stack.enter_async_context(Sandbox.serve(
                options.config, port=options.port, on_heard=reporter.heard,
                on_request=None if log is None else reporter.request))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                print(f"ivrflow sandbox: port {options.port} on {HOST} is in use: "
                      f"stop what holds it or pick another with --port", file=sys.stderr)
            else:
                print(f"ivrflow sandbox: cannot listen on {HOST}:{options.port}: "
                      f"{exc.strerror or exc}", file=sys.stderr)
            return _EXIT_USAGE
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # The first signal stops the sandbox; a later one, while requests in flight
        # finish and connections close, only sets the event again.
        for signum in STOP_SIGNALS:
            try:
                loop.add_signal_handler(signum, stop.set)
            except NotImplementedError:  # Windows: ^C arrives as KeyboardInterrupt
                continue
        if take_pending():  # one came while it started, and its KeyboardInterrupt was lost
            stop.set()
        reporter.ready(sandbox)
        await stop.wait()
        stack.callback(reporter.stopped, sandbox)
    return _EXIT_OK


class _Reporter:
    """Says what the sandbox does: ready lines and heard digits on stdout, the log file."""

    def __init__(self, out: TextIO, log: TextIO | None, *, digits: bool = True) -> None:
        self._out: TextIO | None = out
        self._log = log
        self._digits = digits

    def ready(self, sandbox: Sandbox) -> None:
        self._say(f"# ivrflow sandbox on {sandbox.url} - Ctrl-C stops it")
        summary = _describe(sandbox.config)
        if summary:
            self._say(f"# {summary}")
        self._say(f"export VOBIZ_API_URL={shlex.quote(sandbox.url)}")
        self._say(f"export VOBIZ_AUTH_ID={shlex.quote(sandbox.auth_id)}")
        self._say(f"export VOBIZ_AUTH_TOKEN={shlex.quote(sandbox.auth_token)}")

    def heard(self, heard: Heard) -> None:
        shown = heard.digits if self._digits else f"({len(heard.digits)} omitted)"
        line = (f"heard call={heard.call} leg={heard.leg} t=+{heard.offset:.3f}s "
                f"digits={shown}")
        self._say(line if heard.fault is None else f"{line} fault={heard.fault}")

    def request(self, record: RequestRecord) -> None:
        if self._log is None:
            return
        try:
            # One write and a flush per line, so a reader (or a ^C) never sees half one.
            self._log.write(json.dumps(record.to_json(digits=self._digits)) + "\n")
            self._log.flush()
        except OSError as exc:
            # A full disk must not turn into 500s the flow under test never asked for.
            self._log = None
            with contextlib.suppress(OSError):
                print(f"ivrflow sandbox: --log: stopped logging: {exc.strerror or exc}",
                      file=sys.stderr)

    def stopped(self, sandbox: Sandbox) -> None:
        refused, failed = sandbox.turned_away
        limit = ""
        if refused or failed:
            limit = (f"; at the open-file limit, {refused} connection(s) answered 503 and "
                     f"{failed} accept(s) failed (raise it with ulimit -n)")
        with contextlib.suppress(OSError):
            print(f"ivrflow sandbox: stopped after {sandbox.dtmf_requests()} DTMF "
                  f"request(s){limit}", file=sys.stderr)

    def _say(self, line: str) -> None:
        if self._out is None:
            return
        try:
            # call ids and legs come from the request: no control character gets through
            print(escape_controls(line, newlines=True), file=self._out, flush=True)
        except OSError:
            # Whoever read stdout went away (`| head`); keep serving, stop printing.
            self._out = None


def _describe(config: SandboxConfig) -> str:
    parts = []
    if config.never_live:
        parts.append("calls never live")
    elif config.live_after:
        parts.append(f"calls live after {config.live_after:g}s")
    if config.hangup_after is not None:
        parts.append(f"calls hang up after {config.hangup_after:g}s")
    faults = [_describe_fault(f) for f in config.dtmf_faults]
    if faults:
        parts.append("DTMF faults in order: " + ", ".join(faults))
    if config.live_fail:
        parts.append(f"live-call GET answered {config.live_fail_status} "
                     f"x{config.live_fail}")
    if config.latency:
        parts.append(f"latency {config.latency:g}s")
    return "; ".join(parts)


def _describe_fault(fault: DtmfFault) -> str:
    if isinstance(fault, Drop):
        return f"drop x{fault.count}"
    if isinstance(fault, RateLimit):
        after = "no Retry-After" if fault.retry_after is None else \
            f"Retry-After {fault.retry_after}"
        return f"429 ({after}) x{fault.count}"
    return f"{fault.status} x{fault.count}"
