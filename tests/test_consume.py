"""``python -m fastapi_events.consume``: targets, exit statuses (SIGTERM: the end-to-end
test in tests/consumers/test_end_to_end.py)."""

from __future__ import annotations

import logging

import pytest

from fastapi_events.consume import main


def test_a_module_that_does_not_exist_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A wrong module:attr is one line on stderr and status 2, no traceback."""
    assert main(["tests.no_such_module:consumer"]) == 2
    assert capsys.readouterr().err.startswith("error: ModuleNotFoundError")


def test_a_target_that_is_not_a_consumer_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """module:attr must name a Consumer, a list of them or a function returning one."""
    assert main(["tests.consumers.kit:PATIENCE"]) == 2
    assert "must name a Consumer" in capsys.readouterr().err


def test_without_module_and_attribute_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A target without a colon is refused."""
    assert main(["tests.consumers.kit"]) == 2
    assert "expected module:attr" in capsys.readouterr().err


def test_a_consumer_that_cannot_start_exits_1(caplog: pytest.LogCaptureFixture) -> None:
    """A factory is called; its consumer's start fails (no Redis there): status 1."""
    with caplog.at_level(logging.ERROR, "fastapi_events.consumers"):
        assert main(["tests.consumers.unreachable:consumer"]) == 1
    assert "the worker stopped on an error" in caplog.text


def test_a_negative_shutdown_timeout_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """--shutdown-timeout is checked before anything starts."""
    target = "tests.consumers.unreachable:consumer"
    assert main([target, "--shutdown-timeout", "-1"]) == 2
    assert "--shutdown-timeout" in capsys.readouterr().err
