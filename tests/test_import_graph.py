"""No import cycle anywhere in ``scvi``: module-level and function-level imports.

The graph is built from the source (``ast``): an edge from a module to every
``scvi`` module it imports, wherever the import statement stands. Importing a
package counts as importing its ``__init__``; ``from package import name`` counts
as importing ``package.name`` when that is a module, else ``package``.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "scvi"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules():
    return {module_name(path): path for path in ROOT.rglob("*.py")}


def imported(name: str, path: Path, known) -> set:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # a submodule imported by name is an edge to it; any other name is an
            # edge to the module (or package) that defines it
            candidates = [
                (
                    f"{source}.{alias.name}"
                    if f"{source}.{alias.name}" in known
                    else source
                )
                for alias in node.names
            ]
        else:
            continue
        targets.update(c for c in candidates if c in known and c != name)
    return targets


def find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == "open":
                return stack[stack.index(child) :] + [child]
            if child not in state:
                cycle = visit(child)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle():
    known = modules()
    graph = {name: imported(name, path, known) for name, path in known.items()}
    assert len(graph) > 50
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
