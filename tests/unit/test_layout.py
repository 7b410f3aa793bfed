"""The package's layout: no import cycles between durable-python's modules, function-level
imports included (a cycle hidden in a function is still a cycle a reader has to untangle), and
the transpiler imports nothing of the runtime (DESIGN 3)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "durable_python": ROOT / "runtime",
    "durable_python.transpiler": ROOT / "transpiler",
    "durable_python.integrations": ROOT / "integrations",
}


def _modules() -> dict[str, Path]:
    found = {}
    for package, directory in PACKAGES.items():
        for path in directory.rglob("*.py"):
            parts = list(path.relative_to(directory).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The durable-python modules ``module`` imports, wherever the import statement is."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {t for t in targets if t in known and t != module}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A shortest import path from ``start`` back to itself, if there is one."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for name in frontier:
            for target in sorted(graph[name]):
                if target == start:
                    return [*paths[name], start]
                if target not in paths:
                    paths[target] = [*paths[name], target]
                    following.append(target)
        frontier = following
    return None


def _is_package_init(graph: dict[str, set[str]], name: str) -> bool:
    return name in PACKAGES or name == "durable_python.stores"


def test_no_import_cycles():
    graph = _graph()
    # A package's __init__ re-exporting its modules is not a cycle a reader has to untangle.
    for name in graph:
        if _is_package_init(graph, name):
            graph[name] = set()
    cycles = {}
    for name in sorted(graph):
        cycle = _cycle_through(graph, name)
        if cycle is not None:
            cycles[frozenset(cycle)] = " -> ".join(cycle)
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles.values()))


def test_the_transpiler_imports_nothing_of_the_runtime():
    graph = _graph()
    for name, targets in graph.items():
        if name.startswith("durable_python.transpiler"):
            outside = {t for t in targets if not t.startswith("durable_python.transpiler")}
            assert not outside, f"{name} imports {sorted(outside)}"
