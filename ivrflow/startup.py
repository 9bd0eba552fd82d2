"""What the command line does before anything else: take over the stop signals, and say
what a stop means for the exit code.

It imports nothing but `signal`, so the `ivrflow` command and `python -m ivrflow.sandbox`
can call it first: a ^C, SIGTERM or SIGHUP while the rest still imports ends ivrflow as
one later does, without a traceback. (`ivrflow.signals` is the same policy once the
event loop runs; its STOP_SIGNALS are these.)
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

STOP = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]

# Commands whose normal end is a stop signal: stopping them is success, not "interrupted".
_ENDED_BY_SIGNAL = ("sandbox",)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def take_over() -> None:
    """From now on SIGTERM and SIGHUP act as ^C does: KeyboardInterrupt."""
    for sig in STOP[1:]:
        signal.signal(sig, _interrupt)


def ignore_from_now() -> None:
    """The command has its exit code: late signals change nothing."""
    for sig in STOP:
        signal.signal(sig, signal.SIG_IGN)


def stopped_code(argv: Sequence[str]) -> int | None:
    """The exit code of a command stopped by a signal when stopping is its normal end
    (`ivrflow sandbox`: 0); None when a stop is an interruption (130)."""
    return 0 if list(argv[:1]) and argv[0] in _ENDED_BY_SIGNAL else None
