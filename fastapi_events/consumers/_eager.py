"""Running a coroutine inside the current task until it first waits.

A task per received message costs about 5 µs of scheduling (more than handling a message
with a quick handler); most messages never wait for anything. So one task handles the
messages of a batch one after another, each coroutine driven here, in a context of its
own as a task would give it; the first time one waits, the rest of the batch goes to a new
task (``on_wait``) and this task keeps driving the one that waits, to its end. Every
message's handling runs in one task from start to end: ``asyncio.current_task()``,
cancellation and ``asyncio.timeout`` behave as in a task of its own.
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["run_eagerly"]


@types.coroutine
def run_eagerly(
    coro: Coroutine[Any, Any, None], on_wait: Callable[[], None]
) -> Generator[Any, Any, None]:
    """Await ``coro`` in a copy of the current context; call ``on_wait()`` the first time
    it waits (or fails), before this task yields to the event loop."""
    context = contextvars.copy_context()
    try:
        waiting_for = context.run(coro.send, None)
    except StopIteration:
        return
    except BaseException:
        on_wait()  # what comes after it never shares its fate
        raise
    on_wait()
    while True:
        try:
            sent = yield waiting_for  # to the task: a future, or None (sleep(0))
        except BaseException as exc:  # the task is cancelled (or thrown into)
            step: Callable[[Any], Any] = coro.throw
            value: Any = exc
        else:
            step, value = coro.send, sent
        try:
            waiting_for = context.run(step, value)
        except StopIteration:
            return
