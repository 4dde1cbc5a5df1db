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

Inside a package, a module never imports the package's own ``__init__`` (nor an enclosing
package's): the ``__init__`` imports its members to register them, so a member importing it back
would close a cycle. Registries and shared helpers live in modules of their own
(``models/registry.py``, ``cli/base.py`` ...); importing a sibling module is fine.
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
    "run_folder": 1,
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


def package_back_imports(path: Path, source: str | None = None) -> list[str]:
    """Imports of ``path`` that take a name from the ``__init__`` of a package containing it.

    ``from medseg.models import MODELS`` in ``models/unet.py`` and ``import medseg.cli`` in
    ``cli/data.py`` are caught; a sibling module through the package (``from medseg.training import
    distributed``) is not. The root package (``medseg/__init__.py``, the version only) is exempt.
    """
    if path.name == "__init__.py":
        return []
    own = module_name(path).split(".")
    packages = {".".join(own[:i]) for i in range(2, len(own))}

    def is_module(package: str, name: str) -> bool:
        folder = SRC.joinpath(*package.split("."))
        return (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file()

    tree = ast.parse(source if source is not None else path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(own[: len(own) - node.level]) if node.level else ""
            target = ".".join(part for part in (base, node.module or "") if part)
            if target in packages:
                found += [
                    (node.lineno, target, a.name)
                    for a in node.names
                    if not is_module(target, a.name) or f"{target}.{a.name}" in packages
                ]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, "") for a in node.names if a.name in packages]
    return [
        f"{path.relative_to(SRC)}:{line} imports {f'{name} from ' if name else ''}its own package {target}: "
        "import from the module that defines it (a registry or base module), not the package __init__"
        for line, target, name in found
    ]


def test_no_module_imports_its_own_package_init():
    wrong = [problem for path in source_files() for problem in package_back_imports(path)]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("file", "code"),
    [
        ("models/unet.py", "from medseg.models import MODELS"),
        ("models/unet.py", "def f():\n    from medseg.models import create_model"),
        ("data/readers/hc18.py", "from . import READERS"),
        ("data/readers/hc18.py", "from medseg.data import readers"),  # a module, but of an enclosing package
        ("data/readers/hc18.py", "import medseg.data.readers"),
        ("cli/predict.py", "from medseg.cli import app"),
        ("cli/data.py", "import medseg.cli as cli"),
    ],
)
def test_an_import_of_the_own_package_is_caught(file, code):
    assert package_back_imports(PACKAGE / file, code)


@pytest.mark.parametrize(
    ("file", "code"),
    [
        ("models/unet.py", "from medseg.models.registry import MODELS"),
        ("training/engine.py", "from medseg.training import distributed"),
        ("cli/predict.py", "from medseg.cli.base import console, fail"),
        ("cli/predict.py", "from medseg import __version__"),
        ("experiments/train.py", "from medseg.models import MODELS"),  # another package's __init__
    ],
)
def test_a_sibling_or_another_package_is_allowed(file, code):
    assert not package_back_imports(PACKAGE / file, code)
