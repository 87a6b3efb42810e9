"""The ingress guarded by the Pub/Sub OIDC and SNS signature verifiers, end to end: a
request the verifier accepts reaches the handlers; one it refuses gets 401 and reaches
nothing. Keys and certificates are made here and served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from fastapi_events._event import Event
from fastapi_events.ingress import EventIngress, PubSubOIDCVerifier, SNSSignatureVerifier
from tests.ingress import test_oidc as oidc
from tests.ingress import test_sns_signature as sns
from tests.ingress.kit import Recorder, app_for, client
from tests.ingress.test_pubsub import push_envelope
from tests.ingress.verifier_kit import KeyServer, certificate_pem, jwks, key_server

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}


@pytest.fixture
def keys() -> Iterator[KeyServer]:
    """Google's JWKS and an SNS signing certificate, both for key 1."""
    with key_server() as server:
        server.bodies[oidc.CERTS] = jwks(1)
        server.bodies[sns.CERT_PATH] = certificate_pem(1)
        yield server


async def test_a_pubsub_push_with_a_valid_token_is_handled_and_a_forged_one_is_not(
    keys: KeyServer,
) -> None:
    """Same push body twice: with Google's token it is handled; with a token signed by
    another key it is refused (401) and no handler sees it."""
    recorder = Recorder()
    verifier = PubSubOIDCVerifier(oidc.AUDIENCE, service_account_email=oidc.EMAIL, fetch=keys.fetch)
    ingress = recorder.ingress(verifier=verifier, formats=["pubsub"])
    event = Event("order.paid", {"order": 1})
    body = json.dumps(push_envelope(event, None)).encode()
    async with client(app_for(ingress)) as http:
        forged = await http.post(
            "/events",
            content=body,
            headers={**JSON, "authorization": f"Bearer {oidc.token(key=2)}"},
        )
        assert (forged.status_code, recorder.events) == (401, [])
        good = await http.post(
            "/events", content=body, headers={**JSON, "authorization": f"Bearer {oidc.token()}"}
        )
    assert good.status_code == 200
    assert [(e.id, e.name, e.payload) for e in recorder.events] == [
        (event.id, "order.paid", {"order": 1})
    ]


async def test_a_signed_sns_notification_is_handled_and_a_tampered_one_is_not(
    keys: KeyServer,
) -> None:
    """A notification signed with the served certificate's key is handled; the same with
    its Message changed after signing is refused and handled by nothing."""
    recorder = Recorder()
    verifier = SNSSignatureVerifier(topic_arns=[sns.TOPIC], fetch=keys.fetch)
    ingress: EventIngress = recorder.ingress(verifier=verifier, formats=["sns"])
    signed = sns.sign(sns.message(Message='["order.paid", {"order": 2}]'))
    tampered = {**signed, "Message": '["order.paid", {"order": 3}]'}
    headers = {"x-amz-sns-message-type": "Notification", "content-type": "text/plain"}
    async with client(app_for(ingress)) as http:
        refused = await http.post("/events", content=json.dumps(tampered), headers=headers)
        assert (refused.status_code, recorder.events) == (401, [])
        accepted = await http.post("/events", content=json.dumps(signed), headers=headers)
    assert accepted.status_code == 200
    assert [(e.name, e.payload) for e in recorder.events] == [("order.paid", {"order": 2})]
    assert keys.hits[sns.CERT_PATH] == 1  # fetched once, for both requests
