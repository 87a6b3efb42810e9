"""Reliability under a real uvicorn: cancellation, shutdown and stragglers, counted by event.

Every scenario ends with the same check: handled + reported == dispatched, no event in
both, none twice. The counts are printed (``pytest -s``) for the closing notes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.servers.uvicorn import free_port

ROOT = Path(__file__).parent.parent.parent
TIMEOUT = 10.0


@contextmanager
def uvicorn_app(out: Path, *extra: str, **env: str) -> Iterator[str]:
    """Run tests/reliability/app.py under uvicorn on 127.0.0.1; SIGTERM it at exit."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "tests.reliability.app:app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--log-level", "critical", *extra]
    server = subprocess.Popen(cmd, env={**os.environ, "OUT_DIR": str(out), **env}, cwd=ROOT)
    try:
        _wait_until_up(port, server)
        yield f"http://127.0.0.1:{port}"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _wait_until_up(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and server.poll() is None:
        try:
            httpx.get(f"http://127.0.0.1:{port}/nothing", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("uvicorn did not start")


def outcome(out: Path, dispatched: set[str], scenario: str) -> tuple[list[str], Counter[str]]:
    """Check exactly one outcome per event; return the handled labels and report kinds."""
    handled = _lines(out / "handled")
    reported = [line.split() for line in _lines(out / "reported")]
    reported_labels = [label for label, _ in reported]
    kinds = Counter(kind for _, kind in reported)
    print(f"\n{scenario}: dispatched {len(dispatched)}, handled {len(handled)}, reported {kinds}")
    assert len(set(handled)) == len(handled), "an event was handled twice"
    assert len(set(reported_labels)) == len(reported_labels), "an event was reported twice"
    assert not set(handled) & set(reported_labels), "an event was handled and reported"
    assert set(handled) | set(reported_labels) == dispatched, "an event was lost"
    return handled, kinds


def _lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def test_graceful_shutdown_timeout_cancels_drains_without_losing_events(tmp_path: Path) -> None:
    """uvicorn cancels 40 draining requests after 1 s: the rest finish or are reported."""
    env = {"HANDLER_DELAY": "0.3", "SHUTDOWN_TIMEOUT": "1"}
    with uvicorn_app(tmp_path, "--timeout-graceful-shutdown", "1", **env) as url:
        for r in range(40):
            assert httpx.get(f"{url}/burst?tag=r{r}&n=10", timeout=TIMEOUT).text == "ok"
    dispatched = {f"r{r}-{i}" for r in range(40) for i in range(10)}
    handled, kinds = outcome(tmp_path, dispatched, "graceful-shutdown cancellation")
    assert handled, "the drains had started"
    assert set(kinds) <= {"ShutdownTimeoutError"}


@pytest.mark.parametrize(
    ("delay", "shutdown_timeout"), [("0.01", "10"), ("0.2", "0.5")], ids=["drained", "cut-off"]
)
def test_stragglers_are_drained_or_reported_at_shutdown(
    tmp_path: Path, delay: str, shutdown_timeout: str
) -> None:
    """Events dispatched by tasks that outlive their request: handled, or reported exactly."""
    env = {"HANDLER_DELAY": delay, "SHUTDOWN_TIMEOUT": shutdown_timeout}
    with uvicorn_app(tmp_path, **env) as url:
        for r in range(20):
            assert httpx.get(f"{url}/straggler?tag=s{r}", timeout=TIMEOUT).text == "ok"
        time.sleep(0.3)  # the tasks dispatch 50 ms after their response
    dispatched = {f"s{r}-{i}" for r in range(20) for i in range(5)}
    handled, kinds = outcome(tmp_path, dispatched, f"stragglers (delay {delay} s)")
    if shutdown_timeout == "10":
        assert len(handled) == 100
    assert set(kinds) <= {"ShutdownTimeoutError", "EventsCancelledError"}


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Python 3.10 has no Task.cancelling()")
def test_a_handlers_cancelled_error_never_reaches_the_server(tmp_path: Path) -> None:
    """Handlers raising a foreign CancelledError: keep-alive requests all succeed, siblings run."""
    with uvicorn_app(tmp_path) as url, httpx.Client(timeout=TIMEOUT) as client:
        statuses = [
            client.get(f"{url}/burst?tag=k{r}&n=10&cancel_every=5").status_code for r in range(100)
        ]
    assert statuses == [200] * 100
    dispatched = {f"k{r}-{i}" for r in range(100) for i in range(10)}
    handled, kinds = outcome(tmp_path, dispatched, "foreign CancelledError in handlers")
    assert (len(handled), kinds) == (800, Counter(CancelledError=200))
