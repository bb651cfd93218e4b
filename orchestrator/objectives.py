"""What a lab's objectives are called, read from its suite's source without running it.

An objective is a ``test_`` function of the suite (or a ``test_`` method of a ``Test`` class);
the first line of its docstring is the title the learner reads. ``labs check`` gets the same
titles from pytest at run time; ``labs lint`` reads them here with ``ast`` and never imports a
lab's code.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

# Fixtures pytest itself provides to any test.
PYTEST_FIXTURES = frozenset({
    "request", "pytestconfig", "cache", "capsys", "capsysbinary", "capfd", "capfdbinary", "caplog",
    "monkeypatch", "recwarn", "tmp_path", "tmp_path_factory", "tmpdir", "tmpdir_factory", "doctest_namespace",
    "record_property", "record_testsuite_property", "record_xml_attribute",
})


def objective_title(name: str, doc: str | None) -> str:
    if doc and doc.strip():
        return doc.strip().splitlines()[0].strip()
    words = re.sub(r"^test_", "", name).replace("_", " ")
    return words[:1].upper() + words[1:]


@dataclass
class StaticTest:
    name: str
    doc: str | None
    line: int
    fixtures: list[str] = field(default_factory=list)  # the arguments pytest must supply


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    parts = []
    while isinstance(target, ast.Attribute):
        parts.append(target.attr)
        target = target.value
    if isinstance(target, ast.Name):
        parts.append(target.id)
    return ".".join(reversed(parts))


def _parametrized(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names: set[str] = set()
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and _decorator_name(decorator).endswith("parametrize") and decorator.args:
            first = decorator.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.update(n.strip() for n in first.value.split(",") if n.strip())
            elif isinstance(first, ast.List | ast.Tuple):
                names.update(e.value for e in first.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return names


def _arguments(function: ast.FunctionDef | ast.AsyncFunctionDef, *, method: bool) -> list[str]:
    args = function.args
    positional = args.posonlyargs + args.args
    with_default = len(args.defaults)
    required = positional[: len(positional) - with_default] if with_default else positional
    if method and required:
        required = required[1:]
    kwonly = [a for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    skip = _parametrized(function)
    return [a.arg for a in required + kwonly if a.arg not in skip]


def static_tests(tree: ast.Module) -> list[StaticTest]:
    """The objectives of a suite, in source order, as pytest would collect them."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            found.append(StaticTest(node.name, ast.get_docstring(node), node.lineno, _arguments(node, method=False)))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
                    found.append(StaticTest(item.name, ast.get_docstring(item), item.lineno, _arguments(item, method=True)))
    return found


def static_fixtures(tree: ast.Module) -> set[str]:
    """Names of the fixtures a module defines (``@pytest.fixture``, ``@fixture``, with or without
    arguments; ``name=`` honoured)."""
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            if _decorator_name(decorator).split(".")[-1] == "fixture":
                alias = next((k.value.value for k in getattr(decorator, "keywords", []) if k.arg == "name" and isinstance(k.value, ast.Constant)), None)
                names.add(alias or node.name)
    return names
