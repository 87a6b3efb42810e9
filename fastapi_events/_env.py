"""Reading the boolean environment switches, tolerantly and cheaply."""

from __future__ import annotations

import os
import warnings

from .utils import strtobool

__all__ = ["env_flag"]

_parsed: dict[tuple[str, str], bool] = {}


def env_flag(variable: str, default: bool) -> bool:
    """Return the boolean value of ``variable``; read on every call, parsed once per value.

    A value that is not a recognised boolean warns once (naming the variable and the
    value) and counts as ``default``, instead of making every call raise.
    """
    raw = os.environ.get(variable)
    if raw is None:
        return default
    try:
        return _parsed[variable, raw]
    except KeyError:
        pass
    try:
        value = strtobool(raw)
    except ValueError:
        warnings.warn(
            f"{variable}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off); "
            f"treating it as {str(default).lower()}",
            RuntimeWarning,
            stacklevel=3,
        )
        value = default
    _parsed[variable, raw] = value
    return value
