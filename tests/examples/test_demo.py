"""The main demo runs end to end and its timeline shows what the README promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).parents[2] / "examples" / "demo.py"


def test_demo_timeline() -> None:
    """Responses complete before their handlers; the chain and the isolated failure show."""
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [line.split(None, 2)[2] for line in result.stdout.splitlines()]

    def index(fragment: str) -> int:
        return next(i for i, line in enumerate(lines) if fragment in line)

    assert index("response to /signup complete") < index("send_welcome_email started")
    assert index("response to /orders complete") < index("charge_card started")
    assert index("send_welcome_email started") < index("audit saw chained event email.sent")
    assert index("charge_card started") < index("notify_warehouse still runs")
    assert "ConnectionError('payment gateway unreachable')" in lines[index("on_error")]
