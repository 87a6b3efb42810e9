"""The catalogue as one HTML page, rendered on the server: no script, no CDN, no web font.

Tables of channels, operations, messages (the events, then each channel's messages as they
go on the wire) and payload schemas, with links between them. Every text is escaped.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .._redact import capped_text

__all__ = ["CONTENT_SECURITY_POLICY", "render_html"]

#: The page needs nothing but its own inline style.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
_REF = "#/components/schemas/"
_MAX_DEPTH = 3
_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;
color:#1b1f24}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #d0d7de}
table{border-collapse:collapse;width:100%;margin:.6rem 0 1.2rem}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f7}code{font-size:13px;background:#f3f5f7;padding:0 .2rem}
.send{color:#0a6b2d;font-weight:600}.receive{color:#0b4fa3;font-weight:600}
.muted{color:#5b636b}ul{margin:0;padding-left:1.1rem}a{color:#0b4fa3}
"""


_CODE = re.compile(r"`([^`<>]+)`")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _md(text: object) -> str:
    """Escaped text, with CommonMark's `code` spans as <code>."""
    return _CODE.sub(r"<code>\1</code>", _e(text))


def _resolve(document: Mapping[str, Any], ref: str) -> Any:
    """What a local ``$ref`` (``#/channels/x/messages/y``) points to, or ``None``."""
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node


def _message_name(document: Mapping[str, Any], key: str, message: Any) -> str:
    while isinstance(message, Mapping) and isinstance(message.get("$ref"), str):
        message = _resolve(document, message["$ref"])
    return str(message.get("name", key)) if isinstance(message, Mapping) else key


def render_html(document: Mapping[str, Any], *, json_url: str | None = None) -> str:
    """``document`` (an AsyncAPI 3.0 document) as a standalone HTML page.

    Args:
        document: the document, as :meth:`EventCatalogue.document` builds it.
        json_url: where the JSON document is served, linked from the page (``None``: no link).
    """
    info = document.get("info", {})
    title = _e(info.get("title", "Events"))
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{title} <span class='muted'>{_e(info.get('version', ''))}</span></h1>",
        f"<p>{_md(info.get('description', ''))}</p>",
        _source_line(document, json_url),
        _channels(document),
        _operations(document),
        _messages(document),
        _schemas(document.get("components", {}).get("schemas", {})),
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part)


def _source_line(document: Mapping[str, Any], json_url: str | None) -> str:
    version = _e(document.get("asyncapi", ""))
    link = f": <a href='{_e(json_url)}'>{_e(json_url)}</a>" if json_url else ""
    return f"<p class='muted'>AsyncAPI {version} document{link}</p>"


def _table(headings: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = "".join(f"<th>{_e(heading)}</th>" for heading in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _list(items: Iterable[str]) -> str:
    listed = "".join(f"<li>{item}</li>" for item in items)
    return f"<ul>{listed}</ul>" if listed else "<span class='muted'>none</span>"


def _anchor(kind: str, name: str) -> str:
    return f"{kind}-{name}"


def _link(kind: str, name: str, text: str | None = None) -> str:
    return f"<a href='#{_e(_anchor(kind, name))}'>{_e(text or name)}</a>"


def _channels(document: Mapping[str, Any]) -> str:
    rows = []
    for name, channel in document.get("channels", {}).items():
        address = channel.get("address")
        bindings = channel.get("bindings")
        rows.append(
            [
                f"<b id='{_e(_anchor('channel', name))}'>{_e(name)}</b><br>"
                f"{_e(channel.get('title', ''))}",
                f"<code>{_e(address)}</code>" if address else "<span class='muted'>-</span>",
                _md(channel.get("description", "")),
                _bindings(bindings),
                _list(
                    _e(_message_name(document, key, message))
                    for key, message in _messages_of(channel)
                ),
            ]
        )
    table = _table(["Channel", "Address", "Description", "Bindings", "Messages"], rows)
    return f"<h2>Channels</h2>{table}"


def _bindings(bindings: Any) -> str:
    """``sqs: queue.name = orders, queue.fifoQueue = false`` per protocol."""
    if not isinstance(bindings, Mapping):
        return ""
    return _list(
        f"<code>{_e(protocol)}</code> "
        + ", ".join(f"{_e(path)} = {_e(json.dumps(value))}" for path, value in _leaves(binding))
        for protocol, binding in bindings.items()
    )


def _leaves(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if not isinstance(value, Mapping):
        return [(prefix, value)]
    found = []
    for key, item in value.items():
        if key != "bindingVersion":
            found += _leaves(item, f"{prefix}.{key}" if prefix else str(key))
    return found


def _messages_of(channel: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [(key, m) for key, m in channel.get("messages", {}).items() if isinstance(m, Mapping)]


def _operations(document: Mapping[str, Any]) -> str:
    rows = []
    for name, operation in document.get("operations", {}).items():
        channel = operation.get("channel", {}).get("$ref", "").rsplit("/", 1)[-1]
        messages = [
            _message_name(document, ref.get("$ref", "").rsplit("/", 1)[-1], ref)
            for ref in operation.get("messages", ())
        ]
        action = operation.get("action", "")
        rows.append(
            [
                f"<b>{_e(name)}</b>",
                f"<span class='{_e(action)}'>{_e(action)}</span>",
                _link("channel", channel),
                _md(operation.get("summary", "")),
                _list(_e(message) for message in messages),
            ]
        )
    table = _table(["Operation", "Action", "Channel", "Summary", "Messages"], rows)
    return f"<h2>Operations</h2>{table}"


def _messages(document: Mapping[str, Any]) -> str:
    events = document.get("components", {}).get("messages", {})
    rows = [
        [
            f"<b id='{_e(_anchor('message', key))}'>{_e(message.get('name', key))}</b>",
            _md(message.get("summary", "")),
            _e(message.get("contentType", "")),
            _summary(message.get("payload", {})),
        ]
        for key, message in events.items()
    ]
    parts = ["<h2>Messages</h2>", _table(["Event", "Summary", "Content type", "Payload"], rows)]
    for name, channel in document.get("channels", {}).items():
        wire = [
            [
                _e(message.get("name", key)),
                _e(message.get("contentType", "")),
                _summary(message.get("payload", {})),
                _headers(message.get("headers")),
            ]
            for key, message in _messages_of(channel)
            if "$ref" not in message
        ]
        if wire:
            title = _e(channel.get("title", ""))
            parts.append(f"<h3>On {_link('channel', name)}: {title}</h3>")
            parts.append(_table(["Event", "Content type", "Body", "Headers"], wire))
    return "\n".join(parts)


def _headers(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return "<span class='muted'>-</span>"
    required = set(schema.get("required", ()))
    items = []
    for name, header in schema.get("properties", {}).items():
        value = f" = <code>{_e(json.dumps(header['const']))}</code>" if "const" in header else ""
        optional = "" if name in required else " <span class='muted'>(optional)</span>"
        items.append(f"<code>{_e(name)}</code>{value}{optional}")
    note = schema.get("description")
    return _list(items) + (f"<span class='muted'>{_e(note)}</span>" if note else "")


def _summary(schema: Any, depth: int = 0) -> str:
    """A schema in a few words: ``[name, User]``, ``{id: string, data: User}``."""
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return "<span class='muted'>…</span>"
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF):
        return _link("schema", ref[len(_REF) :])
    if "const" in schema:
        return f"<code>{_e(json.dumps(schema['const']))}</code>"
    for combinator in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(combinator), list):
            joiner = " &amp; " if combinator == "allOf" else " | "
            return joiner.join(_summary(item, depth + 1) for item in schema[combinator])
    if isinstance(schema.get("items"), list):
        return "[" + ", ".join(_summary(item, depth + 1) for item in schema["items"]) + "]"
    if isinstance(schema.get("properties"), Mapping):
        fields = schema["properties"].items()
        inner = ", ".join(f"{_e(k)}: {_summary(v, depth + 1)}" for k, v in fields)
        return "{" + inner + "}"
    return _type_of(schema)


def _type_of(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{_e(json.dumps(v))}</code>" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return f"array of {_summary(schema['items'], 1)}"
    if kind is None:
        return "<span class='muted'>any</span>"
    kinds = "|".join(kind) if isinstance(kind, list) else str(kind)
    fmt = schema.get("format")
    return _e(f"{kinds} ({fmt})" if fmt else kinds)


def _schemas(schemas: Mapping[str, Any]) -> str:
    parts = ["<h2>Payload schemas</h2>"]
    if not schemas:
        parts.append("<p class='muted'>No payload schema is registered.</p>")
    for name, schema in schemas.items():
        parts.append(f"<h3 id='{_e(_anchor('schema', name))}'>{_e(name)}</h3>")
        if schema.get("description"):
            parts.append(f"<p>{_md(schema['description'])}</p>")
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            parts.append(f"<p>{_summary(schema)}</p>")
            continue
        required = set(schema.get("required", ()))
        rows = [
            [
                f"<code>{_e(field)}</code>",
                _summary(prop, 1),
                "yes" if field in required else "no",
                _e(_notes(prop)),
            ]
            for field, prop in properties.items()
        ]
        parts.append(_table(["Field", "Type", "Required", "Notes"], rows))
    return "\n".join(parts)


def _notes(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return ""
    notes = [str(schema["description"])] if "description" in schema else []
    if "default" in schema:
        notes.append(f"default {capped_text(json.dumps(schema['default']), 120)}")
    return "; ".join(notes)
