"""Quality control at prediction time: signals per case and one ``qc_flag`` calibrated on validation.

The flag rule: each signal of a case is turned into a tail score against the validation split
(the share of validation cases that look better on that signal), a case's ``qc_score`` is the
highest tail score over the signals the calibration kept, and cases above a threshold set so that
``share`` of the validation cases are flagged get ``qc_flag = "review"``. Where validation cases
carry a reference HC, the signals kept are chosen greedily to catch the most cases with an HC
error over ``error_mm`` at that share; otherwise all signals are kept.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medseg.errors import RunDirError
from medseg.inference.postprocess import postprocess, probabilities_to_labels
from medseg.inference.predictor import Prediction, Predictor
from medseg.io import atomic_write_text, json_safe
from medseg.measure.ellipse import largest_component
from medseg.measure.head_circumference import head_circumference, measure_ellipse
from medseg.measure.qc import SIGNALS, agreement_signals, boundary_entropy, component_signals, ellipse_fit_residual
from medseg.run_folder import RunFolder

FLIPS = (1, 0)
TIE_BREAK = 1e-3  # image axes flipped by the test-time augmentations: left-right, up-down


def _hc_mm(mask: np.ndarray, prediction_ellipse: Any, pixel_size_mm: float) -> float:
    measured = (
        measure_ellipse(prediction_ellipse, pixel_size_mm)
        if prediction_ellipse is not None
        else head_circumference(mask > 0, pixel_size_mm)
    )
    return measured.hc_mm if measured else math.nan


def _flipped_prediction(predictor: Predictor, image: np.ndarray, axis: int) -> tuple[np.ndarray, Any]:
    """Post-processed mask (in the image's frame) and ellipse of the prediction of a flipped image."""
    probabilities = predictor.probabilities(np.ascontiguousarray(np.flip(image, axis=axis)))
    probabilities = np.flip(probabilities, axis=axis + 1)
    cfg = predictor.config
    labels = probabilities_to_labels(probabilities, cfg.postprocess)
    mask, ellipse = postprocess(labels, cfg.postprocess, cfg.data.num_classes)
    return mask, ellipse


PASS_PREFIXES = ("qc_tta_", "qc_fold_")  # signals that cost more network passes: flipped copies, single folds


def needs_extra_passes(signals: list[str]) -> bool:
    """Whether any of ``signals`` comes from the flipped or single-fold passes of :func:`qc_signals`."""
    return any(name.startswith(PASS_PREFIXES) for name in signals)


def extra_passes_wanted(qc: bool | None, calibration: QCCalibration | None) -> bool:
    """Whether a prediction runs the QC's flipped and single-fold passes: when asked (``qc`` True) or
    when the calibrated flag uses their signals; not for the config's ``eval.qc`` alone (``qc`` None)."""
    return qc is True or (calibration is not None and needs_extra_passes(calibration.signals))


def qc_signals(
    predictor: Predictor, image: np.ndarray, prediction: Prediction, pixel_size_mm: float, extra_passes: bool = True
) -> dict[str, float]:
    """Every QC signal of one predicted image (see :data:`medseg.measure.qc.SIGNALS`).

    Args:
        predictor: the predictor that made ``prediction`` (used again on flipped copies).
        image: ``(H, W)`` or ``(H, W, C)`` native image.
        prediction: ``predictor.predict(image)``.
        pixel_size_mm: isotropic pixel size (1.0 gives pixels).
        extra_passes: also the signals of the flipped copies' and single folds' predictions
            (:data:`PASS_PREFIXES`: two or more network passes per image); False leaves them NaN.

    Returns:
        Signal name -> value (NaN where a signal does not apply or was not computed).
    """
    config = predictor.config
    measures_hc = "head_circumference" in config.eval.measurements
    raw = probabilities_to_labels(prediction.probabilities, config.postprocess) > 0
    signals = component_signals(raw)
    if measures_hc:
        signals.update(ellipse_fit_residual(largest_component(raw), prediction.ellipse, pixel_size_mm))
    signals.update(boundary_entropy(prediction.probabilities, prediction.mask > 0))

    if not extra_passes:
        return {**signals, **{name: math.nan for name in SIGNALS if name.startswith(PASS_PREFIXES)}}
    plain = copy.copy(predictor)
    plain.tta = False
    masks, hcs = [prediction.mask > 0], [_hc_mm(prediction.mask, prediction.ellipse, pixel_size_mm)]
    for axis in FLIPS:
        mask, ellipse = _flipped_prediction(plain, image, axis)
        masks.append(mask > 0)
        hcs.append(_hc_mm(mask, ellipse, pixel_size_mm))
    signals.update(agreement_signals(masks, hcs if measures_hc else [math.nan] * len(masks), "qc_tta"))

    models = getattr(predictor, "models", [])
    if len(models) > 1:
        fold_masks, fold_hcs = [], []
        for model in models:
            single = copy.copy(plain)
            single.models = [model]
            fold = single.predict(image)
            fold_masks.append(fold.mask > 0)
            fold_hcs.append(_hc_mm(fold.mask, fold.ellipse, pixel_size_mm))
        fold_signals = agreement_signals(fold_masks, fold_hcs if measures_hc else [math.nan] * len(models), "qc_fold")
        signals["qc_fold_hc_spread_mm"] = fold_signals["qc_fold_hc_spread_mm"]
    else:
        signals["qc_fold_hc_spread_mm"] = math.nan
    if not measures_hc:
        signals["qc_tta_hc_spread_mm"] = math.nan
    return signals


def _tail_score(value: float, reference: np.ndarray, higher_is_worse: bool) -> float:
    """Share of the reference values that look better than ``value`` (NaN if either is missing)."""
    value = _as_float(value)
    if math.isnan(value) or len(reference) == 0:
        return math.nan
    return float(np.mean(reference < value) if higher_is_worse else np.mean(reference > value))


@dataclass
class QCCalibration:
    """Validation statistics that turn QC signals into ``qc_score`` and ``qc_flag``.

    Attributes:
        share: share of validation cases flagged.
        threshold: cases with ``qc_score > threshold`` are flagged.
        signals: the signals the rule uses.
        validation: the validation cases' signal values (one dict per case).
        error_mm: the HC error the greedy selection tried to catch (None: no reference HC).
    """

    share: float
    threshold: float
    signals: list[str]
    validation: list[dict[str, float]] = field(default_factory=list)
    error_mm: float | None = None

    def __post_init__(self) -> None:
        self.reference: dict[str, list[float]] = {}
        for name in SIGNALS:
            values = [_as_float(r.get(name)) for r in self.validation]
            values = sorted(v for v in values if not math.isnan(v))
            if len(set(values)) > 1:  # a signal that never varied on validation cannot rank cases
                self.reference[name] = values

    def signal_scores(self, row: dict[str, Any]) -> dict[str, float]:
        """Tail score of each signal of ``row`` that the calibration knows."""
        return {
            name: _tail_score(row.get(name, math.nan), np.asarray(self.reference[name]), SIGNALS[name])
            for name in self.reference
        }

    def score(self, row: dict[str, Any], signals: list[str] | None = None) -> float:
        """``qc_score`` of a case: the highest tail score over ``signals`` (default: the rule's)."""
        scores = self.signal_scores(row)
        values = [scores[s] for s in (signals or self.signals) if s in scores and not math.isnan(scores[s])]
        # ties in the highest tail score (common: several cases are extreme on some signal) are broken
        # by how unusual the case is on the other signals
        return max(values) + TIE_BREAK * float(np.mean(values)) if values else 0.0

    def flag(self, row: dict[str, Any]) -> str:
        """``"review"`` or ``"ok"``."""
        return "review" if self.score(row) > self.threshold else "ok"

    def save(self, path: str | Path) -> None:
        data = asdict(self)
        data["validation"] = [{k: _encode(v) for k, v in r.items()} for r in self.validation]
        atomic_write_text(path, json.dumps(json_safe(data), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> QCCalibration:
        """Reads a saved calibration.

        Raises:
            RunDirError: unreadable or malformed file.
        """
        try:
            data = json.loads(Path(path).read_text())
            data["validation"] = [{k: _as_float(v) for k, v in r.items()} for r in data["validation"]]
            unknown = set(data["signals"]) - set(SIGNALS)
            if unknown:
                raise ValueError(f"unknown signals {sorted(unknown)}")
            return cls(**data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RunDirError(f"{path}: not a QC calibration ({exc})") from None


def _threshold(scores: list[float], share: float) -> float:
    """The score above which ``share`` of ``scores`` lie (at most)."""
    ordered = sorted(scores, reverse=True)
    count = int(math.floor(share * len(ordered)))
    if count <= 0:
        return ordered[0] if ordered else 1.0
    return ordered[count] if count < len(ordered) else -1.0


def calibrate(rows: list[dict[str, Any]], share: float = 0.1, error_mm: float = 5.0) -> QCCalibration:
    """Builds the flag rule from validation rows holding QC signals (and ``hc_absdiff_mm`` if known).

    Args:
        rows: per-case rows of the validation split.
        share: share of validation cases to flag (0 < share < 1).
        error_mm: with reference HCs, signals are chosen to catch cases with ``|HC error| > error_mm``.

    Raises:
        ValueError: ``share`` outside (0, 1) or no rows.
    """
    if not 0 < share < 1:
        raise ValueError(f"QC share must be between 0 and 1, got {share}")
    if not rows:
        raise ValueError("QC calibration needs at least one validation case")
    validation = [{name: _as_float(r.get(name)) for name in SIGNALS if name in r} for r in rows]
    calibration = QCCalibration(share, 1.0, [], validation)
    calibration.signals = list(calibration.reference)
    errors = [float(r.get("hc_absdiff_mm", math.nan)) for r in rows]
    bad = [not math.isnan(e) and e > error_mm for e in errors]
    if any(bad):
        calibration.signals = _select_signals(calibration, rows, bad, share)
        calibration.error_mm = error_mm
    calibration.threshold = _threshold([calibration.score(r) for r in rows], share)
    return calibration


def _caught(calibration: QCCalibration, rows: list[dict[str, Any]], bad: list[bool], signals: list[str], share: float):
    scores = [calibration.score(r, signals) for r in rows]
    threshold = _threshold(scores, share)
    return sum(b and s > threshold for b, s in zip(bad, scores, strict=True))


def _select_signals(calibration: QCCalibration, rows: list[dict[str, Any]], bad: list[bool], share: float) -> list[str]:
    """Greedy forward selection of the signals that catch the most bad validation cases at ``share``."""
    chosen: list[str] = []
    best = -1
    candidates = list(calibration.reference)
    while candidates:
        gains = {name: _caught(calibration, rows, bad, chosen + [name], share) for name in candidates}
        name = max(gains, key=lambda n: (gains[n], -candidates.index(n)))
        if gains[name] <= best:
            break
        best = gains[name]
        chosen.append(name)
        candidates.remove(name)
    return chosen or list(calibration.reference)


def flag_table(rows: list[dict[str, Any]], calibration: QCCalibration, error_mm: float = 5.0) -> list[dict[str, Any]]:
    """Share flagged and share of ``|HC error| > error_mm`` cases caught, per signal alone and combined.

    Each single-signal rule flags by that signal's tail score with a threshold calibrated like the
    combined one (on the calibration's own validation values), so the rows are comparable.
    """
    errors = [float(r.get("hc_absdiff_mm", math.nan)) for r in rows]
    bad = [not math.isnan(e) and e > error_mm for e in errors]
    n_bad = sum(bad)
    table = []
    validation_rows = calibration.validation
    for name in [*calibration.reference, "combined"]:
        signals = list(calibration.signals) if name == "combined" else [name]
        if name == "combined":
            threshold = calibration.threshold
        else:
            threshold = _threshold([calibration.score(r, signals) for r in validation_rows], calibration.share)
        flagged = [calibration.score(r, signals) > threshold for r in rows]
        caught = sum(f and b for f, b in zip(flagged, bad, strict=True))
        table.append(
            {
                "signal": name,
                "flagged_share": sum(flagged) / len(rows) if rows else math.nan,
                "flagged": sum(flagged),
                "caught": caught,
                "over_error": n_bad,
                "caught_share": caught / n_bad if n_bad else math.nan,
            }
        )
    return table


def _as_float(value: Any) -> float:
    """A signal value as float: None/empty -> NaN; "inf" strings from CSV/JSON -> inf."""
    if value is None or value == "":
        return math.nan
    return float(value)


def _encode(value: float) -> Any:
    """Strict-JSON form of a signal value (infinities as strings, NaN as None)."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def load_calibration(run_dir: str | Path) -> QCCalibration | None:
    """The run's saved calibration, or ``None`` when it has none yet."""
    path = RunFolder(run_dir).calibration
    return QCCalibration.load(path) if path.is_file() else None
