"""The thread bridge of PubSubConsumer (Inbox, InlineScheduler), its delivery counts and
its recovery from a failed stream, with stand-in messages and client: no emulator needed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from datetime import datetime, timezone
from typing import Any

import pytest

from fastapi_events._event import Event
from fastapi_events.consumers import PubSubConsumer
from fastapi_events.consumers._pubsub_attempts import Attempts
from fastapi_events.consumers._pubsub_inbox import Inbox, InlineScheduler
from fastapi_events.handlers.gcp import GOOGLE_INSTALL_HINT
from tests.consumers.kit import scripted, until

pytestmark = pytest.mark.anyio


class Message:
    """What the bridge touches of a subscriber message: ``nack()``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.nacked = 0

    def nack(self) -> None:
        self.nacked += 1


def put_from_a_thread(inbox: Inbox, messages: list[Message]) -> None:
    thread = threading.Thread(target=lambda: [inbox.put(m) for m in messages])
    thread.start()
    thread.join()


async def test_messages_from_another_thread_are_taken_in_order_up_to_the_limit() -> None:
    """A waiting take() wakes for messages put by another thread, and takes at most limit."""
    inbox = Inbox(asyncio.get_running_loop())
    sent = [Message(str(i)) for i in range(5)]
    taking = asyncio.ensure_future(inbox.take(3))
    await asyncio.sleep(0)
    put_from_a_thread(inbox, sent)
    assert await asyncio.wait_for(taking, 5) == sent[:3]
    assert await inbox.take(10) == sent[3:]


async def test_a_failed_stream_raises_in_take_once() -> None:
    """fail() wakes the waiting take() with the stream's error, then take() waits again."""
    inbox = Inbox(asyncio.get_running_loop())
    taking = asyncio.ensure_future(inbox.take(1))
    await asyncio.sleep(0)
    threading.Thread(target=inbox.fail, args=(ConnectionError("gone"),)).start()
    with pytest.raises(ConnectionError, match="gone"):
        await asyncio.wait_for(taking, 5)
    again = asyncio.ensure_future(inbox.take(1))
    await asyncio.sleep(0.05)
    assert not again.done()
    again.cancel()


async def test_close_gives_back_the_untaken_and_the_kept_then_nacks_latecomers() -> None:
    """The scheduler's shutdown returns what was never taken and what was kept to give
    back; a message arriving (or given back) after that is nacked at once, and taking
    from the closed inbox fails instead of waiting for ever."""
    inbox = Inbox(asyncio.get_running_loop())
    scheduler = InlineScheduler(inbox)
    untaken, kept, late, later = (Message(n) for n in ("untaken", "kept", "late", "later"))
    scheduler.schedule(inbox.put, untaken)
    inbox.give_back_later([kept])
    assert scheduler.shutdown() == [untaken, kept]
    assert inbox.untaken == 1
    scheduler.schedule(inbox.put, late)
    inbox.give_back_later([later])
    assert (late.nacked, later.nacked, untaken.nacked, kept.nacked) == (1, 1, 0, 0)
    with pytest.raises(ConnectionError):
        await inbox.take(1)


async def test_a_callback_that_fails_nacks_its_message() -> None:
    """A failure handing a message over never reaches the client's thread: it is logged
    and the message given back."""
    inbox = Inbox(asyncio.get_running_loop())
    message = Message("m")

    def broken(_: Message) -> None:
        raise RuntimeError("boom")

    InlineScheduler(inbox).schedule(broken, message)
    assert message.nacked == 1


async def test_messages_arriving_after_the_loop_closed_are_nacked() -> None:
    """A client thread outliving the event loop gives its messages back."""
    loop = asyncio.new_event_loop()
    inbox = Inbox(loop)
    loop.close()
    message = Message("m")
    inbox.put(message)
    assert message.nacked == 1


def test_deliveries_are_pubsubs_count_else_the_failures_seen_here() -> None:
    """delivery_attempt wins; without it, one more than the failures counted here, forgotten
    on acknowledgement, and the oldest forgotten past the bound."""
    attempts = Attempts(max_tracked=2)
    assert attempts.delivery("a", 4) == 4
    assert attempts.delivery("a", None) == 1
    attempts.failed("a", 1)
    attempts.failed("b", 2)
    assert (attempts.delivery("a", None), attempts.delivery("b", None)) == (2, 3)
    attempts.failed("c", 1)
    assert (len(attempts), attempts.delivery("a", None)) == (2, 1)
    attempts.forget("b")
    assert attempts.delivery("b", None) == 1


def test_without_google_cloud_pubsub_the_error_names_the_extra() -> None:
    """Constructing the consumer without the client says: pip install the google extra."""
    code = (
        "import sys\nsys.modules['google.cloud.pubsub_v1'] = None\n"
        "from fastapi_events.consumers import PubSubConsumer\n"
        "from fastapi_events.handlers.local import LocalHandler\n"
        "try:\n    PubSubConsumer('p', 'orders', handlers=[LocalHandler()])\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == GOOGLE_INSTALL_HINT
    assert "pip install 'fastapi-events[google]'" in GOOGLE_INSTALL_HINT


class Stream:
    """A stand-in for the StreamingPullFuture ``subscribe`` returns."""

    def __init__(self, callback: Any, scheduler: InlineScheduler) -> None:
        self.callback = callback
        self.scheduler = scheduler
        self._done: list[Any] = []
        self._error: BaseException | None = None
        self.ended = False

    def add_done_callback(self, callback: Any) -> None:
        """As a concurrent future's: called at once when already done."""
        if self.ended:
            callback(self)
        else:
            self._done.append(callback)

    def exception(self) -> BaseException | None:
        return self._error

    def cancel(self) -> bool:
        self.end(None)
        return True

    def end(self, error: BaseException | None) -> None:
        """Shut down as the client does: the scheduler first, then the done callbacks."""
        self._error, self.ended = error, True
        self.scheduler.shutdown()
        for callback in self._done:
            callback(self)


class Client:
    """A stand-in SubscriberClient: records each streaming pull it opens."""

    def __init__(self) -> None:
        self.streams: list[Stream] = []

    def subscribe(self, path: str, callback: Any, *, flow_control: Any, scheduler: Any) -> Stream:
        self.streams.append(Stream(callback, scheduler))
        return self.streams[-1]


class Received(Message):
    """A subscriber message carrying an event in the default JSON array format."""

    def __init__(self, event: Event) -> None:
        super().__init__(event.id)
        self.data = json.dumps([event.name, event.payload]).encode()
        self.attributes = {"event_id": event.id}
        self.message_id = event.id
        self.delivery_attempt = None
        self.publish_time = datetime.now(timezone.utc)
        self.acked = 0

    def ack(self) -> None:
        self.acked += 1


async def test_a_failed_stream_is_reported_and_opened_again() -> None:
    """A streaming pull ending with an error is logged by the loop; the next receive runs
    on a new stream, whose messages are handled and acknowledged."""
    client = Client()
    handler, calls = scripted()
    consumer = PubSubConsumer(
        "p", "orders", handlers=[handler], subscriber_client=client, broker_backoff=False
    )
    async with consumer:
        assert len(client.streams) == 1
        client.streams[0].end(ConnectionError("stream broke"))
        await until(lambda: len(client.streams) == 2, "a new stream")
        message = Received(Event("order.paid", {"order": 1}))
        client.streams[1].callback(message)
        await until(lambda: message.acked == 1, "the acknowledgement")
    assert [event.id for event in calls.finished] == [message.message_id]
    assert consumer.stats.succeeded == 1
