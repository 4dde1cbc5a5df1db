"""The polyp study end to end on endoscopy phantoms (``--quick``), and its table rebuilt from run folders."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from medseg.cli import app
from medseg.errors import RunDirError
from medseg.experiments.reproduce import StudyRequest
from medseg.experiments.studies import get_study
from medseg.experiments.studies.polyp import MODELS, SPLITS, regroup_by_frame, study_config

runner = CliRunner()


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("polyp") / "study"
    result = runner.invoke(app, ["reproduce", "polyp", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def _rows(out):
    with (out / "table.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_quick_study_measures_every_model_on_every_split(quick_study):
    out, printed = quick_study
    rows = _rows(out)
    assert {(r["split"], r["model"]) for r in rows} == {(s.name, m) for s in SPLITS for m in MODELS}
    for row in rows:
        assert row["status"] == "measured", row
        assert 0 <= float(row["dice"]) <= 1 and 0 <= float(row["iou"]) <= float(row["dice"]) + 1e-9
        assert int(row["parameters"]) > 0 and float(row["seconds_per_epoch"]) > 0
        assert (out / row["split"] / row["model"] / "test" / "per_case.csv").is_file()
    # Endoscopy has no pixel spacing: distances are in pixels, and nothing claims millimetres.
    assert "hd_px" in rows[0] and not any("mm" in key for key in rows[0])
    table = (out / "table.md").read_text()
    assert "HD (px)" in table and "mm" not in table and "LEAKY" in table
    assert "held-out video sequences" in printed and "random frames" in printed


def test_splits_keep_sequences_apart_except_the_leaky_one(quick_study):
    out, _ = quick_study
    from medseg.data.readers import read_dataset
    from medseg.data.splits import load_split

    cases = {c.id: c.group for c in read_dataset("cvc_clinicdb", out / "phantoms" / "cvc-clinicdb")}
    sequence_split = load_split(out / "cvc" / "mobile_unet" / "split.json")
    train_groups = {cases[i] for i in sequence_split["train"]}
    assert not train_groups & {cases[i] for i in sequence_split["test"]}
    random_split = load_split(out / "cvc_random_frames" / "mobile_unet" / "split.json")
    assert {cases[i] for i in random_split["train"]} & {cases[i] for i in random_split["test"]}  # leaks
    assert len(random_split["test"]) == round(0.1 * len(cases))


def test_table_is_rebuilt_from_the_run_folders(quick_study):
    out, _ = quick_study
    before = _rows(out)
    (out / "table.md").unlink()
    (out / "table.csv").unlink()
    result = runner.invoke(app, ["reproduce", "polyp", "--out", str(out), "--table-only"])
    assert result.exit_code == 0, result.output
    assert _rows(out) == before
    # A finished run without test scores is tested (no training) when the data is at hand.
    untested = out / "kvasir" / "unet"
    for path in sorted((untested / "test").iterdir()):
        path.unlink()
    result = runner.invoke(app, ["reproduce", "polyp", "--quick", "--out", str(out), "--table-only"])
    assert result.exit_code == 0, result.output
    assert (untested / "test" / "metrics.json").is_file() and _rows(out) == before


def test_study_folder_is_never_replaced_silently(quick_study):
    out, _ = quick_study
    with pytest.raises(RunDirError, match="--overwrite or --resume"):
        get_study("polyp").run(StudyRequest(out, quick=True))
    stranger = out.parent / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not written by medseg"):
        get_study("polyp").run(StudyRequest(stranger, quick=True, overwrite=True))
    assert (stranger / "notes.txt").read_text() == "mine"


def test_overwrite_retrains_only_the_selected_part_and_keeps_the_rest(quick_study, tmp_path):
    import json
    import shutil

    out = tmp_path / "study"
    shutil.copytree(quick_study[0], out)
    kept = out / "cvc" / "unet" / "test" / "metrics.json"
    kept_bytes, kept_time = kept.read_bytes(), kept.stat().st_mtime_ns
    retrained = out / "kvasir" / "unet"
    before = json.loads((retrained / "run.json").read_text())["result"]
    command = ["reproduce", "polyp", "--quick", "--out", str(out), "--only", "kvasir/unet"]
    refused = runner.invoke(app, command)
    assert refused.exit_code != 0 and "--overwrite" in refused.output
    result = runner.invoke(app, [*command, "--overwrite", "--set", "train.epochs=1"])
    assert result.exit_code == 0, result.output
    assert json.loads((retrained / "run.json").read_text())["result"]["epochs_run"] == 1 != before["epochs_run"]
    assert (retrained / "test" / "metrics.json").is_file()
    assert kept.read_bytes() == kept_bytes and kept.stat().st_mtime_ns == kept_time  # other parts untouched
    assert {(r["split"], r["model"]) for r in _rows(out) if r["status"] == "measured"} == {
        (s.name, m) for s in SPLITS for m in MODELS
    }


def test_a_failed_retraining_leaves_the_earlier_run_in_place(quick_study, tmp_path, monkeypatch):
    import shutil

    import medseg.training.engine as engine

    out = tmp_path / "study"
    shutil.copytree(quick_study[0], out)
    run = out / "kvasir" / "mobile_unet"
    files = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}

    def broken_epoch(state, hooks):
        raise RuntimeError("disk full")

    monkeypatch.setattr(engine, "train_epoch", broken_epoch)
    command = ["reproduce", "polyp", "--quick", "--out", str(out), "--only", "kvasir/mobile_unet", "--overwrite"]
    result = runner.invoke(app, command)
    assert result.exit_code != 0
    assert {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()} == files


def test_a_warm_started_part_says_so_in_the_table(quick_study, tmp_path):
    source = quick_study[0] / "kvasir" / "unet"
    out = tmp_path / "continued"
    result = runner.invoke(
        app,
        ["reproduce", "polyp", "--quick", "--out", str(out), "--only", "kvasir/unet"]
        + ["--set", f"train.init_weights={source}", "--set", "train.epochs=1"],
    )
    assert result.exit_code == 0, result.output
    row = {(r["split"], r["model"]): r for r in _rows(out)}["kvasir", "unet"]
    assert row["status"] == "measured" and row["warm_start"] == str(source)
    assert "1.0 (warm start)" in (out / "table.md").read_text()


def test_cross_dataset_split_starts_from_the_kvasir_run_and_tests_on_the_cvc_sequences(quick_study):
    from medseg.data.splits import load_split

    out, printed = quick_study
    rows = {(r["split"], r["model"]): r for r in _rows(out)}
    for model in MODELS:
        assert rows["cvc_from_kvasir", model]["warm_start"] == str(out / "kvasir" / model)
        assert rows["cvc", model]["warm_start"] == ""
        same = load_split(out / "cvc" / model / "split.json")
        assert load_split(out / "cvc_from_kvasir" / model / "split.json") == same
    assert "started from the Kvasir-SEG model" in printed


@pytest.mark.parametrize(
    ("joint_split", "own", "added", "warm_start", "title"),
    [
        ("cvc_with_kvasir", "cvc", "kvasir", "kvasir", "trained on CVC and Kvasir-SEG training images"),
        ("kvasir_with_cvc", "kvasir", "cvc", "", "trained on Kvasir-SEG and CVC-ClinicDB training images"),
    ],
)
def test_joint_split_adds_the_other_datasets_training_images_and_keeps_its_own_validation_and_test(
    quick_study, joint_split, own, added, warm_start, title
):
    from medseg.data.splits import load_split

    out, printed = quick_study
    rows = {(r["split"], r["model"]): r for r in _rows(out)}
    for model in MODELS:
        own_split = load_split(out / own / model / "split.json")
        added_split = load_split(out / added / model / "split.json")
        joint = load_split(out / joint_split / model / "split.json")
        assert joint["val"] == own_split["val"] and joint["test"] == own_split["test"]
        # the other dataset's training images only: none of its validation or test images
        assert sorted(joint["train"]) == sorted(own_split["train"] + added_split["train"])
        assert rows[joint_split, model]["warm_start"] == (str(out / warm_start / model) if warm_start else "")
    assert title in printed


def test_joint_split_refuses_case_ids_found_in_both_datasets():
    from medseg.data.case import Case
    from medseg.errors import DataError
    from medseg.experiments.studies.polyp import split_of, study_cases

    def read(spec):
        prefix = "k" if spec.name == "kvasir" else "c"
        return [
            Case(f"{prefix}{i}" if i else "same", np.zeros((4, 4, 3)), np.zeros((4, 4)), {"group": f"{prefix}{i}"})
            for i in range(10)
        ]

    with pytest.raises(DataError, match="same"):
        study_cases(split_of("cvc_with_kvasir"), read, seed=0)


def test_cross_dataset_split_without_its_kvasir_run_is_refused_by_name(tmp_path):
    out = tmp_path / "study"
    result = runner.invoke(app, ["reproduce", "polyp", "--quick", "--out", str(out), "--only", "cvc_from_kvasir/unet"])
    assert result.exit_code != 0
    assert "train kvasir/unet first" in result.output and not (out / "cvc_from_kvasir" / "unet" / "run.json").exists()


def test_missing_dataset_is_named(tmp_path):
    (tmp_path / "kvasir-seg").mkdir()
    result = runner.invoke(app, ["reproduce", "polyp", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "cvc-clinicdb" in result.output


def test_study_configs_state_sizes_and_splits():
    kvasir, cvc = SPLITS[0], SPLITS[1]
    assert study_config("mobile_unet", kvasir, quick=False).data.image_size == [256, 256]
    assert study_config("unet", cvc, quick=False).data.layout == "cvc_clinicdb"
    assert study_config("unet", cvc, quick=False).model.params["channels"] == [32, 64, 128, 256, 512]
    assert regroup_by_frame([]) == []


def test_only_selects_parts_of_the_study_and_rejects_unknown_names():
    from medseg.errors import ConfigError
    from medseg.experiments.studies.polyp import selected_runs

    assert len(selected_runs(())) == len(SPLITS) * len(MODELS)
    assert [(s.name, m) for s, m in selected_runs(("kvasir/unet",))] == [("kvasir", "unet")]
    assert {s.name for s, _ in selected_runs(("cvc",))} == {"cvc"}
    assert {m for _, m in selected_runs(("mobile_unet",))} == {"mobile_unet"}
    for bad in ("kvasir/vgg", "nowhere", "nowhere/unet"):
        with pytest.raises(ConfigError, match="--only"):
            selected_runs((bad,))


def test_set_overrides_reach_every_run_config():
    spec = SPLITS[0]
    config = study_config("unet", spec, quick=True, extra=("train.batch_size=3", "train.device=cpu"))
    assert config.train.batch_size == 3 and config.train.device == "cpu"


def test_only_and_set_from_the_command_line(tmp_path):
    out = tmp_path / "part"
    result = runner.invoke(
        app,
        ["reproduce", "polyp", "--quick", "--out", str(out), "--only", "kvasir/mobile_unet", "--set", "train.epochs=1"],
    )
    assert result.exit_code == 0, result.output
    rows = {(r["split"], r["model"]): r for r in _rows(out)}
    assert rows["kvasir", "mobile_unet"]["status"] == "measured" and float(rows["kvasir", "mobile_unet"]["epochs"]) == 1
    assert rows["cvc", "unet"]["status"] == "not run"
    bad = runner.invoke(app, ["reproduce", "polyp", "--quick", "--out", str(tmp_path / "x"), "--set", "train.nope=1"])
    assert bad.exit_code != 0 and "nope" in bad.output


def test_table_keeps_scores_of_runs_whose_checkpoints_were_pruned(quick_study, tmp_path):
    import shutil

    from medseg.experiments.studies.polyp_table import table_row

    out, _ = quick_study
    copy = tmp_path / "copy"
    shutil.copytree(out / "kvasir" / "unet", copy / "kvasir" / "unet", ignore=shutil.ignore_patterns("*.pt"))
    row = table_row(copy, "unet", SPLITS[0])
    assert row["status"] == "measured" and row["dice"] == table_row(out, "unet", SPLITS[0])["dice"]


def test_studies_that_run_as_one_piece_refuse_only_and_set(tmp_path):
    from medseg.errors import ConfigError

    with pytest.raises(ConfigError, match="--only nor --set"):
        get_study("bone").run(StudyRequest(tmp_path / "bone", quick=True, only=("x",)))
    with pytest.raises(ConfigError, match="--only paper"):  # the lung study's one part: the study's own recipe
        get_study("lung").run(StudyRequest(tmp_path / "lung", quick=True, only=("x",)))


def test_an_averaged_run_is_scored_and_tabled_by_table_only(quick_study, tmp_path):
    from medseg.data.splits import load_split

    out, _ = quick_study
    soup = tmp_path / "soup"
    runs = [str(out / "cvc_with_kvasir" / "mobile_unet"), str(out / "cvc_from_kvasir" / "mobile_unet")]
    result = runner.invoke(app, ["average", *runs, "--out", str(soup / "cvc_with_kvasir" / "mobile_unet")])
    assert result.exit_code == 0, result.output
    table_only = ["reproduce", "polyp", "--out", str(soup), "--table-only", "--data", str(out / "phantoms")]
    result = runner.invoke(app, table_only)
    assert result.exit_code == 0, result.output
    row = {(r["split"], r["model"]): r for r in _rows(soup)}["cvc_with_kvasir", "mobile_unet"]
    assert row["status"] == "measured" and row["inference"] == "flip TTA, weights of 2 runs averaged"
    assert int(row["test_images"]) == len(load_split(out / "cvc" / "mobile_unet" / "split.json")["test"])
