"""ivrflow's exceptions and the exit codes they map to.

    IvrflowError                 exit code of the class, message for the user
    ├── InvalidInput             2: the flow, its variables, the command line, credentials
    │   └── FlowInvalid          2: one or more located problems in one file
    ├── StepFailed               1: a step failed (rejected, outcome unknown, deadline)
    ├── CallNotLive              3: the call is not live or has ended
    └── AuthRefused              4: the API refused the credentials

Exit code 5 (NOT_HEARD) has no exception: a listening wait ends the flow with it when the
IVR did not say what the recipe expected (or said nothing, or never stopped). Nor has 6
(WRONG_ANSWERER): a call ivrflow placed was answered by a machine where the flow needs a
person (`answered_by`), or the other way round, and was hung up before anything was sent.

Every message is written for the person at the terminal: what failed, where, and what
to do. None may carry a secret value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes of every ivrflow command (a contract: see the README)."""

    OK = 0
    STEP_FAILED = 1
    INVALID_INPUT = 2
    CALL_NOT_LIVE = 3
    AUTH_REFUSED = 4
    NOT_HEARD = 5
    WRONG_ANSWERER = 6
    INTERRUPTED = 130


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One located problem in an input file. `line` and `column` are 1-based."""

    path: str
    line: int
    column: int
    message: str

    def __post_init__(self) -> None:
        # a message quotes the file; its control characters must not reach a terminal or
        # a JUnit report (XML 1.0 forbids most of them)
        if not self.message.isprintable():
            clean = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in self.message)
            object.__setattr__(self, "message", clean)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"

    def to_json(self) -> dict[str, object]:
        return {"file": self.path, "line": self.line, "column": self.column,
                "message": self.message}


class IvrflowError(Exception):
    """Base of every error ivrflow reports to its user."""

    exit_code: ExitCode = ExitCode.STEP_FAILED


class InvalidInput(IvrflowError):
    """Input that ivrflow refuses before touching any call."""

    exit_code = ExitCode.INVALID_INPUT


class FlowInvalid(InvalidInput):
    """A file with located problems, all of them, in line order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class StepFailed(IvrflowError):
    exit_code = ExitCode.STEP_FAILED


class CallNotLive(IvrflowError):
    exit_code = ExitCode.CALL_NOT_LIVE


class AuthRefused(IvrflowError):
    exit_code = ExitCode.AUTH_REFUSED
