"""The layout stays navigable: layers import only downwards, no import cycles, small modules and functions.

The layers (docs/architecture.md): bot -> training -> dialogue -> retrieval -> core, each importing only
the ones after it. Imports inside functions count too: they are still dependencies.
"""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "core", "dialogue", "retrieval", "training")
# What each package may import from the project, besides itself.
ALLOWED = {
    "core": set(),
    "retrieval": {"core"},
    "dialogue": {"core", "retrieval"},
    "training": {"core", "retrieval", "dialogue"},
    "bot": {"core", "retrieval", "dialogue", "training"},
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_MEDIAN_MODULE_LINES = 100  # a module over it usually holds a concept that has no name yet (../shared/STYLE.md)


def _python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py")
                  if "migrations" not in path.relative_to(ROOT).parts)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (`from a import b` counts a.b when b is a module)."""
    modules = {_module_name(path): path for path in _python_files(*PACKAGES)}
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {other for other in imported if other in modules and other != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
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


def test_no_import_cycles_between_modules():
    assert _cycles(_import_graph()) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_each_layer_imports_only_the_layers_below_it(package):
    upwards = sorted(f"{module} imports {other}" for module, imported in _import_graph().items()
                     if module.split(".")[0] == package for other in imported
                     if other.split(".")[0] not in ALLOWED[package] | {package})
    assert upwards == []


def test_no_module_is_over_400_lines():
    long = {str(path.relative_to(ROOT)): lines for path in _python_files(*PACKAGES, "bench")
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_the_median_module_is_at_most_100_lines():
    sizes = sorted(len(path.read_text(encoding="utf-8").splitlines()) for path in _python_files(*PACKAGES)
                   if path.name != "__init__.py")
    middle = len(sizes) // 2
    median = sizes[middle] if len(sizes) % 2 else (sizes[middle - 1] + sizes[middle]) / 2
    assert median <= MAX_MEDIAN_MODULE_LINES, "split a module where a second concept lives inside"


def test_no_function_is_over_60_lines():
    long = {}
    for path in _python_files(*PACKAGES, "bench", "tests"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    assert long == {}
