"""Units of 2D measurements: mm only with a known pixel size, px otherwise, on every output path.

The paths: ``measurements.csv`` of ``medseg predict`` (and its warning), the JSON of
``POST /api/predict`` and the page of ``medseg serve``.
"""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from medseg.cli import app
from medseg.measure.ellipse import Ellipse
from medseg.measure.nodules import largest_nodule
from medseg.measure.units import head_columns, images_without_size, length_unit, missing_size_warning, split_unit

runner = CliRunner()


def _mm_keys(keys) -> set[str]:
    return {k for k in keys if k.endswith(("_mm", "_mm2")) and k != "pixel_size_mm"}


def test_the_rule():
    assert length_unit(0.15) == "mm"
    for unknown in (None, math.nan, 0.0, -1.0, math.inf):
        assert length_unit(unknown) == "px"
    ellipse = Ellipse(cx=40, cy=30, a=20, b=10, angle=0.5)
    in_mm, in_px = head_columns(ellipse, 0.1), head_columns(ellipse, None)
    assert set(in_mm) == {"hc_mm", "center_x_mm", "center_y_mm", "semi_axes_a_mm", "semi_axes_b_mm", "angle_rad"}
    assert set(in_px) == {"hc_px", "center_x_px", "center_y_px", "semi_axes_a_px", "semi_axes_b_px", "angle_rad"}
    assert in_mm["hc_mm"] == pytest.approx(in_px["hc_px"] * 0.1)
    assert all(math.isnan(v) for v in head_columns(None, None).values())
    assert split_unit("area_head_px2") == ("area_head", "px²") and split_unit("hc_mm") == ("hc", "mm")
    assert images_without_size([{"filename": "a.png", "pixel_size_mm": "nan"}, {"filename": "b.png"}]) == ["a.png"]
    assert "1 image (a.png)" in missing_size_warning(["a.png"]) and missing_size_warning([]) is None


def test_nodules_follow_the_rule():
    import numpy as np

    mask = np.zeros((20, 20), bool)
    mask[5:10, 5:10] = True
    assert set(largest_nodule(mask, None)) == {"nodules", "area_px2", "diameter_px"}
    assert set(largest_nodule(mask, (0.5, 0.5))) == {"nodules", "area_mm2", "diameter_mm"}


def _predict(run: Path, folder: Path, out: Path, *extra: str):
    result = runner.invoke(app, ["predict", str(run), str(folder), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    with (out / "measurements.csv").open() as handle:
        return result, list(csv.DictReader(handle))


def test_predict_csv_with_and_without_pixel_size(tiny_run, hc18_synthetic, tmp_path):
    sized, rows = _predict(tiny_run, hc18_synthetic, tmp_path / "sized")  # the HC18 test CSV gives sizes
    assert {"hc_mm", "center_x_mm", "semi_axes_a_mm", "area_head_mm2"} <= set(rows[0])
    assert not any(k.endswith(("_px", "_px2")) for k in rows[0]) and "warning" not in sized.output
    plain = tmp_path / "plain"
    shutil.copytree(hc18_synthetic / "test_set", plain, ignore=shutil.ignore_patterns("*.csv"))
    unsized, rows = _predict(tiny_run, plain, tmp_path / "unsized")
    assert {"hc_px", "center_x_px", "center_y_px", "semi_axes_a_px", "semi_axes_b_px", "area_head_px2"} <= set(rows[0])
    assert not _mm_keys(rows[0]) and rows[0]["pixel_size_mm"] in ("", "nan")
    warnings = [line for line in unsized.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "no pixel size" in warnings[0] and rows[0]["filename"] in warnings[0]


@pytest.fixture(scope="module")
def client(tiny_run):
    from medseg.inference.backends import open_predictor
    from medseg.serve import create_app

    with TestClient(create_app(open_predictor(tiny_run, "torch"), name="tiny")) as test_client:
        yield test_client


def _png(hc18_synthetic: Path) -> bytes:
    return sorted((hc18_synthetic / "test_set").glob("*.png"))[0].read_bytes()


def test_serve_json_with_and_without_pixel_size(client, hc18_synthetic):
    files = {"file": ("head.png", _png(hc18_synthetic), "image/png")}
    sized = client.post("/api/predict", files=files, data={"pixel_size_mm": "0.2"}).json()
    assert sized["units"] == "mm" and sized["pixel_size_mm"] == 0.2
    assert {"hc_mm", "center_x_mm", "semi_axes_b_mm", "area_head_mm2"} <= set(sized["measurements"])
    unsized = client.post("/api/predict", files=files).json()
    assert unsized["units"] == "px" and unsized["pixel_size_mm"] is None
    assert {"hc_px", "center_x_px", "semi_axes_b_px", "area_head_px2"} <= set(unsized["measurements"])
    assert not _mm_keys(unsized["measurements"]) and "pixel_size_mm" not in unsized["measurements"]


def test_serve_page_with_and_without_pixel_size(client, hc18_synthetic):
    files = {"file": ("head.png", _png(hc18_synthetic), "image/png")}
    sized = client.post("/", files=files, data={"pixel_size_mm": "0.2"}).text
    assert "Head circumference (mm)" in sized and "Area of head (mm²)" in sized and "(px" not in sized
    unsized = client.post("/", files=files).text
    table = unsized[unsized.index("<table id='measurements'>") :]
    assert "Head circumference (px)" in table and "Area of head (px²)" in table and "Semi-axis a (px)" in table
    assert "Ellipse centre x (px)" in table and "(mm" not in table
