"""The verifiers' built-in fetcher, against a real HTTPS server on 127.0.0.1."""

from __future__ import annotations

import ssl
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastapi_events.ingress._fetching import https_fetcher
from tests.ingress.verifier_kit import KeyServer, key_server, tls_contexts

pytestmark = pytest.mark.anyio


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting the server's self-signed certificate)."""
    return tls_contexts(tmp_path)


@pytest.fixture
def https(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> Iterator[KeyServer]:
    """An HTTPS KeyServer serving /keys."""
    with key_server(tls[0]) as server:
        server.bodies["/keys"] = b'{"keys": []}'
        yield server


def url(server: KeyServer, path: str) -> str:
    return f"https://127.0.0.1:{server.port}{path}"


async def test_it_gets_an_https_body(
    https: KeyServer, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """A GET over TLS returns the body."""
    assert await https_fetcher(context=tls[1])(url(https, "/keys")) == b'{"keys": []}'
    assert https.hits["/keys"] == 1


async def test_it_refuses_plain_http_without_connecting(https: KeyServer) -> None:
    """http:// (or any other scheme) is refused before any connection."""
    with pytest.raises(ValueError, match="only fetches https://"):
        await https_fetcher()(f"http://127.0.0.1:{https.port}/keys")
    assert sum(https.hits.values()) == 0


async def test_it_refuses_a_body_over_the_cap(
    https: KeyServer, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """A response over max_bytes is an error, not a truncated key set."""
    https.bodies["/big"] = b"x" * 2048
    with pytest.raises(ValueError, match="over 1024 bytes"):
        await https_fetcher(context=tls[1], max_bytes=1024)(url(https, "/big"))


async def test_it_does_not_follow_redirects(
    https: KeyServer, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """A 3xx is an error: a redirect could lead off the allow-listed host."""
    https.redirects["/moved"] = url(https, "/keys")
    with pytest.raises(urllib.error.HTTPError):
        await https_fetcher(context=tls[1])(url(https, "/moved"))
    assert https.hits["/keys"] == 0


async def test_it_checks_the_server_certificate(https: KeyServer) -> None:
    """The default context verifies TLS: a self-signed server is refused."""
    with pytest.raises(urllib.error.URLError):
        await https_fetcher()(url(https, "/keys"))
    assert https.hits["/keys"] == 0
