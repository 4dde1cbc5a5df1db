"""``medseg cv``: grouped folds, per-fold and mean +/- sd results, the folds as an ensemble."""

from __future__ import annotations

import csv
import json
import statistics

import pytest
from typer.testing import CliRunner

from medseg.cli import app
from medseg.config import load_config
from medseg.inference import load_predictor

from ..conftest import TINY

runner = CliRunner()


@pytest.fixture(scope="module")
def cv_dir(fetal_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("cv") / "cv"
    args = ["cv", "demo", "--data", str(fetal_data), "--out", str(out), "--folds", "2", "--test-fraction", "0.2"]
    result = runner.invoke(app, args + TINY + ["train.tensorboard=false"])
    assert result.exit_code == 0, result.output
    assert "2-fold cross-validation" in result.output
    return out


def test_each_fold_is_a_run_on_disjoint_subjects(cv_dir, fetal_data):
    splits = [json.loads((cv_dir / f"fold_{k}" / "split.json").read_text()) for k in range(2)]
    assert set(splits[0]["val"]).isdisjoint(splits[1]["val"])
    assert set(splits[0]["val"]) == set(splits[1]["train"])  # 2 folds: each trains on the other's val
    test_ids = json.loads((cv_dir / "split.json").read_text())["test"]
    assert test_ids and all(s["test"] == test_ids for s in splits)
    subjects = {i.split("_")[0] for i in test_ids}
    assert all({i.split("_")[0] for i in s["val"] + s["train"]}.isdisjoint(subjects) for s in splits)
    for k in range(2):
        fold = cv_dir / f"fold_{k}"
        assert (fold / "checkpoints" / "best.pt").is_file() and (fold / "evaluation" / "val" / "per_case.csv").is_file()
        assert load_config(fold / "config.yaml").train.monitor == "val_loss"  # the lung study kept the lowest val loss


def test_results_table_and_summary(cv_dir):
    with (cv_dir / "cv_results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["fold"] for r in rows] == ["0", "1", "mean", "sd"]
    summary = json.loads((cv_dir / "cv_summary.json").read_text())
    for key in ("best_val_loss", "val_dice_head", "test_dice_head"):
        per_fold = summary["metrics"][key]["per_fold"]
        assert [float(r[key]) for r in rows[:2]] == pytest.approx(per_fold, rel=1e-5)
        assert summary["metrics"][key]["mean"] == pytest.approx(statistics.mean(per_fold))
        assert summary["metrics"][key]["sd"] == pytest.approx(statistics.stdev(per_fold))  # sample sd over folds
        assert float(rows[2][key]) == pytest.approx(summary["metrics"][key]["mean"], rel=1e-5)
        assert float(rows[3][key]) == pytest.approx(summary["metrics"][key]["sd"], rel=1e-5, abs=1e-9)
    assert summary["folds"] == 2 and summary["monitor"] == "val_loss"
    assert summary["metrics"]["val_dice_head"]["n"] == 2
    assert 0 <= summary["ensemble_test"]["dice_head"] <= 1
    assert 0 <= summary["metrics"]["val_pixel_accuracy"]["mean"] <= 1
    assert "Cross-validation: 2 folds" in (cv_dir / "report.html").read_text()


def test_predict_and_evaluate_use_the_folds_as_an_ensemble(cv_dir, fetal_data, tmp_path):
    assert len(load_predictor(cv_dir).models) == 2
    result = runner.invoke(app, ["evaluate", str(cv_dir), "--data", str(fetal_data), "--split", "test"])
    assert result.exit_code == 0, result.output
    per_case = (cv_dir / "evaluation" / "test" / "per_case.csv").read_text().splitlines()
    assert len(per_case) == 1 + len(json.loads((cv_dir / "split.json").read_text())["test"])
    result = runner.invoke(app, ["predict", str(cv_dir), str(fetal_data), "--out", str(tmp_path / "pred")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "pred" / "masks").glob("*.png"))) == 4  # the synthetic test_set/


def test_resume_keeps_finished_folds(cv_dir, fetal_data):
    before = (cv_dir / "fold_0" / "checkpoints" / "last.pt").stat().st_mtime_ns
    result = runner.invoke(app, ["cv", "demo", "--data", str(fetal_data), "--out", str(cv_dir), "--resume"])
    assert result.exit_code == 0, result.output
    assert (cv_dir / "fold_0" / "checkpoints" / "last.pt").stat().st_mtime_ns == before


def test_existing_directory_and_bad_folds_are_refused(cv_dir, fetal_data, tmp_path):
    result = runner.invoke(app, ["cv", "demo", "--data", str(fetal_data), "--out", str(cv_dir)])
    assert result.exit_code == 2 and "--overwrite" in result.output
    result = runner.invoke(app, ["cv", "demo", "--data", str(fetal_data), "--out", str(tmp_path / "x"), "--folds", "1"])
    assert result.exit_code == 2 and "at least 2" in result.output
    args = ["cv", "demo", "--data", str(fetal_data), "--out", str(tmp_path / "y"), "--folds", "30"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "subjects for 30 folds" in result.output


def test_two_patients_two_folds_train_on_one_and_evaluate_on_the_other(tmp_path):
    from medseg.data.phantoms import write_ircadb_patient

    data = tmp_path / "ircadb"
    write_ircadb_patient(data, number=1, shape=(6, 32, 32), seed=1)
    write_ircadb_patient(data, number=17, shape=(6, 32, 32), seed=2)
    out = tmp_path / "cv"
    tiny = ["data.image_size=[32,32]", "model.params.channels=[4,8,16]", "train.epochs=1", "train.batch_size=2"]
    args = ["cv", "liver_res_attention_unet", "--data", str(data), "--out", str(out), "--folds", "2"]
    result = runner.invoke(app, args + ["--test-fraction", "0", "--monitor", "train_loss"] + tiny)
    assert result.exit_code == 0, result.output
    groups = []
    for k in range(2):
        split = json.loads((out / f"fold_{k}" / "split.json").read_text())
        assert not split["test"]
        groups.append(tuple(sorted({i.split("_z")[0] for i in split[name]}) for name in ("train", "val")))
    assert sorted(groups) == [(["3Dircadb1.1"], ["3Dircadb1.17"]), (["3Dircadb1.17"], ["3Dircadb1.1"])]
    summary = json.loads((out / "cv_summary.json").read_text())
    assert summary["metrics"]["val_dice_liver"]["n"] == 2 and "ensemble_test" not in summary
    assert summary["monitor"] == "train_loss"  # chosen on the training patient, never on the evaluated one
