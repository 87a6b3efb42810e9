"""A light SQS-protocol server for throughput benchmarks (moto spends 4-5 ms of CPU per
SendMessageBatch and slows down as a queue fills; this answers in about 0.1 ms).

Standard library only, one asyncio loop, in its own process, on 127.0.0.1; prints
``{"port": N}`` on stdout. It speaks SQS's JSON protocol (``X-Amz-Target:
AmazonSQS.<Action>``, what botocore uses for SQS) for CreateQueue, GetQueueUrl,
GetQueueAttributes, ListQueues, PurgeQueue, DeleteQueue, SendMessage, SendMessageBatch,
ReceiveMessage, DeleteMessage(Batch) and ChangeMessageVisibility(Batch). Answers carry
``MD5OfMessageBody`` and ``MD5OfMessageAttributes`` computed as SQS does (the benchmarks
check them, see :func:`attributes_md5`). Batches are checked like SQS: 1-10 entries,
distinct ids, 1 MiB per message and per batch (body plus attributes).

Sent messages are kept in memory (``_sqs_store.py``), up to ``--max-stored`` in all
(default 50,000; 0 keeps none, as the forwarding benchmarks want: they only count). Past
the bound a message is still accepted, counted as ``discarded`` and not kept. Receiving
follows SQS as a consumer sees it: ``MaxNumberOfMessages`` 1-10, ``WaitTimeSeconds``
long polls (answered as soon as a message is visible), ``VisibilityTimeout`` (the
request's, else the queue's attribute, else 30 s), the ``ApproximateReceiveCount``,
``SentTimestamp``, ``ApproximateFirstReceiveTimestamp`` and ``SenderId`` attributes, and
the ``MessageAttributes`` asked for (``All``, ``.*``, names, ``prefix.*``) with their MD5.

``GET /__bench__/counts`` answers the call counts as JSON, e.g. ``{"SendMessageBatch":
1000, "stored": 10000}`` (``stored``: messages accepted).

    python benchmarks/sqs_light.py [--port 0] [--max-stored 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import itertools
import json
import struct
import sys
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from _http1 import read_message
from _sqs_store import DEFAULT_VISIBILITY, Message, MessageStore, NotInFlight, ReceiptInvalid

__all__ = ["LightSQS", "attributes_md5", "body_md5", "main"]

ACCOUNT = "123456789012"
MAX_BYTES = 1024 * 1024
MAX_STORED = 50_000
_TARGET_PREFIX = "AmazonSQS."
_TRANSPORT = {"String": 1, "Number": 1, "Binary": 2}


class SQSError(Exception):
    """An SQS error answer: code (the JSON ``__type`` shape name) and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


def body_md5(body: str) -> str:
    """``MD5OfMessageBody``: the hex MD5 of the UTF-8 body."""
    return hashlib.md5(body.encode()).hexdigest()


def attributes_md5(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """``MD5OfMessageAttributes`` as SQS computes it: for each attribute, by name, the
    length-prefixed (4 bytes, big-endian) name and data type, one transport byte (1 for
    String/Number, 2 for Binary) and the length-prefixed value."""
    digest = hashlib.md5()
    for name in sorted(attributes):
        attribute = attributes[name]
        data_type = attribute["DataType"]
        if data_type.split(".")[0] == "Binary":
            value = attribute["BinaryValue"]
            raw = base64.b64decode(value) if isinstance(value, str) else bytes(value)
        else:
            raw = attribute["StringValue"].encode()
        for part in (name.encode(), data_type.encode()):
            digest.update(struct.pack(">I", len(part)) + part)
        digest.update(bytes([_TRANSPORT[data_type.split(".")[0]]]))
        digest.update(struct.pack(">I", len(raw)) + raw)
    return digest.hexdigest()


def _size(entry: Mapping[str, Any]) -> int:
    size = len(entry.get("MessageBody", "").encode())
    for name, attribute in entry.get("MessageAttributes", {}).items():
        value = attribute.get("StringValue") or attribute.get("BinaryValue") or ""
        size += len(name.encode()) + len(attribute["DataType"].encode()) + len(value)
    return size


class LightSQS:
    """The server's state: queues by name (attributes), their messages, call counts."""

    def __init__(self, port: int, max_stored: int = MAX_STORED) -> None:
        self.port = port
        self.max_stored = max_stored
        self.queues: dict[str, dict[str, str]] = {}
        self.stores: dict[str, MessageStore] = {}
        self.counts: Counter[str] = Counter()
        self._ids = itertools.count()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}/{name}"

    def _name(self, url: str) -> str:
        name = url.rstrip("/").rpartition("/")[2]
        if name not in self.queues:
            raise SQSError("QueueDoesNotExist", "The specified queue does not exist.")
        return name

    def _queue(self, url: str) -> dict[str, str]:
        return self.queues[self._name(url)]

    def _store(self, url: str) -> MessageStore:
        return self.stores[self._name(url)]

    def _kept(self) -> int:
        return sum(len(store) for store in self.stores.values())

    def _message_id(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._ids):012d}"

    def _accepted(self, url: str, entry: Mapping[str, Any]) -> dict[str, Any]:
        if _size(entry) > MAX_BYTES:
            raise SQSError("InvalidParameterValue", "One or more parameters are invalid.")
        answer = {
            "MessageId": self._message_id(),
            "MD5OfMessageBody": body_md5(entry["MessageBody"]),
        }
        attributes = entry.get("MessageAttributes") or {}
        if attributes:
            answer["MD5OfMessageAttributes"] = attributes_md5(attributes)
        self.counts["stored"] += 1
        self._keep(url, entry, answer)
        return answer

    def _keep(self, url: str, entry: Mapping[str, Any], answer: Mapping[str, str]) -> None:
        if not self.max_stored:
            return
        if self._kept() >= self.max_stored:
            self.counts["discarded"] += 1
            return
        message = Message(
            answer["MessageId"],
            entry["MessageBody"],
            dict(entry.get("MessageAttributes") or {}),
            answer["MD5OfMessageBody"],
            answer.get("MD5OfMessageAttributes"),
            int(time.time() * 1000),
        )
        self._store(url).add(message)

    # --- actions ------------------------------------------------------------------------

    def create_queue(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request["QueueName"]
        attributes = {"MaximumMessageSize": str(MAX_BYTES), **request.get("Attributes", {})}
        attributes["QueueArn"] = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"
        if name not in self.queues:
            self.queues[name] = attributes
            visibility = float(attributes.get("VisibilityTimeout", DEFAULT_VISIBILITY))
            self.stores[name] = MessageStore(visibility)
        return {"QueueUrl": self.url(name)}

    def delete_queue(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = self._name(request["QueueUrl"])
        self.stores.pop(name).purge()
        del self.queues[name]
        return {}

    def purge_queue(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._store(request["QueueUrl"]).purge()
        return {}

    def get_queue_url(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._queue(request["QueueName"])
        return {"QueueUrl": self.url(request["QueueName"])}

    def get_queue_attributes(self, request: Mapping[str, Any]) -> dict[str, Any]:
        queue = self._queue(request["QueueUrl"])
        visible, hidden = self._store(request["QueueUrl"]).counts()
        queue = dict(
            queue,
            ApproximateNumberOfMessages=str(visible),
            ApproximateNumberOfMessagesNotVisible=str(hidden),
        )
        names = request.get("AttributeNames") or ["All"]
        if "All" in names:
            return {"Attributes": queue}
        return {"Attributes": {n: queue.get(n, "0") for n in names}}

    def list_queues(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {"QueueUrls": [self.url(name) for name in self.queues]}

    def send_message(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._queue(request["QueueUrl"])
        return self._accepted(request["QueueUrl"], request)

    def send_message_batch(self, request: Mapping[str, Any]) -> dict[str, Any]:
        url = request["QueueUrl"]
        self._queue(url)
        entries = _batch_entries(request)
        if sum(_size(entry) for entry in entries) > MAX_BYTES:
            raise SQSError("BatchRequestTooLong", "Batch requests cannot be longer than 1 MiB.")
        successful = [{"Id": entry["Id"], **self._accepted(url, entry)} for entry in entries]
        return {"Successful": successful, "Failed": []}

    async def receive_message(self, request: Mapping[str, Any]) -> dict[str, Any]:
        url = request["QueueUrl"]
        queue, store = self._queue(url), self._store(url)
        count = request.get("MaxNumberOfMessages", 1)
        wait = request.get("WaitTimeSeconds", int(queue.get("ReceiveMessageWaitTimeSeconds", 0)))
        visibility = request.get("VisibilityTimeout")
        if not 1 <= count <= 10 or not 0 <= wait <= 20 or not 0 <= (visibility or 0) <= 43200:
            raise SQSError("InvalidParameterValue", "Value for parameter is invalid.")
        messages = await store.receive(count, wait, visibility)
        self.counts["received"] += len(messages)
        system = [
            *request.get("AttributeNames", []),
            *request.get("MessageSystemAttributeNames", []),
        ]
        wanted = request.get("MessageAttributeNames") or []
        return {"Messages": [_received(m, system, wanted) for m in messages]}

    def delete_message(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._settle(request["QueueUrl"], request, None)
        return {}

    def delete_message_batch(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return self._settle_batch(request, None)

    def change_message_visibility(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._settle(request["QueueUrl"], request, request["VisibilityTimeout"])
        return {}

    def change_message_visibility_batch(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return self._settle_batch(request, "VisibilityTimeout")

    def _settle_batch(self, request: Mapping[str, Any], timeout_key: str | None) -> dict[str, Any]:
        url = request["QueueUrl"]
        successful, failed = [], []
        for entry in _batch_entries(request):
            try:
                self._settle(url, entry, entry[timeout_key] if timeout_key else None)
            except SQSError as exc:
                failed.append({"Id": entry["Id"], "Code": exc.code, "SenderFault": True})
                continue
            successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}

    def _settle(self, url: str, entry: Mapping[str, Any], timeout: int | None) -> None:
        """Delete (``timeout`` None) or change the visibility of one message."""
        store = self._store(url)
        try:
            if timeout is None:
                store.delete(entry["ReceiptHandle"])
                self.counts["deleted"] += 1
            elif not 0 <= timeout <= 43200:
                raise SQSError("InvalidParameterValue", "VisibilityTimeout is out of range.")
            else:
                store.change_visibility(entry["ReceiptHandle"], timeout)
        except ReceiptInvalid:
            raise SQSError("ReceiptHandleIsInvalid", "The receipt handle is not valid.") from None
        except NotInFlight:
            raise SQSError("MessageNotInflight", "The message is not in flight.") from None

    ACTIONS: ClassVar[dict[str, Any]] = {
        "CreateQueue": create_queue,
        "DeleteQueue": delete_queue,
        "PurgeQueue": purge_queue,
        "GetQueueUrl": get_queue_url,
        "GetQueueAttributes": get_queue_attributes,
        "ListQueues": list_queues,
        "SendMessage": send_message,
        "SendMessageBatch": send_message_batch,
        "ReceiveMessage": receive_message,
        "DeleteMessage": delete_message,
        "DeleteMessageBatch": delete_message_batch,
        "ChangeMessageVisibility": change_message_visibility,
        "ChangeMessageVisibilityBatch": change_message_visibility_batch,
    }

    async def answer(self, target: str, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        """The status, JSON body and extra headers for one request."""
        action = target.removeprefix(_TARGET_PREFIX)
        self.counts[action] += 1
        try:
            method = self.ACTIONS.get(action)
            if not target.startswith(_TARGET_PREFIX) or method is None:
                raise SQSError("InvalidAction", f"{action or '(query protocol)'} is not served")
            result = method(self, json.loads(body or b"{}"))
            if asyncio.iscoroutine(result):
                result = await result
        except SQSError as exc:
            error = {"__type": f"com.amazonaws.sqs#{exc.code}", "message": str(exc)}
            headers = {"x-amzn-query-error": f"AWS.SimpleQueueService.{exc.code};Sender"}
            return exc.status, json.dumps(error).encode(), headers
        return 200, json.dumps(result).encode(), {}


def _batch_entries(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = request.get("Entries") or []
    if not entries:
        raise SQSError("EmptyBatchRequest", "There should be at least one entry.")
    if len(entries) > 10:
        raise SQSError("TooManyEntriesInBatchRequest", "Maximum number of entries is 10.")
    if len({entry["Id"] for entry in entries}) != len(entries):
        raise SQSError("BatchEntryIdsNotDistinct", "Two or more entries share an Id.")
    return entries


def _received(message: Message, system: list[str], wanted: list[str]) -> dict[str, Any]:
    """A received message as ReceiveMessage answers it (the attributes asked for)."""
    answer: dict[str, Any] = {
        "MessageId": message.message_id,
        "ReceiptHandle": message.receipt,
        "MD5OfBody": message.md5_body,
        "Body": message.body,
    }
    every = {
        "ApproximateReceiveCount": str(message.receive_count),
        "SentTimestamp": str(message.sent_ms),
        "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms),
        "SenderId": ACCOUNT,
    }
    chosen = every if "All" in system else {k: v for k, v in every.items() if k in system}
    if chosen:
        answer["Attributes"] = chosen
    attributes = {
        name: value
        for name, value in message.attributes.items()
        if any(_matches(name, pattern) for pattern in wanted)
    }
    if attributes:
        answer["MessageAttributes"] = attributes
        answer["MD5OfMessageAttributes"] = (
            message.md5_attributes
            if len(attributes) == len(message.attributes)
            else attributes_md5(attributes)
        )
    return answer


def _matches(name: str, pattern: str) -> bool:
    if pattern in ("All", ".*"):
        return True
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1])
    return name == pattern


async def _serve(state: LightSQS, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    try:
        while (request := await read_message(reader)) is not None:
            if request.start_line.startswith("GET /__bench__/counts"):
                status, body, extra = 200, json.dumps(dict(state.counts)).encode(), {}
            else:
                status, body, extra = await state.answer(
                    request.headers.get("x-amz-target", ""), request.body
                )
            head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}"]
            head += ["Content-Type: application/x-amz-json-1.0", f"Content-Length: {len(body)}"]
            head += [f"{name}: {value}" for name, value in extra.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(port: int = 0, max_stored: int = MAX_STORED) -> None:
    """Serve on 127.0.0.1:``port`` (0: a free one) until cancelled; print the port."""
    state = LightSQS(0, max_stored)
    server = await asyncio.start_server(
        lambda r, w: _serve(state, r, w), "127.0.0.1", port, backlog=256
    )
    state.port = server.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"port": state.port}) + "\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse ``--port`` and ``--max-stored`` and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-stored", type=int, default=MAX_STORED, help="0: keep none")
    args = parser.parse_args()
    asyncio.run(serve(args.port, max(0, args.max_stored)))


if __name__ == "__main__":
    main()
