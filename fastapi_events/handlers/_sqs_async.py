"""The SQS forwarder's asyncio transport: SendMessageBatch over SQS's JSON protocol, signed
with botocore's SigV4 signer and the boto3 client's credentials, region and endpoint, sent
on the event loop (:mod:`._aws_http`), so many sends are in flight without a thread each.

An error answer becomes the ``botocore.exceptions.ClientError`` botocore would raise (the
same ``Error.Code``, e.g. ``AWS.SimpleQueueService.BatchRequestTooLong``, and HTTP status),
so failures are classified the same way whichever transport sent the batch. botocore is
imported only when a transport is built.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import time
import urllib.request
import weakref
from typing import Any

from .._redact import capped_repr
from ..errors import ConfigurationError
from ._aws_http import ConnectionPool, HttpResponse

__all__ = [
    "TRANSPORTS",
    "SQSAsyncTransport",
    "asyncio_capable",
    "build_transport",
    "check_transport",
]

logger = logging.getLogger(__name__)

#: ``transport=`` choices: asyncio unless the configuration needs botocore's HTTP stack,
#: always asyncio, always boto3 in worker threads.
TRANSPORTS = ("auto", "asyncio", "botocore")

_TARGET_PREFIX = "AmazonSQS."
_CONTENT_TYPE = "application/x-amz-json-1.0"
#: Seconds a frozen copy of refreshable credentials is used before it is read again (in a
#: worker thread: a refresh may call STS). botocore refreshes 15 minutes before expiry.
_CREDENTIALS_TTL = 60.0


def asyncio_capable(client: Any) -> bool:
    """Whether the asyncio transport can send what ``client`` would: an http(s) endpoint
    reached directly (no proxy configured or set in the environment, no client
    certificate)."""
    config = client.meta.config
    if config.proxies or getattr(config, "client_cert", None):
        return False
    endpoint = client.meta.endpoint_url or ""
    scheme, _, rest = endpoint.partition("://")
    if scheme not in ("http", "https"):
        return False
    host = rest.split("/")[0].rpartition("@")[2].split(":")[0]
    proxies = urllib.request.getproxies_environment()
    return not (proxies.get(scheme) or proxies.get("all")) or bool(
        urllib.request.proxy_bypass(host)
    )


class _Credentials:
    """A frozen copy of the client's credentials, read again every minute off the loop."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self._frozen: Any = None
        self._read_at = 0.0

    async def current(self) -> Any:
        if self._source is None:
            from botocore.exceptions import NoCredentialsError  # type: ignore[import-untyped]

            raise NoCredentialsError()
        if self._frozen is None or time.monotonic() - self._read_at > _CREDENTIALS_TTL:
            self._frozen = await asyncio.to_thread(self._source.get_frozen_credentials)
            self._read_at = time.monotonic()
        return self._frozen


class SQSAsyncTransport:
    """Sends SendMessageBatch requests for one boto3 SQS client (built in a worker thread:
    loading the CA bundle takes milliseconds), with connections per event loop."""

    def __init__(
        self, client: Any, credentials: Any, client_kwargs: dict[str, Any], max_in_flight: int
    ) -> None:
        config = client.meta.config
        self._endpoint = client.meta.endpoint_url
        self._url = f"{self._endpoint.split('?')[0].rstrip('/')}/"
        self._region = client.meta.region_name
        self._credentials = _Credentials(credentials)
        https = self._endpoint.startswith("https:")
        self._ssl = _ssl_context(client_kwargs.get("verify")) if https else None
        self._timeouts = (float(config.connect_timeout), float(config.read_timeout))
        self._max_idle = max(int(config.max_pool_connections), max_in_flight)
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ConnectionPool] = (
            weakref.WeakKeyDictionary()
        )

    def _pool(self) -> ConnectionPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = ConnectionPool(
                self._endpoint,
                ssl_context=self._ssl,
                connect_timeout=self._timeouts[0],
                read_timeout=self._timeouts[1],
                max_idle=self._max_idle,
            )
        return pool

    async def send_message_batch(self, queue_url: str, entries: list[dict[str, Any]]) -> Any:
        """Send one batch; the parsed answer (``Successful``, ``Failed``).

        Raises:
            botocore.exceptions.ClientError: SQS answered with an error.
            botocore.exceptions.BotoCoreError: the connection failed or timed out.
        """
        return await self.call("SendMessageBatch", {"QueueUrl": queue_url, "Entries": entries})

    async def call(self, action: str, request: dict[str, Any]) -> Any:
        """Call the SQS ``action`` (``ReceiveMessage``...) with ``request`` (its JSON
        protocol's parameters); the parsed answer, as the JSON protocol gives it.

        Raises:
            botocore.exceptions.ClientError: SQS answered with an error.
            botocore.exceptions.BotoCoreError: the connection failed or timed out.
        """
        pool = self._pool()
        credentials = await self._credentials.current()
        response = await self._post(pool, credentials, action, request)
        if response.status >= 300:
            raise _client_error(response, action)
        return json.loads(response.body or b"{}")

    async def _post(
        self, pool: ConnectionPool, credentials: Any, action: str, request: Any
    ) -> HttpResponse:
        """The answer; a failed connection raises what botocore would (its error code
        names the failure: ``EndpointConnectionError``, ``ReadTimeoutError``...)."""
        from botocore import exceptions  # type: ignore[import-untyped]

        try:
            connection = await pool.connection()
        except asyncio.TimeoutError as exc:
            raise exceptions.ConnectTimeoutError(endpoint_url=self._url, error=exc) from exc
        except OSError as exc:
            raise exceptions.EndpointConnectionError(endpoint_url=self._url, error=exc) from exc
        try:
            body = json.dumps(request).encode()
            pool.send(connection, self._signed(credentials, body, pool.netloc, action), body)
            return await pool.response(connection)
        except asyncio.TimeoutError as exc:
            raise exceptions.ReadTimeoutError(endpoint_url=self._url, error=exc) from exc
        except (OSError, EOFError) as exc:
            raise exceptions.ConnectionClosedError(endpoint_url=self._url, error=exc) from exc
        except BaseException:
            connection.close()
            raise

    def close(self) -> None:
        """Close the idle connections."""
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            pool.close()

    def _signed(self, credentials: Any, body: bytes, host: str, action: str) -> dict[str, str]:
        from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

        headers = {
            "Host": host,
            "Content-Type": _CONTENT_TYPE,
            "X-Amz-Target": _TARGET_PREFIX + action,
        }
        request = AWSRequest("POST", self._url, data=body, headers=headers)
        SigV4Auth(credentials, "sqs", self._region).add_auth(request)
        return dict(request.headers.items())


def _client_error(response: HttpResponse, action: str) -> Exception:
    """The ``ClientError`` botocore raises for this answer (SQS's legacy query code from
    ``x-amzn-query-error`` when present, as botocore reads it)."""
    from botocore.exceptions import ClientError

    try:
        parsed = json.loads(response.body or b"{}")
    except ValueError:
        parsed = {}
    parsed = parsed if isinstance(parsed, dict) else {}
    code = str(parsed.get("__type", "")).rpartition("#")[2] or str(response.status)
    query_error = response.headers.get("x-amzn-query-error", "")
    if query_error:
        code = query_error.partition(";")[0]
    message = str(parsed.get("message", parsed.get("Message", "")))
    error = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": response.status, "HTTPHeaders": response.headers},
    }
    return ClientError(error, action)  # type: ignore[no-any-return]


def _ssl_context(verify: object) -> ssl.SSLContext:
    """Certificates as botocore checks them: ``verify=False`` skips the check, a path
    names a CA bundle, else ``AWS_CA_BUNDLE`` or botocore's default bundle."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if not isinstance(verify, str):
        from botocore.httpsession import get_cert_path  # type: ignore[import-untyped]

        verify = os.environ.get("AWS_CA_BUNDLE") or get_cert_path(True)
    return ssl.create_default_context(cafile=verify)


def check_transport(value: object) -> str:
    """``value`` if it names a transport.

    Raises:
        ConfigurationError: it does not (the message names its type and the choices).
    """
    if isinstance(value, str) and value in TRANSPORTS:
        return value
    shown = capped_repr(value) if isinstance(value, str) else type(value).__name__
    raise ConfigurationError(
        f"transport must be one of {', '.join(map(repr, TRANSPORTS))}, got {shown}; "
        f'pass transport="auto" (asyncio unless a proxy or client certificate is set)'
    )


def build_transport(
    mode: str, session: Any, client: Any, client_kwargs: dict[str, Any], max_in_flight: int
) -> SQSAsyncTransport | None:
    """The asyncio transport for ``client``, or ``None`` to send with boto3 in worker
    threads (``mode`` ``"botocore"``, or ``"auto"`` when :func:`asyncio_capable` says no).
    Runs in a worker thread."""
    if mode == "botocore" or (mode == "auto" and not asyncio_capable(client)):
        if mode == "auto":
            logger.info("SQS sends go through boto3 in worker threads (a proxy or client cert)")
        return None
    if "aws_access_key_id" in client_kwargs:
        from botocore.credentials import Credentials  # type: ignore[import-untyped]

        credentials = Credentials(
            client_kwargs["aws_access_key_id"],
            client_kwargs.get("aws_secret_access_key"),
            client_kwargs.get("aws_session_token"),
        )
    else:
        credentials = session.get_credentials()
    return SQSAsyncTransport(client, credentials, client_kwargs, max_in_flight)
