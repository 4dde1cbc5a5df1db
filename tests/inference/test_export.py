"""medseg export: ONNX + JSON settings, checked against PyTorch, usable without the run directory."""

import json
import shutil

import numpy as np
import onnx
import pytest

from medseg.data.io import read_image
from medseg.errors import ExportError, RunDirError
from medseg.inference import Predictor
from medseg.inference.export import OPSET, export_onnx, find_export
from medseg.inference.onnx_backend import load_onnx_predictor, read_settings


def test_export_writes_a_checked_model_and_its_settings(exported_run):
    settings = json.loads((exported_run / "model.json").read_text())
    assert settings["opset"] == OPSET and settings["dynamic_batch"] and settings["dynamic_spatial"]
    assert settings["check"]["max_abs_diff"] <= 1e-4 and settings["check"]["tolerance"] == 1e-4
    assert {"data", "model", "postprocess", "eval", "infer"} <= set(settings["config"])
    assert "train" not in settings["config"]
    model = onnx.load(str(exported_run / "model.onnx"))
    onnx.checker.check_model(model)
    assert model.opset_import[0].version == OPSET
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 1, "height", "width"]
    assert find_export(exported_run) == exported_run / "model.onnx"


def test_onnx_predictions_match_pytorch_without_the_run_directory(exported_run, hc18_synthetic, tmp_path):
    shutil.copy(exported_run / "model.onnx", tmp_path / "head.onnx")
    shutil.copy(exported_run / "model.json", tmp_path / "head.json")
    onnx_predictor = load_onnx_predictor(tmp_path / "head.onnx", threads=1)
    torch_predictor = Predictor.from_run(exported_run, device="cpu")
    assert onnx_predictor.backend == "onnx" and torch_predictor.backend == "torch"
    images = [read_image(p) for p in sorted((hc18_synthetic / "test_set").glob("*.png"))]
    for ours, reference in zip(
        onnx_predictor.predict_batch(images), torch_predictor.predict_batch(images), strict=True
    ):
        assert np.abs(ours.probabilities - reference.probabilities).max() < 1e-4
        assert (ours.mask != reference.mask).mean() < 1e-3


def test_settings_embedded_in_the_model_are_used_when_the_json_is_missing(exported_run, tmp_path):
    shutil.copy(exported_run / "model.onnx", tmp_path / "alone.onnx")
    assert read_settings(tmp_path / "alone.onnx")["source"]["checkpoint"] == "best"
    assert load_onnx_predictor(tmp_path / "alone.onnx").config.data.image_size == [48, 64]


def test_export_refuses_a_disagreement_and_writes_nothing(tiny_run, tmp_path):
    with pytest.raises(ExportError, match="differ from PyTorch"):
        export_onnx(tiny_run, tmp_path / "m.onnx", tolerance=-1.0)
    assert not list(tmp_path.iterdir())


def test_export_errors_name_the_problem(tmp_path, tiny_run):
    with pytest.raises(RunDirError, match="not a run directory"):
        export_onnx(tmp_path)
    with pytest.raises(RunDirError, match=r"must end in \.onnx"):
        export_onnx(tiny_run, tmp_path / "model.pt")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ExportError, match="bad.onnx"):
        load_onnx_predictor(tmp_path / "bad.onnx")


def test_export_command(tiny_run, tmp_path):
    from typer.testing import CliRunner

    from medseg.cli import app

    out = tmp_path / "fetal.onnx"
    result = CliRunner().invoke(app, ["export", str(tiny_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "opset 17" in result.output and "dynamic height/width" in result.output
    assert out.is_file() and (tmp_path / "fetal.json").is_file()
    result = CliRunner().invoke(app, ["export", str(tmp_path)])
    assert result.exit_code == 2 and "not a run directory" in result.output


@pytest.mark.parametrize("name", ["best.pt", "checkpoints/last.pt"])
def test_export_takes_the_checkpoint_names_predict_takes(tiny_run, tmp_path, name):
    from medseg.inference.export import file_sha256
    from medseg.run_folder import RunFolder

    Predictor.from_run(tiny_run, name, device="cpu")  # predict --checkpoint NAME
    out = tmp_path / "m.onnx"
    export_onnx(tiny_run, out, checkpoint=name)
    source = json.loads(out.with_suffix(".json").read_text())["source"]
    assert source["checkpoint"] == name
    assert source["sha256"] == file_sha256(RunFolder(tiny_run).checkpoint(name))


def test_export_refuses_a_checkpoint_outside_the_run(tiny_run, tmp_path):
    (tmp_path / "elsewhere.pt").write_bytes(b"")
    with pytest.raises(RunDirError, match="inside the run folder"):
        export_onnx(tiny_run, tmp_path / "m.onnx", checkpoint=str(tmp_path / "elsewhere.pt"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.pt"]
