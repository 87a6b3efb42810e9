"""Verify Pub/Sub push requests by their OIDC token (``Authorization: Bearer <JWT>``).

A push subscription with authentication sends, with every request, an ID token Google
signed for the subscription's service account: RS256, issued by ``accounts.google.com``,
for the audience set on the subscription (by default the push endpoint's URL).

.. versionadded:: 1.0
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from .._checks import check_seconds, check_text, check_texts
from ..errors import ConfigurationError, IngressUnauthorizedError
from ._crypto import INGRESS_INSTALL_HINT, import_jwt
from ._fetching import Fetch, https_fetcher
from ._jwks import KeySet
from ._request import IngressRequest
from ._verifier_checks import check_fetch

__all__ = [
    "GOOGLE_ISSUERS",
    "GOOGLE_JWKS_URL",
    "INGRESS_INSTALL_HINT",
    "MAX_TOKEN_CHARS",
    "Fetch",
    "PubSubOIDCVerifier",
]

#: The ``iss`` values of Google-signed ID tokens.
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
#: Google's public keys for its ID tokens, as a JWKS.
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
#: Longer bearer tokens are refused unparsed (Google's are about 1 KB).
MAX_TOKEN_CHARS = 16 * 1024
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud"]


class PubSubOIDCVerifier:
    """Accept a request only with a valid Google-signed OIDC token for ``audience``.

    Checks, in order: an ``Authorization: Bearer`` header; the token's algorithm is RS256
    (``none`` and HMAC are refused) and its key id is in the issuer's JWKS; the signature;
    ``exp``, ``nbf`` and ``iat`` (with ``leeway_seconds`` of clock skew); ``aud``;
    ``iss``; and, with ``service_account_email``, the ``email`` claim and
    ``email_verified``. A refusal is an
    :class:`~fastapi_events.errors.IngressUnauthorizedError` (401) naming the check that
    failed, never the token; when the JWKS cannot be fetched it has status 503 (the
    sender retries).

    Args:
        audience: the ``aud`` the subscription puts in its tokens (the push endpoint's URL
            unless you set another audience on the subscription).
        issuers: accepted ``iss`` values.
        jwks_url: where the issuer publishes its public keys.
        service_account_email: when given, the token's ``email`` must be this one (the
            service account the subscription pushes as) and verified.
        fetch: ``async (url) -> bytes`` to get the JWKS; by default a standard-library
            HTTPS GET in a thread (https only, 10 s timeout, 256 KiB cap). Pass your own
            to use a proxy, a pooled client or another scheme.
        cache_seconds: how long a fetched JWKS is used before it is fetched again.
        leeway_seconds: clock skew allowed on ``exp``, ``nbf`` and ``iat``.
        min_refetch_seconds: the least time between two fetches (a token with an unknown
            key id triggers one, at most this often).

    Raises:
        ConfigurationError: an argument of the wrong type or out of range.
        ImportError: the ``ingress`` extra is missing.

    Example::

        verifier = PubSubOIDCVerifier(
            "https://events.example.com/pubsub",
            service_account_email="pusher@my-project.iam.gserviceaccount.com",
        )

    .. versionadded:: 1.0
    """

    def __init__(
        self,
        audience: str,
        *,
        issuers: Iterable[str] = GOOGLE_ISSUERS,
        jwks_url: str = GOOGLE_JWKS_URL,
        service_account_email: str | None = None,
        fetch: Fetch | None = None,
        cache_seconds: float = 3600.0,
        leeway_seconds: float = 60.0,
        min_refetch_seconds: float = 15.0,
    ) -> None:
        self._audience = check_text(
            "audience", audience, example="'https://events.example.com/push'"
        )
        self._issuers = frozenset(
            check_texts("issuers", issuers, example="['https://accounts.google.com']")
        )
        self._email = (
            None
            if service_account_email is None
            else check_text(
                "service_account_email",
                service_account_email,
                example="'pusher@p.iam.gserviceaccount.com'",
            )
        )
        self._leeway = check_seconds("leeway_seconds", leeway_seconds, zero=True, example="60.0")
        url = _check_jwks_url(jwks_url, check_fetch(fetch))
        self._jwt = import_jwt()
        self._keys = KeySet(
            url,
            fetch or https_fetcher(),
            self._jwt,
            cache_seconds=check_seconds("cache_seconds", cache_seconds, example="3600.0"),
            min_refetch_seconds=check_seconds(
                "min_refetch_seconds", min_refetch_seconds, zero=True, example="15.0"
            ),
        )

    def __repr__(self) -> str:
        return f"PubSubOIDCVerifier(audience={self._audience!r})"

    async def verify(self, request: IngressRequest) -> None:
        """Return if ``request`` bears a valid token; raise ``IngressUnauthorizedError`` if not."""
        token = _bearer_token(request)
        key = await self._keys.key(self._key_id(token))
        self._check_claims(self._decode(token, key))

    def _key_id(self, token: str) -> str:
        try:
            header = self._jwt.get_unverified_header(token)
        except self._jwt.PyJWTError:
            raise _refuse("the bearer token is not a well-formed JWT") from None
        if header.get("alg") != "RS256":
            raise _refuse("the token's signing algorithm is not RS256 (the only one accepted)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _refuse("the token's header has no key id (kid)")
        return kid

    def _decode(self, token: str, key: Any) -> Mapping[str, Any]:
        jwt = self._jwt
        try:
            claims: Mapping[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._audience,
                leeway=self._leeway,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise _refuse(_reason(jwt, exc)) from None
        return claims

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        if claims.get("iss") not in self._issuers:
            raise _refuse("the token's issuer (iss) is not an accepted issuer")
        iat = claims.get("iat")
        if not isinstance(iat, (int, float)) or iat > time.time() + self._leeway:
            raise _refuse("the token is not yet valid (iat is in the future)")
        if self._email is None:
            return
        if claims.get("email") != self._email:
            raise _refuse("the token's email is not the expected service account")
        if claims.get("email_verified") is not True:
            raise _refuse("the token's email is not verified (email_verified)")


def _check_jwks_url(url: Any, fetch: Fetch | None) -> str:
    checked = check_text("jwks_url", url, example=repr(GOOGLE_JWKS_URL))
    if fetch is None and not checked.startswith("https://"):
        raise ConfigurationError(
            "jwks_url must be an https:// URL with the built-in fetcher, got another scheme; "
            "use https, or pass your own fetch= to get the key set another way"
        )
    return checked


def _bearer_token(request: IngressRequest) -> str:
    value = request.header("authorization")
    if value is None:
        raise _refuse("the request has no Authorization header (expected a Bearer token)")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _refuse("the Authorization header is not a Bearer token")
    if len(token) > MAX_TOKEN_CHARS:
        raise _refuse(f"the bearer token is over {MAX_TOKEN_CHARS} characters")
    return token


def _reason(jwt: Any, exc: Exception) -> str:
    """The check a PyJWT error stands for (its own message is not used)."""
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token lacks the required claim {exc.claim!r}"
    for kind, reason in (
        (jwt.ExpiredSignatureError, "the token has expired (exp)"),
        (jwt.ImmatureSignatureError, "the token is not yet valid (nbf or iat in the future)"),
        (jwt.InvalidAudienceError, "the token's audience (aud) is not the expected one"),
        (jwt.InvalidSignatureError, "the token's signature does not verify"),
        (jwt.InvalidIssuedAtError, "the token's issued-at time (iat) is not a number"),
        (jwt.DecodeError, "the bearer token is not a well-formed JWT"),
    ):
        if isinstance(exc, kind):
            return reason
    return f"the token is invalid ({type(exc).__name__})"


def _refuse(reason: str) -> IngressUnauthorizedError:
    return IngressUnauthorizedError(f"Pub/Sub push request refused: {reason}")
