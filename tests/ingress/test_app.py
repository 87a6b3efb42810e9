"""EventIngress: construction (nobody gets in unauthenticated by omission), outcomes per
event (handled, or reported once and answered 5xx), de-duplication, lifecycle, uvicorn."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest

from fastapi_events._event import Event
from fastapi_events.dispatcher import dispatch
from fastapi_events.errors import ConfigurationError, EventsCancelledError
from fastapi_events.handlers.local import LocalHandler
from fastapi_events.ingress import ALLOW_UNAUTHENTICATED, EventIngress, IngressRequest
from fastapi_events.testing import RecordingHandler
from tests.accounting import Ledger
from tests.ingress.kit import Recorder, app_for, client, dumps, post, structured, verifier
from tests.servers.uvicorn import serve_in_thread

pytestmark = pytest.mark.anyio

CE = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}


def test_no_verifier_is_a_configuration_error_naming_the_fix() -> None:
    """Omitting verifier= is refused; the message names the verifiers and the opt-out."""
    with pytest.raises(ConfigurationError) as raised:
        EventIngress(handlers=[LocalHandler()])
    message = str(raised.value)
    for fix in ("HMACVerifier", "PubSubOIDCVerifier", "SNSSignatureVerifier"):
        assert fix in message
    assert "verifier=ALLOW_UNAUTHENTICATED" in message


def test_the_opt_out_logs_one_warning_at_construction(
    library_logs: list[logging.LogRecord],
) -> None:
    """verifier=ALLOW_UNAUTHENTICATED works, visibly: one WARNING when built."""
    EventIngress(handlers=[LocalHandler()], verifier=ALLOW_UNAUTHENTICATED)
    [record] = library_logs
    assert record.levelname == "WARNING"
    assert "ALLOW_UNAUTHENTICATED" in record.getMessage()


BAD_OPTIONS: list[tuple[dict[str, Any], str]] = [
    ({"verifier": "secret"}, "verifier must have an async verify"),
    ({"formats": "cloudevents"}, "formats must be a list"),
    ({"formats": ["kafka"]}, "formats must name some of"),
    ({"max_body_bytes": 0}, "max_body_bytes must be an int >= 1"),
    ({"on_error": "log"}, "on_error must be callable"),
    ({"on_sns_subscription": 1}, "on_sns_subscription must be callable"),
    ({"payload_schema_registry": {}}, "payload_schema_registry must be"),
    ({"deduplicate": "yes"}, "deduplicate must be"),
    ({"handlers": []}, "needs handlers"),
    ({"handlers": [print]}, "BaseEventHandler"),
]


@pytest.mark.parametrize(("options", "expected"), BAD_OPTIONS)
def test_bad_options_are_refused_at_construction(options: dict[str, Any], expected: str) -> None:
    """Each wrong option: ConfigurationError naming it."""
    arguments = {"handlers": [LocalHandler()], "verifier": verifier(), **options}
    with pytest.raises(ConfigurationError, match=expected):
        EventIngress(**arguments)


async def test_a_handler_failure_is_a_500_and_one_report() -> None:
    """A handler raising: 500 naming the event id, on_error once, nothing handled twice."""
    recorder = Recorder(failing=lambda event: True)
    ingress = recorder.ingress()
    async with client(app_for(ingress)) as http:
        response = await post(http, dumps(structured("e-1", "x", {})), CE, sign=ingress.verifier)
    assert response.status_code == 500
    assert response.json()["failed"] == ["e-1"]
    assert [(i, exc) for i, _, exc in recorder.ledger.reported] == [("e-1", RuntimeError)]
    recorder.ledger.assert_exact(1)
    assert ingress.stats.failed == 1


async def test_deduplicate_skips_what_a_failed_batch_already_handled() -> None:
    """deduplicate=True: the retry of a batch that failed half-way handles only the rest."""
    attempts: dict[str, int] = {}

    def first_attempt_fails(event: Event) -> bool:
        attempts[event.id] = attempts.get(event.id, 0) + 1
        return event.id == "b" and attempts["b"] == 1

    recorder = Recorder(failing=first_attempt_fails)
    ingress = recorder.ingress(deduplicate=True)
    body = dumps([structured("a", "x", {}), structured("b", "x", {})])
    async with client(app_for(ingress)) as http:
        first = await post(http, body, BATCH, sign=ingress.verifier)
        second = await post(http, body, BATCH, sign=ingress.verifier)
    assert (first.status_code, second.status_code) == (500, 200)
    assert second.json() == {"events": 2, "duplicates": 1}
    assert recorder.ledger.handled == ["a", "b"]
    assert attempts == {"a": 1, "b": 2}


async def test_a_duplicate_in_flight_is_a_503() -> None:
    """With deduplicate, the same event id arriving while it is handled: 503, retried later."""
    gate = asyncio.Event()
    handler = LocalHandler()
    taken: list[str] = []

    @handler.register
    async def slow(event: Event) -> None:
        await gate.wait()
        taken.append(event.id)

    ingress = EventIngress(handlers=[handler], verifier=verifier(), deduplicate=True)
    body = dumps(structured("same", "x", {}))
    async with client(app_for(ingress)) as http:
        first = asyncio.ensure_future(post(http, body, CE, sign=ingress.verifier))
        for _ in range(100):  # until the first request's handler is waiting
            await asyncio.sleep(0)
        again = verifier_of(ingress).sign(body, timestamp=int(time.time()) - 1)  # no replay
        second = await http.post("/events", content=body, headers={**CE, **again})
        gate.set()
        assert (await first).status_code == 200
    assert second.status_code == 503
    assert taken == ["same"]


async def test_a_cancelled_request_reports_its_event_once() -> None:
    """The request task cancelled while a handler runs: the event is reported
    (EventsCancelledError), never lost silently."""
    ledger = Ledger()
    started = asyncio.Event()
    handler = LocalHandler()

    @handler.register
    async def forever(event: Event) -> None:
        started.set()
        await asyncio.Event().wait()

    ingress = EventIngress(
        handlers=[handler], verifier=ALLOW_UNAUTHENTICATED, on_error=ledger.on_error
    )
    body = dumps(structured("c-1", "x", {}))
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Any:
        return messages.pop(0)

    async def send(message: Any) -> None:
        pass

    headers = [(b"content-type", CE["content-type"].encode())]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    task = asyncio.ensure_future(ingress(scope, receive, send))
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ledger.reported == [("c-1", None, EventsCancelledError)]
    ledger.assert_exact(1)


class Broken:
    """A verifier that fails for its own reasons (a key server down)."""

    async def verify(self, request: IngressRequest) -> None:
        raise OSError("key server unreachable")


async def test_a_verifier_that_breaks_is_a_503(library_logs: list[logging.LogRecord]) -> None:
    """Not a refusal: 503 (the sender retries), logged with the exception's type."""
    recorder = Recorder()
    ingress = recorder.ingress(verifier=Broken())
    async with client(app_for(ingress)) as http:
        response = await post(http, dumps(structured("1", "x", {})), CE)
    assert response.status_code == 503
    assert recorder.events == []
    assert any("OSError" in r.getMessage() for r in library_logs)


async def test_events_handlers_dispatch_are_handled_before_stop_returns() -> None:
    """A handler chaining dispatch(): the follow-up is handled in the background, and
    stop() waits for it."""
    recorder = RecordingHandler()
    handler = LocalHandler()

    @handler.register(event_name="order.placed")
    async def chain(event: Event) -> None:
        dispatch("order.followed_up", {"of": event.id})

    ingress = EventIngress(handlers=[handler, recorder], verifier=ALLOW_UNAUTHENTICATED)
    async with client(app_for(ingress)) as http:
        response = await http.post(
            "/events", content=dumps(structured("o-1", "order.placed", {})), headers=CE
        )
    assert response.status_code == 200
    await ingress.stop()
    assert [e.key for e in recorder.events] == ["order.placed", "order.followed_up"]
    assert recorder.closed


def verifier_of(ingress: EventIngress) -> Any:
    return ingress.verifier


def test_under_uvicorn_with_the_lifespan() -> None:
    """A real server: the lifespan starts the handlers, a signed request is handled, the
    shutdown closes them."""
    recorder = RecordingHandler()
    ingress = EventIngress(handlers=[recorder], verifier=verifier())
    body = dumps(structured("u-1", "order.placed", {"order": 1}))
    with serve_in_thread(app_for(ingress, "starlette")) as url:
        signed = verifier_of(ingress).sign(body)
        response = httpx.post(f"{url}/events", content=body, headers={**CE, **signed}, timeout=10)
        too_big = httpx.post(f"{url}/events", content=b"x" * (2 << 20), headers=CE, timeout=10)
        assert not recorder.closed
    assert response.status_code == 200, response.text
    assert too_big.status_code == 413
    assert [e.id for e in recorder.events] == ["u-1"]
    assert recorder.closed
