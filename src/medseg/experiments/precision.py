"""``medseg check-precision``: what a lower inference precision changes, measured on a validation split.

The model predicts the split's images twice, in float32 and in the lower precision, with the same
pre- and post-processing; the check compares the mean foreground Dice of the two against the
references. A change above the tolerance (0.002 by default) fails the check: keep float32 for that model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medseg.config import Config
from medseg.data.case import Case
from medseg.data.loading import load_cases
from medseg.data.splits import load_split, select, split_cases
from medseg.errors import ConfigError, RunDirError
from medseg.inference.backends import open_predictor
from medseg.inference.predictor import Predictor
from medseg.inference.timing import Stopwatch
from medseg.inference.zoo import read_card, zoo_folder
from medseg.metrics import case_metrics
from medseg.run_folder import RunFolder

TOLERANCE = 0.002  # largest change of the mean foreground Dice a lower precision may bring


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


def split_of(source: str | Path, config: Config, data: str | Path, split: str) -> list[Case]:
    """The cases of ``split`` (``val``, ``test`` or ``train``) that ``source`` was trained with.

    A run directory: its ``split.json``. A zoo model: the subject split made again from its config
    (``data.val_fraction``, ``data.test_fraction``, ``data.split_seed``), checked against the test
    images listed on its card.

    Raises:
        RunDirError: no saved split, no such split, or a zoo split that does not come out as its card's.
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
    if split not in saved:
        raise RunDirError(f"{source}: no split named {split!r} (have {', '.join(saved)})")
    return select(cases, saved[split])


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


def check_precision(
    source: str | Path,
    data: str | Path,
    precision: str = "bfloat16",
    split: str = "val",
    limit: int | None = None,
    tolerance: float = TOLERANCE,
    threads: int | None = None,
) -> PrecisionCheck:
    """Predicts ``split`` of ``data`` in float32 and in ``precision`` and compares the mean foreground Dice.

    Args:
        source: a run directory or a zoo model's name (PyTorch).
        limit: the first ``limit`` images of the split only (None: all).

    Raises:
        ConfigError: ``float32`` as the precision, a limit below 1, or a split without images.
    """
    if precision == "float32":
        raise ConfigError("--precision float32: give the lower precision to compare with float32 (bfloat16)")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit {limit}: at least 1")
    reference = open_predictor(source, "torch", threads=threads, precision="float32")
    cases = split_of(source, reference.config, data, split)[:limit]
    if not cases:
        raise ConfigError(f"{source}: the {split} split of {data} has no images")
    dice, seconds, per_case = {}, {}, {}
    for name in ("float32", precision):
        predictor = reference if name == "float32" else open_predictor(source, "torch", precision=name)
        watch = Stopwatch()
        per_case[name] = foreground_dice(predictor, cases, watch)
        dice[name] = float(np.nanmean(per_case[name]))
        seconds[name] = watch.seconds["network"] / len(cases)
    return PrecisionCheck(precision, split, len(cases), dice, seconds, tolerance, per_case)
