"""``medseg reproduce bone --quick``: U-Net++ per view and scheme against U-Net and Attention U-Net, BSI."""

from __future__ import annotations

import csv

import numpy as np
from typer.testing import CliRunner

from medseg.cli import app
from medseg.data.io import read_image
from medseg.experiments.studies import bone

from ...data.test_inputs import write_multiframe_nm

runner = CliRunner()


def _rows(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_quick_bone_study_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setattr(bone, "QUICK", [*bone.QUICK, "train.epochs=1"])  # the test checks the wiring
    out = tmp_path / "bone"
    result = runner.invoke(app, ["reproduce", "bone", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.count("synthetic phantoms") >= 2  # said wherever numbers are shown
    table = _rows(out / "table.csv")
    assert len(table) == 2 * 2 * 3  # schemes x views x networks
    assert {(r["scheme"], r["view"]) for r in table} == {(s, v) for s in ("4", "3") for v in ("anterior", "posterior")}
    four = next(r for r in table if r["scheme"] == "4")
    three = next(r for r in table if r["scheme"] == "3")
    assert {"f1_normal_uptake", "iou_hotspot"} <= set(four) and three["f1_normal_uptake"] == ""
    bsi = _rows(out / "bsi.csv")
    assert bsi and {r["network"] for r in bsi} == {"U-Net++", "U-Net", "Attention U-Net"}
    assert all(0 < float(r["bsi_mean_ref_percent"]) < 100 for r in bsi)
    assert (out / "scheme3" / "posterior" / "unet_plus_plus" / "checkpoints" / "best.pt").is_file()

    # a trained bone scan model predicts single- and multi-frame DICOM files
    scans = tmp_path / "scans"
    scans.mkdir()
    images = out / "phantom_data" / "images"
    frames = np.stack([read_image(images / f"P000_{view}.png") for view in ("anterior", "posterior")])
    write_multiframe_nm(scans / "P000_both.dcm", frames)
    run = out / "scheme4" / "anterior" / "unet_plus_plus"
    predicted = runner.invoke(app, ["predict", str(run), str(scans), "--out", str(tmp_path / "p")])
    assert predicted.exit_code == 0, predicted.output
    rows = _rows(tmp_path / "p" / "measurements.csv")
    assert [r["image"] for r in rows] == ["P000_both_frame1", "P000_both_frame2"]
    assert float(rows[0]["pixel_size_mm"]) == 3.2
    assert (tmp_path / "p" / "masks" / "P000_both_frame2.png").is_file()
