"""medseg predict into its output folder: completeness marker, resume, overwrite, file modes."""

import os
import stat

import pytest

from medseg.errors import RunDirError
from medseg.experiments.predict import predict_run
from medseg.experiments.rundir import read_marker


class _Stop(Exception):
    pass


def test_interrupted_prediction_resumes_without_redoing_images(tiny_run, hc18_synthetic, tmp_path, monkeypatch):
    import medseg.inference.folder as folder

    out = tmp_path / "pred"
    calls = []
    real_overlay = folder.overlay

    def overlay_then_stop(image, mask, *rest):
        calls.append(1)
        if len(calls) == 2:
            raise _Stop  # the process dies while writing the second image
        return real_overlay(image, mask, *rest)

    monkeypatch.setattr(folder, "overlay", overlay_then_stop)
    with pytest.raises(_Stop):
        predict_run(tiny_run, hc18_synthetic, out)
    assert read_marker(out)["complete"] is False and len(list((out / ".progress").iterdir())) == 1
    with pytest.raises(RunDirError, match="--resume"):
        predict_run(tiny_run, hc18_synthetic, out)
    with pytest.raises(RunDirError, match="another checkpoint"):
        predict_run(tiny_run, hc18_synthetic, out, checkpoint="last", resume=True)
    calls.clear()
    monkeypatch.setattr(folder, "overlay", lambda image, mask, *rest: calls.append(1) or real_overlay(image, mask))
    rows = predict_run(tiny_run, hc18_synthetic, out, resume=True)
    n_images = len(list((hc18_synthetic / "test_set").glob("*.png")))
    assert len(rows) == n_images and len(calls) == n_images - 1  # the finished image is not redone
    assert read_marker(out)["complete"] and not (out / ".progress").exists()
    assert (out / "measurements.csv").read_text().count("\n") == n_images + 1


def test_overwrite_failing_half_way_keeps_the_old_prediction(tiny_run, hc18_synthetic, tmp_path, monkeypatch):
    import medseg.inference.folder as folder

    out = tmp_path / "pred"
    predict_run(tiny_run, hc18_synthetic, out)
    before = (out / "measurements.csv").read_bytes()
    monkeypatch.setattr(folder, "overlay", lambda *a: (_ for _ in ()).throw(_Stop()))
    with pytest.raises(_Stop):
        predict_run(tiny_run, hc18_synthetic, out, overwrite=True)
    assert (out / "measurements.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred"]


def test_output_files_follow_the_umask(tiny_run, hc18_synthetic, tmp_path):
    old = os.umask(0o022)
    try:
        predict_run(tiny_run, hc18_synthetic, tmp_path / "pred")
    finally:
        os.umask(old)
    for path in (tmp_path / "pred" / "measurements.csv", next((tmp_path / "pred" / "masks").iterdir())):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_qc_flipped_passes_run_when_asked_or_when_the_calibrated_flag_needs_them(
    tiny_run, hc18_synthetic, tmp_path, monkeypatch
):
    import csv
    import math
    import shutil

    import medseg.inference.qc as qc_module
    from medseg.inference.qc import QCCalibration
    from medseg.run_folder import RunFolder

    flips = []
    real = qc_module._flipped_prediction
    monkeypatch.setattr(qc_module, "_flipped_prediction", lambda *a: flips.append(1) or real(*a))
    n_images = len(list((hc18_synthetic / "test_set").glob("*.png")))

    def tta_values(out):
        with (out / "measurements.csv").open(newline="") as handle:
            return [float(row["qc_tta_dice_min"] or "nan") for row in csv.DictReader(handle)]

    predict_run(tiny_run, hc18_synthetic, tmp_path / "default")  # eval.qc of the demo config: on
    assert flips == [] and all(math.isnan(v) for v in tta_values(tmp_path / "default"))
    predict_run(tiny_run, hc18_synthetic, tmp_path / "asked", qc=True)
    assert len(flips) == 2 * n_images and not any(math.isnan(v) for v in tta_values(tmp_path / "asked"))

    run = tmp_path / "calibrated"
    shutil.copytree(tiny_run, run)
    validation = [{"qc_tta_dice_min": 0.9 + 0.01 * k} for k in range(5)]
    QCCalibration(share=0.2, threshold=0.8, signals=["qc_tta_dice_min"], validation=validation).save(
        RunFolder(run).calibration
    )
    flips.clear()
    rows = predict_run(run, hc18_synthetic, tmp_path / "flagged")  # the flag uses a flipped-pass signal
    assert len(flips) == 2 * n_images and {row["qc_flag"] for row in rows} <= {"ok", "review"}


def test_multi_scale_prediction_writes_what_the_predictor_gives_and_resumes_only_alike(
    tiny_run, hc18_synthetic, tmp_path
):
    import numpy as np
    from PIL import Image

    from medseg.data.io import read_image
    from medseg.inference import Predictor

    out = tmp_path / "pred"
    rows = predict_run(tiny_run, hc18_synthetic, out, scales=(1, 1.2))
    assert read_marker(out)["info"]["scales"] == [1.0, 1.2]
    first = sorted((hc18_synthetic / "test_set").glob("*.png"))[0]
    expected = Predictor.from_run(tiny_run, device="cpu", scales=(1, 1.2)).predict(read_image(first)).mask
    written = np.asarray(Image.open(out / "masks" / first.name))
    assert len(rows) > 1 and np.array_equal(written > 0, expected > 0)
    with pytest.raises(RunDirError, match="another scales"):
        predict_run(tiny_run, hc18_synthetic, out, resume=True)


def test_multi_scale_is_for_2d_images(tiny_run, tmp_path):
    import nibabel as nib
    import numpy as np

    from medseg.errors import ConfigError

    volume = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 3), np.int16), np.eye(4)), volume)
    with pytest.raises(ConfigError, match="2D images"):
        predict_run(tiny_run, volume, tmp_path / "pred", scales=(1, 1.1))
    assert not (tmp_path / "pred").exists()
