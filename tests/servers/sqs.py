"""SQS fixtures: moto's server on 127.0.0.1, a fresh queue per test, and a faulty proxy.

The proxy sits between boto3 and moto and records every request (its SQS action and
entry count). It can answer chosen sends with an HTTP error or reject them whole with an
SQS error code, deny an action, hold a request until the test releases it, or turn
chosen batch entries into ``Failed[]`` items of a 200 response, as SQS does under
partial failure.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

__all__ = ["FaultyProxy", "SQSQueue", "moto_endpoint", "sqs_proxy", "sqs_queue"]

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto server on 127.0.0.1 (one per test session)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class SQSQueue:
    """A queue on the moto server, with a client to read it back."""

    url: str
    endpoint: str
    client: Any

    def receive_all(self, expected: int, *, attempts: int = 20) -> list[dict[str, Any]]:
        """Receive (and delete) messages until ``expected`` arrived or the queue is dry."""
        messages: list[dict[str, Any]] = []
        for _ in range(attempts):
            if len(messages) >= expected:
                break
            batch = self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if batch:
                self.client.delete_message_batch(
                    QueueUrl=self.url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(batch)
                    ],
                )
            messages.extend(batch)
        return messages


@pytest.fixture
def sqs_queue(moto_endpoint: str) -> Callable[..., SQSQueue]:
    """Create a fresh queue: ``sqs_queue(fifo=False, **attributes)``."""
    client = boto3.client("sqs", region_name=REGION, endpoint_url=moto_endpoint)

    def create(*, fifo: bool = False, **attributes: str) -> SQSQueue:
        name = f"q-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        if fifo:
            attributes["FifoQueue"] = "true"
        url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return SQSQueue(url, moto_endpoint, client)

    return create


@dataclass
class FaultyProxy:
    """What the proxy saw and what it is told to do, shared with its server thread."""

    upstream: str
    url: str = ""
    #: (action, number of entries) per request received, in order.
    requests: list[tuple[str, int]] = field(default_factory=list)
    #: HTTP statuses to answer instead of forwarding, consumed one per SendMessageBatch.
    statuses: list[int] = field(default_factory=list)
    #: SQS error codes to reject SendMessageBatch calls with (400), consumed one per call.
    batch_errors: list[str] = field(default_factory=list)
    #: Actions answered with 403 AccessDenied (a missing IAM permission).
    deny: set[str] = field(default_factory=set)
    #: For each SendMessageBatch, the entry positions to fail (consumed one list per call)
    #: with ``SenderFault`` as given.
    fail_entries: list[tuple[list[int], bool]] = field(default_factory=list)
    #: Set by the test to let a held request through; ``hold`` arms it.
    hold: bool = False
    #: Read SendMessageBatch requests and never answer them (until released, then drop the
    #: connection): an endpoint that hangs, for crash tests.
    black_hole: bool = False
    released: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sends(self) -> list[int]:
        """The entry count of every SendMessageBatch request, in order."""
        return [n for action, n in self.requests if action == "SendMessageBatch"]


def _handler_for(proxy: FaultyProxy) -> type[BaseHTTPRequestHandler]:
    host, port = proxy.upstream.removeprefix("http://").split(":")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            action = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
            request = json.loads(body or b"{}")
            sends = action == "SendMessageBatch"
            with proxy.lock:
                proxy.requests.append((action, len(request.get("Entries", []))))
                status = proxy.statuses.pop(0) if sends and proxy.statuses else None
                rejection = proxy.batch_errors.pop(0) if sends and proxy.batch_errors else None
                failing = proxy.fail_entries.pop(0) if sends and proxy.fail_entries else None
            if sends and proxy.black_hole:
                proxy.held.set()
                proxy.released.wait(60)
                self.close_connection = True
                return None
            if proxy.hold:
                proxy.held.set()
                proxy.released.wait(30)
            if status is not None:
                return self._answer(status, {"__type": "ServiceUnavailable", "message": "injected"})
            if action in proxy.deny:
                return self._error(403, "AccessDenied")
            if rejection is not None:
                return self._error(400, rejection)
            if failing is None:
                return self._forward(body)
            positions, sender_fault = failing
            entries = request["Entries"]
            failed = [entries[i] for i in positions]
            request["Entries"] = [e for i, e in enumerate(entries) if i not in positions]
            status, reply = 200, {"Successful": []}
            if request["Entries"]:
                status, reply = self._forward(json.dumps(request).encode(), answer=False)
            reply.setdefault("Failed", []).extend(
                {
                    "Id": e["Id"],
                    "SenderFault": sender_fault,
                    "Code": "InjectedFault",
                    "Message": "injected",
                }
                for e in failed
            )
            return self._answer(status, reply)

        def _forward(self, body: bytes, *, answer: bool = True) -> Any:
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
            }
            connection.request("POST", self.path, body, headers)
            response = connection.getresponse()
            data = response.read()
            connection.close()
            if not answer:
                return response.status, json.loads(data or b"{}")
            self._send(response.status, data)
            return None

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            self._send(status, json.dumps(payload).encode())

        def _error(self, status: int, code: str) -> None:
            """An error as SQS's JSON protocol sends it: the shape in the body, the legacy
            query code (``AWS.SimpleQueueService.X``) in a header botocore reads."""
            body = {"__type": f"com.amazonaws.sqs#{code.rpartition('.')[2]}", "message": "injected"}
            self._send(status, json.dumps(body).encode(), {"x-amzn-query-error": f"{code};Sender"})

        def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def sqs_proxy(moto_endpoint: str) -> Iterator[FaultyProxy]:
    """A recording, fault-injecting HTTP proxy on 127.0.0.1 in front of moto."""
    proxy = FaultyProxy(moto_endpoint)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(proxy))
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.released.set()
    server.shutdown()
    server.server_close()
