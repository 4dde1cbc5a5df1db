"""Scoring a zoo model again on the images its card was measured on (``medseg zoo verify``), and
at packaging on the other held-out test sets a card lists."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from medseg.data.loading import load_cases
from medseg.data.splits import select
from medseg.experiments.evaluate import evaluate_cases
from medseg.experiments.evaluate_volumes import VOLUME_PREFIX, evaluate_split_volumes
from medseg.inference.zoo import load_zoo_predictor


def measure_other(folder: Path, card: dict[str, Any], test: dict[str, Any], root: Path) -> dict:
    """The zoo model scored on one of its card's other test sets: ``test["ids"]`` of the dataset in
    ``root / test["folder"]``, read with ``test["layout"]``."""
    predictor = load_zoo_predictor(folder, tta=bool(card.get("tta", False)))
    config = replace(predictor.config, data=replace(predictor.config.data, layout=test["layout"]))
    cases = select(load_cases(config, root / test["folder"]), list(test["ids"]))
    return evaluate_cases(predictor, cases, None)[1]


def measure_test(folder: Path, card: dict[str, Any], data: str | Path, ids: list[str]) -> dict[str, dict[str, float]]:
    """The zoo model scored on cases ``ids`` of ``data`` (its card's test), in 3D too when the card
    has per-volume metrics: ``{metric: {mean, std, median, n}}``."""
    predictor = load_zoo_predictor(folder, tta=bool(card.get("tta", False)))
    cases = select(load_cases(predictor.config, data), ids)
    masks: dict[str, Any] = {}
    _, summary = evaluate_cases(predictor, cases, None, masks=masks)
    if any(key.startswith(VOLUME_PREFIX) for key in card["test_metrics"]):
        summary.update(evaluate_split_volumes(predictor, cases, data, masks)[1])
    return summary
