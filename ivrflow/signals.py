"""How signals stop ivrflow: SIGINT (^C), SIGTERM and SIGHUP (a closed terminal or ssh
session) all mean "stop now, send nothing more, say where things stood, exit 130".

Outside the event loop they are recorded, and synchronous work raises KeyboardInterrupt
at its next safe point (`ivrflow.startup.check`), which the command line's error
boundary turns into exit 130. While a run is in the loop, the first of them cancels the
run, which then reports and returns; any further signal is ignored, because the stop is
already under way and is quick (nothing more is sent, requests in flight are abandoned),
and a second ^C must not cut the summary short or turn exit 130 into a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

from ivrflow import startup

T = TypeVar("T")
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(startup.STOP)


def _ignore(signum: int, frame: object) -> None:
    """A signal during a stop already under way: nothing more to do."""


@contextlib.contextmanager
def as_interrupts() -> Iterator[None]:
    """For the length of a command: ^C, SIGTERM and SIGHUP are recorded, and the command
    acts on them at its safe points (`ivrflow.startup`; main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved: dict[signal.Signals, Any] = {}
    for sig in STOP_SIGNALS:
        saved[sig] = signal.getsignal(sig)
        signal.signal(sig, startup.defer)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


async def until_signal(work: Awaitable[T]) -> T:
    """Run `work` as a task that the first stop signal cancels (it then reports and
    returns); later signals are ignored until the command ends."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    saved = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    stopping = False

    def stop() -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            task.cancel()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop)
    if startup.take_pending():  # one came before, and its KeyboardInterrupt was lost
        stop()
    try:
        return await task
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            handler = _ignore if stopping else saved[sig]
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def ignore_from_now() -> None:
    """Ignore every stop signal from here on (the command is ending anyway), including
    those the running loop handled."""
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    for sig in STOP_SIGNALS:
        if loop is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        with contextlib.suppress(ValueError):  # not the main thread
            signal.signal(sig, _ignore)
