"""The layers of sessapp, read from its imports: which package may use which,
and no module importing itself back through others.

views → accounts and security; accounts and security → sessions and models;
sessions imports nothing else of sessapp, so another app can include it. Every
import counts, those only made for type checking included: a cycle there is
still two modules that cannot be read one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sessapp"

# Which sessapp packages (or top-level modules) each package may import.
ALLOWED = {
    "sessions": set(),
    "models": {"sessions"},
    "accounts": {"sessions", "models", "clock", "settings", "keys", "i18n"},
    "security": {"sessions", "models", "accounts", "clock", "settings", "keys", "i18n"},
    "views": {"accounts", "security", "sessions", "models", "clock", "settings", "schema",
              "i18n"},
    "scripts": {"accounts", "security", "sessions", "models", "clock", "settings"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The sessapp modules ``path`` imports, resolved to absolute names."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # ``from . import x`` may name a submodule.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {module for module in found if module.split(".")[0] == "sessapp"}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in files and m != name}
            for name, path in files.items()}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_layers_below_it(package):
    graph = _graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items() if _top(module) == package
        for target in targets
        if _top(target) not in ALLOWED[package] | {package} and target != "sessapp"
    )
    assert wrong == []


def test_no_module_imports_itself_back_through_others():
    graph = _graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                # A package's __init__ re-exporting its own modules is not a cycle
                # a reader has to untangle.
                cycle = [*path[path.index(target):], target]
                if not all(m.startswith(cycle[0] + ".") or m == cycle[0] for m in cycle):
                    cycles.append(" -> ".join(cycle))
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == []


def test_the_graph_reader_sees_real_imports():
    """Guards the two tests above against reading nothing."""
    graph = _graph()
    assert "sessapp.accounts.errors" in graph["sessapp.accounts.signin"]
    assert "sessapp.sessions.store" in graph["sessapp.models.session_record"]
