"""Each module of ``shared.api.wire`` exports, in a sorted ``__all__``, exactly the public names it defines.

A public name is one without a leading underscore that the module itself defines: a class or a function
whose ``__module__`` is the module, or a module-level assignment such as the ``UriFor`` type alias.
Names a module imports from elsewhere are not its own and must not be in its ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
import types

import pytest

import shared.api.wire

WIRE_MODULES = sorted(f"shared.api.wire.{m.name}" for m in pkgutil.iter_modules(shared.api.wire.__path__))


def _assigned_at_top(source: str) -> set[str]:
    """Names a module binds by assignment at its top level (type aliases, constants)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):  # X: TypeAlias = ...
            names.add(node.target.id)
    return names


def _defined_public_names(module: types.ModuleType, source: str) -> set[str]:
    defined = {
        name
        for name, value in vars(module).items()
        if (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__ == module.__name__
    }
    defined |= _assigned_at_top(source) - {"__all__"}
    return {name for name in defined if not name.startswith("_")}


def _problems(module: types.ModuleType, source: str) -> list[str]:
    exported = getattr(module, "__all__", None)
    if exported is None:
        return [f"{module.__name__} has no __all__"]
    problems: list[str] = []
    defined = _defined_public_names(module, source)
    if missing := sorted(defined - set(exported)):
        problems.append(f"{module.__name__}.__all__ lacks {missing}")
    if foreign := sorted(set(exported) - defined):
        problems.append(f"{module.__name__}.__all__ names what it does not define: {foreign}")
    if len(set(exported)) != len(exported):
        problems.append(f"{module.__name__}.__all__ repeats a name")
    if list(exported) != sorted(exported):
        problems.append(f"{module.__name__}.__all__ is not sorted")
    return problems


def test_the_package_has_modules() -> None:
    assert "shared.api.wire.base" in WIRE_MODULES
    assert len(WIRE_MODULES) > 1


@pytest.mark.parametrize("name", WIRE_MODULES)
def test_all_is_exactly_the_public_names_and_sorted(name: str) -> None:
    module = importlib.import_module(name)
    assert _problems(module, inspect.getsource(module)) == []


def test_the_package_re_exports_nothing() -> None:
    """Importers name the module a shape lives in; the package itself is a docstring."""
    tree = ast.parse(inspect.getsource(shared.api.wire))
    statements = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    assert ast.get_docstring(tree)
    assert statements == []


def _fake(source: str) -> tuple[types.ModuleType, str]:
    source = textwrap.dedent(source)
    module = types.ModuleType("fake_wire")
    exec(compile(source, "fake_wire.py", "exec"), module.__dict__)
    return module, source


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        (
            """
            from collections.abc import Callable
            __all__ = ["Out"]
            Alias = Callable[[str], str]
            class Out: ...
            """,
            "lacks ['Alias']",
        ),
        (
            """
            __all__ = ["Out"]
            class Out: ...
            def out() -> None: ...
            """,
            "lacks ['out']",
        ),
        (
            """
            from pathlib import Path
            __all__ = ["Out", "Path"]
            class Out: ...
            """,
            "does not define: ['Path']",
        ),
        (
            """
            __all__ = ["out", "Out"]
            class Out: ...
            def out() -> None: ...
            """,
            "is not sorted",
        ),
        (
            """
            class Out: ...
            """,
            "has no __all__",
        ),
    ],
)
def test_the_check_catches_a_wrong_all(source: str, complaint: str) -> None:
    problems = _problems(*_fake(source))
    assert any(complaint in p for p in problems), problems


def test_the_check_ignores_private_names() -> None:
    module, source = _fake(
        """
        __all__ = ["Out"]
        _Alias = int
        class Out: ...
        class _In: ...
        def _out() -> None: ...
        """
    )
    assert _problems(module, source) == []
