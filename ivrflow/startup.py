"""What the command line does before anything else: take over the stop signals, and say
what a stop means for the exit code.

It imports next to nothing, so the `ivrflow` command and `python -m ivrflow.sandbox` can
call it first: a ^C, SIGTERM or SIGHUP while the rest still imports ends ivrflow as one
later does, without a traceback. (`ivrflow.signals` is the same policy once the event
loop runs; its STOP_SIGNALS are these.)

No signal handler of ivrflow's raises: a KeyboardInterrupt thrown at an arbitrary
bytecode can land where Python only prints it and carries on (a weakref callback of the
import system, a `__del__`), or comes out as another exception (a RuntimeError from a
class's `__set_name__`). Measured before this rule, SIGTERM 60-160 ms into the
sandbox's start was lost (it kept serving) or crashed it. So a stop signal is only
*recorded* (`defer`), and the command acts on it at its safe points:

- an event loop takes the signals over and stops at once for one that came before
  (`take_pending`: ivrflow.signals.until_signal, the sandbox);
- synchronous work raises KeyboardInterrupt between its steps (`check`: before a
  command starts, between the files `validate` and `test` read);
- a command that returns with a stop still pending ends as interrupted.

Once a stop was received the process ends through `finish`, with exactly the exit code
chosen (Python otherwise sometimes ends a process that saw a KeyboardInterrupt by
killing itself with SIGINT: measured, about one SIGTERM in ten 100-140 ms into the
sandbox's start exited -2).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence

STOP = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]

# Commands whose normal end is a stop signal: stopping them is success, not "interrupted".
_ENDED_BY_SIGNAL = ("sandbox",)


_pending: list[int] = []  # stop signals received that nothing has acted on yet
_received: list[int] = []  # every stop signal this process received


def defer(signum: int, frame: object) -> None:
    """The handler of every stop signal outside an event loop: record it, for the
    command to act on at its next safe point."""
    _pending.append(signum)
    _received.append(signum)


def take_over() -> None:
    """From now on SIGINT, SIGTERM and SIGHUP are recorded, not acted on at once."""
    for sig in STOP:
        signal.signal(sig, defer)


def check() -> None:
    """A safe point of synchronous work: KeyboardInterrupt if a stop signal came."""
    if take_pending():
        raise KeyboardInterrupt


def take_pending() -> bool:
    """Whether a stop signal came that nothing acted on; from now on it counts as acted on."""
    came = bool(_pending)
    _pending.clear()
    return came


def finish(code: int) -> int:
    """`code`, as the process's exit code: returned when no stop signal ever came, else
    the standard streams are flushed and the process ends here, with that code."""
    if not _received:
        return code
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(code)


def ignore_from_now() -> None:
    """The command has its exit code: late signals change nothing."""
    for sig in STOP:
        signal.signal(sig, signal.SIG_IGN)


def stopped_code(argv: Sequence[str]) -> int | None:
    """The exit code of a command stopped by a signal when stopping is its normal end
    (`ivrflow sandbox`: 0); None when a stop is an interruption (130)."""
    return 0 if list(argv[:1]) and argv[0] in _ENDED_BY_SIGNAL else None
