"""examples/outbox.py: orders and their events commit together; the relay in the lifespan
publishes the committed ones, in order, to a local handler."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "outbox.py"


def test_only_committed_orders_events_are_handled_in_order() -> None:
    """The sold-out order's transaction rolls back: no row, no event; the others go out."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "POST /orders?item=unicorn -> 409" in lines[1]
    assert [line for line in lines if line.startswith("handled")] == [
        "handled order.placed {'order': 1, 'item': 'book'} (request r1)",
        "handled order.placed {'order': 2, 'item': 'pen'} (request r3)",
    ]
    assert "orders: ['book', 'pen']" in lines
    assert "outbox rows: [('order.placed', 'published'), ('order.placed', 'published')]" in lines


def test_without_sqlalchemy_the_example_names_the_extra() -> None:
    """Exit status 1 and one line: pip install the sqlalchemy extra."""
    code = (
        "import sys, runpy; sys.modules['sqlalchemy'] = None; "
        f"runpy.run_path({str(EXAMPLE)!r}, run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "this example needs sqlalchemy: pip install -e '.[sqlalchemy,examples]'"
    ]
