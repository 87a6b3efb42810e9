"""Scenario 6, the SQS process: moto's server on 127.0.0.1 (a free port, printed on stdout),
counting the SQS calls it answers.

Runs in its own process so moto's CPU work does not hold the GIL of the process whose
event loop is measured. ``GET /__bench__/counts`` answers the counts as JSON, e.g.
``{"SendMessageBatch": 1000, "stored": 10000}`` (``stored``: messages taken out of
the queues after each send, so queues never fill). The action is read from the
``X-Amz-Target`` header (SQS JSON protocol) or the ``Action`` form field (query protocol).
"""

from __future__ import annotations

import io
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

__all__ = ["CountingApp", "main"]

COUNTS_PATH = "/__bench__/counts"


class CountingApp:
    """WSGI middleware counting requests per SQS action."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == COUNTS_PATH:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(dict(self.counts)).encode()]
        action = self._action(environ)
        self.counts[action] += 1
        response = self.app(environ, start_response)
        if action in ("SendMessageBatch", "SendMessage"):
            self.counts["stored"] += _take_stored_messages()
        return response

    @staticmethod
    def _action(environ: dict[str, Any]) -> str:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            return str(target.rpartition(".")[2])
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        return parse_qs(body.decode()).get("Action", ["?"])[0]


def _take_stored_messages() -> int:
    """Remove what the queues hold and count it: moto scans a queue on every send, so a
    filling queue would make the server, not the client, the thing measured."""
    from moto.sqs.models import sqs_backends

    taken = 0
    for account in sqs_backends.values():
        for backend in account.values():
            for queue in backend.queues.values():
                taken += len(queue._messages)
                queue._messages = []
    return taken


def main() -> None:
    """Serve until killed."""
    app = CountingApp(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, True, request_handler=MotoRequestHandler)
    sys.stdout.write(json.dumps({"port": server.server_address[1]}) + "\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
