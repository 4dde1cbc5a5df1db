"""QC at prediction time: TTA disagreement from a real Predictor, the calibrated flag, its table."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from medseg.config import load_config
from medseg.inference import Predictor
from medseg.inference.qc import QCCalibration, calibrate, flag_table, load_calibration, qc_signals
from medseg.measure.ellipse import Ellipse, rasterize_ellipse


class BrightPixels(nn.Module):
    """Foreground where the input is bright, plus a left-to-right ramp when ``ramp`` > 0.

    With a ramp, the left part of a head is lost, and the lost side follows the image when it is
    flipped: the prediction is not flip-equivariant, as a model that learned a position bias.
    """

    def __init__(self, ramp: float) -> None:
        super().__init__()
        self.ramp = ramp
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        width = x.shape[-1]
        ramp = torch.linspace(-self.ramp, self.ramp, width).view(1, 1, 1, width)
        return 8 * (x[:, :1] - 0.5) + ramp + 0 * self.dummy


def _predictor(ramp: float) -> Predictor:
    config = load_config("demo", ["data.image_size=[96,128]", "data.normalize=none", "postprocess.fit_ellipse=true"])
    return Predictor(BrightPixels(ramp), config, device="cpu")


@pytest.fixture(scope="module")
def head_image() -> np.ndarray:
    return rasterize_ellipse(Ellipse(64.0, 48.0, 40.0, 28.0, 0.3), (96, 128)).astype(np.float32)


def test_flip_symmetric_model_agrees_with_itself(head_image):
    predictor = _predictor(ramp=0.0)
    signals = qc_signals(predictor, head_image, predictor.predict(head_image), pixel_size_mm=0.2)
    assert signals["qc_tta_dice_min"] > 0.98
    assert signals["qc_tta_hc_spread_mm"] < 1.0
    assert signals["qc_components"] == 1.0
    assert math.isnan(signals["qc_fold_hc_spread_mm"])  # one model: no fold spread


def test_flip_asymmetric_model_is_caught_by_tta_disagreement():
    # A head on the image's left, where the ramp suppresses it; flipped, it lies where it is kept.
    image = rasterize_ellipse(Ellipse(36.0, 48.0, 26.0, 20.0, 0.3), (96, 128)).astype(np.float32)
    predictor = _predictor(ramp=12.0)
    signals = qc_signals(predictor, image, predictor.predict(image), pixel_size_mm=0.5)
    assert signals["qc_tta_dice_min"] < 0.9
    assert signals["qc_tta_hc_spread_mm"] > 3.0


def test_fold_spread_from_an_ensemble(head_image):
    config = _predictor(0.0).config
    ensemble = Predictor([BrightPixels(0.0), BrightPixels(12.0)], config, device="cpu")
    signals = qc_signals(ensemble, head_image, ensemble.predict(head_image), pixel_size_mm=0.2)
    assert signals["qc_fold_hc_spread_mm"] > 3.0


def _rows(n: int, bad: set[int], seed: int = 0) -> list[dict]:
    """Cases whose HC error is large exactly where the TTA spread is large; other signals are noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rows.append(
            {
                "qc_components": 1.0,
                "qc_tta_hc_spread_mm": (6.0 if i in bad else 0.5) + rng.uniform(0, 0.5),
                "qc_boundary_entropy": rng.uniform(0.1, 0.2),
                "qc_fit_residual_max_mm": math.inf if i == 3 else rng.uniform(0.2, 0.4),
                "hc_absdiff_mm": 8.0 if i in bad else 1.0,
            }
        )
    return rows


def test_calibration_flags_the_chosen_share_and_keeps_the_informative_signal(tmp_path):
    validation = _rows(50, bad={5, 17, 31})
    calibration = calibrate(validation, share=0.1)
    assert "qc_components" not in calibration.reference  # constant on validation: cannot rank
    assert "qc_tta_hc_spread_mm" in calibration.signals
    flagged = [calibration.flag(r) == "review" for r in validation]
    assert sum(flagged) == 5  # 10% of 50
    assert all(flagged[i] for i in (5, 17, 31))

    calibration.save(tmp_path / "qc_calibration.json")
    loaded = load_calibration(tmp_path)
    assert loaded.threshold == calibration.threshold and loaded.signals == calibration.signals
    assert loaded.validation[3]["qc_fit_residual_max_mm"] == math.inf
    assert [loaded.flag(r) for r in validation] == [calibration.flag(r) for r in validation]

    test = _rows(40, bad={2, 9}, seed=1)
    table = {row["signal"]: row for row in flag_table(test, loaded)}
    assert table["combined"]["caught"] == 2 and table["combined"]["over_error"] == 2
    assert table["combined"]["flagged_share"] <= 0.15
    assert table["qc_boundary_entropy"]["caught"] < 2  # noise catches less than the informative rule


def test_calibration_without_reference_uses_every_varying_signal():
    rows = [{k: v for k, v in r.items() if k != "hc_absdiff_mm"} for r in _rows(30, bad={1})]
    calibration = calibrate(rows, share=0.2)
    assert calibration.error_mm is None
    assert set(calibration.signals) == {"qc_tta_hc_spread_mm", "qc_boundary_entropy", "qc_fit_residual_max_mm"}
    assert sum(calibration.flag(r) == "review" for r in rows) == 6


def test_bad_calibration_inputs(tmp_path):
    with pytest.raises(ValueError, match="between 0 and 1"):
        calibrate(_rows(10, set()), share=1.5)
    with pytest.raises(ValueError, match="at least one"):
        calibrate([], share=0.1)
    (tmp_path / "qc_calibration.json").write_text("{not json")
    from medseg.errors import RunDirError

    with pytest.raises(RunDirError, match="qc_calibration.json"):
        load_calibration(tmp_path)
    assert load_calibration(tmp_path / "nothing") is None
    assert isinstance(QCCalibration(0.1, 0.5, []), QCCalibration)
