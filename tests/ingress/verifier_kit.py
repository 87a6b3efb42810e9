"""What the verifier tests share: RSA keys and certificates made here, and a small HTTP
server on 127.0.0.1 serving a JWKS or a certificate and counting every GET."""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import hmac
import ipaddress
import json
import ssl
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fastapi_events.ingress import IngressRequest


@functools.cache
def rsa_key(number: int) -> rsa.RSAPrivateKey:
    """RSA key ``number`` (made once per test session: key generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks(*kids: int) -> bytes:
    """A JWKS document with the public halves of keys ``kids``, key id ``k<n>``."""
    keys = []
    for number in kids:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key(number).public_key()))
        keys.append({**jwk, "kid": f"k{number}", "alg": "RS256", "use": "sig"})
    return json.dumps({"keys": keys}).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_token(claims: Mapping[str, Any], secret: bytes, kid: str) -> str:
    """A token whose HMAC secret is ``secret`` (PyJWT refuses a PEM key there: built here)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64url(json.dumps(dict(claims)).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(signature)}"


def certificate_pem(number: int, *, days: tuple[int, int] = (-1, 30)) -> bytes:
    """A self-signed certificate for key ``number``, valid from/to ``days`` around now."""
    key = rsa_key(number)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.test.amazonaws.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def tls_contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1, and a client context trusting it."""
    key = rsa_key(3)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return server, ssl.create_default_context(cadata=pem.decode())


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter; its stdout, stripped."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    return result.stdout.strip()


def request(headers: Mapping[str, str], body: bytes = b"{}") -> IngressRequest:
    """A POST to the ingress with these (lower-case) headers."""
    return IngressRequest(method="POST", path="/events", headers=dict(headers), body=body)


class KeyServer:
    """Bodies by path over real HTTP on 127.0.0.1; ``hits`` counts GETs per path."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bodies: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def fetch(self, url: str) -> bytes:
        """A verifier's ``fetch``: GET ``url``'s path from this server (any host named)."""
        path = urlsplit(url).path
        async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
            response = await client.get(f"http://127.0.0.1:{self.port}{path}")
        response.raise_for_status()
        return response.content


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client refusing our certificate is a test's point: no traceback on stderr."""


@contextmanager
def key_server(tls: ssl.SSLContext | None = None) -> Iterator[KeyServer]:
    """A running :class:`KeyServer` (HTTPS with the server context ``tls``), shut down at exit."""
    state: list[KeyServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served = state[0]
            with served.lock:
                served.hits[self.path] += 1
                body = served.bodies.get(self.path)
                location = served.redirects.get(self.path)
            if location is not None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

    server = _QuietServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        # The handshake happens in the handler thread (a failed one is closed cleanly there).
        server.socket = tls.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    state.append(KeyServer(server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
