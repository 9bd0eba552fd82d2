"""A run that places its call: Make Call, the answer and hangup callbacks, the hang-up.

`ivrflow run FLOW --to NUMBER` checks everything first (exit 2): the numbers, the public
URL at which Vobiz reaches the run's listener (`--public-url`, https://; http:// only on
loopback), and nothing dials without `--to` given explicitly. Then:

1. the listener starts on `--listen` (the same one that receives audio streams), serving
   the callbacks under a per-run path (ivrflow.transport.callbacks);
2. `POST .../Call/` with `from`, `to`, the answer, ring and hangup URLs (POST), and
   `ring_timeout`; placing a call is billable and rings someone, so, like a send, a
   request whose outcome is unknown is never repeated;
3. the answer callback (matched by `RequestUUID`) names the call, and the flow's clock
   starts; an ending before the answer (no answer, busy, failed) is exit 3 with its
   `CallStatus` and `HangupCause`, nothing sent;
4. the hangup callback during the flow stops it at once (exit 3, nothing more sent);
5. whatever the ending, the call is hung up (`DELETE .../Call/{uuid}/`), unless
   `--keep-call`, which prints its uuid for the next tool.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

from ivrflow.errors import ExitCode, InvalidInput
from ivrflow.signals import until_signal
from ivrflow.transport.base import AuthDenied, CallGone, CallOutcome, CallPlaced, Transient
from ivrflow.transport.callbacks import CallbackReceiver
from ivrflow.transport.checks import check_public_base
from ivrflow.transport.vobiz import VobizTransport

NUMBER = re.compile(r"\+?[0-9]{6,15}")
RING_TIMEOUT = 45  # seconds Vobiz lets it ring
ANSWER_MARGIN = 15.0  # more seconds ivrflow waits for the answer callback
HANG_UP_WITHIN = 5.0
CONFIRM_WITHIN = 2.0  # seconds the hangup callback is waited for after hanging up
PLACE_ATTEMPTS = 3  # Make Call refused with 429/503 (nothing dialled) is tried this often


@dataclass(frozen=True, slots=True)
class Dialing:
    """Whom to call, as whom, and where Vobiz reaches the run's listener (`public`; ""
    with the sandbox: the listener's own http:// address on loopback)."""

    to: str
    caller: str
    public: str
    keep_call: bool = False
    machine_detection: bool = False  # ask Vobiz who answered
    answered_by: str | None = None  # who must have: human | machine (the flow's key)


class CallRefused(Exception):
    """The call could not be placed or was not answered: `exit_code` and `reason`."""

    def __init__(self, exit_code: ExitCode, reason: str) -> None:
        super().__init__(reason)
        self.exit_code = exit_code
        self.reason = reason


def check_number(value: str, option: str) -> str:
    digits = value.strip()
    if not NUMBER.fullmatch(digits):
        raise InvalidInput(f"{option} {value!r}: give a phone number in E.164 digits, such as "
                           "14155550123 (6-15 digits, an optional +)")
    return digits.lstrip("+")


def check_public_url(url: str) -> str:
    """`--public-url`: an https:// base (http:// only on loopback), no query or
    credentials."""
    return check_public_base(url, "--public-url", secure="https", plain="http",
                             example="https://abc.example.net", what="the callbacks")


def check_dialing(*, to: str | None, caller: str | None, public_url: str | None,
                  sandbox: bool, keep_call: bool, calls: int,
                  environ: Mapping[str, str], machine_detection: bool = False,
                  answered_by: str | None = None, flow_path: str = "the flow"
                  ) -> Dialing | None:
    """What placing the call needs, refused (exit 2) before anything is sent; None when
    the run drives calls placed elsewhere (`--call`)."""
    if to is None:
        for given, option in ((caller, "--from"), (public_url, "--public-url")):
            if given is not None:
                raise InvalidInput(f"{option} is for placing a call: add --to NUMBER")
        if keep_call:
            raise InvalidInput("--keep-call keeps a call ivrflow placed: add --to NUMBER")
        if machine_detection:
            raise InvalidInput("--machine-detection asks who answers a call ivrflow places: "
                               "add --to NUMBER")
        if answered_by is not None:
            raise InvalidInput(f"{flow_path}: answered_by: {answered_by} can be checked only "
                               "on a call ivrflow places (--to): on a call placed elsewhere "
                               "ivrflow cannot tell who answered")
        return None
    if calls > 1:
        raise InvalidInput("--to places one call: for many, give a calls file with a 'to' "
                           "column")
    number = check_number(to, "--to")
    origin = caller if caller is not None else environ.get("VOBIZ_FROM")
    if not origin:
        raise InvalidInput("--to needs a caller id: pass --from NUMBER or set VOBIZ_FROM")
    source = check_number(origin, "--from" if caller is not None else "VOBIZ_FROM")
    detect = machine_detection or answered_by is not None
    if sandbox:
        if public_url is not None:
            raise InvalidInput("--public-url is for live calls: the sandbox calls the "
                               "listener on loopback by itself")
        return Dialing(number, source, "", keep_call, detect, answered_by)
    if public_url is None:
        raise InvalidInput("--to places a call, and Vobiz reports its answer and hangup to "
                           "the listener on --listen: pass --public-url, the public https:// "
                           "address at which Vobiz reaches it")
    return Dialing(number, source, check_public_url(public_url), keep_call, detect,
                   answered_by)


@contextlib.asynccontextmanager
async def placed_call(transport: VobizTransport, dialing: Dialing,
                      receiver: CallbackReceiver, *,
                      admit: Callable[[], Awaitable[None]] | None = None,
                      observe: Callable[[CallOutcome], None] | None = None,
                      interruptible: bool = True) -> AsyncIterator[str]:
    """Place the call and yield its uuid once answered; hang it up when the block ends
    (unless `keep_call`, or it has ended already). `admit`: waited for before each Make
    Call (a batch's --rate gate), and `observe` told of each answer (its 429s);
    `interruptible`: a stop signal while it rings ends the wait (one call; a batch's own
    signal handling cancels its calls instead)."""
    fields: dict[str, object] = {
        "from": dialing.caller, "to": dialing.to,
        "answer_url": receiver.url("answer"), "answer_method": "POST",
        "ring_url": receiver.url("ring"), "ring_method": "POST",
        "hangup_url": receiver.url("hangup"), "hangup_method": "POST",
        "ring_timeout": RING_TIMEOUT}
    if dialing.machine_detection:
        fields["machine_detection"] = "true"  # synchronous: the answer callback says
    for attempt in range(1, PLACE_ATTEMPTS + 1):
        if admit is not None:
            await admit()
        outcome = await transport.make_call(fields)
        if observe is not None:
            observe(outcome)  # a batch's gate: a 429 holds every call back
        if not isinstance(outcome, Transient) or attempt == PLACE_ATTEMPTS:
            break
        if admit is None:  # otherwise the gate waits out the Retry-After
            await asyncio.sleep(min(10.0, outcome.retry_after or 1.0))
    if not isinstance(outcome, CallPlaced):
        detail = f": {outcome.detail}" if outcome.detail else ""
        if isinstance(outcome, AuthDenied):
            raise CallRefused(ExitCode.AUTH_REFUSED, f"Make Call was refused ({outcome.message}"
                                                     f"{detail}); no call was placed")
        if isinstance(outcome, Transient):
            raise CallRefused(ExitCode.STEP_FAILED, f"the call could not be placed "
                                                    f"({outcome.message}{detail}); no call "
                                                    "was placed")
        if isinstance(outcome, CallGone):
            raise CallRefused(ExitCode.STEP_FAILED, f"Make Call answered {outcome.message}"
                                                    f"{detail}; no call was placed")
        raise CallRefused(ExitCode.STEP_FAILED, f"the call may or may not have been placed "
                                                f"({outcome.message}{detail}): ivrflow does "
                                                "not dial twice; check the account's calls")
    receiver.expect(outcome.request_uuid)
    try:
        await (until_signal(_answer_or_end(receiver)) if interruptible
               else _answer_or_end(receiver))
    except asyncio.CancelledError:  # ^C while it rang: the flow never started
        if not interruptible:
            raise
        raise CallRefused(ExitCode.INTERRUPTED, "interrupted while the call was ringing; "
                                                "nothing was sent (if it is answered now, "
                                                "its answer URL is gone and Vobiz ends it)"
                          ) from None
    answer = receiver.answer
    if answer is None or answer.call_uuid is None:
        hangup = receiver.hangup
        if hangup is not None:
            raise CallRefused(ExitCode.CALL_NOT_LIVE, f"the call was not answered "
                                                      f"({_ending(hangup.status, hangup.cause)});"
                                                      " nothing was sent")
        raise CallRefused(ExitCode.CALL_NOT_LIVE, f"no answer callback came within "
                                                  f"{RING_TIMEOUT + ANSWER_MARGIN:g} s; "
                                                  "nothing was sent (is --public-url "
                                                  "reaching --listen?)")
    call = answer.call_uuid
    wrong = _wrong_answerer(dialing, answer.machine)
    if wrong is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(transport.hang_up(call), HANG_UP_WITHIN)
        raise CallRefused(ExitCode.WRONG_ANSWERER, f"{wrong}; nothing was sent, and the call "
                                                   "was hung up")
    try:
        yield call
    finally:
        if not dialing.keep_call and not receiver.ended.is_set():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(transport.hang_up(call), HANG_UP_WITHIN)
            # the hangup callback confirms the end; it is not waited for long
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(receiver.ended.wait(), CONFIRM_WITHIN)


async def _answer_or_end(receiver: CallbackReceiver) -> None:
    """Until the call is answered or has ended, at most the ring timeout and a margin."""
    answered = asyncio.ensure_future(receiver.answered.wait())
    ended = asyncio.ensure_future(receiver.ended.wait())
    try:
        await asyncio.wait({answered, ended}, timeout=RING_TIMEOUT + ANSWER_MARGIN,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        answered.cancel()
        ended.cancel()


def answered_words(dialing: Dialing, machine: bool | None) -> str:
    """Who answered, when machine detection was asked for ("" otherwise)."""
    if not dialing.machine_detection:
        return ""
    if machine is None:
        return " (machine detection gave no result)"
    return " by a machine" if machine else " by a person"


def _wrong_answerer(dialing: Dialing, machine: bool | None) -> str | None:
    if dialing.answered_by is None:
        return None
    if machine is None:
        return (f"the flow needs the call answered by a {_party(dialing.answered_by)} "
                "(answered_by), and machine detection gave no result")
    if machine != (dialing.answered_by == "machine"):
        return (f"the call was answered by a {_party('machine' if machine else 'human')}, "
                f"and the flow needs a {_party(dialing.answered_by)} (answered_by: "
                f"{dialing.answered_by})")
    return None


def _party(who: str) -> str:
    return "person" if who == "human" else "machine"


def stop_at_hangup(receiver: CallbackReceiver,
                   otherwise: Callable[[], tuple[str, int, str] | None] | None = None
                   ) -> Callable[[], tuple[str, int, str] | None]:
    """The flow's stop reason on a placed call: the hangup callback's, once it came, else
    `otherwise`'s (a batch's own)."""
    def reason() -> tuple[str, int, str] | None:
        if receiver.ended.is_set():
            return ("not_live", int(ExitCode.CALL_NOT_LIVE), hangup_reason(receiver))
        return otherwise() if otherwise is not None else None

    return reason


def stream_base(public_url: str) -> str | None:
    """The address at which Vobiz reaches the listener's audio stream, from its callback
    address (https -> wss, http -> ws), or None when it has neither scheme."""
    scheme, _, rest = public_url.partition("://")
    if scheme not in ("http", "https") or not rest:
        return None
    return ("wss" if scheme == "https" else "ws") + "://" + rest


def hangup_reason(receiver: CallbackReceiver) -> str:
    """Why the flow stopped when the hangup callback came, in words."""
    hangup = receiver.hangup
    if hangup is None:
        return "the call ended"
    return f"the call hung up ({_ending(hangup.status, hangup.cause)})"


def ended_words(receiver: CallbackReceiver) -> str:
    """The call's end as its hangup callback told it."""
    hangup = receiver.hangup
    said = _ending(hangup.status, hangup.cause) if hangup is not None else "no cause given"
    return f"the call has ended ({said})"


def _ending(status: str | None, cause: str | None) -> str:
    said = [f"CallStatus {status}" if status else "", f"HangupCause {cause}" if cause else ""]
    return ", ".join(s for s in said if s) or "no cause given"
