"""Backend choice: ONNX Runtime when an up-to-date export exists, PyTorch otherwise; the CLI's --backend."""

import csv
import json
import shutil

import pytest
from typer.testing import CliRunner

from medseg.cli import app
from medseg.errors import ConfigError, ExportError
from medseg.inference.backends import open_predictor


def test_auto_uses_an_up_to_date_export_only(exported_run, tmp_path):
    assert open_predictor(exported_run).backend == "onnx"
    assert open_predictor(exported_run, "torch").backend == "torch"
    assert open_predictor(exported_run, checkpoint="last").backend == "torch"  # exported from best
    stale = tmp_path / "stale"
    shutil.copytree(exported_run, stale)
    settings = json.loads((stale / "model.json").read_text())
    settings["source"]["sha256"] = "0" * 64
    (stale / "model.json").write_text(json.dumps(settings))
    assert open_predictor(stale).backend == "torch"
    with pytest.raises(ExportError, match="medseg export"):
        open_predictor(stale, "onnx")
    with pytest.raises(ConfigError, match="unknown backend"):
        open_predictor(exported_run, "tensorrt")
    with pytest.raises(ConfigError, match="ONNX Runtime"):
        open_predictor(exported_run / "model.onnx", "torch")


def test_predict_cli_gives_the_same_measurements_on_both_backends(exported_run, hc18_synthetic, tmp_path):
    runner = CliRunner()
    tables = {}
    for source, backend in ((exported_run / "model.onnx", "auto"), (exported_run, "torch")):
        out = tmp_path / backend
        args = ["predict", str(source), str(hc18_synthetic), "--out", str(out), "--backend", backend]
        result = runner.invoke(app, [*args, "--batch-size", "3"])
        assert result.exit_code == 0, result.output
        with (out / "measurements.csv").open() as handle:
            tables[backend] = list(csv.DictReader(handle))
        assert len(list((out / "masks").glob("*.png"))) == len(tables[backend])
    for ours, reference in zip(tables["auto"], tables["torch"], strict=True):
        assert ours["filename"] == reference["filename"]
        for column in ("hc_mm", "area_head_mm2"):
            assert float(ours[column]) == pytest.approx(float(reference[column]), rel=1e-3, nan_ok=True)


def test_threads_set_pytorch_threads_for_a_run_directory(tiny_run):
    import torch

    before = torch.get_num_threads()
    wanted = 2 if before == 1 else 1  # a number other than the current one
    try:
        predictor = open_predictor(tiny_run, backend="torch", threads=wanted)
        assert predictor.backend == "torch" and torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)


def test_multi_scale_runs_on_pytorch_and_is_refused_of_onnx_runtime(exported_run):
    predictor = open_predictor(exported_run, scales=(1, 1.1))  # auto passes over the export, as bfloat16 does
    assert predictor.backend == "torch" and predictor.scales == (1.0, 1.1)
    assert open_predictor(exported_run, scales=(1,)).backend == "onnx"
    for source, backend in ((exported_run, "onnx"), (exported_run / "model.onnx", "auto")):
        with pytest.raises(ConfigError, match="multi-scale inference .*runs on PyTorch"):
            open_predictor(source, backend, scales=(1, 1.1))
