"""``python -m fastapi_events.outbox``: run a relay (or create the table, print stats)."""

from __future__ import annotations

from ._cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main(configure_logging=True))
