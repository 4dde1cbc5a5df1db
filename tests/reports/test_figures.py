"""Figures: agreement statistics by hand, and every figure is a PNG that decodes to something drawn."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from medseg.reports import figures


def decode(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.std() > 5  # not a blank canvas
    return image


def test_agreement_stats_match_bland_altman_by_hand():
    reference = np.array([100.0, 150.0, 200.0, 250.0, np.nan])
    predicted = np.array([102.0, 149.0, 204.0, 251.0, 180.0])
    stats = figures.agreement_stats(predicted, reference)
    diff = np.array([2.0, -1.0, 4.0, 1.0])
    assert stats["n"] == 4
    assert stats["bias"] == pytest.approx(1.5)
    assert stats["sd"] == pytest.approx(diff.std(ddof=1))
    assert stats["loa_high"] == pytest.approx(1.5 + 1.96 * diff.std(ddof=1))
    assert stats["mean_abs"] == pytest.approx(2.0)
    assert stats["pearson_r"] == pytest.approx(np.corrcoef(predicted[:4], reference[:4])[0, 1])


def test_figures_render():
    history = [
        {
            "level": "iteration",
            "phase": "train",
            "epoch": 1 + i // 10,
            "iteration": i + 1,
            "loss": 1 / (i + 1),
            "lr": 1e-3,
        }
        for i in range(30)
    ] + [
        {"level": "epoch", "phase": phase, "epoch": e, "iteration": 10 * e, "loss": 1 / e, "dice": 0.3 * e, "lr": 1e-3}
        for e in (1, 2, 3)
        for phase in ("train", "val")
    ]
    decode(figures.learning_curves(history))
    assert figures.learning_curves([]) is None
    scores = np.array([0.9, 0.2, np.nan, 0.7])
    decode(figures.per_case_chart(["a", "b", "c", "d"], {"Dice (head)": scores, "Jaccard (head)": scores**2}))
    rng = np.random.default_rng(0)
    reference = rng.uniform(100, 300, 40)
    decode(figures.agreement(reference + rng.normal(0, 3, 40), reference, "HC", "mm"))
    decode(figures.paired_scatter([("a", "b", scores, scores[::-1])], "dice_head"))


def test_learning_curves_leave_out_a_metric_not_recorded_per_iteration(monkeypatch):
    captured = []
    monkeypatch.setattr(figures, "png_bytes", lambda figure: captured.append(figure) or b"")
    history = [{"level": "iteration", "phase": "train", "epoch": 1, "iteration": 1, "loss": 0.9, "dice": ""}]
    history += [{"level": "epoch", "phase": "val", "epoch": 1, "iteration": 1, "loss": 0.8, "dice": 0.5}]
    figures.learning_curves(history)
    (figure,) = captured
    titles = [ax.get_title() for ax in figure.axes]
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert "Loss per iteration" in titles and "Dice per epoch" in titles
    assert "Dice per iteration" not in titles and not any("not recorded" in t for t in texts)


def test_agreement_axes_hold_every_point(monkeypatch):
    captured = []
    monkeypatch.setattr(figures, "png_bytes", lambda figure: captured.append(figure) or b"")
    reference = np.array([10.0, 20.0, 30.0, 40.0, 1000.0])
    predicted = np.array([11.0, 19.0, 33.0, 38.0, 5.0])  # one far outlier on both plots
    figures.agreement(predicted, reference, "HC", "mm")
    scatter, bland = captured[0].axes
    for ax, xs, ys in (
        (scatter, reference, predicted),
        (bland, (predicted + reference) / 2, predicted - reference),
    ):
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        assert x0 < xs.min() and xs.max() < x1 and y0 < ys.min() and ys.max() < y1
