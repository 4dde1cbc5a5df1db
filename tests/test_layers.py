"""The house rules: imports only point down the layers, and no module grows past 400 lines.

Layers, top to bottom (a module may import its own layer and any layer below it):

    cli, __main__                 parse arguments, call one function, print
    experiments                   run folders, train / cv / search / evaluate / reproduce
    serve                         a thin web layer over inference
    training | inference          peers that never import each other: a server or an exported
                                  model needs none of the training code
    reports                       presentation of arrays and tables (overlays, HTML, plots); it
                                  sits below inference because prediction writes overlay images
    models | data | measure | metrics | losses
    config | errors | io | device | registry | the package root (version)

Every file's imports are read with ``ast`` (module level and inside functions alike, relative
imports resolved), so a lazy import inside a function cannot slip through. A new top-level
module or package fails :func:`test_every_module_has_a_layer` until it is given a layer here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "medseg"

LAYERS: dict[str, int] = {
    "cli": 7,
    "__main__": 7,
    "experiments": 6,
    "serve": 5,
    "training": 4,
    "inference": 4,
    "reports": 3,
    "models": 2,
    "data": 2,
    "measure": 2,
    "metrics": 2,
    "losses": 2,
    "config": 1,
    "errors": 1,
    "io": 1,
    "logs": 1,
    "device": 1,
    "registry": 1,
    "output_files": 1,
    "config_rules": 1,
    "safe_yaml": 1,
    "version": 1,
    "api": 5,  # medseg.load and Model: the Python interface over inference
    "": 8,  # medseg/__init__.py: re-exports the version and, lazily, the API
}
# peers on one layer that must not import each other (either way)
APART = [("training", "inference"), ("serve", "training")]

MAX_LINES = 400


def unit_of(module: str) -> str:
    """``medseg.training.engine`` -> ``training``; ``medseg`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path) -> str:
    relative = path.relative_to(SRC).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def attribute_or_module(package: str, name: str) -> str:
    if name == "__version__":
        return "medseg.version"  # re-exported by the package from its own module
    return package if name.startswith("__") else f"{package}.{name}"


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``medseg`` import in a file, relative imports made absolute."""
    tree = ast.parse(source if source is not None else path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            target = ".".join(part for part in (base, node.module or "") if part)
            if node.module is None or target == "medseg":  # from medseg import x: x may be a module
                found += [(node.lineno, attribute_or_module(target, alias.name)) for alias in node.names]
            else:
                found.append((node.lineno, target))
    return [(line, name) for line, name in found if name == "medseg" or name.startswith("medseg.")]


def violations(path: Path, source: str | None = None) -> list[str]:
    """The imports of ``path`` that point up a layer or across to a peer kept apart."""
    here = unit_of(module_name(path))
    wrong = []
    for line, target in imported_modules(path, source):
        there = unit_of(target)
        if there == here:
            continue
        where = f"{path.relative_to(SRC)}:{line} imports {target}"
        if there not in LAYERS:
            wrong.append(f"{where}: {there!r} has no layer")
        elif LAYERS[there] > LAYERS[here]:
            wrong.append(f"{where}: {there} (layer {LAYERS[there]}) is above {here or 'medseg'} (layer {LAYERS[here]})")
        elif (here, there) in APART or (there, here) in APART:
            wrong.append(f"{where}: {here} and {there} are kept apart")
    return wrong


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    units = {unit_of(module_name(path)) for path in source_files()}
    assert not units - set(LAYERS), f"give these a layer in {Path(__file__).name}: {sorted(units - set(LAYERS))}"


def test_imports_only_point_down():
    wrong = [problem for path in source_files() for problem in violations(path)]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    ("file", "code", "problem"),
    [
        ("inference/predictor.py", "from medseg.training.engine import fit", "kept apart"),
        ("inference/predictor.py", "def f():\n    from ..training import engine", "kept apart"),
        ("models/unet.py", "import medseg.experiments.train", "is above"),
        ("io.py", "from .data import case", "is above"),
        ("data/readers/hc18.py", "from ...reports import overlays", "is above"),
        ("training/engine.py", "from medseg import shiny", "has no layer"),
    ],
)
def test_an_upward_or_sideways_import_is_caught(file, code, problem):
    # the same files with one wrong line added: the checker must name it
    assert any(problem in found for found in violations(PACKAGE / file, code))
    assert not violations(PACKAGE / file, "from medseg.errors import MedsegError")


def test_no_module_over_the_line_limit():
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in source_files()}
    long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"
