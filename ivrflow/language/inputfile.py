"""Reading an input file (flow, menu, vars, calls): regular files only, never past a limit.

`-` names standard input (for `validate -` and `plan -`): a pipe is fine there, and
the same limit applies while reading.

`stat().st_size` says nothing about `/dev/zero` (size 0, endless) or a FIFO (opening it
blocks until a writer comes). So the file is opened without blocking, checked to be a
regular file on the open descriptor (no race with a swap of the path), and read with the
limit applied while reading: whatever the path names, at most `limit + 1` bytes are read.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

_CHUNK = 256 * 1024


class UnreadableFile(Exception):
    """The file cannot be used; `reason` says why in words for the person who named it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_bytes(path: Path | str, limit: int) -> bytes:
    """The bytes of the regular file at `path`; `UnreadableFile` when it is missing, not a
    regular file, unreadable or larger than `limit` bytes."""
    if str(path) == STDIN:
        return _read_stdin(limit)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UnreadableFile("no such file") from None
    except IsADirectoryError:
        raise UnreadableFile("is a directory, not a file") from None
    except OSError as exc:
        raise UnreadableFile(_os_reason(exc)) from None
    except (ValueError, UnicodeError):  # a NUL byte, or a name the file system cannot hold
        raise UnreadableFile("not a usable file name") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableFile("is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile("is not a regular file (a device, FIFO or socket); "
                                 "give the path of a file")
        if info.st_size > limit:
            raise UnreadableFile(_too_large(info.st_size, limit))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while being read
            raise UnreadableFile(_too_large(size, limit))
        return b"".join(chunks)
    except OSError as exc:
        raise UnreadableFile(_os_reason(exc)) from None
    finally:
        os.close(fd)


STDIN = "-"
STDIN_NAME = "<stdin>"  # how messages name it


def _read_stdin(limit: int) -> bytes:
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise UnreadableFile("standard input is closed")
    try:
        data = stream.read(limit + 1)
    except OSError as exc:
        raise UnreadableFile(_os_reason(exc)) from None
    if len(data) > limit:
        raise UnreadableFile(_too_large(len(data), limit))
    return bytes(data)


def _too_large(size: int, limit: int) -> str:
    return f"file is larger than {_bytes(limit)} ({size:,} bytes or more)"


def _bytes(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    return f"{limit:,} bytes"


def _os_reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot read: permission denied"
    if exc.errno == errno.ELOOP:
        return "cannot read: too many levels of symbolic links"
    return f"cannot read: {exc.strerror or type(exc).__name__}"
