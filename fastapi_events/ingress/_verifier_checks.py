"""The ``fetch=`` check shared by the verifiers: a bad argument fails at construction,
naming the argument, the type it got and the fix (never the value). Texts, counts and
seconds are checked by :mod:`fastapi_events._checks`, as everywhere else.

.. versionadded:: 1.0
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError

__all__ = ["check_fetch"]


def check_fetch(value: Any) -> Any:
    """``fetch=``: ``None`` or a callable (an async function of the URL giving bytes)."""
    if value is not None and not callable(value):
        raise ConfigurationError(
            f"fetch must be an async function (url: str) -> bytes, got {type(value).__name__}; "
            f"pass e.g. fetch=my_fetch, or leave it out for the built-in https fetcher"
        )
    return value
