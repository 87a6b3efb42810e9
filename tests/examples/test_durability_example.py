"""examples/durability.py: kill -9 and replay from the spool, retries, dead letter, bounds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "durability.py"


def test_durability_example() -> None:
    """Every job is handled exactly once across the kill; the retry, the dead letter and the
    bounded burst show as the README says."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=90, check=True
    )
    lines = result.stdout.splitlines()
    killed = int(lines[0].split("after ")[1].split()[0])
    assert 0 < killed < 30, lines[0]
    assert lines[1] == (
        f"run 2: replayed {30 - killed} events from the spool; all 30 handled: True; duplicates: 0"
    )
    assert lines[2:] == [
        "reserve_stock succeeded on call 3",
        "charge_card: 1 event dead-lettered",
        "backpressure: 20 late events through max_pending=5: 20 handled, none lost",
    ]
