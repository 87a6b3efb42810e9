"""Reading the boolean environment switches, tolerantly and cheaply."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ._redact import capped_repr
from .utils import strtobool

__all__ = ["EnvFlag"]

# ``os.environ.get`` encodes the key and decodes the value on every call (~0.3-1 µs); the
# mapping behind it is a plain dict, so reading that with a pre-encoded key costs one dict
# lookup and still sees every change made through ``os.environ`` (monkeypatch.setenv too).
_raw_environ: Mapping[Any, Any] | None = getattr(os.environ, "_data", None)
_encode_key: Callable[[str], Any] | None = getattr(os.environ, "encodekey", None)
_decode_value: Callable[[Any], str] | None = getattr(os.environ, "decodevalue", None)


class EnvFlag:
    """A boolean environment variable, read on every call and parsed once per value.

    A value that is not a recognised boolean warns once (naming the variable and the
    value) and counts as ``default``, instead of making every call raise.
    """

    __slots__ = ("_key", "_parsed", "default", "name")

    def __init__(self, name: str, default: bool) -> None:
        self.name = name
        self.default = default
        self._parsed: dict[Any, bool] = {}
        fast = _raw_environ is not None and _encode_key is not None and _decode_value is not None
        self._key = _encode_key(name) if fast and _encode_key is not None else None

    def presence(self) -> tuple[Any, Any]:
        """``(mapping, key)``: ``key in mapping`` is True when the variable is set at all,
        whatever its value (one dict lookup, not even a call: hot paths test it before
        calling the flag, and it still sees every change made through ``os.environ``)."""
        if self._key is not None and _raw_environ is not None:
            return _raw_environ, self._key
        return os.environ, self.name  # pragma: no cover - non-CPython os.environ

    def __call__(self) -> bool:
        """Return the variable's current boolean value."""
        if self._key is not None and _raw_environ is not None:
            raw = _raw_environ.get(self._key)
        else:  # pragma: no cover - non-CPython os.environ
            raw = os.environ.get(self.name)
        if raw is None:
            return self.default
        try:
            return self._parsed[raw]
        except KeyError:
            value = self._parse(raw)
            self._parsed[raw] = value
            return value

    def _parse(self, raw: Any) -> bool:
        text = raw if isinstance(raw, str) else _decode_value(raw)  # type: ignore[misc]
        try:
            return strtobool(text)
        except ValueError:
            warnings.warn(
                f"{self.name}={capped_repr(text)} is not a boolean "
                f"(use 1/0, true/false, yes/no, on/off); "
                f"treating it as {str(self.default).lower()}",
                RuntimeWarning,
                stacklevel=4,
            )
            return self.default
