"""SNS fixtures: topics on moto's server (127.0.0.1) read back through a subscribed SQS
queue, a moto server of a test's own to stop and start, and a fault-injecting proxy.

The proxy sits between boto3 and moto (SNS speaks the query protocol: a form body, an XML
answer) and records every request (its action and entry count). It can answer chosen
PublishBatch calls with an HTTP error, or turn chosen entries into ``Failed[]`` items of a
200 answer, as SNS does under partial failure.
"""

from __future__ import annotations

import http.client
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.servers.redis_server import free_port
from tests.servers.sqs import REGION, SQSQueue

__all__ = ["MotoProcess", "SNSProxy", "SNSTopic", "sns_proxy", "sns_topic"]

_MEMBER = "PublishBatchRequestEntries.member."
_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
_EMPTY_RESULT = (
    f'<PublishBatchResponse xmlns="{_XMLNS}"><PublishBatchResult><Successful/><Failed/>'
    f"</PublishBatchResult><ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata>"
    f"</PublishBatchResponse>"
)
_ERROR = (
    f'<ErrorResponse xmlns="{_XMLNS}"><Error><Type>Receiver</Type>'
    f"<Code>ServiceUnavailable</Code><Message>injected</Message></Error></ErrorResponse>"
)


@dataclass
class SNSTopic:
    """A topic on the moto server and the queue subscribed to it."""

    arn: str
    queue: SQSQueue
    client: Any

    @property
    def endpoint(self) -> str:
        """The moto server's URL."""
        return self.queue.endpoint


@pytest.fixture
def sns_topic(moto_endpoint: str) -> Iterator[Callable[..., SNSTopic]]:
    """``make(fifo=False, raw=True)``: a fresh topic and a queue subscribed to it (with
    ``RawMessageDelivery`` unless ``raw=False``); both are deleted after the test."""
    sns = boto3.client("sns", region_name=REGION, endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_endpoint)
    made: list[SNSTopic] = []

    def make(*, fifo: bool = False, raw: bool = True) -> SNSTopic:
        name = f"t-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        kind = {"FifoTopic": "true"} if fifo else {}
        arn = sns.create_topic(Name=name, Attributes=kind)["TopicArn"]
        queue_attributes = {"FifoQueue": "true"} if fifo else {}
        url = sqs.create_queue(QueueName=name, Attributes=queue_attributes)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        sns.subscribe(
            TopicArn=arn,
            Protocol="sqs",
            Endpoint=queue_arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true" if raw else "false"},
        )
        made.append(SNSTopic(arn, SQSQueue(url, moto_endpoint, sqs), sns))
        return made[-1]

    yield make
    for topic in made:
        sns.delete_topic(TopicArn=topic.arn)
        sqs.delete_queue(QueueUrl=topic.queue.url)


class MotoProcess:
    """A moto server of a test's own on 127.0.0.1, to stop and start again on the same
    port. It shares the test process's moto state: topics made elsewhere exist here."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: ThreadedMotoServer | None = None

    def start(self) -> MotoProcess:
        """Serve on the port (again)."""
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving: the port refuses connections."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()


@dataclass
class SNSProxy:
    """What the proxy saw and what it is told to do, shared with its server thread."""

    upstream: str
    url: str = ""
    #: (action, number of entries) per request received, in order.
    requests: list[tuple[str, int]] = field(default_factory=list)
    #: HTTP statuses to answer instead of forwarding, consumed one per PublishBatch.
    statuses: list[int] = field(default_factory=list)
    #: For each PublishBatch, the entry positions to fail (consumed one list per call)
    #: with ``SenderFault`` as given.
    fail_entries: list[tuple[list[int], bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publishes(self) -> list[int]:
        """The entry count of every PublishBatch request, in order."""
        return [n for action, n in self.requests if action == "PublishBatch"]


def _split_members(
    fields: list[tuple[str, str]],
) -> tuple[list[tuple[str, str]], dict[int, list[tuple[str, str]]]]:
    """The form's other fields, and each batch entry's fields by position (from 0)."""
    others: list[tuple[str, str]] = []
    members: dict[int, list[tuple[str, str]]] = {}
    for key, value in fields:
        if not key.startswith(_MEMBER):
            others.append((key, value))
            continue
        number, _, rest = key[len(_MEMBER) :].partition(".")
        members.setdefault(int(number) - 1, []).append((rest, value))
    return others, members


def _without(body: bytes, positions: list[int]) -> tuple[bytes, list[str], int]:
    """The request minus the entries at ``positions`` (renumbered), their ids, and how many
    entries are left."""
    others, members = _split_members(parse_qsl(body.decode(), keep_blank_values=True))
    failed_ids = [dict(members[i])["Id"] for i in positions]
    kept = [fields for i, fields in sorted(members.items()) if i not in positions]
    for number, entry in enumerate(kept, 1):
        others += [(f"{_MEMBER}{number}.{rest}", value) for rest, value in entry]
    return urlencode(others).encode(), failed_ids, len(kept)


def _with_failures(answer: str, ids: list[str], sender_fault: bool) -> str:
    fault = "true" if sender_fault else "false"
    items = "".join(
        f"<member><Id>{i}</Id><Code>InjectedFault</Code><Message>injected</Message>"
        f"<SenderFault>{fault}</SenderFault></member>"
        for i in ids
    )
    if "<Failed/>" in answer:
        return answer.replace("<Failed/>", f"<Failed>{items}</Failed>")
    return answer.replace("</Failed>", f"{items}</Failed>")


def _handler_for(proxy: SNSProxy) -> type[BaseHTTPRequestHandler]:
    host, port = proxy.upstream.removeprefix("http://").split(":")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            fields = parse_qsl(body.decode(), keep_blank_values=True)
            action = dict(fields).get("Action", "?")
            publish = action == "PublishBatch"
            with proxy.lock:
                proxy.requests.append((action, len(_split_members(fields)[1])))
                status = proxy.statuses.pop(0) if publish and proxy.statuses else None
                failing = proxy.fail_entries.pop(0) if publish and proxy.fail_entries else None
            if status is not None:
                return self._send(status, _ERROR)
            if failing is None:
                return self._send(*self._forward(body))
            positions, sender_fault = failing
            body, failed_ids, left = _without(body, positions)
            status, answer = self._forward(body) if left else (200, _EMPTY_RESULT)
            return self._send(status, _with_failures(answer, failed_ids, sender_fault))

        def _forward(self, body: bytes) -> tuple[int, str]:
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
            }
            connection.request("POST", self.path, body, headers)
            response = connection.getresponse()
            answer = response.read().decode()
            connection.close()
            return response.status, answer

        def _send(self, status: int, answer: str) -> None:
            data = answer.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def sns_proxy(moto_endpoint: str) -> Iterator[SNSProxy]:
    """A recording, fault-injecting HTTP proxy on 127.0.0.1 in front of moto."""
    proxy = SNSProxy(moto_endpoint)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(proxy))
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield proxy
    server.shutdown()
    server.server_close()
