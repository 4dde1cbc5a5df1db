"""The models that ship in medseg/zoo: tensors only, small, quick to load, and their cards hold."""

import json
import time
from pathlib import Path

import numpy as np
import pytest

from medseg.inference.zoo import ZOO_DIR, load_zoo_predictor, read_card, zoo_names

HC18 = Path(__file__).parents[3] / "shared" / "data" / "hc18"
LIMIT_MB = 40


def test_the_zoo_is_tensors_only_and_within_its_size_budget():
    names = zoo_names(ZOO_DIR)
    assert "hc18" in names
    files = [p for p in ZOO_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= LIMIT_MB * 1024 * 1024
    assert not [p for p in files if p.suffix in (".pt", ".pth", ".pkl", ".bin")]  # nothing that unpickles
    for name in names:
        card = read_card(ZOO_DIR / name)
        assert "not a medical device" in card["intended_use"] and card["training_data"]["licence"]
        assert card["test_metrics"] and card["command"].startswith("medseg train")


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
    from medseg.experiments.zoo import verify

    report = verify("hc18", HC18, root=ZOO_DIR)
    assert {"dice_head", "hc_absdiff_mm"} <= set(report)
    assert all(ok for _, _, ok in report.values()), report
    card = json.loads((ZOO_DIR / "hc18" / "card.json").read_text())
    assert card["split"]["test"] == len(card["test_ids"]) == 81
