"""The import graph of the package and the size of its modules (docs/architecture.md).

Rooms by rank (RANK): the foundation (text, precision, atomic, fileformat) < data, models,
report < training, transfer < inspect, classifier < recipes < api (SentimentNeuron)
< serve (HTTP) < cli < the package's front door (`sentiment_neuron/__init__.py`).
So components (ranks 0-3) never import recipes or the interfaces (api, serve, cli,
the front door), and recipes never import an interface.

A module may import its own room or lower ones, never a higher one; no module is
part of an import cycle; a module holds one idea and stays within MAX_LINES lines.

Imports are read with `ast`, nothing is imported: every `import`/`from ... import`
statement anywhere in a module (top level, inside functions, under `if TYPE_CHECKING:`),
relative ones (`from . import x`, `from .. import x`, `from ..pkg import y`,
`from ...x import y`) resolved against the module's own package the way Python
resolves them, and `importlib.import_module` called with a literal name.
"""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

PACKAGE_NAME = "sentiment_neuron"
PACKAGE = Path(__file__).resolve().parents[1] / "src" / PACKAGE_NAME
ROOT = "__init__"  # the package's own __init__.py: its front door
RANK = {
    "text": 0, "tweets": 0, "precision": 0, "atomic": 0, "fileformat": 0,
    "data": 1, "models": 1, "report": 1, "tokenizers": 1,
    "training": 2, "transfer": 2,
    "inspect": 3, "classifier": 3, "dictionary": 3,
    "recipes": 4,
    "api": 5,
    "serve": 6,
    "cli": 7,
    ROOT: 8,
}
MAX_LINES = 400  # docs/architecture.md: a module holds one idea and stays under ~400 lines


def _module_name(path: Path) -> str:
    """Dotted name under the package ("models.io"; a package's __init__.py is the package, "models";
    the package's own __init__.py is ROOT)."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _full(module: str) -> str:
    """"models.io" -> "sentiment_neuron.models.io"; ROOT -> "sentiment_neuron"."""
    return PACKAGE_NAME if module == ROOT else f"{PACKAGE_NAME}.{module}"


def _short(full: str) -> str | None:
    """"sentiment_neuron.models.io" -> "models.io", "sentiment_neuron" -> ROOT, anything outside -> None."""
    if full == PACKAGE_NAME:
        return ROOT
    return full.removeprefix(PACKAGE_NAME + ".") if full.startswith(PACKAGE_NAME + ".") else None


def _is_ancestor(package: str, module: str) -> bool:
    """Is `package` `module` itself or a package containing it (so already importing when `module` runs)?"""
    return package in (ROOT, module) or module.startswith(package + ".")


def imports_of(source: str, module: str, is_package: bool, modules=None) -> set[str]:
    """The package-internal modules (dotted names under the package, or ROOT) that `source` imports.

    `module` is the dotted name of the module `source` is, `is_package` whether it is a package's
    __init__.py (relative imports then start from the package itself, not from its parent);
    `modules` the names that exist (MODULES), to tell a submodule (`from . import io`) from a name
    defined in a package's __init__.py (`from ..models import ByteLM`).
    A relative import reaching above the top-level package raises ImportError, as Python would.
    """
    modules = MODULES if modules is None else modules
    full = _full(module)
    package = full if is_package or module == ROOT else full.rpartition(".")[0]
    found: set[str] = set()

    def add_from(base: str, names: list[str]) -> None:
        short = _short(base)
        if short is None:
            return
        attributes = False
        for name in names:
            sub = name if short == ROOT else f"{short}.{name}"
            if name != "*" and sub in modules:
                found.add(sub)
            else:
                attributes = True
        if attributes or not _is_ancestor(short, module):
            found.add(short)

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                short = _short(alias.name)
                if short is not None:
                    found.add(short)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level \
                else node.module
            add_from(base, [alias.name for alias in node.names])
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "import_module"):
            name = node.args[0].value
            anchor = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "package"), None)
            if name.startswith("."):
                anchor_name = getattr(anchor, "id", None)
                if anchor_name not in ("__name__", "__package__"):
                    raise AssertionError(f"{module}: import_module({name!r}, ...): cannot resolve its package")
                name = importlib.util.resolve_name(name, full if anchor_name == "__name__" else package)
            short = _short(name)
            if short is not None:
                found.add(short)
    return found


def _imports(module: str) -> set[str]:
    path = MODULES[module]
    return imports_of(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")


def _room(module: str) -> str:
    return module.split(".")[0]


# -------------------------------------------------------------- the reader itself
_FAKE = {"models", "models.io", "models.bytelm", "models.importers", "models.importers.common",
         "models.importers.nvidia", "data", "data.records", "training", "training.config", "text", "cli", ROOT}


@pytest.mark.parametrize("module, is_package, source, expected", [
    ("models.importers.nvidia", False, "from . import common", {"models.importers.common"}),
    ("models.importers.nvidia", False, "from .common import f", {"models.importers.common"}),
    ("models.importers.nvidia", False, "from .. import io", {"models.io"}),
    ("models.importers.nvidia", False, "from .. import ByteLM", {"models"}),
    ("models.importers.nvidia", False, "from ..bytelm import ByteLM", {"models.bytelm"}),
    ("models.importers.nvidia", False, "from ...data import records", {"data", "data.records"}),
    ("models.importers.nvidia", False, "from ...data import Records", {"data"}),
    ("models.importers.nvidia", False, "from ...training.config import TrainConfig", {"training.config"}),
    ("models.importers.nvidia", False, "from ... import text, cli", {"text", "cli"}),
    ("models.importers.nvidia", False, "from ... import __version__", {ROOT}),
    ("models.importers", True, "from .nvidia import import_nvidia", {"models.importers.nvidia"}),
    ("models.importers", True, "from . import common", {"models.importers.common"}),
    ("models.importers", True, "from .. import io", {"models.io"}),
    ("models", True, "from ..cli import main", {"cli"}),
    (ROOT, False, "from .cli import main", {"cli"}),
    (ROOT, False, "from . import text", {"text"}),
    ("models.io", False, "import sentiment_neuron.cli.main as m", {"cli.main"}),
    ("models.io", False, "from sentiment_neuron import cli", {"cli"}),
    ("models.io", False, "from sentiment_neuron.training import config", {"training", "training.config"}),
    ("models.io", False, "import sentiment_neuron", {ROOT}),
    ("models.io", False, "import os, torch\nfrom collections import OrderedDict", set()),
    ("models.io", False, "def f():\n    from ..training.config import TrainConfig", {"training.config"}),
    ("models.io", False, "if TYPE_CHECKING:\n    from ..cli import main", {"cli"}),
    ("models.io", False, "importlib.import_module('sentiment_neuron.cli')", {"cli"}),
    ("models.io", False, "import_module('..cli', __package__)", {"cli"}),
    ("models", True, "importlib.import_module('.io', __name__)", {"models.io"}),
])
def test_the_import_reader_resolves_every_form(module, is_package, source, expected):
    assert imports_of(source, module, is_package, _FAKE) == expected


def test_a_relative_import_above_the_package_is_refused():
    with pytest.raises(ImportError):
        imports_of("from .... import x", "models.importers.nvidia", False, _FAKE)


# -------------------------------------------------------------- the package
def test_every_room_has_a_rank():
    assert {_room(m) for m in MODULES} <= set(RANK), {_room(m) for m in MODULES} - set(RANK)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_points_up(module):
    assert _room(module) in RANK, f"{module}: its room {_room(module)!r} has no rank (add it to RANK)"
    rank = RANK[_room(module)]
    upward = sorted(t for t in _imports(module) if RANK.get(_room(t), -1) > rank)
    assert not upward, f"{module} (rank {rank}) imports higher rooms: {upward}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_import_names_a_module_that_exists(module):
    missing = sorted(t for t in _imports(module) if t not in MODULES)
    assert not missing, f"{module} imports what the package does not have: {missing}"


def test_no_import_cycles():
    graph = {m: {t for t in _imports(m) if t in MODULES and t != m} for m in MODULES}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines, over {MAX_LINES} (split it: one idea per module)"


def _branches_on_architecture(tree: ast.AST) -> list[int]:
    """Lines that compare the model's architecture name (`.rnn == ...`, `.rnn in ...`) or name an architecture
    in a comparison: outside models/, code asks the model's capabilities instead (`ByteLM.output_in_state`,
    `step`, `output_state`, `tokenizer`)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            names = {p.attr for p in parts if isinstance(p, ast.Attribute)}
            literals = {p.value for p in parts if isinstance(p, ast.Constant)}
            if "rnn" in names or literals & {"mlstm", "lstm", "gru", "transformer"}:
                lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("module", [m for m in MODULES if _room(m) not in ("models", "cli")])
def test_no_branch_on_the_architecture_outside_models(module):
    """The language-model protocol (docs/architecture.md): every command runs every architecture the same way.
    The CLI may read --rnn to fill in a Transformer's tied embedding size; nothing else looks."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    assert not _branches_on_architecture(tree), f"{module}: branches on the architecture at lines " \
        f"{_branches_on_architecture(tree)}"
