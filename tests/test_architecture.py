"""The package's shape: no import cycles (type-only and lazy imports included), small modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import fastapi_events

PACKAGE = Path(fastapi_events.__file__).parent
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every package module ``path`` imports, anywhere in it (functions, TYPE_CHECKING)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
            found.update(submodules)
            if len(submodules) < len(node.names):  # names defined in ``base`` itself
                found.add(base)
    return {module for module in found if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    paths = list(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imports_of(path, modules) for path in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    """No module imports, even lazily or for types only, one that imports it back."""
    assert cycles(import_graph()) == []


def test_modules_are_small() -> None:
    """No module of the package is over 300 lines."""
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_every_exception_lives_in_errors_under_the_base() -> None:
    """Exception classes are defined only in errors.py, each a FastapiEventError."""
    from fastapi_events import errors

    elsewhere = [
        f"{module_name(path)}.{node.name}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "errors.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and any(
            getattr(base, "id", getattr(base, "attr", "")).endswith(("Error", "Exception"))
            for base in node.bases
        )
    ]
    assert elsewhere == []
    defined = [getattr(errors, name) for name in errors.__all__]
    assert all(issubclass(cls, errors.FastapiEventError) for cls in defined)


def test_context_vars_live_in_one_module() -> None:
    """Only _context.py creates ContextVars."""
    creators = [
        module_name(path)
        for path in PACKAGE.rglob("*.py")
        if path.name != "_context.py" and re.search(r"(?<![A-Za-z])ContextVar\(", path.read_text())
    ]
    assert creators == []
