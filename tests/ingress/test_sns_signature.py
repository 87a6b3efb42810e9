"""SNSSignatureVerifier: messages signed here, the certificate served over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from fastapi_events.errors import ConfigurationError, IngressUnauthorizedError
from fastapi_events.ingress.sns_signature import INGRESS_INSTALL_HINT, SNSSignatureVerifier
from tests.ingress.verifier_kit import (
    KeyServer,
    certificate_pem,
    key_server,
    request,
    rsa_key,
    run_python,
)

pytestmark = pytest.mark.anyio

CERT_PATH = "/SimpleNotificationService-0123456789abcdef.pem"
CERT_URL = f"https://sns.eu-west-1.amazonaws.com{CERT_PATH}"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:orders"
# The signed fields per type, in AWS's documented order (written out independently here).
NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


@pytest.fixture
def certs() -> Iterator[KeyServer]:
    """The local certificate server, serving key 1's certificate at CERT_PATH."""
    with key_server() as server:
        server.bodies[CERT_PATH] = certificate_pem(1)
        yield server


def message(kind: str = "Notification", **changes: Any) -> dict[str, Any]:
    base = {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC,
        "Message": '["order.paid", {"order": 1}]',
        "Timestamp": "2025-01-02T03:04:05.678Z",
    }
    if kind == "Notification":
        base["Subject"] = "orders"
    else:
        base["Token"] = "2336412f37fb687f5d51e6e2425" + uuid.uuid4().hex
        base["SubscribeURL"] = (
            f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}"
        )
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def sign(
    body: dict[str, Any], version: str = "1", key: int = 1, url: str = CERT_URL
) -> dict[str, Any]:
    fields = NOTIFICATION if body["Type"] == "Notification" else CONFIRMATION
    text = "".join(f"{name}\n{body[name]}\n" for name in fields if name in body)
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = rsa_key(key).sign(text.encode(), padding.PKCS1v15(), digest)
    return {
        **body,
        "SignatureVersion": version,
        "Signature": base64.b64encode(signature).decode(),
        "SigningCertURL": url,
    }


def posted(body: dict[str, Any] | bytes, **headers: str) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request({"content-type": "text/plain; charset=UTF-8", **headers}, raw)


def verifier(server: KeyServer, **options: Any) -> SNSSignatureVerifier:
    return SNSSignatureVerifier(fetch=server.fetch, **options)


async def refused(check: SNSSignatureVerifier, body: dict[str, Any] | bytes, **headers: str) -> str:
    with pytest.raises(IngressUnauthorizedError) as caught:
        await check.verify(posted(body, **headers))
    assert caught.value.status == 401
    return str(caught.value)


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize(
    "kind", ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
)
async def test_a_signed_message_passes(certs: KeyServer, kind: str, version: str) -> None:
    """Each message type, signed with SHA1withRSA (v1) or SHA256withRSA (v2), passes."""
    signed = sign(message(kind), version)
    await verifier(certs, topic_arns=[TOPIC]).verify(
        posted(signed, **{"x-amz-sns-message-type": kind})
    )
    assert certs.hits[CERT_PATH] == 1


async def test_a_notification_without_subject_passes(certs: KeyServer) -> None:
    """Subject is signed only when the message has one."""
    await verifier(certs).verify(posted(sign(message(Subject=None), "2")))


@pytest.mark.parametrize("field", ["Message", "MessageId", "Subject", "Timestamp", "TopicArn"])
@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_tampered_field_is_refused(certs: KeyServer, field: str, version: str) -> None:
    """Changing any signed field after signing breaks the signature."""
    signed = sign(message(), version)
    signed[field] += "x"
    assert "signature does not verify" in await refused(verifier(certs), signed)


async def test_a_tampered_confirmation_is_refused(certs: KeyServer) -> None:
    """The confirmation's SubscribeURL and Token are signed too."""
    for field in ("SubscribeURL", "Token"):
        signed = sign(message("SubscriptionConfirmation"))
        signed[field] = signed[field].replace("a", "b", 1) + "0"
        assert "signature does not verify" in await refused(verifier(certs), signed)


async def test_a_subject_added_after_signing_is_refused(certs: KeyServer) -> None:
    """A Subject the signer did not sign breaks the signature."""
    signed = {**sign(message(Subject=None)), "Subject": "added"}
    assert "signature does not verify" in await refused(verifier(certs), signed)


async def test_a_version_swapped_after_signing_is_refused(certs: KeyServer) -> None:
    """A v1 signature presented as v2 does not verify (the hash differs)."""
    signed = {**sign(message(), "1"), "SignatureVersion": "2"}
    assert "signature does not verify" in await refused(verifier(certs), signed)


async def test_a_signature_by_another_key_is_refused(certs: KeyServer) -> None:
    """A message signed with a key that is not the certificate's is refused."""
    assert "signature does not verify" in await refused(verifier(certs), sign(message(), key=2))


@pytest.mark.parametrize(
    "url",
    [
        f"http://sns.eu-west-1.amazonaws.com{CERT_PATH}",
        f"https://sns.eu-west-1.amazonaws.com.evil.example{CERT_PATH}",
        f"https://evil.example{CERT_PATH}",
        f"https://sns.eu-west-1.evil.example/amazonaws.com{CERT_PATH}",
        f"https://sns.eu-west-1.amazonaws.com:8443{CERT_PATH}",
        f"https://user@sns.eu-west-1.amazonaws.com{CERT_PATH}",
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService.txt",
        f"https://127.0.0.1{CERT_PATH}",
        f"https://sns.eu-west-1.amazonaws.com:99999{CERT_PATH}",
        f"//sns.eu-west-1.amazonaws.com{CERT_PATH}",
    ],
)
async def test_a_certificate_url_off_the_allow_list_is_never_fetched(
    certs: KeyServer, url: str
) -> None:
    """http://, another host, a port, credentials or a non-.pem path: refused, no fetch."""
    error = await refused(verifier(certs), sign(message(), url=url))
    assert "SigningCertURL" in error
    assert sum(certs.hits.values()) == 0


async def test_the_host_pattern_is_configurable(certs: KeyServer) -> None:
    """A custom cert_host_pattern allows its hosts, and only them."""
    check = verifier(certs, cert_host_pattern=r"sns\.example\.test")
    await check.verify(posted(sign(message(), url=f"https://sns.example.test{CERT_PATH}")))
    assert "SigningCertURL" in await refused(check, sign(message()))


async def test_a_topic_off_the_allow_list_is_refused_without_a_fetch(certs: KeyServer) -> None:
    """topic_arns limits the topics accepted; others are refused before any fetch."""
    other = sign(message(TopicArn="arn:aws:sns:eu-west-1:123456789012:other"))
    error = await refused(verifier(certs, topic_arns=[TOPIC]), other)
    assert "TopicArn is not one this endpoint accepts" in error
    assert sum(certs.hits.values()) == 0


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (b"not json", {}, "not an SNS message"),
        (b"[1, 2]", {}, "not an SNS message"),
        ({"Type": "Gossip"}, {}, "Type is not one SNS signs"),
        ({"Type": ["Notification"]}, {}, "Type is not one SNS signs"),
        ({"Type": "Notification"}, {}, "field Message is missing"),
        (
            {"Type": "Notification"},
            {"x-amz-sns-message-type": "SubscriptionConfirmation"},
            "header does not match",
        ),
    ],
)
async def test_a_body_that_is_no_sns_message_is_refused(
    certs: KeyServer, body: Any, headers: dict[str, str], reason: str
) -> None:
    """Not JSON, an unknown Type, a missing field, a mismatched header: 401, no fetch."""
    assert reason in await refused(verifier(certs), body, **headers)
    assert sum(certs.hits.values()) == 0


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"SignatureVersion": "3"}, "SignatureVersion is not one of the supported"),
        ({"SignatureVersion": 1}, "field SignatureVersion is missing or not a string"),
        ({"Signature": "not base64!"}, "Signature is not base64"),
        ({"MessageId": 7}, "field MessageId is missing or not a string"),
    ],
)
async def test_a_bad_signature_field_is_refused(
    certs: KeyServer, changes: dict[str, Any], reason: str
) -> None:
    """An unknown SignatureVersion or a malformed field is refused before any fetch."""
    assert reason in await refused(verifier(certs), {**sign(message()), **changes})
    assert sum(certs.hits.values()) == 0


async def test_the_certificate_is_fetched_once(certs: KeyServer) -> None:
    """Concurrent messages share one fetch; later ones use the cache."""
    check = verifier(certs)
    await asyncio.gather(*(check.verify(posted(sign(message()))) for _ in range(10)))
    for _ in range(10):
        await check.verify(posted(sign(message(), "2")))
    assert certs.hits[CERT_PATH] == 1


async def test_the_cache_drops_the_least_recently_used_certificate(certs: KeyServer) -> None:
    """With cache_size=1, alternating between two certificates fetches each time."""
    other_path = "/SimpleNotificationService-fedcba9876543210.pem"
    certs.bodies[other_path] = certificate_pem(2)
    other_url = f"https://sns.eu-west-1.amazonaws.com{other_path}"
    check = verifier(certs, cache_size=1)
    for url, key in ((CERT_URL, 1), (other_url, 2), (CERT_URL, 1)):
        await check.verify(posted(sign(message(), key=key, url=url)))
    assert (certs.hits[CERT_PATH], certs.hits[other_path]) == (2, 1)


async def test_an_unavailable_certificate_answers_503(
    certs: KeyServer, library_logs: list[logging.LogRecord]
) -> None:
    """A certificate that cannot be fetched (404): 503, so SNS retries; logged."""
    del certs.bodies[CERT_PATH]
    with pytest.raises(IngressUnauthorizedError) as caught:
        await verifier(certs).verify(posted(sign(message())))
    assert caught.value.status == 503
    assert any(
        "could not fetch the SNS signing certificate" in r.getMessage() for r in library_logs
    )


@pytest.mark.parametrize(
    ("pem", "reason"),
    [
        (b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", "not a PEM X.509"),
        (None, "outside its validity period"),
    ],
)
async def test_a_bad_certificate_is_refused(
    certs: KeyServer, pem: bytes | None, reason: str
) -> None:
    """Garbage or an expired certificate at the URL: refused."""
    certs.bodies[CERT_PATH] = pem or certificate_pem(1, days=(-30, -1))
    assert reason in await refused(verifier(certs), sign(message()))


async def test_refusals_never_show_the_signature_or_the_payload(
    certs: KeyServer, library_logs: list[logging.LogRecord]
) -> None:
    """Errors and log records name the failed check, never a field's value."""
    secret = f"card-{uuid.uuid4().hex}"
    check = verifier(certs, topic_arns=[TOPIC])
    del certs.bodies[CERT_PATH]  # the 503 path logs
    bodies = [
        {**sign(message(Message=secret)), "Message": secret + "x"},
        sign(message(Message=secret, TopicArn=f"arn:aws:sns:eu-west-1:1:{secret}")),
        {**sign(message(Message=secret)), "SignatureVersion": secret},
        sign(message(Message=secret)),
    ]
    for body in bodies:
        with pytest.raises(IngressUnauthorizedError) as caught:
            await check.verify(posted(body))
        for value in (secret, body["Signature"], body["Signature"][:24]):
            assert value not in str(caught.value)
            assert all(value not in record.getMessage() for record in library_logs)
    assert library_logs  # the 503 was logged, without them


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"topic_arns": TOPIC}, "topic_arns must be a non-empty list of non-empty str, got str"),
        ({"topic_arns": [1]}, "got a list of int"),
        ({"topic_arns": []}, "got an empty list"),
        ({"cert_host_pattern": 42}, "cert_host_pattern must be a regular expression, got int"),
        ({"cert_host_pattern": "("}, "cert_host_pattern is not a valid regular expression"),
        ({"fetch": 3}, "fetch must be an async function"),
        ({"cache_size": 0}, "cache_size must be an int >= 1, got 0; pass e.g. cache_size=32"),
        ({"cache_size": "32"}, "cache_size must be an int >= 1, got str; pass e.g. cache_size=32"),
    ],
)
def test_bad_arguments_fail_at_construction(options: dict[str, Any], words: str) -> None:
    """Each bad argument: ConfigurationError naming it, its type and an example fix."""
    with pytest.raises(ConfigurationError, match=r"pass e\.g\.|leave it out") as caught:
        SNSSignatureVerifier(**options)
    assert words in str(caught.value)


def test_missing_cryptography_says_how_to_install() -> None:
    """Without cryptography, importing the module works; constructing the verifier names the
    extra."""
    code = (
        "import sys\nsys.modules['cryptography'] = None\n"
        "from fastapi_events.ingress.sns_signature import SNSSignatureVerifier\n"
        "try:\n    SNSSignatureVerifier()\nexcept ImportError as exc:\n    print(exc)\n"
    )
    assert run_python(code) == INGRESS_INSTALL_HINT
