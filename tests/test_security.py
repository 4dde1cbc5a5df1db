"""Hostile files and careless commands through the CLI: nothing runs, nothing is deleted, no traceback."""

import io
import os
import shutil

import torch
from typer.testing import CliRunner

from medseg.cli import app

from .bad_inputs import png_bomb

runner = CliRunner()


class _Payload:
    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


def _refused(result, *words):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, ValueError | TypeError | OSError)
    for word in words:
        assert word in result.output, (word, result.output)


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_pickle_payload_in_a_checkpoint_does_not_run(tiny_run, hc18_synthetic, tmp_path):
    hostile = tmp_path / "run"
    shutil.copytree(tiny_run, hostile)
    buffer = io.BytesIO()
    torch.save({"model": {}, "state_dict": {}, "p": _Payload(tmp_path / "pwned")}, buffer)
    (hostile / "checkpoints" / "best.pt").write_bytes(buffer.getvalue())
    result = runner.invoke(app, ["predict", str(hostile), str(hc18_synthetic), "--out", str(tmp_path / "p")])
    _refused(result, "best.pt", "refused")
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "p").exists()


def test_path_traversal_in_checkpoint_and_split(tiny_run, hc18_synthetic, tmp_path):
    result = runner.invoke(
        app, ["predict", str(tiny_run), str(hc18_synthetic), "--out", str(tmp_path / "p"), "--checkpoint", "../../x"]
    )
    _refused(result, "--checkpoint", "inside the run folder")
    result = runner.invoke(app, ["evaluate", str(tiny_run), "--data", str(hc18_synthetic), "--split", "../../x"])
    _refused(result, "--split")
    assert not (tiny_run / "evaluation" / ".." / ".." / "x").exists()


def test_decompression_bomb_is_refused(tiny_run, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    png_bomb(images / "bomb.png")
    result = runner.invoke(app, ["predict", str(tiny_run), str(images), "--out", str(tmp_path / "p")])
    _refused(result, "bomb.png", "12000x12000", "exceeds")


def test_overwrite_pointed_at_the_data_the_current_folder_and_a_parent(tiny_run, hc18_synthetic, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(hc18_synthetic, data)
    before = _files(data)
    result = runner.invoke(app, ["train", "demo", "--data", str(data), "--out", str(data), "--overwrite"])
    _refused(result, "input")
    assert _files(data) == before
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    (work / "notes.txt").write_text("keep me")
    monkeypatch.chdir(work)
    for out in (".", "..", str(tmp_path)):
        result = runner.invoke(app, ["predict", str(tiny_run), str(data), "--out", out, "--overwrite"])
        _refused(result, "current folder")
    assert (work / "notes.txt").read_text() == "keep me" and _files(data) == before
