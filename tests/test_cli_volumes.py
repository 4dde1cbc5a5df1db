"""``medseg predict`` on volumes from the command line: label NIfTIs, volumes.csv, refusals."""

from __future__ import annotations

import csv
import dataclasses

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from medseg.cli import app
from medseg.config import Config
from medseg.data.phantoms.ct import display_affine, sphere_phantom
from medseg.data.volumes.nifti import save_nifti

runner = CliRunner()


@pytest.fixture(scope="module")
def ct_run(tmp_path_factory):
    """A run folder holding an untrained tiny 3-class U-Net (liver, tumour) with a CT window."""
    import torch

    from medseg.models import create_model
    from medseg.models.checkpoint import save_checkpoint

    config = Config()
    config.data.num_classes, config.data.class_names = 3, ["background", "liver", "tumour"]
    config.data.image_size, config.data.window = [32, 32], [100.0, 300.0]
    spec = {"name": "unet", "in_channels": 1, "classes": 3, "params": {"channels": [4, 8]}}
    torch.manual_seed(0)
    model = create_model("unet", in_channels=1, classes=3, channels=[4, 8])
    run = tmp_path_factory.mktemp("ct_run")
    save_checkpoint(
        run / "checkpoints" / "best.pt",
        {"model": spec, "state_dict": model.state_dict(), "config": dataclasses.asdict(config)},
    )
    return run


def test_predict_volume_writes_labels_in_the_input_geometry_and_volumes_csv(ct_run, tmp_path):
    hu, _ = sphere_phantom((6, 40, 40), (2.0, 1.0, 1.0), 12.0, [((0.0, 0.0, 0.0), 4.0)])
    source = save_nifti(hu.transpose(2, 1, 0), display_affine((2.0, 1.0, 1.0), hu.shape), tmp_path / "ct.nii.gz")
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", str(ct_run), str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = nib.load(out / "labels" / "ct.nii.gz")
    np.testing.assert_allclose(written.affine, nib.load(source).affine)
    assert written.shape == nib.load(source).shape
    (row,) = list(csv.DictReader((out / "volumes.csv").open()))
    assert {"volume", "liver_ml", "tumour_ml", "tumour_burden_pct", "n_tumours"} <= set(row)
    assert (out / "tumours.csv").is_file()
    # Nothing already written is replaced without --overwrite.
    again = runner.invoke(app, ["predict", str(ct_run), str(source), "--out", str(out), "--no-postprocess-3d"])
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert written.shape == nib.load(out / "labels" / "ct.nii.gz").shape


@pytest.mark.parametrize("kind", ["2d", "zip"])
def test_predict_bad_volume_is_one_line_naming_the_file(ct_run, tmp_path, kind):
    import zipfile

    if kind == "2d":
        bad = tmp_path / "flat.nii.gz"
        nib.save(nib.Nifti1Image(np.zeros((8, 8), np.int16), np.eye(4)), bad)
    else:
        bad = tmp_path / "empty.zip"
        with zipfile.ZipFile(bad, "w") as archive:
            archive.writestr("readme.txt", "nothing")
    result = runner.invoke(app, ["predict", str(ct_run), str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    errors = [line for line in result.output.strip().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and bad.name in errors[0]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_predict_volume_prints_a_summary_and_the_time_of_each_stage(ct_run, tmp_path):
    hu, _ = sphere_phantom((6, 40, 40), (2.0, 1.0, 1.0), 12.0, [((0.0, 0.0, 0.0), 4.0)])
    source = save_nifti(hu.transpose(2, 1, 0), display_affine((2.0, 1.0, 1.0), hu.shape), tmp_path / "ct.nii.gz")
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", str(ct_run), str(source), "--out", str(out), "--min-lesion-volume", "0"])
    assert result.exit_code == 0, result.output
    assert "ct: liver " in result.output and "ml without tumours" in result.output
    assert "ct: 6 slices in " in result.output and "network " in result.output  # where the time went
    (row,) = list(csv.DictReader((out / "volumes.csv").open()))
    assert float(row["min_tumour_volume_mm3"]) == 0 and row["n_tumours_below_min"] == "0"
    bad = runner.invoke(
        app, ["predict", str(ct_run), str(source), "--out", str(tmp_path / "o"), "--min-lesion-volume", "-1"]
    )
    assert bad.exit_code == 2 and "--min-lesion-volume" in bad.output and not (tmp_path / "o").exists()


def test_busy_cpu_warning_only_for_several_threads_on_a_busy_cpu(monkeypatch):
    import os

    import torch

    from medseg.device import busy_cpu_warning

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (7.4, 6.0, 5.0))
    assert "load average 7.4 on 2 cores" in busy_cpu_warning(2) and "--threads 1" in busy_cpu_warning(2)
    assert busy_cpu_warning(1) is None
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert busy_cpu_warning(2) is None


def test_remove_small_lesions_from_the_command_line(tmp_path):
    """A run whose untrained network is made to predict all three classes in patches (its head's weights
    scaled up): the specks are counted by default, and gone from the labels with --remove-small-lesions."""
    import torch

    from medseg.models import create_model
    from medseg.models.checkpoint import save_checkpoint

    config = Config()
    config.data.num_classes, config.data.class_names = 3, ["background", "liver", "tumour"]
    config.data.image_size, config.data.window = [32, 32], [100.0, 300.0]
    config.postprocess.largest_component = config.postprocess.fill_holes = False
    torch.manual_seed(1)  # a seed whose network, scaled, predicts liver with tumour specks on this phantom
    model = create_model("unet", in_channels=1, classes=3, channels=[4, 8])
    with torch.no_grad():
        [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1].weight.mul_(20)
    spec = {"name": "unet", "in_channels": 1, "classes": 3, "params": {"channels": [4, 8]}}
    run = tmp_path / "run"
    save_checkpoint(
        run / "checkpoints" / "best.pt",
        {"model": spec, "state_dict": model.state_dict(), "config": dataclasses.asdict(config)},
    )
    hu, _ = sphere_phantom((8, 48, 48), (2.0, 1.0, 1.0), 16.0, [((0.0, 0.0, 0.0), 5.0)])
    source = save_nifti(hu.transpose(2, 1, 0), display_affine((2.0, 1.0, 1.0), hu.shape), tmp_path / "ct.nii.gz")
    rows = {}
    for flag in ("--keep-small-lesions", "--remove-small-lesions"):
        out = tmp_path / flag
        args = ["predict", str(run), str(source), "--out", str(out), flag, "--min-lesion-volume", "30"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        (rows[flag],) = list(csv.DictReader((out / "volumes.csv").open()))
    kept, removed = rows["--keep-small-lesions"], rows["--remove-small-lesions"]
    assert int(kept["n_tumours_below_min"]) > 0 and removed["n_tumours_below_min"] == "0"
    assert removed["n_tumours"] == kept["n_tumours"]
    assert float(removed["tumour_ml"]) == pytest.approx(float(kept["tumour_ml"]) - float(kept["tumour_below_min_ml"]))
