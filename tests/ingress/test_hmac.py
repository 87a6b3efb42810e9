"""HMACVerifier: the documented scheme, and every way a request is refused (401)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import Any

import pytest

from fastapi_events.errors import ConfigurationError, IngressUnauthorizedError
from fastapi_events.ingress import HMACVerifier, IngressRequest
from tests.ingress.kit import SECRET, Recorder, app_for, client, dumps, structured

pytestmark = pytest.mark.anyio

BODY = dumps(structured("e-1", "order.placed", {"order": 1}))
CE = {"content-type": "application/cloudevents+json"}


def request(headers: dict[str, str], body: bytes = BODY) -> IngressRequest:
    return IngressRequest("POST", "/events", {k.lower(): v for k, v in headers.items()}, body)


def signed_by_hand(secret: str, stamp: str, body: bytes) -> dict[str, str]:
    """The documented scheme, implemented independently of the library."""
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"x-event-timestamp": stamp, "x-event-signature": f"sha256={digest}"}


async def test_a_sender_following_the_documented_scheme_is_accepted() -> None:
    """timestamp + "." + body, HMAC-SHA256 hex, sha256= prefix: accepted; sign() agrees."""
    verifier = HMACVerifier(SECRET)
    stamp = str(int(time.time()))
    await verifier.verify(request(signed_by_hand(SECRET, stamp, BODY)))
    assert verifier.sign(BODY, timestamp=int(stamp)) == signed_by_hand(SECRET, stamp, BODY)


def now() -> str:
    return str(int(time.time()))


REFUSED = [
    ({}, "missing x-event-signature header"),
    ({"x-event-signature": "sha256=00"}, "missing x-event-timestamp header"),
    ({"x-event-timestamp": "1", "x-event-signature": "00ff"}, "expected sha256=<hex digest>"),
    ({"x-event-timestamp": "soon", "x-event-signature": "sha256=00"}, "expected Unix time"),
]


@pytest.mark.parametrize(("headers", "expected"), REFUSED)
async def test_missing_or_malformed_headers_are_refused(
    headers: dict[str, str], expected: str
) -> None:
    """Each missing or malformed header: IngressUnauthorizedError naming it."""
    with pytest.raises(IngressUnauthorizedError, match=expected):
        await HMACVerifier(SECRET).verify(request(headers))


@pytest.mark.parametrize("offset", [-301, 301])
async def test_a_timestamp_outside_the_window_is_refused(offset: int) -> None:
    """Too old (a late replay) or too far in the future: refused, correctly signed or not."""
    stamp = str(int(time.time()) + offset)
    with pytest.raises(IngressUnauthorizedError, match="outside the 300 s window"):
        await HMACVerifier(SECRET).verify(request(signed_by_hand(SECRET, stamp, BODY)))


async def test_a_wrong_secret_or_a_changed_body_is_refused() -> None:
    """Another secret, or the body changed after signing: does not match."""
    verifier = HMACVerifier(SECRET)
    with pytest.raises(IngressUnauthorizedError, match="does not match"):
        await verifier.verify(request(signed_by_hand("another-secret-0123456789", now(), BODY)))
    with pytest.raises(IngressUnauthorizedError, match="does not match"):
        await verifier.verify(request(verifier.sign(BODY), BODY + b" "))


async def test_a_replay_within_the_window_is_refused() -> None:
    """The same signed request twice: the second is a replay; a fresh signature passes."""
    verifier = HMACVerifier(SECRET)
    headers = signed_by_hand(SECRET, now(), BODY)
    await verifier.verify(request(headers))
    with pytest.raises(IngressUnauthorizedError, match="replay"):
        await verifier.verify(request(headers))
    await verifier.verify(request(signed_by_hand(SECRET, str(int(now()) - 1), BODY)))


async def test_a_request_the_ingress_did_not_accept_may_be_sent_again() -> None:
    """forget() (called by the ingress on a non-2xx answer): the same signed request, sent
    again by the sender's retry, is no replay."""
    verifier = HMACVerifier(SECRET)
    retried = request(signed_by_hand(SECRET, now(), BODY))
    await verifier.verify(retried)
    verifier.forget(retried)
    await verifier.verify(retried)
    with pytest.raises(IngressUnauthorizedError, match="replay"):
        await verifier.verify(retried)


async def test_any_of_several_secrets_verifies_and_sign_uses_the_first() -> None:
    """Rotation: the old secret still verifies; sign() uses the new one."""
    old, new = "old-secret-0123456789abcdef", "new-secret-0123456789abcdef"
    verifier = HMACVerifier([new, old])
    await verifier.verify(request(signed_by_hand(old, now(), BODY)))
    stamp = verifier.sign(BODY)["x-event-timestamp"]
    assert verifier.sign(BODY, timestamp=int(stamp)) == signed_by_hand(new, stamp, BODY)


async def test_header_names_are_configurable() -> None:
    """header= and timestamp_header= name the headers, in any case."""
    verifier = HMACVerifier(SECRET, header="X-Hub-Sig", timestamp_header="X-Hub-Time")
    headers = verifier.sign(BODY)
    assert set(headers) == {"x-hub-sig", "x-hub-time"}
    await verifier.verify(request({k.upper(): v for k, v in headers.items()}))


@pytest.mark.parametrize(
    ("secret", "expected"),
    [("short", "secret is 5 bytes; use at least 16"), (42, "got a int object"), ([], "list")],
)
def test_a_bad_secret_is_refused_at_construction_without_echo(secret: Any, expected: str) -> None:
    """Too short or not str/bytes: ConfigurationError naming the type or size, never it."""
    with pytest.raises(ConfigurationError, match=expected) as raised:
        HMACVerifier(secret)
    assert "short'" not in str(raised.value) and "42" not in str(raised.value)


async def test_the_secret_is_never_echoed() -> None:
    """Not in repr, not in any refusal."""
    verifier = HMACVerifier(SECRET)
    assert SECRET not in repr(verifier)
    messages = []
    for headers in ({}, signed_by_hand("x" * 20, now(), BODY), verifier.sign(BODY, timestamp=1)):
        with pytest.raises(IngressUnauthorizedError) as raised:
            await verifier.verify(request(headers))
        messages.append(str(raised.value))
    assert not any(SECRET in message for message in messages)


@pytest.mark.parametrize("case", ["unsigned", "expired", "replayed"])
async def test_the_ingress_answers_401_and_hands_nothing_over(
    case: str, library_logs: list[logging.LogRecord]
) -> None:
    """Refused requests: 401 with the reason, no handler ran, one WARNING each."""
    recorder = Recorder()
    ingress = recorder.ingress()
    verifier = ingress.verifier
    assert isinstance(verifier, HMACVerifier)
    async with client(app_for(ingress)) as http:
        headers = {} if case == "unsigned" else verifier.sign(BODY, timestamp=1)
        if case == "replayed":
            headers = verifier.sign(BODY)
            first = await http.post("/events", content=BODY, headers={**CE, **headers})
            assert first.status_code == 200
        response = await http.post("/events", content=BODY, headers={**CE, **headers})
    assert response.status_code == 401
    assert len(recorder.events) == (1 if case == "replayed" else 0)
    assert ingress.stats.unauthorized == 1
    assert [r.levelname for r in library_logs if "401" in r.getMessage()] == ["WARNING"]
