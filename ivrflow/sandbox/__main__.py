"""`python -m ivrflow.sandbox [options]`: the `ivrflow sandbox` subcommand on its own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ivrflow.sandbox.command import configure, run


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` as `ivrflow sandbox` would and run the sandbox in the foreground."""
    parser = argparse.ArgumentParser(
        prog="python -m ivrflow.sandbox",
        description="Serve a Vobiz-compatible API on 127.0.0.1 and print what it hears.")
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
