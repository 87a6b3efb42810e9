"""Secret markers, and the places they must never reach: log records and error messages."""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Iterable

#: A log line or error message that echoes user input stays under this many characters.
MAX_MESSAGE = 500


def secret() -> str:
    """A fresh marker to put in a payload: ``s3cr3t-<uuid>``."""
    return f"s3cr3t-{uuid.uuid4()}"


class Opaque:
    """An object JSON cannot encode, whose repr and str are the secret it carries."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __repr__(self) -> str:
        return self.marker

    __str__ = __repr__


def nested(depth: int) -> object:
    """A payload nested ``depth`` levels deep (dicts in lists)."""
    value: object = "leaf"
    for _ in range(depth):
        value = [{"child": value}]
    return value


def logged_text(records: Iterable[logging.LogRecord]) -> str:
    """Every record as a log file would hold it: message, traceback and stack."""
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


def exception_text(exc: BaseException) -> str:
    """An exception as a traceback prints it, with its causes and contexts."""
    return "".join(traceback.format_exception(exc))


def assert_not_leaked(
    marker: str,
    records: Iterable[logging.LogRecord] = (),
    exceptions: Iterable[BaseException] = (),
) -> None:
    """``marker`` is in no log record (tracebacks included) and no exception's text."""
    assert marker not in logged_text(records)
    for exc in exceptions:
        assert marker not in exception_text(exc)
