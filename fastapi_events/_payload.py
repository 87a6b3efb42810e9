"""Payload validation and dumping against a pydantic schema (dispatch, lazy payloads)."""

from __future__ import annotations

from typing import Any

__all__ = ["is_pydantic_model", "prepare_payload"]


def is_pydantic_model(value: object) -> bool:
    """True for an instance of a pydantic v2 model (duck-typed: pydantic stays unimported)."""
    return hasattr(type(value), "model_dump") and hasattr(type(value), "model_fields")


def prepare_payload(payload: Any, schema: Any, dump: bool, dump_args: dict[str, Any] | None) -> Any:
    """Validate ``payload`` against ``schema`` (if any) and dump models to dicts if ``dump``.

    The whole model is dumped unless ``dump_args`` says otherwise (0.12 used
    ``exclude_unset=True``, so fields left at their defaults vanished).
    """
    if schema is not None and not isinstance(payload, schema):
        payload = schema.model_validate(payload)
    if dump and is_pydantic_model(payload):
        return payload.model_dump(**(dump_args or {}))
    return payload
