"""Callback signatures: V3 and V2 as documented, constant-time checks, nonces once."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from ivrflow.transport.signatures import V2, V3, Verifier, sign

URL = "https://abc.example.net/cb/t0ken/answer"
TOKEN = "secret-token"


def test_v3_and_v2_are_the_documented_hmacs() -> None:
    headers = sign(TOKEN, URL + "?x=1", nonce="n0nce")
    v3 = base64.b64encode(hmac.new(TOKEN.encode(), f"{URL}.n0nce".encode(),
                                   hashlib.sha256).digest()).decode()
    v2 = base64.b64encode(hmac.new(TOKEN.encode(), f"{URL}n0nce".encode(),
                                   hashlib.sha256).digest()).decode()
    assert headers[V3] == v3 and headers[f"{V3}-Nonce"] == "n0nce"
    assert headers[V2] == v2 and headers[f"{V2}-Nonce"] == "n0nce"


def test_a_signed_callback_is_accepted_once() -> None:
    verifier = Verifier(TOKEN)
    headers = sign(TOKEN, URL)
    assert verifier.refusal(URL, headers) is None
    assert verifier.refusal(URL, headers) == \
        "a callback was replayed (its nonce was seen before)"


def test_v2_alone_is_accepted() -> None:
    headers = {k: v for k, v in sign(TOKEN, URL).items() if not k.startswith(V3)}
    assert Verifier(TOKEN).refusal(URL, headers) is None


@pytest.mark.parametrize(("headers", "why"), [
    ({}, "unsigned"),
    ({"X-Vobiz-Signature": "legacy-sha1"}, "unsigned"),
    (sign("another-token", URL), "did not match"),
    (sign(TOKEN, "https://abc.example.net/cb/t0ken/hangup"), "did not match"),
    ({V3: sign(TOKEN, URL, "a")[V3], f"{V3}-Nonce": "b"}, "did not match"),
    ({V3: sign(TOKEN, URL)[V3]}, "without a usable nonce"),
    ({V3: "x" * 200, f"{V3}-Nonce": "n"}, "without a usable nonce"),
    ({V3: "\udcff", f"{V3}-Nonce": "n"}, "did not match"),
])
def test_forged_or_broken_signatures_are_refused(headers: dict[str, str], why: str) -> None:
    refusal = Verifier(TOKEN).refusal(URL, headers)
    assert refusal is not None and why in refusal


def test_a_refused_callback_does_not_use_up_its_nonce() -> None:
    verifier = Verifier(TOKEN)
    good = sign(TOKEN, URL, nonce="same")
    forged = dict(good, **{V3: sign("other", URL, nonce="same")[V3]})
    assert verifier.refusal(URL, forged) is not None
    assert verifier.refusal(URL, good) is None


def test_the_nonce_memory_is_bounded() -> None:
    verifier = Verifier(TOKEN, remembered=3)
    for n in range(10):
        assert verifier.refusal(URL, sign(TOKEN, URL, nonce=f"n{n}")) is None
    assert len(verifier._seen) == 3
