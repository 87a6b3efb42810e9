"""``python -m fastapi_events.catalogue module:app --output asyncapi.json``.

Imports the app (or middleware, or handlers) ``module:attr`` names, builds its AsyncAPI
document and writes it, as JSON or as the HTML page. Nothing connects: forwarders open
their clients at startup, which the command never runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._redact import capped_text
from ..errors import FastapiEventError
from ._catalogue import EventCatalogue
from ._html import render_html

__all__ = ["load", "main", "parser"]

#: What a wrong ``module:attr`` or option raises while the command runs.
_ERRORS = (ImportError, AttributeError, ValueError, TypeError, OSError, FastapiEventError)


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m fastapi_events.catalogue``."""
    command = argparse.ArgumentParser(
        prog="python -m fastapi_events.catalogue",
        description="Write the AsyncAPI 3.0 document of an app's events.",
    )
    command.add_argument("source", help="module:attr of the app, middleware or handlers")
    command.add_argument("--output", "-o", default="-", help="the file to write (- : stdout)")
    command.add_argument("--format", choices=["json", "html"], default="json")
    command.add_argument("--title", default="Events", help="the document's title")
    command.add_argument("--version", default="1.0.0", help="the version of your events")
    command.add_argument("--description", help="the document's description")
    command.add_argument("--registry", help="module:attr of the payload schema registry")
    command.add_argument("--factory", action="store_true", help="call source to get the app")
    command.add_argument("--app-dir", default=".", help="where to import modules from")
    return command


def load(spec: str) -> Any:
    """The object ``module:attr`` names (``attr`` may be dotted)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected module:attr, got {capped_text(spec, 200)!r}")
    found: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0, or 2 with one line on stderr)."""
    options = parser().parse_args(argv)
    app_dir = str(Path(options.app_dir).resolve())
    sys.path.insert(0, app_dir)
    try:
        text = _render(options)
        if options.output == "-":
            sys.stdout.write(text)
        else:
            Path(options.output).write_text(text, encoding="utf-8")
    except _ERRORS as exc:
        print(f"error: {capped_text(str(exc), 400)} ({type(exc).__name__})", file=sys.stderr)
        return 2
    finally:
        sys.path.remove(app_dir)
    return 0


def _render(options: argparse.Namespace) -> str:
    source = load(options.source)
    if options.factory:
        source = source()
    catalogue = EventCatalogue(
        source,
        title=options.title,
        version=options.version,
        description=options.description,
        registry=load(options.registry) if options.registry else None,
    )
    document = catalogue.document()
    if options.format == "html":
        return render_html(document)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
