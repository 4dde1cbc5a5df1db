"""Checking and remaking a zoo model: ``medseg zoo verify`` scores it again on its card's images and
compares (and, asked to, adds the confidence intervals of its means to an older card), ``medseg zoo
rebuild`` trains it again with the command on its card."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from medseg.errors import ConfigError, RunDirError
from medseg.experiments.zoo import package_run, phantom_data, tolerance_for
from medseg.experiments.zoo_card import card_markdown
from medseg.experiments.zoo_measure import measure_other, measure_test
from medseg.inference.zoo import read_card, zoo_root
from medseg.io import atomic_write_text
from medseg.run_folder import ZooFolder

INTERVAL_KEYS = ("ci95_low", "ci95_high")


def verify(
    name: str,
    data: str | Path | None = None,
    root: Path | None = None,
    tolerance: dict[str, float] | None = None,
    write_intervals: bool = False,
) -> dict:
    """Evaluates zoo model ``name`` on its card's cases from ``data`` and compares with the card.

    The cases are the run's saved split that the card was measured on (``test_ids`` in ``card.json``);
    volumes are scored in 3D too when the card has per-volume metrics. ``data`` may be left out
    for a model trained on phantoms: they are generated again (same seed, same files).

    With ``write_intervals``, a card whose every number was reproduced gets the 95% confidence
    interval of each mean (``ci95_low``, ``ci95_high``) from the re-measured cases, in ``card.json``
    and ``card.md``; its means stay those of the card. Nothing is written when a number differs.

    Returns:
        ``{metric: (card value, measured value, within tolerance)}`` for the metrics with a tolerance.

    Raises:
        RunDirError: not a zoo model, or a card without its test ids; ConfigError: no ``data`` for
            a model trained on real data.
    """
    folder = (root or zoo_root()) / name
    files = ZooFolder(folder)
    if not files.settings.is_file():
        raise RunDirError(f"{folder}: not a zoo model (no {files.settings.name})")
    card = read_card(folder)
    ids = card.get("test_ids")
    if not isinstance(ids, list) or not ids:
        raise RunDirError(f"{files.card_json}: no test_ids to verify against")
    with tempfile.TemporaryDirectory(prefix="medseg-zoo-") as scratch:
        if data is None:
            data = phantom_data(str(card.get("dataset_key", "")), Path(scratch) / "phantoms")
            if data is None:
                trained_on = card.get("training_data", {}).get("dataset", "the dataset it was trained on")
                raise ConfigError(f"zoo verify {name}: give --data, the folder of {trained_on}")
        summary = measure_test(folder, card, Path(data) / card.get("data_folder", ""), ids)
        others = {test["name"]: measure_other(folder, card, test, Path(data)) for test in card.get("other_tests", [])}
    report = _compare(card["test_metrics"], summary, tolerance)
    for test in card.get("other_tests", []):
        found = _compare(test["metrics"], others[test["name"]], tolerance)
        report.update({f"{test['name']}:{key}": values for key, values in found.items()})
    if write_intervals and all(ok for _, _, ok in report.values()):
        _add_intervals(card["test_metrics"], summary)
        for test in card.get("other_tests", []):
            _add_intervals(test["metrics"], others[test["name"]])
        atomic_write_text(files.card_json, json.dumps(card, indent=1))
        atomic_write_text(files.card_md, card_markdown(card))
    return report


def _add_intervals(card_metrics: dict, summary: dict) -> None:
    for key, stats in card_metrics.items():
        measured = summary.get(key, {})
        stats.update({bound: measured[bound] for bound in INTERVAL_KEYS if bound in measured})


def _compare(card_metrics: dict, summary: dict, tolerance: dict[str, float] | None) -> dict:
    report = {}
    for key, stats in card_metrics.items():
        allowed = tolerance_for(key, tolerance)
        if allowed is None or key not in summary:
            continue
        measured = summary[key]["mean"]
        both_undefined = math.isnan(measured) and math.isnan(stats["mean"])  # e.g. no HC on an empty mask
        report[key] = (stats["mean"], measured, both_undefined or abs(measured - stats["mean"]) <= allowed)
    return report


def rebuild(name: str, data: str | Path | None, work: str | Path, root: Path | None = None) -> Path:
    """Trains zoo model ``name`` again from ``data`` with the recipe and overrides on its card,
    evaluates it on the split its card was measured on and writes it over the zoo folder (its card
    re-measured). ``data`` may be None for a model trained on phantoms (generated into ``work``).

    ``work`` receives the training run (a new folder).

    Raises:
        RunDirError: not a zoo model, or a card without its recipe.
    """
    from medseg.config import load_config
    from medseg.experiments.evaluate import evaluate_run
    from medseg.experiments.train import train_run

    folder = (root or zoo_root()) / name
    card = read_card(folder)
    if not card.get("recipe") or not isinstance(card.get("overrides"), list):
        raise RunDirError(f"{ZooFolder(folder).card_json}: no recipe to rebuild from")
    run_dir = Path(work)
    if data is None:
        data = phantom_data(str(card.get("dataset_key", "")), run_dir.parent / f"{run_dir.name}_phantoms")
        if data is None:
            raise ConfigError(f"zoo rebuild {name}: give --data, the dataset it was trained on")
    split = str(card.get("evaluated_split", "test"))
    config = load_config(card["recipe"], card["overrides"])
    members = int(card.get("members", 1))
    study = card.get("study")
    if study:  # a study part: the study assembles its training data (e.g. two datasets)
        from medseg.experiments.reproduce import StudyRequest
        from medseg.experiments.studies import get_study

        request = StudyRequest(out=run_dir, data=Path(data), only=(study["part"],), overrides=tuple(card["overrides"]))
        get_study(study["name"]).run(request)
        study_root, run_dir = Path(data), run_dir / study["part"]
        evaluate_run(run_dir, study_root / card.get("data_folder", ""), split)
    elif members > 1:  # a fold ensemble: cross-validation scores its held-out test itself
        from medseg.experiments.cv import cross_validate

        cross_validate(config, data, run_dir, members, monitor=None)
    else:
        train_run(config, data, run_dir)
        evaluate_run(run_dir, data, split)
    hardware = card.get("training", {}).get("hardware", "")
    return package_run(
        run_dir,
        name,
        card["dataset_key"],
        card["recipe"],
        card["overrides"],
        hardware,
        card.get("targets"),
        root,
        split=split,
        expected=card.get("expected_performance"),
        notes=card.get("notes"),
        half=card.get("weights_dtype") == "float16",
        stage1=card.get("stage1"),
        study=f"{study['name']}:{study['part']}" if study else None,
        data_root=data if study else None,
    )
