"""The `ivrflow` command (and `python -m ivrflow`).

Signals are taken over before anything heavy is imported, so a ^C, SIGTERM or SIGHUP in
the first milliseconds ends ivrflow as one later does: "interrupted", exit 130, no
traceback. Once the command has its exit code, late signals are ignored.
"""

import contextlib
import signal
import sys

# as ivrflow.signals.STOP_SIGNALS, written out so that nothing (asyncio) loads first
_STOP = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    try:
        for sig in _STOP[1:]:
            signal.signal(sig, _interrupt)
        from ivrflow.cli import main as run_command

        code = run_command()
    except KeyboardInterrupt:
        if sys.argv[1:2] == ["sandbox"]:
            code = 0  # stopping the sandbox is its normal end, whenever it comes
        else:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write("ivrflow: interrupted\n")
            code = 130
    for sig in _STOP:
        signal.signal(sig, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(main())
