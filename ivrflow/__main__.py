"""The `ivrflow` command (and `python -m ivrflow`).

Signals are taken over before anything heavy is imported (`ivrflow.startup`), so a ^C,
SIGTERM or SIGHUP in the first milliseconds ends ivrflow as one later does:
"interrupted", exit 130, no traceback. Once the command has its exit code, late signals
are ignored.
"""

import contextlib
import sys

from ivrflow import startup


def main() -> int:
    try:
        startup.take_over()
        from ivrflow.cli import main as run_command

        code = run_command()
    except KeyboardInterrupt:
        startup.take_pending()
        stopped = startup.stopped_code(sys.argv[1:])
        if stopped is None:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write("ivrflow: interrupted\n")
            stopped = 130
        code = stopped
    startup.ignore_from_now()
    return startup.finish(code)


if __name__ == "__main__":
    sys.exit(main())
