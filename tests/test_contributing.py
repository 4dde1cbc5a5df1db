"""docs/contributing.md, followed to the letter: a toy of each kind, found through the public path.

Each test writes the guide's "one new file" into a temporary folder and does what the guide's one
line does: imports it (a model, a study: the import line in the package ``__init__``), adds its
entry to the table naming its module (a reader, a converter: the module is then imported on first
use), or registers it (a command). The toy is then reached the way a user reaches the shipped ones.
Registries are global, so every toy is removed again when its test ends (fixture finalizers) and
the other tests never see it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import medseg
from medseg.cli import app
from medseg.cli.choices import conversion_choices, layout_choices
from medseg.data.converters import CONVERTERS
from medseg.data.converters.table import CONVERTER_MODULES
from medseg.data.readers import READERS, check_dataset, read_dataset
from medseg.data.readers.table import READER_MODULES
from medseg.errors import ConfigError, OptionError, RunDirError
from medseg.experiments.convert import convert_dataset
from medseg.experiments.reproduce import STUDIES
from medseg.experiments.studies import get_study, list_studies
from medseg.models import create_model, list_models

runner = CliRunner()
Load = Callable[[str, str], ModuleType]


@pytest.fixture
def load_toy(write_toy) -> Load:
    """``load(name, source)`` writes ``name.py`` into a folder on ``sys.path`` and imports it."""
    return lambda name, source: importlib.import_module(write_toy(name, source))


MODEL = '''
    """A toy architecture: two convolutions."""

    from torch import nn

    from medseg.models.registry import MODELS


    class ToyNet(nn.Module):
        def __init__(self, in_channels: int, classes: int, width: int) -> None:
            super().__init__()
            self.layers = nn.Sequential(
                nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, classes, 1)
            )

        def forward(self, x):
            return self.layers(x)


    @MODELS.register("toy")
    def toy(in_channels: int = 1, classes: int = 2, width: int = 4) -> ToyNet:
        """Two convolutions, ``width`` channels between them."""
        if width < 1:
            raise ValueError(f"width {width}: give at least 1")
        return ToyNet(in_channels, classes, width)
'''


@pytest.fixture
def toy_model(load_toy, request) -> ModuleType:
    from medseg.models.registry import MODELS

    request.addfinalizer(lambda: MODELS.unregister("toy"))
    return load_toy("contributing_toy_model", MODEL)


def test_a_model_is_one_file_and_one_import_line(toy_model):
    assert "toy" in list_models()
    model = create_model("toy", in_channels=3, classes=2, width=8).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 17, 23))
    assert logits.shape == (1, 2, 17, 23)
    with pytest.raises(OptionError, match="width 0"):
        create_model("toy", width=0)
    with pytest.raises(ConfigError, match="depth"):
        create_model("toy", depth=3)
    listed = runner.invoke(
        app, ["models", "--architectures", "--name", "toy", "--size", "32", "--no-latency"], env={"COLUMNS": "200"}
    )
    assert listed.exit_code == 0, listed.output
    assert "toy" in listed.output


READER = '''
    """A toy layout: ``root/<id>.npz``, each holding an ``image`` and a ``mask`` array."""

    from pathlib import Path

    import numpy as np

    from medseg.data.case import Case
    from medseg.data.checks import case_guard
    from medseg.data.readers.registry import READERS


    @READERS.register("toy")
    def read_toy(root: Path, spacing_mm: float = 0.5) -> list[Case]:
        """Every ``*.npz`` of ``root``, one case each (its own group), ``spacing_mm`` per pixel."""
        cases = []
        for path in sorted(Path(root).glob("*.npz")):
            with case_guard(), np.load(path) as arrays:
                meta = {"spacing_mm": (spacing_mm, spacing_mm), "group": path.stem}
                cases.append(Case(path.stem, arrays["image"], arrays["mask"], meta, path))
        return cases
'''


@pytest.fixture
def toy_reader(write_toy, monkeypatch, request) -> str:
    """The toy reader's module, listed in the reader table (not imported: the first read does it)."""
    request.addfinalizer(lambda: READERS.unregister("toy"))
    module = write_toy("contributing_toy_reader", READER)
    monkeypatch.setitem(READER_MODULES, "toy", module)  # the guide's line in data/readers/table.py
    return module


def _toy_dataset(root):
    root.mkdir()
    for index in range(3):
        mask = np.zeros((8, 10), np.uint8)
        mask[2:5, 3:7] = 1
        np.savez(root / f"case{index}.npz", image=np.full((8, 10), index * 50, np.uint8), mask=mask)
    return root


def test_a_reader_is_one_file_and_one_table_line(toy_reader, tmp_path):
    root = _toy_dataset(tmp_path / "toy_data")
    assert "toy" in READERS.names() and "toy" in READERS
    assert toy_reader not in sys.modules  # known from the table alone
    assert "toy" in [layout.value for layout in layout_choices()]  # as medseg/cli/choices.py builds Layout
    cases = read_dataset("toy", root, spacing_mm=0.25)
    assert toy_reader in sys.modules
    assert [case.id for case in cases] == ["case0", "case1", "case2"]
    assert cases[0].spacing_mm == (0.25, 0.25) and cases[0].mask.sum() == 12
    with pytest.raises(ConfigError, match="spacing_mm"):
        read_dataset("toy", root, thickness=1)  # the reader's options are checked for it
    # the checks every reader gets: a mask of another size is a problem naming the file
    np.savez(root / "case3.npz", image=np.zeros((8, 10), np.uint8), mask=np.zeros((4, 4), np.uint8))
    good, problems = check_dataset("toy", root)
    assert len(good) == 3 and len(problems) == 1 and problems[0].path.name == "case3.npz"


def _medseg(setup: str, folder, *args: str) -> subprocess.CompletedProcess:
    """``medseg ARGS`` in a fresh interpreter that first runs ``setup`` (a table line, as if it were in
    the file); ``folder`` (the toys) is on its path."""
    code = f"import sys\n{setup}\nfrom medseg.cli import main\nsys.argv = ['medseg', *{list(args)!r}]\nmain()"
    path = os.pathsep.join([str(Path(medseg.__file__).parents[1]), str(folder), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_a_new_reader_is_a_layout_of_the_command_line(toy_reader, tmp_path):
    # medseg check --layout lists and accepts the toy: Layout is built from the table at start-up
    root = _toy_dataset(tmp_path / "toy_data")
    line = f"from medseg.data.readers.table import READER_MODULES\nREADER_MODULES['toy'] = {toy_reader!r}"
    helped = _medseg(line, tmp_path / "toys", "check", "--help")
    assert helped.returncode == 0 and "|toy>" in "".join(helped.stdout.split()), helped.stdout + helped.stderr
    checked = _medseg(line, tmp_path / "toys", "check", str(root), "--layout", "toy")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "3 cases read, 0 problems" in checked.stdout


CONVERTER = '''
    """``medseg convert toy``: a folder -> the list of its files."""

    from medseg.data.converters.registry import CONVERTERS, Converter


    def _write(src, work, cases, labels):
        target = work / "files.txt"
        target.write_text("\\n".join(sorted(path.name for path in src.iterdir())) + "\\n")
        return [target]


    CONVERTERS.register("toy")(Converter(_write, "a folder -> files.txt, the names of its files"))
'''


@pytest.fixture
def toy_converter(write_toy, monkeypatch, request) -> str:
    """The toy converter's module, listed in the converter table (not imported: the first use does it)."""
    request.addfinalizer(lambda: CONVERTERS.unregister("toy"))
    module = write_toy("contributing_toy_converter", CONVERTER)
    monkeypatch.setitem(CONVERTER_MODULES, "toy", module)  # the guide's line in data/converters/table.py
    return module


def test_a_converter_is_one_file_and_one_table_line(toy_converter, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("b.png", "a.png"):
        (src / name).write_bytes(b"")
    assert "toy" in CONVERTERS.names() and toy_converter not in sys.modules
    assert "toy" in [kind.value for kind in conversion_choices()]  # as medseg/cli/choices.py builds Conversion
    assert CONVERTERS.get("toy").summary.startswith("a folder")
    out = tmp_path / "out"
    assert convert_dataset("toy", src, out) == [out / "files.txt"]
    assert (out / "files.txt").read_text() == "a.png\nb.png\n"
    with pytest.raises(RunDirError):  # the output folder follows the rules of every medseg output
        convert_dataset("toy", src, out)
    convert_dataset("toy", src, out, overwrite=True)


STUDY = '''
    """``medseg reproduce toy``: a one-row table, no training."""

    from pathlib import Path

    from medseg.experiments.reproduce import StudyRequest, refuse_selection, register_study, study_folder


    @register_study("toy", "a toy study: one table row, no training")
    def run_toy(request: StudyRequest) -> Path:
        """Writes ``table.md`` into the study folder ``request.out``."""
        refuse_selection(request, "toy")
        with study_folder(request) as output:
            (output.work / "table.md").write_text("| metric | value |\\n|---|---|\\n| answer | 42 |\\n")
        return output.path / "table.md"
'''


@pytest.fixture
def toy_study(load_toy, request) -> ModuleType:
    request.addfinalizer(lambda: STUDIES.pop("toy", None))
    return load_toy("contributing_toy_study", STUDY)


def test_a_study_is_one_file_and_one_import_line(toy_study, tmp_path):
    assert "toy" in [study.name for study in list_studies()]
    assert get_study("toy").summary.startswith("a toy study")
    listed = runner.invoke(app, ["reproduce", "--list"])
    assert listed.exit_code == 0 and "a toy study" in listed.output
    out = tmp_path / "study"
    result = runner.invoke(app, ["reproduce", "toy", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| answer | 42 |" in result.output and (out / "table.md").is_file()
    refused = runner.invoke(app, ["reproduce", "toy", "--out", str(tmp_path / "other"), "--only", "part"])
    assert refused.exit_code == 2 and "takes neither --only nor --set" in refused.output


VERB = '''
    """``medseg hello``: a toy command."""

    from typing import Annotated

    import typer

    from medseg.cli.base import check_option, console, fail
    from medseg.errors import MedsegError


    def hello(
        name: Annotated[str, typer.Argument(help="who to greet")],
        times: Annotated[int, typer.Option(help="how many greetings")] = 1,
    ) -> None:
        """Greet NAME, TIMES times."""
        try:
            check_option("--times", times, times >= 1, "at least 1")
        except MedsegError as error:
            fail(error)
        for _ in range(times):
            console.print(f"hello {name}", highlight=False)
'''


@pytest.fixture
def toy_verb(load_toy, request) -> ModuleType:
    module = load_toy("contributing_toy_verb", VERB)
    app.command()(module.hello)  # the guide's registration line in medseg/cli/__init__.py
    registered = app.registered_commands[-1]
    request.addfinalizer(lambda: app.registered_commands.remove(registered))
    return module


def test_a_cli_verb_is_one_file_and_one_registration_line(toy_verb):
    listed = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "hello" in listed.output and "Greet NAME, TIMES times." in listed.output
    helped = runner.invoke(app, ["hello", "--help"], env={"COLUMNS": "200"})
    assert helped.exit_code == 0 and "--times" in helped.output and "who to greet" in helped.output
    result = runner.invoke(app, ["hello", "world", "--times", "2"])
    assert result.exit_code == 0 and result.output == "hello world\nhello world\n"
    refused = runner.invoke(app, ["hello", "world", "--times", "0"])
    assert refused.exit_code == 2 and "error: --times 0: must be at least 1" in refused.output


def test_commands_are_registered_in_one_list():
    # the one way the guide describes: plain functions in command modules, app.command()(f) lines in
    # medseg/cli/__init__.py, no @app.command() decorators
    import ast
    from pathlib import Path

    import medseg.cli

    folder = Path(medseg.cli.__file__).parent
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                decorators = [ast.unparse(d) for d in node.decorator_list]
                assert not [d for d in decorators if ".command" in d], f"{path.name}: {node.name} {decorators}"
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(".command"):
                assert path.name == "__init__.py", f"{path.name}:{node.lineno} registers a command"
    modules = {info.callback.__module__ for info in app.registered_commands}
    assert all(module.startswith("medseg.cli.") for module in modules), modules


def test_the_toys_are_gone_after_their_tests():
    # runs after the tests above (file order): every registry is back to its shipped entries
    from medseg.models.registry import MODELS

    assert "toy" not in MODELS and "toy" not in READERS and "toy" not in CONVERTERS and "toy" not in STUDIES
    assert "toy" not in READER_MODULES and "toy" not in CONVERTER_MODULES
    assert "hello" not in runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
