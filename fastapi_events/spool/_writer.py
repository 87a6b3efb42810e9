"""One SQLite connection on one thread, with group commit.

Every statement goes through a queue to the thread that owns the connection; the thread
runs everything queued so far in one transaction, commits once, then answers each caller.
Concurrent requests thus share a commit (and its fsync) instead of paying one each.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["SQLiteWriter"]

T = TypeVar("T")
Job = tuple[Callable[[sqlite3.Connection], Any], "Future[Any]"]
_STOP: Any = object()


class SQLiteWriter:
    """The thread that owns one SQLite connection (WAL, ``synchronous=NORMAL``)."""

    def __init__(self, path: str, setup: Callable[[sqlite3.Connection], None]) -> None:
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._serve, args=(path, setup), name="fastapi_events-spool", daemon=True
        )
        self._thread.start()
        self._ready.result()  # raise here if the file cannot be opened

    def submit(self, job: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Run ``job(connection)`` in the next transaction; the future has its result."""
        future: Future[T] = Future()
        self._jobs.put((job, future))
        return future

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` and await its result once its transaction has committed."""
        return await asyncio.wrap_future(self.submit(job))

    def close(self) -> None:
        """Finish what is queued, then close the connection and stop the thread."""
        if self._thread.is_alive():
            self._jobs.put((_STOP, Future()))
            self._thread.join()

    def _serve(self, path: str, setup: Callable[[sqlite3.Connection], None]) -> None:
        try:
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=10000")  # sibling workers share the file
            setup(connection)
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        try:
            while self._batch(connection, [self._jobs.get()]):
                pass
        finally:
            connection.close()

    def _batch(self, connection: sqlite3.Connection, jobs: list[Job]) -> bool:
        while True:  # everything queued so far joins this transaction
            try:
                jobs.append(self._jobs.get_nowait())
            except queue.Empty:
                break
        stop = any(job is _STOP for job, _ in jobs)
        work = [(job, future) for job, future in jobs if job is not _STOP]
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for job, future in work:
                results.append((future, *_run_one(connection, job)))
            connection.execute("COMMIT")
        except Exception as exc:  # the transaction itself failed (disk full, locked...)
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            results = [(future, None, exc) for _, future in work]
        for future, result, error in results:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
        for _, future in jobs:
            if not future.done():
                future.set_result(None)
        return not stop


def _run_one(
    connection: sqlite3.Connection, job: Callable[[sqlite3.Connection], Any]
) -> tuple[Any, BaseException | None]:
    """Run one job in a savepoint: a failing job never sinks the others."""
    connection.execute("SAVEPOINT job")
    try:
        result = job(connection)
    except Exception as exc:
        connection.execute("ROLLBACK TO job")
        connection.execute("RELEASE job")
        return None, exc
    connection.execute("RELEASE job")
    return result, None
