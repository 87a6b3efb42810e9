"""PubSubOIDCVerifier: Google-style OIDC tokens, signed here, keys served over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from fastapi_events.errors import ConfigurationError, IngressUnauthorizedError
from fastapi_events.ingress.oidc import (
    GOOGLE_JWKS_URL,
    INGRESS_INSTALL_HINT,
    PubSubOIDCVerifier,
)
from tests.ingress.verifier_kit import (
    KeyServer,
    hs256_token,
    jwks,
    key_server,
    request,
    rsa_key,
    run_python,
)

pytestmark = pytest.mark.anyio

AUDIENCE = "https://events.example.com/pubsub"
EMAIL = "pusher@project.iam.gserviceaccount.com"
CERTS = "/oauth2/v3/certs"  # GOOGLE_JWKS_URL's path, served by the local server


@pytest.fixture
def keys() -> Iterator[KeyServer]:
    """The local JWKS server, publishing key 1."""
    with key_server() as server:
        server.bodies[CERTS] = jwks(1)
        yield server


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 3600,
        "sub": "1234567890",
        "email": EMAIL,
        "email_verified": True,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def token(key: int = 1, kid: str | None = None, **changes: Any) -> str:
    headers = {"kid": kid or f"k{key}"}
    return jwt.encode(claims(**changes), rsa_key(key), algorithm="RS256", headers=headers)


def bearer(value: str) -> Any:
    return request({"authorization": f"Bearer {value}"})


def verifier(server: KeyServer, **options: Any) -> PubSubOIDCVerifier:
    options.setdefault("service_account_email", EMAIL)
    return PubSubOIDCVerifier(AUDIENCE, fetch=server.fetch, **options)


async def refused(check: PubSubOIDCVerifier, value: str) -> IngressUnauthorizedError:
    with pytest.raises(IngressUnauthorizedError) as caught:
        await check.verify(bearer(value))
    return caught.value


async def test_a_valid_token_passes(keys: KeyServer) -> None:
    """A token signed with a published key, for our audience, from Google, passes."""
    await verifier(keys).verify(bearer(token()))
    await verifier(keys, service_account_email=None).verify(bearer(token(email=None)))
    assert keys.hits[CERTS] == 2


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"aud": "https://other.example.com/"}, "audience"),
        ({"iss": "https://evil.example.com"}, "issuer"),
        ({"iss": None}, "required claim 'iss'"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"exp": None}, "required claim 'exp'"),
        ({"nbf": int(time.time()) + 3600}, "not yet valid"),
        ({"iat": int(time.time()) + 3600}, "not yet valid"),
        ({"email": "someone@evil.example.com"}, "email is not the expected"),
        ({"email_verified": False}, "email_verified"),
    ],
)
async def test_a_claim_that_does_not_fit_is_refused(
    keys: KeyServer, changes: dict[str, Any], reason: str
) -> None:
    """Audience, issuer, expiry, not-before, issued-at and the service account are checked."""
    error = await refused(verifier(keys), token(**changes))
    assert error.status == 401
    assert reason in str(error)


async def test_a_bad_signature_is_refused(keys: KeyServer) -> None:
    """A token signed with another key under a published key id does not verify."""
    error = await refused(verifier(keys), token(key=2, kid="k1"))
    assert "signature" in str(error)


async def test_alg_none_is_refused(keys: KeyServer) -> None:
    """An unsigned token (alg none) is refused before any key is looked up."""
    unsigned = jwt.encode(claims(), None, algorithm="none", headers={"kid": "k1"})
    error = await refused(verifier(keys), unsigned)
    assert "algorithm is not RS256" in str(error)
    assert keys.hits[CERTS] == 0


async def test_hs256_signed_with_the_public_key_is_refused(keys: KeyServer) -> None:
    """Algorithm confusion: an HMAC token keyed with the published RSA key is refused."""
    pem = (
        rsa_key(1)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    error = await refused(verifier(keys), hs256_token(claims(), pem, "k1"))
    assert "algorithm is not RS256" in str(error)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no Authorization header"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "not a Bearer token"),
        ({"authorization": "Bearer "}, "not a Bearer token"),
        ({"authorization": "Bearer not.a.jwt"}, "not a well-formed JWT"),
        ({"authorization": "Bearer " + "a" * 20_000}, "over 16384 characters"),
    ],
)
async def test_a_missing_or_malformed_header_is_refused(
    keys: KeyServer, headers: dict[str, str], reason: str
) -> None:
    """No bearer token, another scheme or garbage: 401 without fetching anything."""
    with pytest.raises(IngressUnauthorizedError, match=reason) as caught:
        await verifier(keys).verify(request(headers))
    assert caught.value.status == 401
    assert keys.hits[CERTS] == 0


async def test_the_key_set_is_fetched_once_for_many_requests(keys: KeyServer) -> None:
    """Concurrent requests share the first fetch; later ones use the cache."""
    check = verifier(keys)
    await asyncio.gather(*(check.verify(bearer(token())) for _ in range(20)))
    for _ in range(20):
        await check.verify(bearer(token()))
    assert keys.hits[CERTS] == 1


async def test_a_rotated_key_is_fetched_on_its_first_token(keys: KeyServer) -> None:
    """A token naming a key id the cached set lacks refetches the set once."""
    check = verifier(keys, min_refetch_seconds=0)
    await check.verify(bearer(token(key=1)))
    keys.bodies[CERTS] = jwks(1, 2)
    await check.verify(bearer(token(key=2)))
    await check.verify(bearer(token(key=2)))
    assert keys.hits[CERTS] == 2


async def test_a_flood_of_unknown_key_ids_fetches_at_most_once(keys: KeyServer) -> None:
    """Made-up key ids are refused without refetching within min_refetch_seconds."""
    check = verifier(keys)
    for _ in range(30):
        error = await refused(check, token(key=2, kid=f"k-{uuid.uuid4().hex}"))
        assert "key id (kid) is not in the issuer's key set" in str(error)
    assert keys.hits[CERTS] == 1


async def test_an_old_key_set_is_fetched_again(keys: KeyServer) -> None:
    """Past cache_seconds the next request refetches the set."""
    check = verifier(keys, cache_seconds=0.05, min_refetch_seconds=0)
    await check.verify(bearer(token()))
    await asyncio.sleep(0.2)
    await check.verify(bearer(token()))
    assert keys.hits[CERTS] == 2


async def test_an_unavailable_key_set_answers_503_and_is_not_hammered(
    keys: KeyServer, library_logs: list[logging.LogRecord]
) -> None:
    """No JWKS (404): 503 so the sender retries; the next request does not refetch."""
    del keys.bodies[CERTS]
    check = verifier(keys)
    for _ in range(5):
        error = await refused(check, token())
        assert error.status == 503
    assert keys.hits[CERTS] == 1
    assert any("could not fetch the key set" in r.getMessage() for r in library_logs)


async def test_the_cached_keys_serve_while_a_refetch_fails(keys: KeyServer) -> None:
    """A failed refresh of an old set keeps verifying with the keys already fetched."""
    check = verifier(keys, cache_seconds=0.05, min_refetch_seconds=0)
    await check.verify(bearer(token()))
    keys.bodies[CERTS] = b"not json"
    await asyncio.sleep(0.2)
    await check.verify(bearer(token()))
    assert keys.hits[CERTS] == 2


async def test_the_default_url_is_googles(keys: KeyServer) -> None:
    """Without jwks_url the keys come from Google's certs URL (its path, served here)."""
    seen: list[str] = []

    async def fetch(url: str) -> bytes:
        seen.append(url)
        return await keys.fetch(url)

    await PubSubOIDCVerifier(AUDIENCE, fetch=fetch).verify(bearer(token()))
    assert seen == [GOOGLE_JWKS_URL]


async def test_refusals_never_show_the_token(
    keys: KeyServer, library_logs: list[logging.LogRecord]
) -> None:
    """Neither the error (nor its cause) nor a log record holds the token or a part of it."""
    tokens = [
        token(aud="https://other.example.com/"),
        token(exp=int(time.time()) - 3600),
        token(key=2, kid="k1"),
        token(key=2, kid="unknown"),
        "garbage." + token().split(".", 1)[1],
    ]
    check = verifier(keys)
    for value in tokens:
        error = await refused(check, value)
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
        for part in [value, *value.split(".")]:
            assert part not in str(error)
            assert all(part not in record.getMessage() for record in library_logs)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"audience": 42}, "audience must be a non-empty str, got int"),
        ({"audience": ""}, "audience must be a non-empty str, got an empty str"),
        ({"issuers": "accounts.google.com"}, "issuers must be a non-empty list"),
        ({"issuers": [1]}, "got a list of int"),
        ({"jwks_url": "http://keys.example.com"}, "jwks_url must be an https:// URL"),
        ({"service_account_email": b"x"}, "service_account_email must be a non-empty str"),
        ({"fetch": "https://keys"}, "fetch must be an async function"),
        ({"cache_seconds": "60"}, "cache_seconds must be a finite number of seconds > 0, got str"),
        ({"cache_seconds": 0}, "seconds > 0, got 0; pass e.g. cache_seconds=3600.0"),
        ({"leeway_seconds": -1}, "leeway_seconds must be a finite number of seconds >= 0, got -1"),
        ({"min_refetch_seconds": None}, "got NoneType"),
    ],
)
def test_bad_arguments_fail_at_construction(options: dict[str, Any], words: str) -> None:
    """Each bad argument: ConfigurationError naming it, its type and an example fix."""
    arguments = {"audience": AUDIENCE, **options}
    with pytest.raises(ConfigurationError, match=r"pass e\.g\.|use https") as caught:
        PubSubOIDCVerifier(**arguments)
    assert words in str(caught.value)


def test_missing_pyjwt_says_how_to_install() -> None:
    """Without PyJWT, importing the module works; constructing the verifier names the extra."""
    code = (
        "import sys\nsys.modules['jwt'] = None\n"
        "from fastapi_events.ingress.oidc import PubSubOIDCVerifier\n"
        "try:\n    PubSubOIDCVerifier('https://a.example')\nexcept ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert run_python(code) == INGRESS_INSTALL_HINT
    assert "pip install 'fastapi-events[ingress]'" in INGRESS_INSTALL_HINT
