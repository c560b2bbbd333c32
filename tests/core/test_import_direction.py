"""Imports run only downward through seglab's layers: a module may import its own package and any layer below its
own, never a layer above, nor a sibling package of its own layer. Read from the source (every import: top level,
inside functions, under TYPE_CHECKING), so a lazy upward import is caught too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Top to bottom. Packages of one layer do not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("tui",),  # Typer commands and the Textual dashboard
    ("core.inference", "core.sweeps"),  # using trained runs; searching settings with runs as trials
    ("core.training",),  # the engine, starting runs (launch), checkpoints, estimates
    ("core.runs",),  # the run folder: config.json, events, status, curves
    # a config's datasets and network, its files; where tensors run
    ("core.run_data", "core.run_model", "core.device", "core.config_files"),
    ("core.config",),  # TrainConfig and its FieldSpecs, naming the choices the layers below implement
    ("core.data", "core.models", "core.losses"),  # datasets on disk, networks, losses: each knows no config
    ("core.metrics", "core.class_metrics", "core.host_memory", "core.pause_points", "core.png_writer",
     "core.overlay_drawing"),
    # `core` itself: __version__
    ("core.errors", "core.atomic_files", "core.image_statistics", "core.user_settings", "core.omp_spin",
     "core.processes", "core"),
)


def module_name(path: Path, root: Path = ROOT) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def package_of(module: str) -> tuple[int, str]:
    """The layer index and layer package of a module: the longest package in LAYERS that holds it."""
    found = [(len(package), index, package) for index, packages in enumerate(LAYERS) for package in packages
             if module == package or (package != "core" and module.startswith(package + "."))]
    if not found:
        raise LookupError(module)
    _, index, package = max(found)
    return index, package


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a seglab module in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] in ("core", "tui")]


def upward_imports(root: Path = ROOT) -> list[str]:
    """One line per import that goes up a layer or sideways to a sibling package."""
    problems = []
    for path in sorted([*(root / "core").rglob("*.py"), *(root / "tui").rglob("*.py")]):
        module = module_name(path, root)
        layer, package = package_of(module)
        for line, imported in imported_modules(path):
            their_layer, their_package = package_of(imported)
            if their_package == package:
                continue
            if their_layer < layer:
                problems.append(f"{path.relative_to(root)}:{line}: {package} imports {imported}, a layer above it")
            elif their_layer == layer:
                problems.append(f"{path.relative_to(root)}:{line}: {package} imports {imported}, a sibling package")
    return problems


def test_every_seglab_module_belongs_to_a_layer():
    unplaced = []
    for path in [*(ROOT / "core").rglob("*.py"), *(ROOT / "tui").rglob("*.py")]:
        try:
            package_of(module_name(path))
        except LookupError:
            unplaced.append(module_name(path))
    assert not unplaced, f"add these to LAYERS: {unplaced}"


def test_imports_run_only_downward():
    assert upward_imports() == []


@pytest.mark.parametrize(("module", "line", "expected"), [
    ("core/runs/folders.py", "from core.training.preflight import ensure_writable_folder",
     "core.runs imports core.training.preflight, a layer above it"),
    ("core/data/cache.py", "from core.config import TrainConfig",
     "core.data imports core.config, a layer above it"),
    ("core/models/unet.py", "from core.losses import LOSSES",
     "core.models imports core.losses, a sibling package"),
])
def test_an_upward_import_is_reported(tmp_path, module, line, expected):
    """The check itself: a copy of the tree with one import added back is reported, with file and line."""
    for package in ("core", "tui"):
        for path in (ROOT / package).rglob("*.py"):
            copy = tmp_path / path.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(path.read_text())
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n\ndef _late():\n    {line}\n")
    problems = upward_imports(tmp_path)
    assert len(problems) == 1 and problems[0].startswith(f"{module}:") and problems[0].endswith(expected), problems


def import_cycles(root: Path = ROOT) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a circle (strongly connected components)."""
    graph: dict[str, set[str]] = {}
    for path in [*(root / "core").rglob("*.py"), *(root / "tui").rglob("*.py")]:
        graph[module_name(path, root)] = {name for _, name in imported_modules(path)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph.get(module, ()):
            if other not in graph:
                continue
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_no_two_modules_import_each_other():
    assert import_cycles() == []
