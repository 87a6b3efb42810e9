"""SNS signing certificates: fetched once per URL, kept in a small LRU cache.

.. versionadded:: 1.0
"""

from __future__ import annotations

import asyncio
import datetime
from collections import OrderedDict
from types import ModuleType
from typing import Any

from ..errors import IngressUnauthorizedError
from ._fetching import Fetch, fetch_or_refuse

__all__ = ["CertificateCache"]


class CertificateCache:
    """The RSA public keys of up to ``size`` signing certificates, by URL.

    Concurrent requests for an uncached URL share one fetch; a certificate that is not
    PEM, not RSA, or outside its validity period is refused and not kept.
    """

    def __init__(self, fetch: Fetch, x509: ModuleType, size: int) -> None:
        self._fetch, self._x509, self._size = fetch, x509, size
        self._entries: OrderedDict[str, tuple[Any, datetime.datetime]] = OrderedDict()
        self._lock: asyncio.Lock | None = None

    async def key(self, url: str) -> Any:
        """The public key of the certificate at ``url`` (fetched if not cached)."""
        entry = self._entries.get(url)
        if entry is None:
            entry = await self._load(url)
        else:
            self._entries.move_to_end(url)
        key, not_after = entry
        if _now() > not_after:
            self._entries.pop(url, None)
            raise IngressUnauthorizedError("the SNS signing certificate has expired")
        return key

    async def _load(self, url: str) -> tuple[Any, datetime.datetime]:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            entry = self._entries.get(url)  # fetched while this request waited
            if entry is None:
                body = await fetch_or_refuse(self._fetch, url, "SNS signing certificate")
                entry = self._entries[url] = self._parse(body)
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
            return entry

    def _parse(self, pem: bytes) -> tuple[Any, datetime.datetime]:
        from cryptography.hazmat.primitives.asymmetric import rsa

        try:
            certificate = self._x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise IngressUnauthorizedError(
                "the SNS signing certificate is not a PEM X.509 certificate"
            ) from None
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise IngressUnauthorizedError("the SNS signing certificate's key is not RSA")
        not_before, not_after = _validity(certificate)
        if not not_before <= _now() <= not_after:
            raise IngressUnauthorizedError(
                "the SNS signing certificate is outside its validity period"
            )
        return key, not_after


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _validity(certificate: Any) -> tuple[datetime.datetime, datetime.datetime]:
    """The validity period, timezone-aware (``*_utc`` since cryptography 42)."""
    if hasattr(certificate, "not_valid_after_utc"):
        return certificate.not_valid_before_utc, certificate.not_valid_after_utc
    utc = datetime.timezone.utc
    return (
        certificate.not_valid_before.replace(tzinfo=utc),
        certificate.not_valid_after.replace(tzinfo=utc),
    )
