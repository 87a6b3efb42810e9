"""A light SQS-protocol server for throughput benchmarks (moto spends 4-5 ms of CPU per
SendMessageBatch and slows down as a queue fills; this answers in about 0.1 ms).

Standard library only, one asyncio loop, in its own process, on 127.0.0.1; prints
``{"port": N}`` on stdout. It speaks SQS's JSON protocol (``X-Amz-Target:
AmazonSQS.<Action>``, what botocore uses for SQS) for CreateQueue, GetQueueUrl,
GetQueueAttributes, ListQueues, SendMessage and SendMessageBatch. Messages are counted,
not stored. Answers carry ``MD5OfMessageBody`` and ``MD5OfMessageAttributes`` computed as
SQS does (the benchmark checks them, see :func:`attributes_md5`). Batches are checked
like SQS: 1-10 entries, distinct ids, 1 MiB per message and per batch (body plus
attributes). ``GET /__bench__/counts`` answers the call counts as JSON, e.g.
``{"SendMessageBatch": 1000, "stored": 10000}``.

    python benchmarks/sqs_light.py [--port 0]
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
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from _http1 import read_message

__all__ = ["LightSQS", "attributes_md5", "body_md5", "main"]

ACCOUNT = "123456789012"
MAX_BYTES = 1024 * 1024
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
    """The server's state: queues by name (attributes only) and call counts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.queues: dict[str, dict[str, str]] = {}
        self.counts: Counter[str] = Counter()
        self._ids = itertools.count()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}/{name}"

    def _queue(self, url: str) -> dict[str, str]:
        queue = self.queues.get(url.rstrip("/").rpartition("/")[2])
        if queue is None:
            raise SQSError("QueueDoesNotExist", "The specified queue does not exist.")
        return queue

    def _message_id(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._ids):012d}"

    def _accepted(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        if _size(entry) > MAX_BYTES:
            raise SQSError("InvalidParameterValue", "One or more parameters are invalid.")
        answer = {
            "MessageId": self._message_id(),
            "MD5OfMessageBody": body_md5(entry["MessageBody"]),
        }
        if entry.get("MessageAttributes"):
            answer["MD5OfMessageAttributes"] = attributes_md5(entry["MessageAttributes"])
        self.counts["stored"] += 1
        return answer

    # --- actions ------------------------------------------------------------------------

    def create_queue(self, request: Mapping[str, Any]) -> dict[str, Any]:
        name = request["QueueName"]
        attributes = {"MaximumMessageSize": str(MAX_BYTES), **request.get("Attributes", {})}
        attributes["QueueArn"] = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"
        self.queues.setdefault(name, attributes)
        return {"QueueUrl": self.url(name)}

    def get_queue_url(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._queue(request["QueueName"])
        return {"QueueUrl": self.url(request["QueueName"])}

    def get_queue_attributes(self, request: Mapping[str, Any]) -> dict[str, Any]:
        queue = self._queue(request["QueueUrl"])
        names = request.get("AttributeNames") or ["All"]
        if "All" in names:
            return {"Attributes": dict(queue, ApproximateNumberOfMessages="0")}
        return {"Attributes": {n: queue.get(n, "0") for n in names}}

    def list_queues(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {"QueueUrls": [self.url(name) for name in self.queues]}

    def send_message(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._queue(request["QueueUrl"])
        return self._accepted(request)

    def send_message_batch(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._queue(request["QueueUrl"])
        entries = request.get("Entries") or []
        if not entries:
            raise SQSError("EmptyBatchRequest", "There should be at least one entry.")
        if len(entries) > 10:
            raise SQSError("TooManyEntriesInBatchRequest", "Maximum number of entries is 10.")
        if len({entry["Id"] for entry in entries}) != len(entries):
            raise SQSError("BatchEntryIdsNotDistinct", "Two or more entries share an Id.")
        if sum(_size(entry) for entry in entries) > MAX_BYTES:
            raise SQSError("BatchRequestTooLong", "Batch requests cannot be longer than 1 MiB.")
        successful = [{"Id": entry["Id"], **self._accepted(entry)} for entry in entries]
        return {"Successful": successful, "Failed": []}

    ACTIONS: ClassVar[dict[str, Any]] = {
        "CreateQueue": create_queue,
        "GetQueueUrl": get_queue_url,
        "GetQueueAttributes": get_queue_attributes,
        "ListQueues": list_queues,
        "SendMessage": send_message,
        "SendMessageBatch": send_message_batch,
    }

    def answer(self, target: str, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        """The status, JSON body and extra headers for one request."""
        action = target.removeprefix(_TARGET_PREFIX)
        self.counts[action] += 1
        try:
            method = self.ACTIONS.get(action)
            if not target.startswith(_TARGET_PREFIX) or method is None:
                raise SQSError("InvalidAction", f"{action or '(query protocol)'} is not served")
            result = method(self, json.loads(body or b"{}"))
        except SQSError as exc:
            error = {"__type": f"com.amazonaws.sqs#{exc.code}", "message": str(exc)}
            headers = {"x-amzn-query-error": f"AWS.SimpleQueueService.{exc.code};Sender"}
            return exc.status, json.dumps(error).encode(), headers
        return 200, json.dumps(result).encode(), {}


async def _serve(state: LightSQS, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    try:
        while (request := await read_message(reader)) is not None:
            if request.start_line.startswith("GET /__bench__/counts"):
                status, body, extra = 200, json.dumps(dict(state.counts)).encode(), {}
            else:
                status, body, extra = state.answer(
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


async def serve(port: int = 0) -> None:
    """Serve on 127.0.0.1:``port`` (0: a free one) until cancelled; print the port."""
    state = LightSQS(0)
    server = await asyncio.start_server(
        lambda r, w: _serve(state, r, w), "127.0.0.1", port, backlog=256
    )
    state.port = server.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"port": state.port}) + "\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse ``--port`` and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
