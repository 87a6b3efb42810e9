"""Griffe extension for the docs build: the reST bits of our docstrings, as Markdown.

The library's docstrings are Google style with a little reST (``:class:`X```, ``Example::``
blocks, ``.. versionadded::``), which editors and ``help()`` show well but Markdown does not.
This rewrites them while the API reference is built; the source stays as it is.

- ``:class:`~a.b.C``` (and ``func``, ``meth``, ``attr``, ``mod``, ``data``, ``exc``, ``obj``)
  becomes an optional cross-reference: a link where the target is documented, plain code
  otherwise (so a reference to an undocumented object never fails the strict build).
- ``Text::`` followed by an indented block becomes ``Text:`` and a fenced block: Python
  where the block parses as Python, plain text otherwise (a diagram).
- ``.. versionadded:: V`` / ``.. versionchanged:: V`` / ``.. deprecated:: V`` become a line
  in italics.
"""

from __future__ import annotations

import ast
import html
import re
import textwrap
from collections.abc import Callable
from typing import Any

import griffe

__all__ = ["RestMarkup", "to_markdown"]

ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):`(~?)([^`]+)`")
DIRECTIVE = re.compile(r"^(\s*)\.\. (versionadded|versionchanged|deprecated)::\s*(\S+)\s*(.*)$")
LABELS = {
    "versionadded": "Added in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
}
Resolver = Callable[[str], str]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str], start: int, indent: int) -> int:
    """The index after the block of blank or deeper-indented lines starting at ``start``."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def _role(match: re.Match[str], resolve: Resolver) -> str:
    short, target = match.group(1) == "~", match.group(2).strip()
    shown = target.rsplit(".", 1)[-1] if short else target
    if match.group(0).startswith((":func:", ":meth:")) and not shown.endswith(")"):
        shown += "()"
    identifier = html.escape(resolve(target.removesuffix("()")), quote=True)
    return (
        f'<autoref identifier="{identifier}" optional><code>{html.escape(shown)}</code></autoref>'
    )


def _directive(match: re.Match[str], continuation: list[str]) -> str:
    pad, kind, version, text = match.groups()
    words = " ".join([text, *(line.strip() for line in continuation)]).strip()
    return f"{pad}*{LABELS[kind]} {version}{': ' + words if words else '.'}*"


def _literal_intro(line: str) -> str:
    head = line.rstrip()[:-2].rstrip()
    if head.strip() in {"Example", "Examples"}:  # a lone "Example:" is a Google section
        return f"{line[: _indent(line)]}**{head.strip()}:**"
    return f"{head}:" if head.strip() else ""


def _language(code: list[str]) -> str:
    try:
        ast.parse("\n".join(code))
    except SyntaxError:
        return "text"
    return "python"


def _convert_lines(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        line, pad = lines[i], _indent(lines[i])
        directive = DIRECTIVE.match(line)
        if directive or line.rstrip().endswith("::"):
            end = _block(lines, i + 1, pad)
            body = lines[i + 1 : end]
            if directive:
                out.append(_directive(directive, body))
            else:
                code = textwrap.dedent("\n".join(body)).strip("\n").splitlines()
                fence = " " * pad + "```"
                out += [_literal_intro(line), "", fence + _language(code)]
                out += [" " * pad + c if c else "" for c in code] + [fence]
            i = end
        else:
            out.append(line)
            i += 1
    return out


def to_markdown(text: str, resolve: Resolver = lambda name: name) -> str:
    """The Markdown for a docstring's text; ``resolve`` turns a role's target into a path."""
    out: list[str] = []
    in_code = False
    for line in _convert_lines(text.splitlines()):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        out.append(line if in_code else ROLE.sub(lambda match: _role(match, resolve), line))
    return "\n".join(out)


def _resolver(obj: griffe.Object) -> Resolver:
    def resolve(target: str) -> str:
        head, _, rest = target.partition(".")
        try:
            path = obj.resolve(head)
        except (griffe.NameResolutionError, ValueError):
            return target
        return f"{path}.{rest}" if rest else path

    return resolve


class RestMarkup(griffe.Extension):
    """Rewrite each docstring's reST markup as Markdown once the object tree is complete."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Convert ``obj``'s docstring in place."""
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value, _resolver(obj))
