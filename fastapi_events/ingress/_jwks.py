"""An issuer's RS256 public keys by key id, fetched from its JWKS URL and cached.

One fetch serves every request: concurrent requests wait for the same fetch, the set is
refetched when older than ``cache_seconds``, and once more when a token names a key id
the set lacks (a key rotation), but never twice within ``min_refetch_seconds``, so a
flood of made-up key ids cannot hammer the JWKS URL.

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..errors import IngressUnauthorizedError
from ._fetching import Fetch, fetch_or_refuse

__all__ = ["KeySet", "parse_jwks"]

logger = logging.getLogger(__name__)


def parse_jwks(body: bytes, jwt: ModuleType) -> dict[str, Any]:
    """The RSA signing keys of a JWKS document by ``kid``; other keys are skipped.

    Raises ``ValueError`` if ``body`` is not a JWKS document.
    """
    document = json.loads(body)
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise ValueError("the document is not a JWKS (no 'keys' list)")
    found: dict[str, Any] = {}
    for jwk in keys:
        if _usable(jwk):
            try:
                key = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
            except Exception:  # one malformed key must not hide the others
                logger.debug("skipped a malformed RSA key in the JWKS")
                continue
            private = hasattr(key, "private_numbers")  # a JWK may carry the private half
            found[jwk["kid"]] = key.public_key() if private else key
    return found


def _usable(jwk: object) -> bool:
    return (
        isinstance(jwk, dict)
        and jwk.get("kty") == "RSA"
        and isinstance(jwk.get("kid"), str)
        and jwk.get("alg", "RS256") == "RS256"
        and jwk.get("use", "sig") == "sig"
    )


class KeySet:
    """The keys of one JWKS URL, fetched when needed (see the module's docstring)."""

    def __init__(
        self,
        url: str,
        fetch: Fetch,
        jwt: ModuleType,
        *,
        cache_seconds: float,
        min_refetch_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url, self._fetch, self._jwt, self._clock = url, fetch, jwt, clock
        self._cache_seconds = cache_seconds
        self._min_refetch_seconds = min_refetch_seconds
        self._keys: dict[str, Any] = {}
        self._fetched_at = self._attempted_at = -math.inf
        self._failed = False
        self._attempts = 0  # fetches ended, failed or not
        self._lock: asyncio.Lock | None = None

    async def key(self, kid: str) -> Any:
        """The public key ``kid`` names; refuse (401) an unknown one, or (503) when the
        key set could not be fetched."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        seen = self._attempts
        if self._lock.locked() or self._due(kid):  # join a fetch in flight, or start one
            await self._refresh(self._lock, seen)
        key = self._keys.get(kid)
        if key is not None:
            return key
        if not self._keys and self._failed:
            raise IngressUnauthorizedError(
                "the issuer's key set (JWKS) is unavailable, so the token cannot be verified "
                "now; the sender should retry",
                status=503,
            )
        raise IngressUnauthorizedError("the token's key id (kid) is not in the issuer's key set")

    def _due(self, kid: str) -> bool:
        now = self._clock()
        if now - self._attempted_at < self._min_refetch_seconds:
            return False
        return kid not in self._keys or now - self._fetched_at >= self._cache_seconds

    async def _refresh(self, lock: asyncio.Lock, seen: int) -> None:
        async with lock:
            if self._attempts != seen:  # a fetch ended while this request waited: use it
                return
            self._attempted_at = self._clock()
            try:
                body = await fetch_or_refuse(self._fetch, self._url, "key set (JWKS)")
                keys = _parse_logged(body, self._jwt, self._url)
            except IngressUnauthorizedError:
                self._failed = True
                if not self._keys:
                    raise
                return  # keep verifying with the keys we have
            finally:
                self._attempts += 1
            self._keys, self._fetched_at, self._failed = keys, self._attempted_at, False


def _parse_logged(body: bytes, jwt: ModuleType, url: str) -> dict[str, Any]:
    try:
        keys = parse_jwks(body, jwt)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        logger.warning("the key set fetched from %r is not a JWKS: %s", url[:200], exc)
        raise IngressUnauthorizedError(
            "the issuer's key set (JWKS) is not a valid JWKS document, so the token cannot "
            "be verified now",
            status=503,
        ) from None
    logger.debug("fetched %d RSA key(s) from %r", len(keys), url[:200])
    return keys
