"""A trained run packaged as a zoo model: loaded by name, the same predictions, its card re-measured."""

import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

import medseg
from medseg.errors import ConfigError, MedsegError, RunDirError
from medseg.experiments.evaluate import evaluate_run
from medseg.experiments.zoo import package_run
from medseg.experiments.zoo_check import rebuild, verify
from medseg.inference.backends import open_predictor
from medseg.inference.zoo import load_zoo_predictor, zoo_folder, zoo_names
from medseg.run_folder import CALIBRATION
from medseg.run_folder import ZOO_WEIGHTS as WEIGHTS

from ..conftest import TINY_OVERRIDES


@pytest.fixture
def zoo(tmp_path, tiny_run, hc18_synthetic, monkeypatch):
    """``tiny`` in a zoo of its own (``MEDSEG_ZOO``), packaged from an evaluated copy of the tiny run."""
    run = tmp_path / "run"
    # without the QC calibration other tests may have added to the shared run: a rebuild has none
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns(CALIBRATION, "evaluation"))
    evaluate_run(run, hc18_synthetic, "test")
    root = tmp_path / "zoo"
    monkeypatch.setenv("MEDSEG_ZOO", str(root))
    package_run(run, "tiny", "hc18", "demo", TINY_OVERRIDES, "test machine", {"dice_head": 0.98}, root=root)
    return root, run


def test_a_zoo_model_predicts_as_its_run(zoo, hc18_synthetic):
    root, run = zoo
    assert zoo_names() == ["tiny"] and zoo_folder("tiny") == root / "tiny"
    image = np.asarray(Image.open(sorted((hc18_synthetic / "test_set").glob("*.png"))[0]))
    expected = open_predictor(run, backend="torch").predict(image).probabilities
    by_name = open_predictor("tiny").predict(image).probabilities
    np.testing.assert_array_equal(by_name, expected)
    assert medseg.load("tiny").class_names == ["background", "head"]


def test_the_card_says_what_the_model_is_and_verify_measures_it_again(zoo, hc18_synthetic):
    root, run = zoo
    card = json.loads((root / "tiny" / "card.json").read_text())
    measured = json.loads((run / "evaluation" / "test" / "metrics.json").read_text())
    assert card["test_metrics"]["dice_head"]["mean"] == pytest.approx(measured["dice_head"]["mean"])
    assert card["training_data"]["licence"] == "CC BY 4.0" and "not a medical device" in card["intended_use"]
    assert card["split"]["test"] == len(card["test_ids"]) > 0
    assert "dice_head" in card["shortfalls"]  # an untrained model is far below 0.98, and the card says so
    text = (root / "tiny" / "card.md").read_text()
    assert "Below its targets" in text and "medseg train demo" in text
    report = verify("tiny", hc18_synthetic)
    assert report and all(ok for _, _, ok in report.values())


def test_verify_adds_intervals_to_an_older_card_only_when_it_reproduces(zoo, hc18_synthetic, monkeypatch):
    root, _ = zoo
    monkeypatch.setattr("medseg.metrics.MIN_INTERVAL_SUBJECTS", 2)  # the synthetic test split has a few subjects
    card_json, card_md = root / "tiny" / "card.json", root / "tiny" / "card.md"
    card = json.loads(card_json.read_text())
    for stats in card["test_metrics"].values():  # a card packaged before intervals
        stats.pop("ci95_low", None), stats.pop("ci95_high", None)
    card_json.write_text(json.dumps(card))
    moved = json.loads(json.dumps(card))
    moved["test_metrics"]["dice_head"]["mean"] += 0.5
    card_json.write_text(json.dumps(moved))
    report = verify("tiny", hc18_synthetic, write_intervals=True)
    assert not report["dice_head"][2] and json.loads(card_json.read_text()) == moved  # nothing written
    card_json.write_text(json.dumps(card))
    verify("tiny", hc18_synthetic, write_intervals=True)
    written = json.loads(card_json.read_text())["test_metrics"]["dice_head"]
    assert written["mean"] == card["test_metrics"]["dice_head"]["mean"]
    assert written["ci95_low"] <= written["mean"] <= written["ci95_high"]
    row = next(line for line in card_md.read_text().splitlines() if line.startswith("| dice_head |"))
    assert f"{written['ci95_low']:.4g} to {written['ci95_high']:.4g}" in row


def test_a_damaged_zoo_folder_is_refused(zoo):
    root, _ = zoo
    (root / "tiny" / WEIGHTS).write_bytes(b"junk")
    with pytest.raises(RunDirError, match=WEIGHTS):
        load_zoo_predictor(root / "tiny")
    (root / "tiny" / "model.json").write_text('{"format": "other"}')
    with pytest.raises(RunDirError, match="not a medseg zoo model"):
        load_zoo_predictor(root / "tiny")


@pytest.mark.parametrize(
    ("evaluate", "problem"),
    [
        ({"tta": True}, "evaluated with the best checkpoint; the image and its horizontal flip, averaged; scale 1"),
        ({"scales": (1.0, 1.2)}, "evaluated with the best checkpoint; one view; input scales 1, 1.2, averaged"),
        ({"checkpoint": "last"}, "evaluated with the last checkpoint; one view; scale 1"),
    ],
)
def test_a_card_is_made_only_from_an_evaluation_that_predicts_as_the_packaged_model(
    tmp_path, tiny_run, hc18_synthetic, evaluate, problem
):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns(CALIBRATION, "evaluation"))
    evaluate_run(run, hc18_synthetic, "test", **evaluate)
    options = run / "evaluation" / "test" / "options.json"
    assert json.loads(options.read_text())["tta"] == evaluate.get("tta", False)
    with pytest.raises(RunDirError, match=re.escape(problem)) as raised:
        package_run(run, "tiny", "hc18", "demo", TINY_OVERRIDES, "test machine", root=tmp_path / "zoo")
    assert str(options) in str(raised.value)
    assert not (tmp_path / "zoo" / "tiny").exists()
    options.unlink()  # an evaluation from before the options were recorded
    with pytest.raises(RunDirError, match="how the numbers were predicted is unknown"):
        package_run(run, "tiny", "hc18", "demo", TINY_OVERRIDES, "test machine", root=tmp_path / "zoo")


@pytest.mark.parametrize("name", ["../tiny", "tiny/..", "/tmp", "Tiny", ""])
def test_only_plain_names_are_zoo_names(zoo, name):
    assert zoo_folder(name) is None


def test_predict_by_name_with_one_pixel_size_for_a_single_file(zoo, hc18_synthetic, tmp_path):
    from medseg.experiments.predict import predict_run

    image = sorted((hc18_synthetic / "test_set").glob("*.png"))[0]
    rows = predict_run("tiny", image, tmp_path / "out", pixel_size="0.12")
    assert len(rows) == 1 and rows[0]["pixel_size_mm"] == 0.12 and "area_head_mm2" in rows[0]


@pytest.mark.parametrize("size", ["0", "-0.1", "nan", "inf"])
def test_a_pixel_size_that_is_not_a_size_is_refused(zoo, hc18_synthetic, tmp_path, size):
    from medseg.errors import ConfigError
    from medseg.experiments.predict import predict_run

    image = sorted((hc18_synthetic / "test_set").glob("*.png"))[0]
    with pytest.raises(ConfigError, match="--pixel-size"):
        predict_run("tiny", image, tmp_path / "out", pixel_size=size)
    assert not (tmp_path / "out").exists()


def test_rebuild_trains_the_card_again_to_the_same_numbers(zoo, hc18_synthetic, tmp_path):
    root, _ = zoo
    before = json.loads((root / "tiny" / "card.json").read_text())
    rebuild("tiny", hc18_synthetic, tmp_path / "again")
    after = json.loads((root / "tiny" / "card.json").read_text())
    assert after["test_metrics"] == before["test_metrics"] and after["overrides"] == before["overrides"]


def test_the_cli_lists_verifies_and_predicts_by_name(zoo, hc18_synthetic, tmp_path):
    from typer.testing import CliRunner

    from medseg.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "tiny" in listed.output and "dice_head" in listed.output
    checked = runner.invoke(app, ["zoo", "verify", "tiny", "--data", str(hc18_synthetic), "--write-intervals"])
    assert checked.exit_code == 0 and "dice_head: card" in checked.output, checked.output
    assert "95% intervals of the means written" in checked.output
    image = sorted((hc18_synthetic / "test_set").glob("*.png"))[0]
    args = ["predict", "tiny", str(image), "--out", str(tmp_path / "p"), "--pixel-size", "0.12"]
    predicted = runner.invoke(app, args)
    assert predicted.exit_code == 0 and f"{image.name}: area_head" in predicted.output and " mm2" in predicted.output
    unknown = runner.invoke(app, ["predict", "no_such_model", str(image), "--out", str(tmp_path / "q")])
    assert unknown.exit_code == 2 and "no_such_model" in unknown.output


LIVER_TINY = [
    "data.image_size=[32,32]",
    "data.test_fraction=0",
    "model.params.channels=[4,8,16]",
    "train.epochs=1",
    "train.batch_size=4",
    "train.threads=1",
    "train.monitor=train_loss",
]
EXPECTED = {
    "label": "cross-patient results of the recipe, not of this model",
    "rows": [{"train -> test": "a -> b", "liver Dice": 0.9}],
    "commands": ["medseg train liver_res_attention_unet ..."],
}


def test_a_model_trained_on_every_volume_has_a_card_that_says_so_and_verifies_per_volume(tmp_path, monkeypatch):
    from medseg.config import load_config
    from medseg.data.phantoms.ct import write_lits_dataset
    from medseg.experiments.train import train_run

    data = write_lits_dataset(tmp_path / "lits", n_volumes=2, shape=(6, 32, 32), seed=1)
    run = tmp_path / "run"
    train_run(load_config("liver_res_attention_unet", LIVER_TINY), data, run)
    with pytest.raises(RunDirError, match="--split train"):
        package_run(run, "ct", "ircadb", "liver_res_attention_unet", LIVER_TINY, "cpu", root=tmp_path / "zoo")
    evaluate_run(run, data, "train")
    root = tmp_path / "zoo"
    monkeypatch.setenv("MEDSEG_ZOO", str(root))
    recipe = "liver_res_attention_unet"
    package_run(run, "ct", "ircadb", recipe, LIVER_TINY, "cpu", root=root, split="train", expected=EXPECTED)
    card = json.loads((root / "ct" / "card.json").read_text())
    assert card["held_out"] is False and card["evaluated_split"] == "train" and len(card["test_ids"]) == 12
    assert card["test_metrics"]["volume_dice_liver_with_tumour"]["n"] == 2
    assert card["expected_performance"] == EXPECTED
    text = (root / "ct" / "card.md").read_text()
    assert "not held out" in text and "Held-out test" not in text and "not measured on this model" in text
    report = verify("ct", data)
    assert {"volume_dice_liver", "volume_liver_with_tumour_ml_diff_pct", "dice_liver"} <= set(report)
    assert all(ok for _, _, ok in report.values()), report
    with pytest.raises(ConfigError, match="--data"):
        verify("ct")


BONE_TINY = [
    "data.image_size=[64,32]",
    "model.params.channels=[4,8]",
    "model.params.batch_norm=false",
    "augment.prob=0",
    "train.epochs=1",
    "train.batch_size=4",
    "train.threads=1",
]


def test_a_phantom_model_is_verified_and_rebuilt_without_data(tmp_path, monkeypatch):
    from medseg.config import load_config
    from medseg.experiments import zoo as zoo_module
    from medseg.experiments.train import train_run

    tiny = {
        **zoo_module.DATASETS["bone_phantoms"],
        "phantoms": {"writer": "bone_scan", "n_patients": 6, "shape": [64, 32], "seed": 3},
    }
    monkeypatch.setitem(zoo_module.DATASETS, "tiny_phantoms", tiny)
    data = zoo_module.phantom_data("tiny_phantoms", tmp_path / "phantoms")
    run = tmp_path / "run"
    train_run(load_config("bone_scan_unet_plus_plus", BONE_TINY), data, run)
    evaluate_run(run, data, "test")
    root = tmp_path / "zoo"
    package_run(run, "scan", "tiny_phantoms", "bone_scan_unet_plus_plus", BONE_TINY, "cpu", root=root)
    assert "Trained and tested on synthetic phantoms" in (root / "scan" / "card.md").read_text()
    report = verify("scan", root=root)
    assert {"dice_hotspot", "bsi_absdiff_percent"} <= set(report) and all(ok for _, _, ok in report.values())
    before = json.loads((root / "scan" / "card.json").read_text())
    rebuild("scan", None, tmp_path / "again", root=root)
    after = json.loads((root / "scan" / "card.json").read_text())
    assert after["test_metrics"] == before["test_metrics"]


def test_a_fold_ensemble_is_packaged_in_float16_verified_and_rebuilt(tmp_path, hc18_synthetic, monkeypatch):
    from medseg.config import load_config
    from medseg.experiments.cv import cross_validate
    from medseg.inference.predictor import load_predictor

    overrides = [*TINY_OVERRIDES, "train.epochs=1"]
    cv = tmp_path / "cv"
    cross_validate(load_config("demo", overrides), hc18_synthetic, cv, folds=2, monitor=None)
    root = tmp_path / "zoo"
    monkeypatch.setenv("MEDSEG_ZOO", str(root))
    package_run(cv, "pair", "hc18", "demo", overrides, "test machine", root=root, half=True)
    card = json.loads((root / "pair" / "card.json").read_text())
    assert card["members"] == 2 and card["weights_dtype"] == "float16"
    assert card["command"].startswith("medseg cv demo --data DATA --folds 2")
    assert card["training"]["seconds"] > 0 and len(card["training"]["epochs"]) == 2
    from safetensors.torch import load_file

    tensors = load_file(root / "pair" / WEIGHTS)
    assert {key.split(".")[0] for key in tensors} == {"0", "1"}
    assert all(t.dtype.is_floating_point is False or str(t.dtype) == "torch.float16" for t in tensors.values())
    # the packaged pair predicts as the folder's own ensemble, up to float16 rounding of the weights
    image = np.asarray(Image.open(sorted((hc18_synthetic / "test_set").glob("*.png"))[0]))
    expected = load_predictor(cv).predict(image).probabilities
    np.testing.assert_allclose(load_zoo_predictor(root / "pair").predict(image).probabilities, expected, atol=2e-3)
    assert all(ok for _, _, ok in verify("pair", hc18_synthetic).values())
    rebuilt = rebuild("pair", hc18_synthetic, tmp_path / "again")
    assert json.loads((rebuilt / "card.json").read_text())["members"] == 2


def test_a_cascade_second_stage_in_the_zoo_runs_its_first_stage_by_name(tmp_path, monkeypatch):
    from medseg.config import load_config
    from medseg.data.phantoms.ct import write_lits_dataset
    from medseg.experiments.train import train_run
    from medseg.inference.cascade import CascadePredictor

    data = write_lits_dataset(tmp_path / "lits", n_volumes=2, shape=(6, 32, 32), seed=1)
    root = tmp_path / "zoo"
    monkeypatch.setenv("MEDSEG_ZOO", str(root))
    runs = {}
    for name, recipe, extra in (
        ("first", "liver_res_attention_unet", []),
        ("second", "liver_cascade_stage2", ["data.reader.roi_margin_mm=4", "data.reader.context_slices=1"]),
    ):
        runs[name] = tmp_path / name
        train_run(load_config(recipe, [*LIVER_TINY, *extra]), data, runs[name])
        evaluate_run(runs[name], data, "train")
    first = ("first", "ircadb", "liver_res_attention_unet", LIVER_TINY, "cpu")
    package_run(runs["first"], *first, root=root, split="train")
    package_run(
        runs["second"],
        "second",
        "ircadb",
        "liver_cascade_stage2",
        LIVER_TINY,
        "cpu",
        root=root,
        split="train",
        stage1="first",
    )
    assert json.loads((root / "second" / "card.json").read_text())["stage1"] == "first"
    predictor = open_predictor("second")
    assert isinstance(predictor, CascadePredictor) and predictor.config.data.channels == 3
    result = medseg.load("second").predict(sorted(data.glob("volume-*.nii.gz"))[0])
    assert result.labels.shape == (6, 32, 32)


def test_a_zoo_model_exports_to_onnx_and_predicts_the_same(zoo, hc18_synthetic, tmp_path):
    from medseg.errors import ExportError
    from medseg.inference.export import export_onnx

    with pytest.raises(ExportError, match="--out"):
        export_onnx("tiny")
    result = export_onnx("tiny", tmp_path / "tiny.onnx")
    assert result.max_abs_diff <= 1e-4
    settings = json.loads(result.settings_path.read_text())
    assert settings["source"]["zoo"] == "tiny" and len(settings["source"]["sha256"]) == 64
    image = np.asarray(Image.open(sorted((hc18_synthetic / "test_set").glob("*.png"))[0]))
    onnx = open_predictor(result.onnx_path)
    assert onnx.backend == "onnx"
    expected = open_predictor("tiny").predict(image).probabilities
    assert np.abs(onnx.predict(image).probabilities - expected).max() < 1e-3


def test_a_zoo_models_precision_check_makes_its_split_again(zoo, hc18_synthetic):
    from medseg.experiments.precision import check_precision

    result = check_precision("tiny", hc18_synthetic, "bfloat16", "val", limit=2, threads=1)
    assert result.cases == 2 and result.split == "val"


def test_a_study_part_trained_on_two_datasets_is_tested_on_both_verified_and_rebuilt(tmp_path, monkeypatch):
    from medseg.experiments.reproduce import StudyRequest
    from medseg.experiments.studies import get_study
    from medseg.experiments.studies.polyp import QUICK_OVERRIDES, QUICK_PARAMS, data_root

    part = "kvasir_with_cvc/res_unet"
    overrides = [*QUICK_OVERRIDES, "model.params.channels=[4,8,16]", "train.epochs=1"]
    study = tmp_path / "study"
    phantoms = data_root(StudyRequest(out=tmp_path / "phantom_source", quick=True))
    get_study("polyp").run(StudyRequest(out=study, data=phantoms, only=(part,), overrides=tuple(overrides)))
    run = study / part
    evaluate_run(run, phantoms / "kvasir-seg", "test")
    root = tmp_path / "zoo"
    monkeypatch.setenv("MEDSEG_ZOO", str(root))
    targets = {"dice_polyp": 0.99, "cvc:dice_polyp": 0.99}
    package_run(
        run, "polyps", "kvasir_seg_cvc", "polyp_res_unet", overrides, "cpu", targets, root=root,
        study=f"polyp:{part}", data_root=phantoms,
    )  # fmt: skip
    card = json.loads((root / "polyps" / "card.json").read_text())
    assert card["command"].startswith(f"medseg reproduce polyp --data DATA --out STUDY --only {part} --set ")
    assert card["data_folder"] == "kvasir-seg" and card["study"] == {"name": "polyp", "part": part}
    assert (
        card["split"]["by"].startswith("image (Kvasir-SEG")
        and "cvc-clinicdb training images: by video" in (card["split"]["by"])
    )
    (cvc,) = card["other_tests"]
    assert cvc["name"] == "cvc" and cvc["folder"] == "cvc-clinicdb"
    assert cvc["metrics"]["dice_polyp"]["n"] == len(cvc["ids"])
    assert not set(cvc["ids"]) & set(card["test_ids"]) and set(card["shortfalls"]) == {"dice_polyp", "cvc:dice_polyp"}
    assert "Also held out: CVC-ClinicDB" in (root / "polyps" / "card.md").read_text()
    report = verify("polyps", phantoms)
    assert {"dice_polyp", "cvc:dice_polyp"} <= set(report) and all(ok for _, _, ok in report.values())
    # packaging again fails half-way (no CVC data to test on): the zoo model stays as it was
    before = {p.name: p.read_bytes() for p in (root / "polyps").iterdir()}
    with pytest.raises(MedsegError, match="cvc-clinicdb"):
        package_run(run, "polyps", "kvasir_seg_cvc", "polyp_res_unet", [], "cpu", root=root, study=f"polyp:{part}",
                    data_root=phantoms / "kvasir-seg")  # fmt: skip
    assert {p.name: p.read_bytes() for p in (root / "polyps").iterdir()} == before
    assert sorted(p.name for p in root.iterdir()) == ["polyps"]
    with pytest.raises(ConfigError, match="SPLIT/MODEL"):
        package_run(run, "polyps", "kvasir_seg_cvc", "polyp_res_unet", [], "cpu", root=root, study="polyp:cvc",
                    data_root=phantoms)  # fmt: skip
    assert QUICK_PARAMS["res_unet"]["channels"] == [4, 8, 16]  # the overrides above are the quick study's
    rebuilt = rebuild("polyps", phantoms, tmp_path / "again", root=root)
    again = json.loads((rebuilt / "card.json").read_text())
    assert again["other_tests"][0]["ids"] == cvc["ids"] and (tmp_path / "again" / part / "checkpoints").is_dir()
