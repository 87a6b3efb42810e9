"""Packaging: a user's type checker sees the installed package's types, editable installs too."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fastapi_events

USER_FILE = """\
from fastapi_events.dispatcher import dispatch
from fastapi_events.typing import Event

reveal_type(dispatch)
reveal_type(Event)
"""


def _run_mypy(workdir: Path) -> str:
    """Run this interpreter's mypy on a user's file in ``workdir``, return its report."""
    (workdir / "user.py").write_text(USER_FILE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "MYPYPATH"}}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "user.py"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.stdout + result.stderr


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_mypy_outside_the_repository_sees_the_package_types(tmp_path: Path) -> None:
    """mypy --strict on a file outside the checkout finds the package (no import-not-found)."""
    repository = Path(fastapi_events.__file__).resolve().parent.parent
    assert repository not in tmp_path.resolve().parents
    report = _run_mypy(tmp_path)
    assert "import-not-found" not in report, report
    assert 'Revealed type is "def (' in report, report
