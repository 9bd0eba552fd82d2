"""Which endpoint a request path names, as the Vobiz API spells them.

Matching is case-insensitive so that a mis-cased path (`/account/`, `/call/`, `/dtmf/`)
can be told apart from an unknown one: Vobiz answers the first 401 and the second 404.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import unquote


class Endpoint(enum.Enum):
    """The endpoints the sandbox serves."""

    CALLS = ".../Call/"
    CALL = ".../Call/{call_uuid}/"
    DTMF = ".../Call/{call_uuid}/DTMF/"
    STREAMS = ".../Call/{call_uuid}/Stream/"
    STREAM = ".../Call/{call_uuid}/Stream/{stream_id}/"


ALLOWED_METHODS: dict[Endpoint, tuple[str, ...]] = {
    Endpoint.CALLS: ("GET", "POST"),
    Endpoint.CALL: ("GET", "DELETE"),
    Endpoint.DTMF: ("POST",),
    Endpoint.STREAMS: ("GET", "POST", "DELETE"),
    Endpoint.STREAM: ("GET", "DELETE"),
}


@dataclass(frozen=True, slots=True)
class Route:
    """A matched path: the endpoint, the account and call it names, and its spelling."""

    endpoint: Endpoint
    auth_id: str
    call: str | None
    miscased: bool
    stream: str | None = None


_PATH = re.compile(
    r"/(api/v1)/(account)/([^/]+)/(call)(?:/([^/]+))?(?:/(dtmf|stream)(?:/([^/]+))?)?/?",
    re.IGNORECASE)
_SPELLING = {"dtmf": "DTMF", "stream": "Stream"}


def match(raw_path: str) -> Route | None:
    """The route of a raw (still percent-encoded) path without its query, or None."""
    m = _PATH.fullmatch(raw_path)
    if m is None:
        return None
    prefix, account, auth_id, call_word, call, tail, stream = m.groups()
    if tail is not None and call is None:
        return None
    if tail is not None and tail.lower() == "dtmf":
        if stream is not None:
            return None
        endpoint = Endpoint.DTMF
    elif tail is not None:
        endpoint = Endpoint.STREAMS if stream is None else Endpoint.STREAM
    elif call is not None:
        endpoint = Endpoint.CALL
    else:
        endpoint = Endpoint.CALLS
    words = (prefix, account, call_word) + (() if tail is None else (tail,))
    spelling = ("api/v1", "Account", "Call") + (
        () if tail is None else (_SPELLING[tail.lower()],))
    return Route(endpoint, unquote(auth_id), None if call is None else unquote(call),
                 words != spelling, None if stream is None else unquote(stream))
