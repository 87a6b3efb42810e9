"""examples/http_ingress.py runs end to end under uvicorn on 127.0.0.1."""

from __future__ import annotations

from tests.examples import _run


def test_example_handles_refuses_and_retries() -> None:
    """Signed events are handled once each (the batch retry skips the one handled before);
    the forged, invalid and oversize requests get 401, 422 and 413."""
    result = _run.run_example("http_ingress.py", "")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    answers = [line.split(" -> ")[1][:3] for line in lines if line.startswith("POST")]
    assert answers == ["200", "200", "401", "422", "413", "500", "200"]
    handled = sorted(line.split()[2] for line in lines if line.startswith("handled"))
    assert handled == ["order=1", "order=2", "order=3", "order=4", "order=8"]
    assert "data.quantity: int_parsing" in result.stdout
    assert "a-dozen-or-so" not in result.stdout + result.stderr  # the bad value never echoed
    assert lines[-1] == "stats handled=5 failed=1 duplicates=1 rejected=2 unauthorized=1"
