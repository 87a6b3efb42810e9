"""A blocking long poll in a daemon thread, which a stopping consumer can walk away from.

``asyncio.to_thread`` would do, except that ``asyncio.run`` joins its threads at exit: a
worker stopped during a 20-second long poll would hang until the poll returned. A daemon
thread does not hold the process; if the poll returns after the consumer gave up on it,
the thread gives the messages back itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["ThreadPoll"]

logger = logging.getLogger("fastapi_events.consumers")

T = TypeVar("T")


class ThreadPoll(Generic[T]):
    """Runs ``poll()`` in a daemon thread; ``give_back(result)`` runs in that thread
    instead if :meth:`abandon` was called before the result reached the event loop."""

    def __init__(self, poll: Callable[[], T], give_back: Callable[[T], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._poll = poll
        self._give_back = give_back
        self._lock = threading.Lock()
        self._abandoned = False
        self.future: asyncio.Future[T] = self._loop.create_future()
        name = "fastapi_events consumer poll"
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def abandon(self) -> None:
        """Stop waiting: a result still to come is given back by the thread."""
        with self._lock:
            self._abandoned = True

    def _run(self) -> None:
        try:
            result = self._poll()
        except BaseException as exc:
            self._deliver(None, exc)
            return
        self._deliver(result, None)

    def _deliver(self, result: T | None, error: BaseException | None) -> None:
        with self._lock:
            abandoned = self._abandoned
        if not abandoned:
            try:
                self._loop.call_soon_threadsafe(self._settle, result, error)
                return
            except RuntimeError:  # the loop is closed
                pass
        self._discard(result)

    def _settle(self, result: T | None, error: BaseException | None) -> None:
        with self._lock:
            abandoned = self._abandoned or self.future.done()
        if abandoned:
            threading.Thread(target=self._discard, args=(result,), daemon=True).start()
        elif error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(result)  # type: ignore[arg-type]

    def _discard(self, result: Any) -> None:
        if result is None:
            return
        try:
            self._give_back(result)
        except Exception:
            logger.exception("giving back messages received after a consumer stopped failed")
