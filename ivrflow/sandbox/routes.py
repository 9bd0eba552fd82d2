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


ALLOWED_METHODS: dict[Endpoint, tuple[str, ...]] = {
    Endpoint.CALLS: ("GET",),
    Endpoint.CALL: ("GET", "DELETE"),
    Endpoint.DTMF: ("POST",),
}


@dataclass(frozen=True, slots=True)
class Route:
    """A matched path: the endpoint, the account and call it names, and its spelling."""

    endpoint: Endpoint
    auth_id: str
    call: str | None
    miscased: bool


_PATH = re.compile(
    r"/(api/v1)/(account)/([^/]+)/(call)(?:/([^/]+))?(?:/(dtmf))?/?", re.IGNORECASE)
_SPELLING = ("api/v1", "Account", "Call", "DTMF")


def match(raw_path: str) -> Route | None:
    """The route of a raw (still percent-encoded) path without its query, or None."""
    m = _PATH.fullmatch(raw_path)
    if m is None:
        return None
    prefix, account, auth_id, call_word, call, dtmf = m.groups()
    if dtmf is not None:
        endpoint = Endpoint.DTMF
    elif call is not None:
        endpoint = Endpoint.CALL
    else:
        endpoint = Endpoint.CALLS
    words = (prefix, account, call_word) if dtmf is None else (
        prefix, account, call_word, dtmf)
    miscased = words != _SPELLING[:len(words)]
    return Route(endpoint, unquote(auth_id), None if call is None else unquote(call),
                 miscased)
