"""``medseg check-precision``: what a lower inference precision changes, measured on a validation split.

The model predicts the split's images twice, in float32 (PyTorch) and in the lower precision, with the
same pre- and post-processing; the check compares the mean foreground Dice of the two against the
references. A change above the tolerance (0.002 by default) fails the check: keep float32 for that model.

Lower precisions: ``bfloat16`` (PyTorch autocast, ``infer.precision``) and ``int8`` (ONNX Runtime,
static QDQ quantisation calibrated on training-split images: :mod:`medseg.inference.quantize`).
``medseg export MODEL --int8 --data DATA`` (:func:`export_int8`) writes an int8 model only when it
passes this check on the validation split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medseg.config import Config
from medseg.data.case import Case
from medseg.data.loading import load_cases
from medseg.data.splits import load_split, select, split_cases
from medseg.errors import ConfigError, ExportError, RunDirError
from medseg.inference.backends import open_predictor
from medseg.inference.export import OPSET, ExportResult, export_onnx, onnx_graph
from medseg.inference.onnx_backend import OnnxNetwork
from medseg.inference.predictor import Predictor
from medseg.inference.quantize import calibration_inputs, quantize_int8
from medseg.inference.timing import Stopwatch
from medseg.inference.zoo import read_card, zoo_folder
from medseg.metrics import case_metrics
from medseg.run_folder import RunFolder

TOLERANCE = 0.002  # largest change of the mean foreground Dice a lower precision may bring
LOW_PRECISIONS = ("bfloat16", "int8")
CALIBRATION = 16  # training images that set an int8 model's activation ranges


@dataclass
class PrecisionCheck:
    """Mean foreground Dice in float32 and in ``precision`` on ``cases`` images of ``split``.

    ``seconds``: network seconds per image of each precision; ``case_dice``: per-image Dice of each.
    """

    precision: str
    split: str
    cases: int
    dice: dict[str, float]
    seconds: dict[str, float]
    tolerance: float = TOLERANCE
    case_dice: dict[str, list[float]] = field(default_factory=dict)
    model: bytes | None = field(default=None, repr=False)  # int8: the quantised ONNX graph

    @property
    def difference(self) -> float:
        """Mean Dice in ``precision`` minus mean Dice in float32."""
        return self.dice[self.precision] - self.dice["float32"]

    @property
    def largest_case_change(self) -> float:
        """The largest change of one image's Dice."""
        pairs = zip(self.case_dice.get("float32", []), self.case_dice.get(self.precision, []), strict=True)
        changes = [abs(b - a) for a, b in pairs if math.isfinite(a) and math.isfinite(b)]
        return max(changes, default=0.0)

    @property
    def passed(self) -> bool:
        """Whether the mean Dice moved by at most ``tolerance``."""
        return abs(self.difference) <= self.tolerance

    def record(self) -> dict[str, Any]:
        """The check as JSON-ready numbers (stored with an int8 export)."""
        return {
            "precision": self.precision,
            "split": self.split,
            "cases": self.cases,
            "dice_float32": self.dice["float32"],
            f"dice_{self.precision}": self.dice[self.precision],
            "difference": self.difference,
            "largest_case_change": self.largest_case_change,
            "tolerance": self.tolerance,
        }

    def summary(self) -> str:
        """One line: both Dice, their difference against the tolerance, the speed of each."""
        speed = self.seconds["float32"] / self.seconds[self.precision] if self.seconds[self.precision] > 0 else 0
        verdict = "within" if self.passed else "OVER"
        return (
            f"{self.cases} {self.split} images: mean Dice float32 {self.dice['float32']:.4f}, {self.precision} "
            f"{self.dice[self.precision]:.4f}, difference {self.difference:+.4f} ({verdict} the tolerance "
            f"{self.tolerance:g}; largest change of one image {self.largest_case_change:.4f}); network "
            f"{1000 * self.seconds['float32']:.0f} ms vs {1000 * self.seconds[self.precision]:.0f} ms per image "
            f"({speed:.2f}x)"
        )


def splits_of(source: str | Path, config: Config, data: str | Path) -> dict[str, list[Case]]:
    """The cases of each split (``train``, ``val``, ``test``) that ``source`` was trained with.

    A run directory: its ``split.json``. A zoo model: the subject split made again from its config
    (``data.val_fraction``, ``data.test_fraction``, ``data.split_seed``), checked against the test
    images listed on its card.

    Raises:
        RunDirError: no saved split, or a zoo split that does not come out as its card's.
    """
    zoo = zoo_folder(str(source)) if not Path(source).exists() else None
    cases = load_cases(config, data)
    if zoo is None:
        saved = load_split(RunFolder(source).split)
    else:
        data_config = config.data
        saved = split_cases(cases, data_config.val_fraction, data_config.test_fraction, data_config.split_seed)
        listed = read_card(zoo).get("test_ids")
        if listed and sorted(listed) != sorted(saved["test"]):
            raise RunDirError(f"{zoo}: the split made again from {data} is not the card's; is it the same dataset?")
    return {name: select(cases, ids) for name, ids in saved.items()}


def foreground_dice(predictor: Predictor, cases: list[Case], watch: Stopwatch) -> list[float]:
    """Per-case mean Dice over the foreground classes (classes absent from both masks left out)."""
    names = predictor.config.data.class_names
    scores = []
    with watch.running():
        for case in cases:
            mask = predictor.predict(case.image).mask
            metrics = case_metrics(mask, case.mask, names, None, hausdorff=False)
            values = [metrics[f"dice_{name}"] for name in names[1:]]
            finite = [v for v in values if math.isfinite(v)]
            scores.append(float(np.mean(finite)) if finite else math.nan)
    return scores


def compare(
    reference: Predictor, low: Predictor, precision: str, cases: list[Case], split: str, tolerance: float = TOLERANCE
) -> PrecisionCheck:
    """The float32 ``reference`` and the ``low`` predictor on ``cases``: mean foreground Dice and network time."""
    dice, seconds, per_case = {}, {}, {}
    for name, predictor in (("float32", reference), (precision, low)):
        watch = Stopwatch()
        per_case[name] = foreground_dice(predictor, cases, watch)
        dice[name] = float(np.nanmean(per_case[name]))
        seconds[name] = watch.seconds["network"] / len(cases)
    return PrecisionCheck(precision, split, len(cases), dice, seconds, tolerance, per_case)


def int8_predictor(
    reference: Predictor, graph: bytes, calibration: list[Case], threads: int | None = None
) -> tuple[Predictor, bytes]:
    """An ONNX Runtime predictor of ``graph`` (the reference's float32 ONNX graph) quantised to int8,
    calibrated on ``calibration``; and the int8 graph."""
    model = quantize_int8(graph, calibration_inputs(reference, [case.image for case in calibration]))
    return Predictor(OnnxNetwork(model, threads), reference.config, "cpu", batch_size=reference.batch_size), model


def _cases(splits: dict[str, list[Case]], split: str, source: str | Path, limit: int | None) -> list[Case]:
    if split not in splits:
        raise RunDirError(f"{source}: no split named {split!r} (have {', '.join(splits)})")
    cases = splits[split][:limit]
    if not cases:
        raise ConfigError(f"{source}: the {split} split has no images")
    return cases


def check_precision(
    source: str | Path,
    data: str | Path,
    precision: str = "bfloat16",
    split: str = "val",
    limit: int | None = None,
    tolerance: float = TOLERANCE,
    threads: int | None = None,
    calibration: int = CALIBRATION,
) -> PrecisionCheck:
    """Predicts ``split`` of ``data`` in float32 and in ``precision`` and compares the mean foreground Dice.

    Args:
        source: a run directory or a zoo model's name (one network for ``int8``).
        precision: ``bfloat16`` (PyTorch autocast) or ``int8`` (ONNX Runtime, calibrated on the first
            ``calibration`` images of the training split; the int8 graph is kept in the result's ``model``).
        limit: the first ``limit`` images of the split only (None: all).
        threads: PyTorch's and ONNX Runtime's CPU threads.

    Raises:
        ConfigError: an unknown precision, a limit below 1, or a split without images.
        ExportError: int8 of a model ONNX cannot hold or ONNX Runtime cannot quantise.
    """
    if precision not in LOW_PRECISIONS:
        raise ConfigError(f"--precision {precision}: give a lower precision to compare with float32 (bfloat16, int8)")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit {limit}: at least 1")
    reference = open_predictor(source, "torch", threads=threads, precision="float32")
    splits = splits_of(source, reference.config, data)
    cases = _cases(splits, split, source, limit)
    model = None
    if precision == "int8":
        if len(reference.models) != 1:
            raise ConfigError(f"{source}: an ensemble of {len(reference.models)} networks; int8 takes one")
        graph = onnx_graph(reference, where=str(source))[0]
        low, model = int8_predictor(reference, graph, splits.get("train", [])[:calibration], threads)
    else:
        low = open_predictor(source, "torch", precision=precision)
    result = compare(reference, low, precision, cases, split, tolerance)
    result.model = model
    return result


def export_int8(
    source: str | Path,
    data: str | Path,
    out: str | Path | None = None,
    checkpoint: str = "best",
    calibration: int = CALIBRATION,
    limit: int | None = None,
    tolerance: float = TOLERANCE,
    threads: int | None = None,
    opset: int = OPSET,
) -> tuple[ExportResult, PrecisionCheck]:
    """``medseg export --int8``: the model quantised to int8 for ONNX Runtime, written only when its mean
    foreground Dice on the validation split (its first ``limit`` images) is within ``tolerance`` of float32.

    ``out``: default ``RUN_DIR/model_int8.onnx`` (``medseg predict`` then takes that file; a run's
    ``model.onnx`` stays the float32 one); a zoo model needs one. The settings beside it hold
    ``precision: int8`` and the check (``precision_check``).

    Raises:
        ExportError: the check failed (nothing written), or the quantisation failed.
    """
    checks: list[PrecisionCheck] = []

    def convert(predictor: Predictor, graph: bytes) -> tuple[bytes, dict[str, Any]]:
        splits = splits_of(source, predictor.config, data)
        cases = _cases(splits, "val", source, limit)
        low, model = int8_predictor(predictor, graph, splits.get("train", [])[:calibration], threads)
        check = compare(predictor, low, "int8", cases, "val", tolerance)
        checks.append(check)
        if not check.passed:
            raise ExportError(
                f"{source}: int8 changes the mean Dice by {check.difference:+.4f} (> {tolerance:g}); nothing "
                f"written, keep the float32 export. {check.summary()}"
            )
        return model, {"precision": "int8", "precision_check": check.record()}

    zoo = zoo_folder(str(source)) if not Path(source).exists() else None
    if out is None and zoo is None:
        out = RunFolder(source).root / "model_int8.onnx"
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))
    result = export_onnx(source, out, checkpoint, opset, convert=convert)
    return result, checks[0]
