"""Vobiz callback signatures: make them (the sandbox) and check them (ivrflow's listener).

Vobiz signs each callback with the account's auth token:

- `X-Vobiz-Signature-V3`: base64(HMAC-SHA256(token, url + "." + nonce)), the nonce in
  `X-Vobiz-Signature-V3-Nonce`;
- `X-Vobiz-Signature-V2`: base64(HMAC-SHA256(token, url + nonce)), the nonce in
  `X-Vobiz-Signature-V2-Nonce`;

where `url` is the full callback URL without its query string. A callback is acted on
only when one of them matches, compared in constant time, on the URL ivrflow gave Vobiz
(never one rebuilt from the request's Host header, which the sender chooses), and its
nonce has not been seen before: a recorded callback replayed is refused. The legacy
HMAC-SHA1 `X-Vobiz-Signature` is not accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Mapping

V3 = "X-Vobiz-Signature-V3"
V2 = "X-Vobiz-Signature-V2"
MAX_NONCE = 128  # characters; Vobiz's are far shorter
MAX_SIGNATURE = 128  # base64 of a SHA-256 digest is 44
REMEMBERED = 100_000  # nonces kept for replay checks (oldest forgotten first)


def _mac(token: str, message: str) -> str:
    digest = hmac.new(token.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(url: str) -> str:
    """The part of a callback URL that is signed: all of it but the query."""
    return url.split("?", 1)[0].split("#", 1)[0]


def sign(token: str, url: str, nonce: str | None = None) -> dict[str, str]:
    """The signature headers Vobiz would send for a callback to `url` (V3 and V2)."""
    nonce = nonce or secrets.token_hex(10)
    base = signed_url(url)
    return {V3: _mac(token, f"{base}.{nonce}"), f"{V3}-Nonce": nonce,
            V2: _mac(token, base + nonce), f"{V2}-Nonce": nonce}


class Verifier:
    """Checks the callbacks of one run against its auth token, each nonce once."""

    def __init__(self, token: str, remembered: int = REMEMBERED) -> None:
        self._token = token
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remembered = remembered

    def refusal(self, url: str, headers: Mapping[str, str]) -> str | None:
        """Why the callback to `url` (the URL ivrflow gave) with `headers` must be
        refused, or None when it is signed and new (its nonce is then used up)."""
        base = signed_url(url)
        for name, message in ((V3, lambda n: f"{base}.{n}"), (V2, lambda n: base + n)):
            signature = headers.get(name)
            nonce = headers.get(f"{name}-Nonce")
            if signature is None:
                continue
            if not nonce or len(nonce) > MAX_NONCE or len(signature) > MAX_SIGNATURE:
                return f"a callback's {name} came without a usable nonce"
            expected = _mac(self._token, message(nonce))
            if not hmac.compare_digest(expected.encode(), signature.encode("utf-8",
                                                                           "replace")):
                return "a callback's signature did not match (not signed with this token)"
            if nonce in self._seen:
                return "a callback was replayed (its nonce was seen before)"
            self._seen[nonce] = None
            if len(self._seen) > self._remembered:
                self._seen.popitem(last=False)
            return None
        return "a callback came unsigned (no X-Vobiz-Signature-V3 or -V2)"
