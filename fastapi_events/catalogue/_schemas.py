"""JSON Schemas of payload models, as the AsyncAPI document's ``components.schemas``.

pydantic writes JSON Schema 2020-12; an AsyncAPI 3.0 Schema Object is a superset of draft 07.
The few keywords that differ are rewritten: ``prefixItems`` (tuples) become draft 07's
array form of ``items``, and pydantic's OpenAPI-style ``discriminator`` object (AsyncAPI's
is a property name) moves to ``x-discriminator``. Nested models land beside the payload
models, referenced as ``#/components/schemas/<Name>``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from .._reporting import describe_handler

__all__ = ["REF_PREFIX", "SchemaSet", "draft07"]

logger = logging.getLogger(__name__)

REF_PREFIX = "#/components/schemas/"


class SchemaSet:
    """The schemas of some payload models: ``refs[model]`` points into ``components``."""

    def __init__(self, models: Iterable[type]) -> None:
        self.refs: dict[type, dict[str, Any]] = {}
        self.components: dict[str, Any] = {}
        unique = list(dict.fromkeys(models))
        usable = [model for model in unique if _generates(model)]
        self._generate(usable)
        for model in unique:
            if model not in self.refs:
                self.refs[model] = _unavailable(model)

    def _generate(self, models: list[type]) -> None:
        if not models:
            return
        from pydantic.json_schema import models_json_schema

        keyed = [(model, "serialization") for model in models]
        refs, definitions = models_json_schema(
            keyed,  # type: ignore[arg-type]
            ref_template=REF_PREFIX + "{model}",
        )
        for (model, _), ref in refs.items():
            self.refs[model] = dict(ref)
        for name, schema in definitions.get("$defs", {}).items():
            self.components[name] = draft07(schema)


def _generates(model: type) -> bool:
    """Whether pydantic can write ``model``'s schema (arbitrary types may not have one)."""
    if not hasattr(model, "model_json_schema"):
        logger.warning("no JSON Schema for %s: not a pydantic v2 model", describe_handler(model))
        return False
    try:
        model.model_json_schema(mode="serialization")
    except Exception as exc:
        logger.warning(
            "no JSON Schema for %s: pydantic raised %s", describe_handler(model), type(exc).__name__
        )
        return False
    return True


def _unavailable(model: type) -> dict[str, Any]:
    return {"description": f"No JSON Schema: pydantic cannot describe {describe_handler(model)}."}


#: Keywords whose value is a map of names to schemas, a list of schemas, or one schema; the
#: others hold data (``const``, ``default``, ``examples``...) and are copied as they are.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_ONES = frozenset(
    {"items", "additionalItems", "additionalProperties", "not", "if", "then", "else"}
    | {"contains", "propertyNames", "unevaluatedItems", "unevaluatedProperties"}
)


def draft07(schema: Any) -> Any:
    """``schema`` (JSON Schema 2020-12 from pydantic) with the keywords draft 07 reads
    otherwise rewritten, in every subschema."""
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            result[key] = {name: draft07(item) for name, item in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            result[key] = [draft07(item) for item in value]
        elif key in _SCHEMA_ONES:
            result[key] = [draft07(i) for i in value] if isinstance(value, list) else draft07(value)
        else:
            result[key] = value
    if "prefixItems" in result:
        rest = result.pop("items", None)
        result["items"] = result.pop("prefixItems")
        if rest is not None:
            result["additionalItems"] = rest
    if isinstance(result.get("discriminator"), dict):
        result["x-discriminator"] = result.pop("discriminator")
    return result
