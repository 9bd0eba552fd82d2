"""`python -m ivrflow.sandbox [options]`: the `ivrflow sandbox` subcommand on its own.

A stop signal at any moment (SIGINT, SIGTERM, SIGHUP; before the server is up, or
several while it closes) ends it with exit 0, as `ivrflow sandbox` does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ivrflow.sandbox.command import configure, run
from ivrflow.signals import as_interrupts, ignore_from_now


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` as `ivrflow sandbox` would and run the sandbox in the foreground."""
    parser = argparse.ArgumentParser(
        prog="python -m ivrflow.sandbox", allow_abbrev=False,
        description="Serve a Vobiz-compatible API on 127.0.0.1 and print what it hears.")
    configure(parser)
    try:
        with as_interrupts():
            code = run(parser.parse_args(argv))
    except KeyboardInterrupt:  # before run() took over the signals
        code = 0
    ignore_from_now()
    return code


if __name__ == "__main__":
    sys.exit(main())
