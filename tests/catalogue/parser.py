"""The official AsyncAPI parser (npm ``@asyncapi/parser``), run with the machine's Node.js.

* ``asyncapi_parser`` (session): a function that parses a document with the parser and
  fails the test with the parser's diagnostics when it finds an error; returns the
  diagnostics (warnings, information) otherwise. Call it last in a test: where the parser
  cannot run, it skips the test there.

The parser is installed by ``npm ci`` in this directory (``package.json`` and
``package-lock.json`` pin it; ``.ci/run`` does it before the tests). Where ``node_modules``
is missing the fixture runs ``npm ci`` once. Without ``node`` or ``npm`` the tests skip,
or fail when ``FASTAPI_EVENTS_REQUIRE_NODE=1`` (CI, where Node.js is installed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

__all__ = ["NODE_DIR", "REQUIRE_NODE_ENV", "Diagnostics", "asyncapi_parser", "parser_process"]

#: Truthy: a missing Node.js or parser fails the tests instead of skipping them (CI sets it).
REQUIRE_NODE_ENV = "FASTAPI_EVENTS_REQUIRE_NODE"
NODE_DIR = Path(__file__).parent
_INSTALLED = NODE_DIR / "node_modules" / "@asyncapi" / "parser" / "package.json"
_NPM_CI = ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]

#: The parser's diagnostics of one document: severity, code, path, message.
Diagnostics = list[dict[str, str]]


def missing(reason: str) -> NoReturn:
    """Skip, or fail where Node.js is required."""
    if os.environ.get(REQUIRE_NODE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_NODE_ENV}=1)")
    pytest.skip(f"{reason}; {REQUIRE_NODE_ENV}=1 makes this a failure")


def _install() -> None:
    npm = shutil.which("npm")
    if npm is None:
        missing("npm is not installed: cannot install @asyncapi/parser to validate documents")
    try:
        subprocess.run(
            [npm, *_NPM_CI], cwd=NODE_DIR, capture_output=True, text=True, timeout=300, check=True
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        tail = (getattr(exc, "stderr", "") or "")[-600:]
        missing(f"`npm ci` in {NODE_DIR} failed (is the npm registry reachable?): {tail}")


def parser_process() -> subprocess.Popen[str]:
    """``node validate.js --lines``, with the parser installed first if needed."""
    node = shutil.which("node")
    if node is None:
        missing("node is not installed: the AsyncAPI parser (Node.js) cannot validate documents")
    if not _INSTALLED.is_file():
        _install()
    return subprocess.Popen(
        [node, str(NODE_DIR / "validate.js"), "--lines"],
        cwd=NODE_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class _Session:
    """One ``node validate.js --lines`` process, started at the first document."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None

    def validate(self, document: dict[str, Any]) -> Diagnostics:
        if self.process is None:
            self.process = parser_process()
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps(document) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            error = self.process.stderr.read() if self.process.stderr else ""
            pytest.fail(f"the AsyncAPI parser exited: {error[-2000:]}")
        result = json.loads(line)
        errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
        assert result["valid"], "the AsyncAPI parser refused the document:\n" + "\n".join(
            f"{d['path']}: {d['message']} ({d['code']})" for d in errors
        )
        diagnostics: Diagnostics = result["diagnostics"]
        return diagnostics

    def close(self) -> None:
        process = self.process
        if process is None:
            return
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def asyncapi_parser() -> Iterator[Callable[[dict[str, Any]], Diagnostics]]:
    """Validate documents with the official AsyncAPI parser (one Node.js process per session,
    started at the first document: a test's own assertions run before any skip)."""
    session = _Session()
    try:
        yield session.validate
    finally:
        session.close()
