"""Integrations with frameworks that need more than the plain ASGI middleware."""

from __future__ import annotations

__all__: list[str] = []
