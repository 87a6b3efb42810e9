"""Verify Amazon SNS HTTP(S) messages by their signature.

SNS signs every message it posts to an HTTP endpoint (``Notification``,
``SubscriptionConfirmation``, ``UnsubscribeConfirmation``) with the key of a certificate
it publishes at ``SigningCertURL``: SHA1withRSA for ``SignatureVersion`` 1,
SHA256withRSA for 2, over the string AWS documents for each message type.

.. versionadded:: 1.0
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .._checks import check_count, check_texts
from ..errors import ConfigurationError, IngressUnauthorizedError
from ._crypto import INGRESS_INSTALL_HINT, import_cryptography
from ._fetching import Fetch, https_fetcher
from ._request import IngressRequest
from ._sns_certs import CertificateCache
from ._verifier_checks import check_fetch

__all__ = [
    "DEFAULT_CERT_HOST_PATTERN",
    "INGRESS_INSTALL_HINT",
    "SIGNED_FIELDS",
    "Fetch",
    "SNSSignatureVerifier",
    "string_to_sign",
]

#: Hosts SNS serves its signing certificates from (every region, and China's).
DEFAULT_CERT_HOST_PATTERN = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"
_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
#: The fields signed for each message ``Type``, in the documented order.
SIGNED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION,
    "UnsubscribeConfirmation": _CONFIRMATION,
}
_OPTIONAL = frozenset({"Subject"})
_ENVELOPE = ("Signature", "SignatureVersion", "SigningCertURL")


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The bytes SNS signs: ``name\\nvalue\\n`` for each signed field of the message's
    type, in the documented order (``Subject`` only when present).

    Raises:
        KeyError: the message lacks ``Type``, its type is unknown, or a signed field is
            missing (:class:`SNSSignatureVerifier` checks all three first).
    """
    lines: list[str] = []
    for name in SIGNED_FIELDS[message["Type"]]:
        if name in _OPTIONAL and message.get(name) is None:
            continue
        lines += [name, message[name]]
    return ("\n".join(lines) + "\n").encode()


class SNSSignatureVerifier:
    """Accept a request only if its body is an SNS message SNS signed.

    Checks, in order: the body is an SNS message of a known ``Type`` (matching the
    ``x-amz-sns-message-type`` header when sent) with every signed field a string;
    ``SignatureVersion`` is 1 or 2; the ``TopicArn`` is allowed; ``SigningCertURL`` is an
    https URL of a ``.pem`` file on a host matching ``cert_host_pattern`` (all before
    anything is fetched); then the signature, with the certificate's key. A refusal is an
    :class:`~fastapi_events.errors.IngressUnauthorizedError` (401) naming the check that
    failed, never a field's value; when the certificate cannot be fetched it has status
    503 (SNS retries).

    Args:
        topic_arns: when given, only messages from these topics are accepted.
        cert_host_pattern: a regular expression the whole certificate host must match.
        fetch: ``async (url) -> bytes`` to get a certificate; by default a
            standard-library HTTPS GET in a thread (no redirects, 10 s timeout, 256 KiB
            cap).
        cache_size: certificates kept (least recently used ones are dropped).

    Raises:
        ConfigurationError: an argument of the wrong type or out of range.
        ImportError: the ``ingress`` extra is missing.

    Example::

        verifier = SNSSignatureVerifier(
            topic_arns=["arn:aws:sns:eu-west-1:123456789012:orders"],
        )

    .. versionadded:: 1.0
    """

    def __init__(
        self,
        *,
        topic_arns: Iterable[str] | None = None,
        cert_host_pattern: str | re.Pattern[str] = DEFAULT_CERT_HOST_PATTERN,
        fetch: Fetch | None = None,
        cache_size: int = 32,
    ) -> None:
        example = "['arn:aws:sns:eu-west-1:123456789012:orders']"
        self._topics = (
            None
            if topic_arns is None
            else frozenset(check_texts("topic_arns", topic_arns, example=example))
        )
        self._host = _compile_host_pattern(cert_host_pattern)
        check_fetch(fetch)
        x509 = import_cryptography()
        self._certificates = CertificateCache(
            fetch or https_fetcher(), x509, check_count("cache_size", cache_size, example="32")
        )

    async def verify(self, request: IngressRequest) -> None:
        """Return if ``request`` is a message SNS signed; raise ``IngressUnauthorizedError``
        if not."""
        message = _message(request)
        version = message["SignatureVersion"]
        if version not in ("1", "2"):
            raise _refuse("SignatureVersion is not one of the supported versions (1 and 2)")
        if self._topics is not None and message["TopicArn"] not in self._topics:
            raise _refuse("the TopicArn is not one this endpoint accepts")
        url = message["SigningCertURL"]
        self._check_cert_url(url)
        signature = _signature(message["Signature"])
        key = await self._certificates.key(url)
        _check_signature(key, signature, string_to_sign(message), version)

    def _check_cert_url(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise _refuse("SigningCertURL is not a URL") from None
        if (
            parts.scheme != "https"
            or parts.username is not None
            or port not in (None, 443)
            or not self._host.fullmatch(parts.hostname or "")
            or not parts.path.endswith(".pem")
        ):
            raise _refuse(
                "SigningCertURL is not an https URL of a .pem file on an allowed SNS host"
            )


def _compile_host_pattern(pattern: Any) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern) and isinstance(pattern.pattern, str):
        return pattern
    fix = f"pass e.g. cert_host_pattern={DEFAULT_CERT_HOST_PATTERN!r}"
    if not isinstance(pattern, str) or not pattern:
        got = "an empty str" if pattern == "" else type(pattern).__name__
        raise ConfigurationError(
            f"cert_host_pattern must be a regular expression, got {got}; {fix}"
        )
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigurationError(
            f"cert_host_pattern is not a valid regular expression ({exc.msg}); {fix}"
        ) from None


def _message(request: IngressRequest) -> dict[str, Any]:
    try:
        message = json.loads(request.body)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        raise _refuse("the body is not an SNS message (a JSON object)")
    kind = message.get("Type")
    if not isinstance(kind, str) or kind not in SIGNED_FIELDS:
        raise _refuse("the message Type is not one SNS signs")
    header = request.header("x-amz-sns-message-type")
    if header is not None and header != kind:
        raise _refuse("the x-amz-sns-message-type header does not match the message Type")
    for name in (*SIGNED_FIELDS[kind], *_ENVELOPE):
        value = message.get(name)
        if not isinstance(value, str) and not (name in _OPTIONAL and value is None):
            raise _refuse(f"the field {name} is missing or not a string")
    return message


def _signature(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse("the Signature is not base64") from None


def _check_signature(key: Any, signature: bytes, data: bytes, version: str) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    # SHA1 only because SignatureVersion 1 is defined with it (SNS still sends it by default).
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    try:
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise _refuse("the signature does not verify") from None


def _refuse(reason: str) -> IngressUnauthorizedError:
    return IngressUnauthorizedError(f"SNS message refused: {reason}")
