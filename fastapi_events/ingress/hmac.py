"""Shared-secret signatures for CloudEvents webhooks (and any sender you control).

The scheme, for a sender in any language:

1. ``timestamp`` is the current Unix time in whole seconds, as a decimal string.
2. ``signature`` is the lower-case hex HMAC-SHA256, keyed with the shared secret, of the
   bytes ``timestamp + "." + body`` (the exact body bytes sent).
3. Send the headers ``x-event-timestamp: <timestamp>`` and
   ``x-event-signature: sha256=<signature>`` (names configurable).

The receiver refuses (401) a missing or malformed header, a timestamp more than
``window_seconds`` away from its clock, a signature that does not match, and the
signature of a request it already accepted (answered 2xx): a replay. Sign every delivery
afresh; a retry of a request that was not answered 2xx is accepted even when it is the
same signed request.

Example (a sender)::

    body = json.dumps(structured_cloudevent).encode()
    headers = {"content-type": "application/cloudevents+json", **verifier.sign(body)}
    httpx.post(url, content=body, headers=headers)

.. versionadded:: 1.0
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import time
from collections.abc import Sequence

from .._checks import check_count, check_seconds
from ..errors import ConfigurationError, IngressUnauthorizedError
from ._request import IngressRequest

__all__ = [
    "DEFAULT_SIGNATURE_HEADER",
    "DEFAULT_TIMESTAMP_HEADER",
    "MIN_SECRET_BYTES",
    "HMACVerifier",
]

DEFAULT_SIGNATURE_HEADER = "x-event-signature"
DEFAULT_TIMESTAMP_HEADER = "x-event-timestamp"
#: The shortest secret accepted: 16 bytes (use ``secrets.token_urlsafe(32)``).
MIN_SECRET_BYTES = 16
_PREFIX = "sha256="
_MAX_TIMESTAMP_DIGITS = 12


class HMACVerifier:
    """Verifies HMAC-SHA256 signed requests (the scheme is in the module docstring).

    Args:
        secret: the shared secret (``str`` as UTF-8, or ``bytes``), at least 16 bytes; or
            a list of secrets, any of which verifies (rotation: :meth:`sign` uses the
            first).
        header: the signature header.
        timestamp_header: the timestamp header.
        window_seconds: how far a timestamp may be from this clock, either way.
        max_remembered: signatures remembered to refuse replays (those within the window;
            the oldest are forgotten first beyond this number). Per process: share
            ``deduplicate=`` state between processes to catch a replay on another one.

    Raises:
        ConfigurationError: a secret of the wrong type or too short (its value is never
            echoed), or an option out of range.

    .. versionadded:: 1.0
    """

    def __init__(
        self,
        secret: str | bytes | Sequence[str | bytes],
        *,
        header: str = DEFAULT_SIGNATURE_HEADER,
        timestamp_header: str = DEFAULT_TIMESTAMP_HEADER,
        window_seconds: float = 300,
        max_remembered: int = 100_000,
    ) -> None:
        self._secrets = _secrets(secret)
        self.header = _header_name("header", header)
        self.timestamp_header = _header_name("timestamp_header", timestamp_header)
        self.window_seconds = check_seconds("window_seconds", window_seconds)
        self.max_remembered = check_count("max_remembered", max_remembered)
        self._seen: dict[str, float] = {}  # signature -> when it can be forgotten
        self._expiry: list[tuple[float, str]] = []  # a heap of the same pairs, reversed

    async def verify(self, request: IngressRequest) -> None:
        """Return if ``request`` is signed, in the window and new; else raise.

        Raises:
            IngressUnauthorizedError: what is wrong (never the secret or the signature).
        """
        signature = self._signature_of(request)
        text = self._timestamp_of(request)
        stamp, now = int(text), time.time()
        if abs(now - stamp) > self.window_seconds:
            raise IngressUnauthorizedError(
                f"{self.timestamp_header}: {abs(now - stamp):.0f} s away from now, outside "
                f"the {self.window_seconds:g} s window (sign every delivery afresh)"
            )
        signed = _signed(text, request.body)
        if not any(hmac.compare_digest(_digest(s, signed), signature) for s in self._secrets):
            raise IngressUnauthorizedError(f"{self.header}: the signature does not match")
        self._remember(signature.decode("ascii"), stamp + self.window_seconds, now)

    def sign(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        """The headers that sign ``body`` now (or at ``timestamp``), with the first secret."""
        stamp = str(int(time.time()) if timestamp is None else int(timestamp))
        digest = _digest(self._secrets[0], _signed(stamp, body)).decode("ascii")
        return {self.timestamp_header: stamp, self.header: _PREFIX + digest}

    def _signature_of(self, request: IngressRequest) -> bytes:
        value = request.header(self.header)
        if value is None:
            raise IngressUnauthorizedError(f"missing {self.header} header")
        digest = value.strip()
        if not digest.startswith(_PREFIX):
            raise IngressUnauthorizedError(f"{self.header}: expected sha256=<hex digest>")
        return digest[len(_PREFIX) :].lower().encode("latin-1")

    def _timestamp_of(self, request: IngressRequest) -> str:
        value = request.header(self.timestamp_header)
        if value is None:
            raise IngressUnauthorizedError(f"missing {self.timestamp_header} header")
        text = value.strip()
        if not text.isdigit() or not text.isascii() or len(text) > _MAX_TIMESTAMP_DIGITS:
            raise IngressUnauthorizedError(
                f"{self.timestamp_header}: expected Unix time in whole seconds"
            )
        return text

    def forget(self, request: IngressRequest) -> None:
        """Forget ``request``'s signature: the ingress calls this when it did not answer
        the request with 2xx, so the sender's retry of the same signed request is no
        replay. (Only an accepted request cannot be replayed.)"""
        value = request.header(self.header) or ""
        self._seen.pop(value.strip()[len(_PREFIX) :].lower(), None)

    def _remember(self, signature: str, forgettable_at: float, now: float) -> None:
        expiry, seen = self._expiry, self._seen
        while expiry and (expiry[0][0] < now or len(expiry) >= self.max_remembered):
            when, old = heapq.heappop(expiry)
            if seen.get(old) == when:
                del seen[old]
        if signature in seen:
            raise IngressUnauthorizedError(
                f"{self.header}: this signature was accepted before (a replay); sign every "
                "delivery afresh"
            )
        seen[signature] = forgettable_at
        heapq.heappush(expiry, (forgettable_at, signature))

    def __repr__(self) -> str:
        return (
            f"HMACVerifier(<{len(self._secrets)} secret(s)>, header={self.header!r}, "
            f"timestamp_header={self.timestamp_header!r}, window_seconds={self.window_seconds:g})"
        )


def _signed(stamp: str, body: bytes) -> bytes:
    return stamp.encode("ascii") + b"." + body


def _digest(secret: bytes, signed: bytes) -> bytes:
    return hmac.new(secret, signed, hashlib.sha256).hexdigest().encode("ascii")


def _secrets(secret: object) -> list[bytes]:
    candidates = [secret] if isinstance(secret, (str, bytes)) else secret
    if not isinstance(candidates, Sequence) or not candidates:
        raise ConfigurationError(
            f"secret must be a str or bytes (or a list of them), got a "
            f"{type(secret).__name__} object; e.g. secrets.token_urlsafe(32)"
        )
    keys = []
    for candidate in candidates:
        if not isinstance(candidate, (str, bytes)):
            raise ConfigurationError(
                f"secret must be a str or bytes, got a {type(candidate).__name__} object"
            )
        key = candidate.encode() if isinstance(candidate, str) else candidate
        if len(key) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"secret is {len(key)} bytes; use at least {MIN_SECRET_BYTES} "
                f"(e.g. secrets.token_urlsafe(32))"
            )
        keys.append(key)
    return keys


def _header_name(option: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(
            f"{option} must be a header name (a non-empty str), got a {type(value).__name__} object"
        )
    return value.strip().lower()
