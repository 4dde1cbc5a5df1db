"""The models that ship in medseg/zoo: tensors only, small, quick to load, and their cards hold."""

import json
import time
from pathlib import Path

import numpy as np
import pytest

import medseg
from medseg.inference.zoo import ZOO_DIR, load_zoo_predictor, read_card, zoo_names

from ..conftest import shared_dataset

HC18 = Path(__file__).parents[3] / "shared" / "data" / "hc18"
LIMIT_MB = 40


def test_the_zoo_is_tensors_only_and_within_its_size_budget():
    names = zoo_names(ZOO_DIR)
    assert {"hc18", "liver", "liver_cascade", "bone", "lung", "polyp"} <= set(names)
    files = [p for p in ZOO_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= LIMIT_MB * 1024 * 1024
    assert not [p for p in files if p.suffix in (".pt", ".pth", ".pkl", ".bin")]  # nothing that unpickles
    for name in names:
        card = read_card(ZOO_DIR / name)
        assert "not a medical device" in card["intended_use"] and card["training_data"]["licence"]
        assert card["test_metrics"] and card["command"].startswith(("medseg train", "medseg cv", "medseg reproduce"))


def test_hc18_loads_in_under_a_second_and_finds_a_head():
    from medseg.data.phantoms import fetal_head_image

    start = time.perf_counter()
    predictor = load_zoo_predictor(ZOO_DIR / "hc18")
    loaded = time.perf_counter() - start
    assert loaded < 1.0, f"loading took {loaded:.2f} s"
    image, _ = fetal_head_image(np.random.default_rng(0), (270, 400))
    prediction = predictor.predict(image)
    assert prediction.mask.shape == image.shape and prediction.mask.any()


@pytest.mark.skipif(not HC18.is_dir(), reason="the HC18 data is not beside the project")
def test_hc18_card_is_reproduced_on_its_held_out_images():
    from medseg.experiments.zoo_check import verify

    report = verify("hc18", HC18, root=ZOO_DIR)
    assert {"dice_head", "hc_absdiff_mm"} <= set(report)
    assert all(ok for _, _, ok in report.values()), report
    card = json.loads((ZOO_DIR / "hc18" / "card.json").read_text())
    assert card["split"]["test"] == len(card["test_ids"]) == 81


@pytest.mark.parametrize("name", ["liver", "liver_cascade", "bone", "lung", "polyp"])
def test_each_model_loads_in_under_a_second(name):
    import monai.networks.layers  # noqa: F401 - once per process (~1.5 s), on the first ResU-Net built (polyp)

    start = time.perf_counter()
    load_zoo_predictor(ZOO_DIR / name)
    loaded = time.perf_counter() - start
    assert loaded < 1.0, f"loading {name} took {loaded:.2f} s"


def test_bone_finds_skeleton_and_hotspots_and_measures_the_bone_scan_index():
    from medseg.data.phantoms.bone_scan import bone_scan_views
    from medseg.measure.bone_scan_index import bone_scan_index

    card = read_card(ZOO_DIR / "bone")
    assert (
        card["training_data"]["phantoms"]
        and "not validated on patient scans" in (ZOO_DIR / "bone" / "card.md").read_text()
    )
    model = medseg.load("bone")
    for counts, labels in bone_scan_views(np.random.default_rng(123), (256, 96), n_hotspots=3).values():
        result = model.predict(counts, pixel_size_mm=2.4)
        assert result.mask.shape == labels.shape
        bone = (result.mask == 1) & (labels == 1)
        assert 2 * bone.sum() / ((result.mask == 1).sum() + (labels == 1).sum()) > 0.8
        reference = bone_scan_index(labels)["bsi_percent"]
        assert result.measurements["bsi_percent"] == pytest.approx(reference, abs=5.0)


def test_bone_card_is_reproduced_on_phantoms_generated_again():
    from medseg.experiments.zoo_check import verify

    report = verify("bone", root=ZOO_DIR)
    assert {"dice_bone", "dice_hotspot", "bsi_absdiff_percent"} <= set(report)
    assert all(ok for _, _, ok in report.values()), report


def test_liver_predicts_a_ct_volume_with_its_affine_volumes_and_tumour_list(tmp_path):
    from medseg.data.phantoms.ct import write_ircadb_patient

    patient, _, truth = write_ircadb_patient(tmp_path, shape=(12, 128, 128), spacing_zyx=(2.0, 2.4, 2.4))
    result = medseg.load("liver").predict(patient / "PATIENT_DICOM.zip")
    assert result.labels.shape == truth.shape and result.volume.affine.shape == (4, 4)
    assert {"liver_ml", "tumour_ml", "n_tumours"} <= set(result.measurements)
    assert isinstance(result.lesions, list)
    from typer.testing import CliRunner

    from medseg.cli import app

    predicted = CliRunner().invoke(
        app, ["predict", "liver", str(patient / "PATIENT_DICOM.zip"), "--out", str(tmp_path / "out")]
    )
    assert predicted.exit_code == 0, predicted.output
    assert (tmp_path / "out" / "volumes.csv").is_file() and (tmp_path / "out" / "tumours.csv").is_file()


@pytest.mark.slow
@pytest.mark.realdata
def test_liver_card_is_reproduced_on_its_training_patients():  # ~40 s: 248 CT slices read and predicted
    from medseg.experiments.zoo_check import verify

    data = shared_dataset("3dircadb")
    card = read_card(ZOO_DIR / "liver")
    assert card["held_out"] is False and card["expected_performance"]["rows"]
    report = verify("liver", data, root=ZOO_DIR)
    assert {"volume_dice_liver_with_tumour", "volume_liver_with_tumour_ml_diff_pct"} <= set(report)
    assert all(ok for _, _, ok in report.values()), report


def test_lung_is_a_float16_fold_ensemble_that_segments_a_crop_and_slides_over_a_slice():
    from medseg.data.phantoms.lung import lung_slice

    card = read_card(ZOO_DIR / "lung")
    assert card["members"] == 4 and card["weights_dtype"] == "float16" and card["held_out"]
    model = medseg.load("lung")
    rng = np.random.default_rng(0)
    image, lungs = lung_slice(rng, 64)
    y, x = np.mgrid[:64, :64]
    nodule = (y - 32) ** 2 + (x - 24) ** 2 <= 6**2
    image[nodule] = 1.1
    crop = model.predict_array(image)
    assert crop.mask.shape == (64, 64) and crop.mask[nodule].mean() > 0.5
    whole = model.predict_array(np.pad(image, 32, mode="edge"))  # 128x128: four windows and more
    assert whole.mask.shape == (128, 128)


@pytest.mark.realdata
def test_lung_card_is_reproduced_on_its_held_out_patients():  # 28 crops, a few seconds
    from medseg.experiments.zoo_check import verify

    report = verify("lung", shared_dataset("lidc-idri"), root=ZOO_DIR)
    assert "dice_nodule" in report and all(ok for _, _, ok in report.values()), report


def test_liver_cascade_names_liver_as_its_first_stage():
    from medseg.inference.backends import open_predictor
    from medseg.inference.cascade import CascadePredictor

    card = read_card(ZOO_DIR / "liver_cascade")
    assert card["stage1"] == "liver" and not card["held_out"] and card["expected_performance"]["rows"]
    predictor = open_predictor("liver_cascade")
    assert isinstance(predictor, CascadePredictor) and predictor.margin_mm == 10 and predictor.context == 1
    assert predictor.stage1.config.data.image_size == [128, 128] and predictor.config.data.channels == 3


@pytest.mark.slow
@pytest.mark.realdata
def test_liver_cascade_card_is_reproduced_on_its_training_patients():  # ~1-3 min: 228 slices at 256x256
    from medseg.experiments.zoo_check import verify

    report = verify("liver_cascade", shared_dataset("3dircadb"), root=ZOO_DIR)
    assert "volume_dice_tumour" in report and all(ok for _, _, ok in report.values()), report


def test_polyp_is_one_model_with_two_held_out_test_sets_on_its_card():
    card = read_card(ZOO_DIR / "polyp")
    assert card["study"] == {"name": "polyp", "part": "kvasir_with_cvc/res_unet"} and card["weights_dtype"] == "float16"
    (cvc,) = card["other_tests"]
    assert cvc["folder"] == "cvc-clinicdb" and len(cvc["ids"]) == cvc["metrics"]["dice_polyp"]["n"] == 117
    assert card["test_metrics"]["dice_polyp"]["n"] == len(card["test_ids"]) == 80
    assert not set(card["test_ids"]) & set(cvc["ids"])


@pytest.mark.realdata
def test_polyp_segments_held_out_kvasir_frames_by_name():
    from PIL import Image

    kvasir = shared_dataset("kvasir-seg")
    model = medseg.load("polyp")
    scores = []
    for image_id in read_card(ZOO_DIR / "polyp")["test_ids"][:10]:
        result = model.predict(kvasir / "images" / f"{image_id}.jpg")
        reference = np.asarray(Image.open(kvasir / "masks" / f"{image_id}.jpg").convert("L")) > 127
        assert result.mask.shape == reference.shape and "area_polyp_px2" in result.measurements
        found = result.mask > 0
        scores.append(2 * (found & reference).sum() / (found.sum() + reference.sum()))
    assert np.mean(scores) > 0.8, scores


@pytest.mark.realdata
def test_polyp_card_is_reproduced_on_kvasir_and_cvc():  # 197 frames, about 30 s
    from medseg.experiments.zoo_check import verify

    report = verify("polyp", shared_dataset("kvasir-seg").parent, root=ZOO_DIR)
    assert {"dice_polyp", "cvc:dice_polyp"} <= set(report) and all(ok for _, _, ok in report.values()), report
