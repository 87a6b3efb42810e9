"""Event handlers: local functions, forwarders to queues, and stdout."""

from __future__ import annotations

from .base import BaseEventHandler

__all__ = ["BaseEventHandler"]
