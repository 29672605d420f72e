"""The import graph of the package (DESIGN.md, "Rooms"): no arrow points up.

Rooms by rank: the foundation (text, precision, atomic) < data, models, report
< training, transfer < inspect < recipes < api (SentimentNeuron) < serve (HTTP)
< cli < the package's front door.
A module may import its own room or lower ones, never a higher one; and no
module is part of an import cycle. Read with `ast`, nothing is imported.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sentiment_neuron"
RANK = {
    "text": 0, "precision": 0, "atomic": 0,
    "data": 1, "models": 1, "report": 1,
    "training": 2, "transfer": 2,
    "inspect": 3,
    "recipes": 4,
    "api": 5,
    "serve": 6,
    "cli": 7,
    "__init__": 8,
}
MAX_LINES = 450  # DESIGN.md: "stays under ~400 lines; split it when it doesn't"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _imports(path: Path) -> set[str]:
    """Package-internal modules `path` imports (resolved to dotted names under the package)."""
    name = _module_name(path)
    if path.name == "__init__.py":
        package = [] if name == "__init__" else name.split(".")
    else:
        package = name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = [*base, *(node.module.split(".") if node.module else [])]
            if node.module:
                found.add(".".join(target))
            else:
                found.update(".".join([*target, alias.name]) for alias in node.names)
        elif isinstance(node, (ast.ImportFrom, ast.Import)):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found.update(n.removeprefix("sentiment_neuron.") for n in names
                         if n and n.startswith("sentiment_neuron."))
    return {f for f in found if f}


def _room(module: str) -> str:
    return module.split(".")[0] if module else "__init__"


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_room_has_a_rank():
    assert {_room(m) for m in MODULES} <= set(RANK), {_room(m) for m in MODULES} - set(RANK)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_points_up(module):
    rank = RANK[_room(module)]
    upward = sorted(t for t in _imports(MODULES[module]) if RANK.get(_room(t), -1) > rank)
    assert not upward, f"{module} (rank {rank}) imports higher rooms: {upward}"


def test_no_import_cycles():
    graph = {m: {t for t in _imports(p) if t in MODULES and t != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines (split it: one idea per module)"
