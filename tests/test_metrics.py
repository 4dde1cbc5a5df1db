import math

import numpy as np
import pytest
import torch

from medseg.metrics import case_metrics, confusion, hausdorff_mm, summarize, to_labels


def test_confusion_derived_scores():
    pred = np.array([[1, 1, 0, 0]])
    ref = np.array([[1, 0, 1, 0]])
    counts = confusion(pred, ref, 1)
    assert (counts.tp, counts.fp, counts.fn, counts.tn) == (1, 1, 1, 1)
    assert counts.dice == pytest.approx(0.5) and counts.iou == pytest.approx(1 / 3)
    assert counts.precision == counts.recall == counts.accuracy == pytest.approx(0.5)


def test_absent_class_is_nan_not_zero_or_one():
    zeros = np.zeros((4, 4), int)
    assert math.isnan(confusion(zeros, zeros, 1).dice)
    assert math.isnan(hausdorff_mm(zeros, zeros, 1, (1.0, 1.0)))
    one = zeros.copy()
    one[1, 1] = 1
    assert math.isinf(hausdorff_mm(zeros, one, 1, (1.0, 1.0)))


def test_hausdorff_uses_spacing():
    ref = np.zeros((40, 40), int)
    ref[10:20, 10:20] = 1
    pred = np.zeros_like(ref)
    pred[10:20, 13:23] = 1  # shifted three columns
    assert hausdorff_mm(pred, ref, 1, (1.0, 1.0)) == pytest.approx(3.0)
    assert hausdorff_mm(pred, ref, 1, (1.0, 0.5)) == pytest.approx(1.5)


def test_case_metrics_and_summary():
    ref = np.zeros((10, 10), int)
    ref[2:6, 2:6] = 1
    row = case_metrics(ref, ref, ["background", "head"], (0.1, 0.1))
    assert row["dice_head"] == row["iou_background"] == row["pixel_accuracy"] == 1.0
    assert row["hd_mm_head"] == 0.0


def test_hausdorff_column_names_its_unit():
    ref = np.zeros((20, 30), int)
    ref[5:10, 5:10] = 1
    pred = np.roll(ref, 3, axis=1)
    in_mm = case_metrics(pred, ref, ["background", "polyp"], (0.5, 0.5))
    in_px = case_metrics(pred, ref, ["background", "polyp"], None)
    assert in_mm["hd_mm_polyp"] == pytest.approx(1.5) and "hd_px_polyp" not in in_mm
    assert in_px["hd_px_polyp"] == pytest.approx(3.0) and "hd_mm_polyp" not in in_px
    summary = summarize([{"x": 1.0}, {"x": 3.0}, {"x": math.nan}])
    assert summary["x"]["mean"] == 2.0 and summary["x"]["n"] == 2


def test_the_summary_gives_a_confidence_interval_of_each_mean():
    rng = np.random.default_rng(0)
    errors = rng.gamma(2.0, 0.9, size=81)  # skewed, like |HC error| in mm
    rows = [{"hc_absdiff_mm": float(v), "same": 0.5} for v in errors] + [{"hc_absdiff_mm": math.nan, "same": 0.5}]
    summary = summarize(rows)
    stats = summary["hc_absdiff_mm"]
    assert stats["ci95_low"] < stats["mean"] < stats["ci95_high"]
    # about two standard errors either side
    half_width = (stats["ci95_high"] - stats["ci95_low"]) / 2
    assert half_width == pytest.approx(1.96 * errors.std() / math.sqrt(81), rel=0.25)
    assert summarize(rows) == summary  # seeded: the same rows, the same interval
    assert (summary["same"]["ci95_low"], summary["same"]["ci95_high"]) == (0.5, 0.5)
    few = summarize([{"x": float(v)} for v in errors[:9]])["x"]  # two volumes, nine crops: no interval
    assert math.isnan(few["ci95_low"]) and math.isnan(few["ci95_high"]) and not math.isnan(few["mean"])


@pytest.mark.parametrize("channels_last", [False, True])
def test_to_labels_is_the_argmax_with_ties_to_the_lower_class(channels_last):
    scores = torch.randn(3, 4, 9, 7)
    scores[0, :, 0, 0] = 1.0  # a four-way tie
    scores[1, 2:, 1, 1] = 5.0  # a tie between classes 2 and 3
    if channels_last:
        scores = scores.contiguous(memory_format=torch.channels_last)
    labels = to_labels(scores)
    assert labels.shape == (3, 9, 7) and labels.dtype == torch.int64
    assert torch.equal(labels, scores.argmax(1))
    assert labels[0, 0, 0] == 0 and labels[1, 1, 1] == 2
    assert torch.equal(to_labels(scores, keepdim=True), scores.argmax(1, keepdim=True))


def test_the_interval_resamples_whole_subjects():
    rng = np.random.default_rng(1)
    subjects = rng.normal(0.9, 0.05, size=12)  # 12 volumes, 10 near-identical slices each
    rows = [{"dice": float(v + rng.normal(0, 0.001))} for v in subjects for _ in range(10)]
    groups = [f"volume{i}" for i in range(12) for _ in range(10)]
    by_slice, by_volume = summarize(rows)["dice"], summarize(rows, groups)["dice"]
    assert by_volume["mean"] == by_slice["mean"] and by_volume["n"] == 120
    width = {name: s["ci95_high"] - s["ci95_low"] for name, s in (("slice", by_slice), ("volume", by_volume))}
    assert width["volume"] > 2.5 * width["slice"]  # 12 subjects, not 120 independent cases
    assert by_volume["ci95_low"] < by_volume["mean"] < by_volume["ci95_high"]
    two_volumes = summarize(rows[:20], groups[:20])["dice"]
    assert math.isnan(two_volumes["ci95_low"]) and two_volumes["n"] == 20
    with pytest.raises(ValueError, match="12 group labels for 120 rows"):
        summarize(rows, groups[::10])
