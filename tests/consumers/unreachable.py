"""A worker target whose consumer cannot start: Redis on a port nobody listens on."""

from fastapi_events.consumers import RedisStreamConsumer
from fastapi_events.handlers.local import LocalHandler
from tests.servers.redis_server import free_port


def consumer() -> RedisStreamConsumer:
    """A factory, as ``python -m fastapi_events.consume module:function`` accepts."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    return RedisStreamConsumer("orders", group="workers", url=url, handlers=[LocalHandler()])
