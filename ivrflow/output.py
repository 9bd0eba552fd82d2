"""What ivrflow writes to a terminal or a pipe, made safe in one place.

Every human line goes through a `SafeStream`, which:

- escapes control characters (C0 but tab and newline, DEL, C1), Unicode line and
  paragraph separators, bidirectional overrides and lone surrogates, so that text from
  a recipe, a file name or an API answer can neither forge a line nor drive the
  terminal (`\\x1b[2J`); ivrflow's own colours and redraws go through `control()`;
- writes what the stream's encoding cannot hold as backslash escapes, never an error;
- treats a reader that left (`| head -1`, a closed terminal) as no error at all: the
  exit code stays the calls' own. Any other failure to write (a full disk) is kept in
  `failed`, for the command line to report.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import sys
from collections.abc import Iterator
from typing import TextIO

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                     "\ud800-\udfff]")
_GONE = (errno.EPIPE, errno.ECONNRESET, errno.EIO, errno.ENXIO)


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, newlines: bool = False) -> str:
    """`text` with every character that could steer a terminal written as an escape
    (line breaks too if `newlines`: a field that must stay on its line)."""
    text = _UNSAFE.sub(_escape, text)
    return text.replace("\n", "\\x0a") if newlines else text


class SafeStream(io.TextIOBase):
    """A text stream that escapes what it is given and never raises on write."""

    def __init__(self, inner: TextIO | None, name: str) -> None:
        super().__init__()
        self.inner: TextIO = inner if inner is not None else io.StringIO()
        self.stream_name = name  # "standard output", for messages
        self.encoding_name = getattr(inner, "encoding", None) or "utf-8"
        # the reader left (or there never was one: a closed descriptor gives a None
        # stream): further output goes nowhere
        self.gone = inner is None
        self.failed: OSError | None = None  # a real failure to write

    # -- io.TextIOBase -------------------------------------------------------------------

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.encoding_name

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return not self.gone and self.inner.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self.inner.fileno()

    def write(self, text: str) -> int:
        self._put(escape_controls(text))
        return len(text)

    def flush(self) -> None:
        if self.gone:
            return
        try:
            self.inner.flush()
        except OSError as exc:
            self._failure(exc)
        except ValueError:  # closed underneath us
            self.gone = True

    # -- ivrflow's own -----------------------------------------------------------------

    def control(self, sequence: str) -> None:
        """Write ivrflow's own terminal control sequence (a colour, a redraw) as it is."""
        self._put(sequence)

    def _put(self, text: str) -> None:
        if self.gone or not text:
            return
        encoded = text.encode(self.encoding_name, "backslashreplace").decode(
            self.encoding_name, "replace")
        try:
            self.inner.write(encoded)
        except OSError as exc:
            self._failure(exc)
        except ValueError:
            self.gone = True

    def _failure(self, exc: OSError) -> None:
        self.gone = True
        if not (isinstance(exc, BrokenPipeError) or exc.errno in _GONE):
            self.failed = exc
        self._silence()

    def _silence(self) -> None:
        # Python flushes the standard streams again at exit; point the descriptor at
        # /dev/null so that last flush cannot fail and print "Exception ignored".
        with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self.inner.fileno())
            os.close(null)


def control(stream: TextIO, sequence: str) -> None:
    """Write a control sequence on `stream` raw if it is a `SafeStream`, else as it is."""
    if isinstance(stream, SafeStream):
        stream.control(sequence)
    else:
        stream.write(sequence)


@contextlib.contextmanager
def installed() -> Iterator[tuple[SafeStream, SafeStream]]:
    """Wrap sys.stdout and sys.stderr for the length of a command, then put them back."""
    saved = sys.stdout, sys.stderr
    out = saved[0] if isinstance(saved[0], SafeStream) else SafeStream(saved[0],
                                                                       "standard output")
    err = saved[1] if isinstance(saved[1], SafeStream) else SafeStream(saved[1],
                                                                       "standard error")
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        out.flush()
        err.flush()
        sys.stdout, sys.stderr = saved
