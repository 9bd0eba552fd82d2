"""`python -m ivrflow.sandbox [options]`: the `ivrflow sandbox` subcommand on its own.

A stop signal at any moment (SIGINT, SIGTERM, SIGHUP; while it starts, or several while
it closes) ends it with exit 0, as `ivrflow sandbox` does: the signals are taken over
here before anything else is imported.
"""

import sys

from ivrflow import startup

startup.take_over()


def main(argv: "list[str] | None" = None) -> int:
    """Parse `argv` as `ivrflow sandbox` would and run the sandbox in the foreground."""
    try:
        import argparse

        from ivrflow.sandbox.command import configure, run
        from ivrflow.signals import as_interrupts

        parser = argparse.ArgumentParser(
            prog="python -m ivrflow.sandbox", allow_abbrev=False,
            description="Serve a Vobiz-compatible API on 127.0.0.1 and print what it hears.")
        configure(parser)
        with as_interrupts():
            code = run(parser.parse_args(argv))
    except KeyboardInterrupt:  # before run() took over the signals
        code = 0
    startup.ignore_from_now()
    return startup.finish(code)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(startup.finish(0))
