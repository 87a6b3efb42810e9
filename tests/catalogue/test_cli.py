"""``python -m fastapi_events.catalogue``: the document written to a file or stdout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fastapi_events.catalogue._cli import main

Parser = Callable[[dict[str, Any]], Any]
APP = "tests.catalogue.cli_app"
REGISTRY = ["--registry", f"{APP}:registry"]


def test_writes_the_document_of_an_app_to_a_file(tmp_path: Path, asyncapi_parser: Parser) -> None:
    """module:app --output FILE writes the valid document, with the title and version."""
    output = tmp_path / "asyncapi.json"
    status = main([f"{APP}:app", *REGISTRY, "-o", str(output), "--title", "Shop", "--version", "3"])
    assert status == 0
    document = json.loads(output.read_text())
    assert document["info"]["title"] == "Shop"
    assert document["info"]["version"] == "3"
    assert set(document["operations"]) == {"on_order", "send.memory.box"}
    assert list(document["components"]["schemas"]) == ["OrderPlaced"]
    asyncapi_parser(document)


def test_handlers_a_factory_stdout_and_html(capsys: pytest.CaptureFixture[str]) -> None:
    """A list of handlers, --factory, stdout by default, and --format html."""
    assert main([f"{APP}:handlers", *REGISTRY]) == 0
    from_handlers = json.loads(capsys.readouterr().out)
    assert main([f"{APP}:create_app", "--factory", *REGISTRY]) == 0
    assert json.loads(capsys.readouterr().out) == from_handlers
    assert main([f"{APP}:app", "--format", "html"]) == 0
    assert capsys.readouterr().out.startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("no_such_module_here:app", "No module named 'no_such_module_here' (ModuleNotFoundError)"),
        (f"{APP}:missing", "has no attribute 'missing' (AttributeError)"),
        ("tests.catalogue.cli_app", "expected module:attr, got 'tests.catalogue.cli_app'"),
        (
            f"{APP}:registry",
            "found no EventHandlerASGIMiddleware in a value of type EventPayloadSchemaRegistry",
        ),
    ],
)
def test_a_wrong_source_is_one_line_and_status_2(
    source: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Import errors and sources without handlers: exit status 2, one line on stderr."""
    assert main([source]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert error in err
