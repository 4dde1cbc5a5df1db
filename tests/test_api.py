"""medseg.load and Model.predict: the same numbers as ``medseg predict``, units that say what they are."""

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

import medseg
from medseg.cli import app
from medseg.errors import DataError, RunDirError

from .bad_inputs_numbers import dicom_image


@pytest.fixture(scope="module")
def model(tiny_run):
    return medseg.load(tiny_run)


@pytest.mark.parametrize("scales", ["1", "1,1.2"])
def test_predict_gives_the_row_that_the_cli_writes(model, tiny_run, hc18_synthetic, tmp_path, scales):
    image = sorted((hc18_synthetic / "test_set").glob("*.png"))[0]
    if scales != "1":
        model = medseg.load(tiny_run, scales=[float(s) for s in scales.split(",")])
    result = model.predict(image, pixel_size_mm=0.15)
    sizes = tmp_path / "sizes.csv"
    sizes.write_text(f"filename,pixel size(mm)\n{image.name},0.15\n")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / image.name).write_bytes(image.read_bytes())
    out = tmp_path / "out"
    args = ["predict", str(tiny_run), str(folder), "--out", str(out), "--pixel-size", str(sizes), "--scales", scales]
    cli = CliRunner().invoke(app, args)
    assert cli.exit_code == 0, cli.output
    (row,) = list(csv.DictReader((out / "measurements.csv").open()))
    assert set(result.measurements) == set(row) - {"filename", "image"}
    for key, value in result.measurements.items():
        if isinstance(value, str):  # qc_flag, when the run was calibrated
            assert row[key] == value, key
        else:
            assert float(row[key] or "nan") == pytest.approx(float(value), nan_ok=True), key
    assert result.mask.shape == (96, 128) and result.pixel_size_mm == 0.15


def test_lengths_are_in_pixels_without_a_size_and_in_mm_from_dicom(model, tmp_path):
    pixels = (np.random.default_rng(0).random((96, 128)) * 200).astype(np.uint16)
    unknown = model.predict(pixels)
    lengths = [key for key in unknown.measurements if key.endswith(("_mm", "_mm2")) and key != "pixel_size_mm"]
    assert unknown.pixel_size_mm is None and np.isnan(unknown.measurements["pixel_size_mm"]) and not lengths
    assert "area_head_px2" in unknown.measurements
    dicom = dicom_image(tmp_path / "us.dcm", pixels, spacing=("0.2", "0.2"))
    measured = model.predict(dicom)
    assert measured.pixel_size_mm == pytest.approx(0.2) and "area_head_mm2" in measured.measurements
    assert measured.measurements["area_head_mm2"] == pytest.approx(0.04 * unknown.measurements["area_head_px2"])


def test_onnx_export_loads_the_same_way(tiny_run, hc18_synthetic, tmp_path):
    pytest.importorskip("onnxruntime")
    out = CliRunner().invoke(app, ["export", str(tiny_run), "--out", str(tmp_path / "m.onnx")])
    assert out.exit_code == 0, out.output
    image = sorted((hc18_synthetic / "test_set").glob("*.png"))[0]
    torch_result = medseg.load(tiny_run, backend="torch").predict(image)
    onnx_model = medseg.load(tmp_path / "m.onnx")
    assert onnx_model.predictor.backend == "onnx"
    np.testing.assert_allclose(onnx_model.predict(image).probabilities, torch_result.probabilities, atol=1e-4)


@pytest.mark.parametrize("size", [0, -1, float("nan"), float("inf"), "0.1", True])
def test_a_pixel_size_that_is_not_a_size_is_refused(model, size):
    with pytest.raises(DataError, match="pixel_size_mm"):
        model.predict(np.zeros((32, 32), np.uint8), pixel_size_mm=size)


def test_bad_sources_name_the_problem(model, tmp_path):
    with pytest.raises(RunDirError):
        medseg.load(tmp_path / "nowhere")
    with pytest.raises(DataError, match="image array"):
        model.predict(np.zeros((2, 3, 4, 5)))
    with pytest.raises(DataError, match="grey"):
        model.predict(np.zeros((32, 32, 3), np.uint8))
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="x.png"):
        model.predict(tmp_path / "x.png")


def test_multi_scale_is_refused_for_a_volume(tiny_run, tmp_path):
    import nibabel as nib

    from medseg.errors import ConfigError

    volume = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 3), np.int16), np.eye(4)), volume)
    with pytest.raises(ConfigError, match="2D images"):
        medseg.load(tiny_run, scales=(1, 1.1)).predict(volume)
