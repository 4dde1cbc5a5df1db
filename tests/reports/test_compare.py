"""``medseg compare``: runs side by side, paired per-case wins, a search's trials and heatmap."""

from __future__ import annotations

import csv
import shutil

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from medseg.cli import app
from medseg.reports.compare import mean_sd, write_comparison

from .conftest import make_run

runner = CliRunner()


def rows_with(dice: list[float]) -> list[dict]:
    return [{"id": f"case{i}", "dice_head": d, "iou_head": d / (2 - d)} for i, d in enumerate(dice)]


def test_paired_wins_and_tables(tmp_path):
    a = make_run(tmp_path / "a", rows_with([0.9, 0.8, 0.7, 0.6]), ["background", "head"], overlays=False)
    b = make_run(tmp_path / "b", rows_with([0.8, 0.85, 0.7, 0.5]) + rows_with([0.1] * 6)[4:], ["background", "head"])
    html, csv_path, md_path = write_comparison([a, b], tmp_path / "cmp.html")
    page = html.read_text()
    # joined on id: case0..case3 shared; a wins case0 and case3, b wins case1, case2 ties
    assert '<td class="text">case0, case3</td>' in page
    with csv_path.open() as handle:
        table = list(csv.DictReader(handle))
    assert [r["run"] for r in table] == ["a", "b"]
    assert float(table[0]["dice_head"]) == pytest.approx(np.mean([0.9, 0.8, 0.7, 0.6]), abs=1e-6)
    assert float(table[0]["dice_head_sd"]) == pytest.approx(np.std([0.9, 0.8, 0.7, 0.6]), abs=1e-6)
    markdown = md_path.read_text().splitlines()
    assert markdown[0].startswith("| run | model |") and len(markdown) == 4
    assert mean_sd(0.75, 0.1118) in markdown[2]


def test_compare_a_search_folder_and_real_runs(evaluated_run, tmp_path):
    search = tmp_path / "search"
    for trial in ("trial_000", "trial_001"):
        shutil.copytree(evaluated_run, search / trial)
    (search / "search_results.csv").write_text(
        "rank,trial,train.lr,val_dice,run_dir,state\n1,0,1e-3,0.5,trial_000,complete\n"
    )
    heatmap = np.full((40, 60, 3), 200, np.uint8)
    heatmap[10:30, 10:50] = (30, 120, 200)
    cv2.imwrite(str(search / "search_heatmap.png"), heatmap)
    out = tmp_path / "compare.html"
    result = runner.invoke(app, ["compare", str(search), str(evaluated_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "trial_000" in page and "Search: " in page and page.count("data:image/png;base64,") == 2  # heatmap + pairs
    with out.with_suffix(".csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [int(r["parameters"]) for r in table] == [7482, 7482, 7482]
    assert all(float(r["GFLOPs"]) > 0 and r["input"] == "48x64" for r in table)
    missing = runner.invoke(app, ["compare", str(tmp_path / "nope"), "--out", str(tmp_path / "n.html")])
    assert missing.exit_code == 2 and "run directory not found" in missing.output


def test_model_facts_measure_at_the_run_s_image_size(tiny_run, tmp_path):
    from medseg.experiments.report import write_report
    from medseg.reports.compare import model_facts
    from medseg.run_folder import RunFolder

    height, width = yaml.safe_load(RunFolder(tiny_run).config.read_text())["data"]["image_size"]
    trained = f"{height}x{width}"
    assert trained != "256x256"
    assert model_facts(tiny_run, {"data": {"image_size": [height, width]}})["input"] == trained
    # a config.yaml without data.image_size: the size the checkpoint was trained at (not a fixed default)
    assert model_facts(tiny_run, {})["input"] == trained
    run = RunFolder(tmp_path / "run")
    shutil.copytree(tiny_run, run.root)
    config = yaml.safe_load(run.config.read_text())
    del config["data"]["image_size"]
    run.config.write_text(yaml.safe_dump(config))
    page = write_report(run.root).read_text()
    assert trained in page and "256x256" not in page
