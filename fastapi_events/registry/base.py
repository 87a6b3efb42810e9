"""A mapping from event name to the pydantic model its payload must match."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, TypeVar, overload

from .._event import EventName, normalize_event_name
from .._redact import capped_repr
from ..errors import ConfigurationError, MissingEventNameDuringRegistration

__all__ = ["BaseEventPayloadSchemaRegistry"]

SchemaT = TypeVar("SchemaT", bound=type)


def _check_schema(schema: object) -> None:
    if not (isinstance(schema, type) and hasattr(schema, "model_validate")):
        raise ConfigurationError(
            f"payload schema must be a pydantic.BaseModel subclass, got {capped_repr(schema)}; "
            f"define it as `class MyPayload(BaseModel): ...`"
        )


class BaseEventPayloadSchemaRegistry(MutableMapping[str, type]):
    """Event name → pydantic model. Keys are names as matched: an Enum by its value.

    Every way in (``register``, ``registry[name] = Model``) rejects a class that is not a
    pydantic model.
    """

    def __init__(self) -> None:
        self._schemas: dict[str, type] = {}

    def lookup(self, key: str) -> type | None:
        """Return the schema for a normalised event name, or ``None``: the dispatch fast path."""
        return self._schemas.get(key)

    def __getitem__(self, name: EventName) -> type:
        return self._schemas[normalize_event_name(name)]

    def __setitem__(self, name: EventName, schema: type) -> None:
        _check_schema(schema)
        self._schemas[normalize_event_name(name)] = schema

    def __delitem__(self, name: EventName) -> None:
        del self._schemas[normalize_event_name(name)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._schemas)

    def __len__(self) -> int:
        return len(self._schemas)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._schemas!r})"

    @overload
    def register(self, _schema: SchemaT, event_name: EventName | None = None) -> SchemaT: ...

    @overload
    def register(
        self, _schema: None = None, event_name: EventName | None = None
    ) -> Callable[[SchemaT], SchemaT]: ...

    def register(self, _schema: Any = None, event_name: EventName | None = None) -> Any:
        """Register a pydantic model as the payload schema of an event name.

        Use bare (``@registry.register``, the name comes from the class's
        ``__event_name__``) or with ``@registry.register(event_name="user.created")``.
        Returns the class unchanged.

        Raises:
            MissingEventNameDuringRegistration: no ``event_name`` and no ``__event_name__``.
            ConfigurationError: the class is not a pydantic model.
        """

        def decorate(schema: SchemaT) -> SchemaT:
            _check_schema(schema)
            name = event_name if event_name is not None else getattr(schema, "__event_name__", None)
            if name is None:
                raise MissingEventNameDuringRegistration(
                    f"{schema.__qualname__} has no event name: use "
                    f"@registry.register(event_name='...') or set __event_name__ on the class"
                )
            self[name] = schema
            return schema

        return decorate if _schema is None else decorate(_schema)
