"""Running an example script in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[2] / "examples"


def run_example(name: str, unset: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``examples/<name>`` with ``env`` on top of this environment, minus ``unset``."""
    environ = {k: v for k, v in os.environ.items() if k != unset}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**environ, **env},
    )
