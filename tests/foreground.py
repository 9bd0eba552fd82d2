"""The sandbox as a separate process: `python -m ivrflow.sandbox`, as a user runs it."""

from __future__ import annotations

import queue
import shlex
import subprocess
import sys
import threading


class Foreground:
    """`python -m ivrflow.sandbox` in a subprocess, its stdout read line by line."""

    def __init__(self, *argv: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ivrflow.sandbox", "--port", "0", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.ready = [self.next_line()]
        while not self.ready[-1].startswith("export VOBIZ_AUTH_TOKEN="):
            self.ready.append(self.next_line())
        exports = dict(part.split("=", 1) for line in self.ready
                       if line.startswith("export ")
                       for part in shlex.split(line)[1:])
        self.url = exports["VOBIZ_API_URL"]
        self.auth_id = exports["VOBIZ_AUTH_ID"]
        self.auth = {"X-Auth-ID": self.auth_id,
                     "X-Auth-Token": exports["VOBIZ_AUTH_TOKEN"]}

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self, timeout: float = 5.0) -> str:
        return self.lines.get(timeout=timeout)

    def stop(self, signum: int) -> tuple[int, str]:
        self.proc.send_signal(signum)
        _, err = self.proc.communicate(timeout=5)
        self._reader.join(5)
        return self.proc.returncode, err
