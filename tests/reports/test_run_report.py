"""``medseg report``: a self-contained page from a real (tiny) run, sections from the files present."""

from __future__ import annotations

import base64
import re
import shutil

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from medseg.cli import app
from medseg.errors import RunDirError
from medseg.experiments.report import write_report
from medseg.reports.run_report import write_run_report

from .conftest import make_run, write_rows

runner = CliRunner()
IMAGE = re.compile(r'src="data:(image/(?:png|jpeg));base64,([A-Za-z0-9+/=]+)"')


def embedded_images(html: str) -> list[np.ndarray]:
    images = []
    for _, payload in IMAGE.findall(html):
        image = cv2.imdecode(np.frombuffer(base64.b64decode(payload), np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.size > 0
        images.append(image)
    return images


def test_report_of_a_tiny_run_is_self_contained(evaluated_run, tmp_path):
    result = runner.invoke(app, ["report", str(evaluated_run), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    assert "http://" not in html and "https://" not in html  # opens without a network
    assert re.findall(r'src="(?!data:)', html) == []  # every image is embedded
    for heading in ("Learning curves", "Metrics on the test split (2 cases)", "Per-case scores", "Worst and best"):
        assert heading in html, heading
    assert "parameters:</span> 7,482" in html  # counted from the checkpoint
    # curves, per-case chart, and one overlay per test case in each of the worst and best galleries
    assert len(embedded_images(html)) == 2 + 2


def test_missing_overlays_are_drawn_again_from_the_model(evaluated_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(evaluated_run, run_dir)
    shutil.rmtree(run_dir / "evaluation" / "test" / "overlays")
    html = write_report(run_dir).read_text()  # the dataset named in run.json is read again
    assert len(embedded_images(html)) == 4
    shutil.move(run_dir / "run.json", tmp_path / "run.json")  # no dataset known: the page comes without them
    assert len(embedded_images(write_report(run_dir).read_text())) == 2


def test_agreement_and_volume_slices_from_the_columns(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for volume in ("pat1", "pat2"):
        for z in range(6):
            ref = float(rng.uniform(100, 300))
            rows.append(
                {
                    "id": f"{volume}_z{z:03d}",
                    "dice_liver": float(rng.uniform(0.5, 1)),
                    "recall_liver": float(rng.uniform(0.5, 1)) if z > 0 else float("nan"),
                    "hc_mm": ref + float(rng.normal(0, 2)),
                    "hc_ref_mm": ref,
                    "volume_ml_ref_liver": ref * 10,
                    "volume_ml_pred_liver": ref * 10 + 5,
                }
            )
    run_dir = make_run(tmp_path / "vol", rows, ["background", "liver"])
    per_volume = [{"id": v, "liver_ref_ml": 1500.0 + i, "liver_pred_ml": 1480.0 + 3 * i} for i, v in enumerate("ab")]
    write_rows(run_dir / "evaluation" / "test" / "per_volume.csv", per_volume)  # as 3D evaluation writes it
    html = write_run_report(run_dir).read_text()
    assert "Measurement agreement: HC (mm)" in html and "Measurement agreement: volume liver (ml)" in html
    assert "Measurement agreement: liver volume (ml)" in html and "per_volume.csv: liver_pred_ml" in html
    assert "Volumes: axial slices" in html and "pat1 (6 slices evaluated)" in html
    assert "z 0 ·" not in html  # slices without the structure in the reference are not shown
    assert ">5<" in html  # the volume bias (+5 ml) in the agreement table


def test_errors_name_the_run(evaluated_run, tmp_path):
    with pytest.raises(RunDirError, match="no evaluation of that split"):
        write_run_report(evaluated_run, tmp_path / "x.html", split="val")
    result = runner.invoke(app, ["report", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "run directory not found" in result.output
    assert not (tmp_path / "x.html").exists()


def test_qc_signals_have_their_own_table_with_a_calibration_hint(tmp_path):
    rows = [{"id": f"c{k}", "dice_head": 0.8 + 0.01 * k, "qc_tta_dice": 0.9 - 0.01 * k} for k in range(3)]
    run_dir = make_run(tmp_path / "qc", rows, ["background", "head"], overlays=False)
    html = write_run_report(run_dir, tmp_path / "r.html").read_text()
    metrics, qc = html.split("Quality-control signals")
    assert "qc_tta_dice" not in metrics and "qc_tta_dice" in qc
    assert "medseg evaluate RUN_DIR --split val" in qc  # no qc_flag: calibrate on validation first
