"""The transport interface: two calls, and outcomes typed so the interpreter never sees HTTP.

    Accepted    2xx: the digits were accepted / the call is live
    Rejected    400: the request itself is wrong; retrying cannot help
    AuthDenied  401/403: the credentials were refused
    CallGone    404: the call is not live (ended, or not answered yet)
    Transient   nothing was delivered (refused connection, connect timeout, 429, 503);
                `retry_after` carries the server's hint, if any
    Unknown     the request may have been acted on (500, 502, 504, read timeout,
                connection dropped after the request was sent, an answer that is not HTTP)

Every outcome but `Accepted` carries two texts, kept apart so that outside text is never
mistaken for ivrflow's own:

    message     ivrflow's words only ("HTTP 404 Not Found", "could not connect (connection
                refused)"): safe to show as they are
    detail      the API's own explanation from the answer's body, or "": control
                characters removed, the auth token replaced by ****, at most 200
                characters; outside text all the same, to be shown after the message
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ivrflow.language.model import Leg


@dataclass(frozen=True, slots=True)
class Accepted:
    status: int


@dataclass(frozen=True, slots=True)
class Rejected:
    status: int
    message: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AuthDenied:
    status: int
    message: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CallGone:
    status: int
    message: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Transient:
    status: int | None  # None: no HTTP answer (refused, connect timeout)
    message: str
    retry_after: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Unknown:
    status: int | None  # None: no HTTP answer (read timeout, dropped connection)
    message: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """2xx to starting an audio stream; `stream_id` None: the answer did not say which."""

    status: int
    stream_id: str | None


@dataclass(frozen=True, slots=True)
class CallPlaced:
    """2xx to Make Call: the call is being dialled; `request_uuid` names the attempt (None:
    the answer did not say, so no callback can be matched to it)."""

    status: int
    request_uuid: str | None


SendOutcome = Accepted | Rejected | AuthDenied | CallGone | Transient | Unknown
LiveOutcome = Accepted | Rejected | AuthDenied | CallGone | Transient | Unknown
CallOutcome = CallPlaced | Rejected | AuthDenied | CallGone | Transient | Unknown
StreamOutcome = StreamStarted | Rejected | AuthDenied | CallGone | Transient | Unknown


class Transport(Protocol):
    """What the interpreter needs from a telephony API."""

    async def send_digits(self, call: str, digits: str, leg: Leg) -> SendOutcome:
        """Ask the API to play `digits` on `leg` of `call`. Must not retry by itself."""
        ...

    async def live(self, call: str) -> LiveOutcome:
        """Whether `call` is live right now (Accepted) or not (CallGone)."""
        ...
