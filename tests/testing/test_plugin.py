"""The pytest plugin, as a user gets it: a separate pytest run with no conftest at all."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

FIXTURES = {
    "captured_events",
    "intercepted_events",
    "muted_events",
    "event_recorder",
    "isolated_events",
}

USER_TESTS = """
import pytest

from fastapi_events import event_scope
from fastapi_events.dispatcher import dispatch
from fastapi_events.handlers.local import local_handler
from fastapi_events.testing import wait_until_handled

OURS = {fixtures!r}


async def noop(event):
    pass


@pytest.fixture
def anyio_backend():
    return "asyncio"  # the library runs on asyncio


def test_captured(captured_events):
    with pytest.raises(LookupError):  # handled normally: outside a request it raises
        dispatch("outside")
    captured_events.assert_dispatched("outside")


def test_intercepted(intercepted_events):
    dispatch("job.done", {{"rows": 3}})
    intercepted_events.assert_dispatched("job.done", {{"rows": 3}})


def test_muted(muted_events):
    dispatch("anything")
    assert muted_events.count == 1


@pytest.mark.anyio
async def test_async_with_anyio(captured_events, event_recorder):
    async with event_scope(handlers=[event_recorder]):
        dispatch("report.ready", lambda: {{"rows": 2}})
    await wait_until_handled()
    event_recorder.assert_dispatched("report.ready", {{"rows": 2}})
    captured_events.assert_dispatched("report.ready")


@pytest.mark.asyncio
async def test_async_with_pytest_asyncio(captured_events, event_recorder):
    async with event_scope(handlers=[event_recorder]):
        dispatch("report.ready", {{"rows": 5}})
    await wait_until_handled()
    event_recorder.assert_dispatched("report.ready", {{"rows": 5}})
    captured_events.assert_dispatched("report.ready")


def test_no_fixture_is_autouse(request):
    assert not OURS & set(request.fixturenames)


def test_leak_1_registers_without_isolation():
    local_handler.register(noop, event_name="leaked")


def test_leak_2_sees_the_leak():
    assert local_handler.matching("leaked")


@pytest.mark.usefixtures("isolated_events")
def test_iso_1_registers_with_isolation():
    local_handler.register(noop, event_name="isolated")


def test_iso_2_sees_nothing_of_it():
    assert not local_handler.matching("isolated")


def test_zz_failing_assertion(intercepted_events):
    dispatch("order.create", {{"id": 7, "total": 10}})
    dispatch("order.created", {{"id": 7, "total": 12}})
    intercepted_events.assert_dispatched("order.created", {{"total": 10}})
"""


class Run:
    """The outcome of one pytest run: per-test results and the terminal output."""

    def __init__(self, directory: Path) -> None:
        report = directory / "report.xml"
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:randomly",
                "-p",
                "no:cacheprovider",
                f"--junitxml={report}",
                str(directory),
            ],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.output = completed.stdout + completed.stderr
        self.outcomes: dict[str, str] = {}
        for case in ElementTree.parse(report).iter("testcase"):
            failed = case.find("failure") is not None or case.find("error") is not None
            self.outcomes[case.attrib["name"]] = "failed" if failed else "passed"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One pytest run over a user's test module, with no conftest and a bare config."""
    directory = tmp_path_factory.mktemp("user_project")
    (directory / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    (directory / "test_user.py").write_text(USER_TESTS.format(fixtures=FIXTURES))
    return Run(directory)


@pytest.mark.parametrize(
    "test",
    [
        "test_captured",
        "test_intercepted",
        "test_muted",
        "test_async_with_anyio",
        "test_async_with_pytest_asyncio",
    ],
)
def test_fixtures_work_without_a_conftest(run: Run, test: str) -> None:
    """Each fixture is there from the entry point alone, in sync and anyio tests."""
    assert run.outcomes[test] == "passed", run.output


def test_no_fixture_of_the_plugin_is_autouse(run: Run) -> None:
    """A test that asks for none of the fixtures gets none of them."""
    assert run.outcomes["test_no_fixture_is_autouse"] == "passed", run.output


def test_registrations_leak_between_tests_without_isolation(run: Run) -> None:
    """Without the opt-in fixture, module state is left alone (nothing lost by surprise)."""
    assert run.outcomes["test_leak_2_sees_the_leak"] == "passed", run.output


def test_isolation_fixture_undoes_a_tests_registrations(run: Run) -> None:
    """With isolated_events, the next test does not see what the test registered."""
    assert run.outcomes["test_iso_2_sees_nothing_of_it"] == "passed", run.output


def test_failing_assertion_reads_well_in_pytest_output(run: Run) -> None:
    """The user sees the message, with the differing key, and no frames of the kit."""
    assert run.outcomes["test_zz_failing_assertion"] == "failed"
    expected = textwrap.dedent(
        """\
        E       AssertionError: expected an event matching 'order.created' with a payload containing {'total': 10} to be dispatched, but none was.
        E       Dispatched (2 events, closest match first):
        E         #2 'order.created' {'id': 7, 'total': 12}
        E             - 'total': expected 10, got 12
        E         #1 'order.create' {'id': 7, 'total': 10}
        """  # noqa: E501 - pytest's own line, as the user reads it
    )
    assert expected in run.output, run.output
    assert "_assertions.py" not in run.output


def test_plugin_module_imports_no_web_framework() -> None:
    """Loading the plugin (done in every pytest run) imports no framework or client."""
    code = (
        "import sys, fastapi_events.testing.plugin; "
        "print(sorted({m.split('.')[0] for m in sys.modules} "
        "& {'fastapi', 'starlette', 'litestar', 'httpx'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
