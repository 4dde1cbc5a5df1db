"""The run folder's file names live in ``medseg/run_folder.py`` only; :class:`RunFolder` paths."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from medseg.errors import RunDirError
from medseg.run_folder import RunFolder, ZooFolder

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "medseg"
# every name of a file or folder of a run or a zoo model, and the pieces they are built from
NAMES = {
    "config.yaml",
    "split.json",
    "run.json",
    "history.csv",
    "train.log",
    "tensorboard",
    "checkpoints",
    "best.pt",
    "last.pt",
    ".pt",
    "evaluation",
    "metrics.json",
    "per_case.csv",
    "per_volume.csv",
    "qc_table.csv",
    "qc_calibration.json",
    "report.html",
    "model.onnx",
    "model.json",
    "cv.json",
    "cv_results.csv",
    "cv_summary.json",
    "fold_",
    "fold_*",
    "weights.safetensors",
    "card.json",
    "card.md",
}


def _keys(tree: ast.AST) -> set[int]:
    """ids of the string constants used as keys (``{"evaluation": ...}``, ``card["evaluation"]``): field
    names of JSON data, not paths."""
    keys = {id(key) for node in ast.walk(tree) if isinstance(node, ast.Dict) for key in node.keys if key is not None}
    return keys | {id(node.slice) for node in ast.walk(tree) if isinstance(node, ast.Subscript)}


def spelled_names(path: Path, source: str | None = None) -> list[str]:
    """``file:line: 'name'`` for every string literal (or f-string piece) of ``path`` that is a run-folder name."""
    tree = ast.parse(source if source is not None else path.read_text(), filename=str(path))
    keys = _keys(tree)
    where = path.relative_to(PACKAGE.parent) if path.is_relative_to(PACKAGE.parent) else path
    return [
        f"{where}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in NAMES
        and id(node) not in keys
    ]


def test_run_folder_names_are_spelled_only_in_run_folder():
    found = [
        hit for path in sorted(PACKAGE.rglob("*.py")) if path.name != "run_folder.py" for hit in spelled_names(path)
    ]
    assert not found, "use medseg.run_folder (RunFolder, ZooFolder or its constants) instead of:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "code",
    [
        'p = run_dir / "checkpoints" / "best.pt"',
        'p = run_dir / "checkpoints" / f"{name}.pt"',
        'folds = run_dir.glob("fold_*")',
        'path = folder / "weights.safetensors"',
        'def f(run_dir):\n    return run_dir / "evaluation" / split',
    ],
)
def test_a_spelled_name_is_caught_with_its_line(code, tmp_path):
    path = tmp_path / "module.py"
    hits = spelled_names(path, "x = 1\n" + code)
    assert hits and all(f"{path}:" in hit for hit in hits)
    assert any(":2:" in hit or ":3:" in hit for hit in hits)


def test_a_dict_key_or_a_message_is_not_a_path(tmp_path):
    code = 'card = {"evaluation": "RUN"}\nx = card["evaluation"]\nraise ValueError("no checkpoints/best.pt")'
    assert not spelled_names(tmp_path / "module.py", code)


def test_paths_of_a_run(tmp_path):
    run = RunFolder(tmp_path)
    assert run.config == tmp_path / "config.yaml"
    assert run.split == tmp_path / "split.json"
    assert run.run_info == tmp_path / "run.json"
    assert run.history == tmp_path / "history.csv"
    assert run.train_log == tmp_path / "train.log"
    assert run.tensorboard == tmp_path / "tensorboard"
    assert run.best == run.checkpoint("best") == run.checkpoint("best.pt") == tmp_path / "checkpoints" / "best.pt"
    assert run.last == tmp_path / "checkpoints" / "last.pt"
    assert run.checkpoint("checkpoints/epoch3.pt") == tmp_path / "checkpoints" / "epoch3.pt"
    assert run.calibration == tmp_path / "qc_calibration.json"
    assert (run.onnx, run.onnx_settings) == (tmp_path / "model.onnx", tmp_path / "model.json")
    assert (run.cv_info, run.cv_results, run.cv_summary) == (
        tmp_path / "cv.json",
        tmp_path / "cv_results.csv",
        tmp_path / "cv_summary.json",
    )
    test = run.evaluation("test")
    assert test.root == tmp_path / "evaluation" / "test"
    assert (test.metrics.name, test.per_case.name, test.per_volume.name) == (
        "metrics.json",
        "per_case.csv",
        "per_volume.csv",
    )
    assert test.overlay("case_1") == tmp_path / "evaluation" / "test" / "overlays" / "case_1.png"
    assert test.report == tmp_path / "evaluation" / "test" / "report.html"
    assert RunFolder(str(tmp_path)) == run  # a string root is a Path


def test_folds_and_evaluations_found_sorted(tmp_path):
    run = RunFolder(tmp_path)
    for k in (1, 0):
        run.fold(k).checkpoints.mkdir(parents=True)
    (tmp_path / "fold_2").mkdir()
    (tmp_path / "fold_3.txt").write_text("")
    assert [f.root.name for f in run.folds()] == ["fold_0", "fold_1", "fold_2"]
    assert [f.root.name for f in run.folds(trained=True)] == ["fold_0", "fold_1"]
    assert not run.has_checkpoints and run.fold(0).has_checkpoints
    for split in ("val", "test"):
        run.evaluation(split).root.mkdir(parents=True)
    assert [e.root.name for e in run.evaluations] == ["test", "val"]


@pytest.mark.parametrize("name", ["", "../other/best.pt", "/etc/passwd", "checkpoints/../../x.pt"])
def test_a_checkpoint_outside_the_run_is_refused(tmp_path, name):
    run = RunFolder(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)
    with pytest.raises(RunDirError, match="inside the run folder"):
        run.checkpoint(name)


def test_a_link_out_of_the_run_is_refused(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)
    (tmp_path / "elsewhere.pt").write_bytes(b"")
    os.symlink(tmp_path / "elsewhere.pt", run.checkpoints / "best.pt")
    with pytest.raises(RunDirError):
        run.checkpoint("best")


def test_paths_of_a_zoo_model(tmp_path):
    zoo = ZooFolder(tmp_path)
    assert [zoo.weights.name, zoo.settings.name, zoo.card_json.name, zoo.card_md.name] == [
        "weights.safetensors",
        "model.json",
        "card.json",
        "card.md",
    ]
